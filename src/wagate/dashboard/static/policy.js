// The Policy tab: the instance's policy, its state and counters, what it holds and why,
// and a form to change it (the JSON of PATCH …/send-policy) or resume a paused instance.
import { $, act, formatTime, h, showError } from "./ui.js";

const COUNTER_WORDS = {
  "sends:minute": "Sends this minute",
  "sends:hour": "Sends this hour",
  "sends:day": "Sends today",
  "new_conversations:day": "New conversations today",
};

export class PolicyPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.tab = null;
  }

  wire() {
    $("policy-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.save(e.submitter || e.target.querySelector("button[type=submit]"));
    });
    $("policy-refresh").addEventListener("click", () => this.load());
    $("policy-resume").addEventListener("click", (e) => this.resume(e.currentTarget));
  }

  reset() {
    showError("policy-error", null);
    $("policy-ok").hidden = true;
    $("policy-state").textContent = "";
    $("policy-facts").replaceChildren();
    $("policy-json").value = "";
    $("policy-resume").hidden = true;
  }

  show(tab) {
    this.tab = tab;
    if (tab === "policy") this.load();
  }

  onEvent(event) {
    if (this.tab === "policy" && event === "send_paused") this.load();
  }

  path(rest) {
    return this.ctx.api.instancePath(this.ctx.selected, `/send-policy${rest}`);
  }

  async load() {
    const name = this.ctx.selected;
    const result = await act(null, "policy-error", () => this.ctx.api.get(this.path("")));
    if (result && name === this.ctx.selected) this.render(result.body, true);
  }

  render(body, withPolicy) {
    const paused = body.state === "paused";
    $("policy-state").textContent = paused
      ? `Paused (${body.paused_reason}) until ${formatTime(body.paused_until)}.`
      : body.next_send_at
        ? `Held by ${body.next_rule} until ${formatTime(body.next_send_at)}.`
        : "Sending.";
    $("policy-resume").hidden = !paused;
    const rows = [];
    for (const [key, counter] of Object.entries(body.counters || {})) {
      const limit = counter.limit === null ? "no limit" : `of ${counter.limit}`;
      rows.push(h("dt", { text: COUNTER_WORDS[key] || key }), h("dd", { text: `${counter.count} ${limit}` }));
    }
    if (body.warmup_day) rows.push(h("dt", { text: "Warm-up day" }), h("dd", { text: String(body.warmup_day) }));
    const held = body.held || {};
    rows.push(
      h("dt", { text: "Held messages" }),
      h("dd", { text: held.count ? `${held.count} (${held.rule} until ${formatTime(held.until)})` : "none" }),
    );
    $("policy-facts").replaceChildren(...rows);
    if (withPolicy) $("policy-json").value = JSON.stringify(body.policy, null, 2);
  }

  async save(button) {
    $("policy-ok").hidden = true;
    let changes;
    try {
      changes = JSON.parse($("policy-json").value || "{}");
    } catch (err) {
      showError("policy-error", { message: `Not JSON: ${err.message}` });
      return;
    }
    const result = await act(button, "policy-error", () =>
      this.ctx.api.request("PATCH", this.path(""), { json: changes }),
    );
    if (!result) return;
    this.render(result.body, true);
    $("policy-ok").textContent = "Send policy saved.";
    $("policy-ok").hidden = false;
  }

  async resume(button) {
    const result = await act(button, "policy-error", () =>
      this.ctx.api.request("POST", this.path("/resume")),
    );
    if (result) this.render(result.body, false);
  }
}
