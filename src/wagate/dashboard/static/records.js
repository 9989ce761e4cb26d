// The Messages, Webhook and Dead letters tabs: what the gateway recorded for the instance.
import { changeNotes, messageActions } from "./message_actions.js";
import { $, act, confirmAction, formatTime, h, showError, statusBadge } from "./ui.js";

const WORDS = {};
const MESSAGE_EVENTS = ["message_ack", "message_status", "message_edited", "message_revoked"];
// Events after which a row's record is read again: its actions depend on more than its status.
const REFETCH_EVENTS = ["message_ack", "message_edited", "message_revoked"];
const RANK = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, played: 5 };

// Calls fn once, `delay` ms after the last of a burst of calls.
function debounce(fn, delay) {
  let timer = null;
  const run = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, delay);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}

function cell(label, ...content) {
  return h("td", { "data-label": label }, ...content);
}

function errorWords(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  return error.message || error.code || JSON.stringify(error);
}

export class RecordsPanels {
  constructor(ctx) {
    this.ctx = ctx;
    this.cursor = null;
    this.dlvCursor = null;
    this.deadCursor = null;
    // Once a further page is loaded, automatic reloads (which fetch the first page) would
    // take it away from under the reader: they wait until Refresh.
    this.dlvPaged = false;
    this.deadPaged = false;
    this.tab = "connection";
    this.deliveryTimer = null;
    this.followUps = 0;
    this.hookEdits = 0; // input events in the webhook form, to spot typing during a load
    this.reloadMessages = debounce(() => this.tab === "messages" && this.loadMessages(), 400);
    this.reloadDead = debounce(() => this.tab === "dead" && !this.deadPaged && this.loadDead(), 400);
  }

  wire() {
    $("msg-refresh").addEventListener("click", () => this.loadMessages());
    $("msg-status").addEventListener("change", () => this.loadMessages());
    $("msg-more").addEventListener("click", () => this.loadMessages(true));
    $("hook-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.saveHook(e.submitter || e.target.querySelector("button[type=submit]"));
    });
    $("hook-delete").addEventListener("click", () => this.deleteHook());
    $("hook-form").addEventListener("input", () => { this.hookEdits += 1; });
    $("dlv-refresh").addEventListener("click", () => this.loadDeliveries());
    $("dlv-status").addEventListener("change", () => this.loadDeliveries());
    $("dlv-more").addEventListener("click", () => this.loadDeliveries(true));
    $("dead-refresh").addEventListener("click", () => this.loadDead());
    $("dead-more").addEventListener("click", () => this.loadDead(true));
    $("dead-retry-all").addEventListener("click", () => this.retryAll());
  }

  reset() {
    clearTimeout(this.deliveryTimer);
    this.reloadMessages.cancel();
    this.reloadDead.cancel();
    for (const id of ["msg-rows", "dlv-rows", "dead-rows"]) $(id).replaceChildren();
    for (const id of ["msg-error", "hook-error", "dlv-error", "dead-error"]) showError(id, null);
    $("hook-ok").hidden = true;
    $("dead-ok").hidden = true;
    for (const id of ["dlv-more", "dead-more", "dead-retry-all"]) $(id).hidden = true;
    $("hook-form").reset();
    $("hook-current").textContent = "";
    this.cursor = null;
    this.dlvCursor = null;
    this.deadCursor = null;
    this.dlvPaged = false;
    this.deadPaged = false;
  }

  // A tab was opened (or the instance changed): load what it shows.
  show(tab) {
    this.tab = tab;
    if (tab === "messages") this.loadMessages();
    if (tab === "webhook") {
      this.followUps = 0;
      this.loadHook();
      this.loadDeliveries();
    }
    if (tab === "dead") this.loadDead();
  }

  onEvent(event, envelope) {
    if (this.tab === "messages" && MESSAGE_EVENTS.includes(event)) this.onMessageEvent(event, envelope);
    // Each event may make a webhook delivery: reload the log shortly after, once per burst.
    if (this.tab === "webhook") {
      this.followUps = 0;
      this.scheduleDeliveries(800);
    }
    if (this.tab === "dead" && event === "message_ack") this.reloadDead();
  }

  onMessageEvent(event, envelope) {
    const data = envelope.data || {};
    const rows = $("msg-rows");
    const row = data.correlation_id
      ? rows.querySelector(`tr[data-correlation-id="${CSS.escape(data.correlation_id)}"]`)
      : rows.querySelector(`tr[data-message-id="${CSS.escape(data.message_id || "")}"]`);
    if (!row) {
      // A message this list has not seen yet: show the newest state from the gateway.
      if (event === "message_ack") this.reloadMessages();
      return;
    }
    if (REFETCH_EVENTS.includes(event)) {
      this.refreshRow(row.dataset.correlationId);
      return;
    }
    const current = row.dataset.status;
    if (data.status !== "failed" && RANK[data.status] <= RANK[current]) return;
    row.dataset.status = data.status;
    row.querySelector("td").replaceChildren(statusBadge(data.status, WORDS));
  }

  // --- messages ---------------------------------------------------------------------------

  async loadMessages(more = false) {
    const name = this.ctx.selected;
    const status = $("msg-status").value;
    const result = await act(more ? $("msg-more") : $("msg-refresh"), "msg-error", () =>
      this.ctx.api.messages(name, { status, cursor: more ? this.cursor : "" }),
    );
    if (!result || name !== this.ctx.selected) return;
    const rows = result.body.messages.map((m) => this.messageRow(m));
    if (more) $("msg-rows").append(...rows);
    else $("msg-rows").replaceChildren(...rows);
    this.cursor = result.body.next_cursor || null;
    $("msg-more").hidden = !this.cursor;
    $("msg-empty").hidden = $("msg-rows").children.length > 0;
  }

  messageRow(m) {
    const row = h("tr", { dataset: { correlationId: m.correlation_id, messageId: m.message_id || "", status: m.status } },
      cell("Status", statusBadge(m.status, WORDS)),
      cell("Kind", m.kind),
      cell("To", m.to),
      cell("Created", formatTime(m.created_at)),
      cell("Tries", String(m.attempts ?? "")),
      h("td", { class: "wrap", "data-label": "Details" },
        h("code", { text: m.correlation_id }),
        m.error ? h("div", { class: "hint", text: errorWords(m.error) }) : null,
        changeNotes(m)));
    row.append(messageActions(this.ctx, m, (changed) => row.replaceWith(this.messageRow(changed))));
    return row;
  }

  // Reads one row's record again (an edit, a revoke or the send's outcome changed it).
  async refreshRow(correlationId) {
    const name = this.ctx.selected;
    let result;
    try {
      result = await this.ctx.api.message(name, correlationId);
    } catch (err) {
      showError("msg-error", err);
      return;
    }
    const row = $("msg-rows").querySelector(`tr[data-correlation-id="${CSS.escape(correlationId)}"]`);
    if (name !== this.ctx.selected || !row) return;
    const m = result.body;
    // A receipt that came while the record was read moved the row past what was read.
    if (RANK[row.dataset.status] > RANK[m.status]) m.status = row.dataset.status;
    row.replaceWith(this.messageRow(m));
  }

  // --- webhook ----------------------------------------------------------------------------

  async loadHook() {
    const name = this.ctx.selected;
    showError("hook-error", null);
    $("hook-ok").hidden = true;
    const edits = this.hookEdits;
    let hook = null;
    try {
      hook = (await this.ctx.api.webhook(name)).body;
    } catch (err) {
      if (err.status !== 404) showError("hook-error", err);
    }
    if (name !== this.ctx.selected) return;
    // What the user typed while the settings loaded is kept (seen with fast typing in Firefox).
    this.fillHook(hook && hook.url ? hook : null, { fields: edits === this.hookEdits });
  }

  fillHook(hook, { fields = true } = {}) {
    $("hook-unsign").hidden = !(hook && hook.secret_set);
    $("hook-current").textContent = hook
      ? `Events go to ${hook.url}${hook.secret_set ? ", signed with a secret" : ", unsigned"}.`
      : "No webhook for this instance.";
    if (!fields) return;
    $("hook-url").value = hook ? hook.url : "";
    const events = hook && hook.events ? hook.events : [];
    for (const box of $("hook-form").querySelectorAll('input[name="events"]')) {
      box.checked = events.includes(box.value);
    }
    $("hook-secret").value = "";
    $("hook-form").elements.namedItem("remove_secret").checked = false;
  }

  async saveHook(button) {
    $("hook-ok").hidden = true;
    const events = [...$("hook-form").querySelectorAll('input[name="events"]:checked')].map((b) => b.value);
    const body = { url: $("hook-url").value.trim() };
    if (events.length) body.events = events;
    // Left out, the gateway keeps the current secret; null removes it.
    if ($("hook-secret").value) body.secret = $("hook-secret").value;
    else if ($("hook-form").elements.namedItem("remove_secret").checked) body.secret = null;
    const result = await act(button, "hook-error", () => this.ctx.api.putWebhook(this.ctx.selected, body));
    if (!result) return;
    this.fillHook(result.body && result.body.url ? result.body : { ...body, secret_set: Boolean(body.secret) });
    $("hook-ok").textContent = "Webhook saved.";
    $("hook-ok").hidden = false;
  }

  async deleteHook() {
    const ok = await confirmAction("Remove the webhook?", "Events of this instance stop going to it.", "Remove");
    if (!ok) return;
    const result = await act($("hook-delete"), "hook-error", () => this.ctx.api.deleteWebhook(this.ctx.selected));
    if (!result) return;
    this.fillHook(null);
    $("hook-ok").textContent = "Webhook removed.";
    $("hook-ok").hidden = false;
  }

  async loadDeliveries(more = false) {
    const name = this.ctx.selected;
    const result = await act(more ? $("dlv-more") : $("dlv-refresh"), "dlv-error", () =>
      this.ctx.api.deliveries(name, {
        status: $("dlv-status").value,
        cursor: more ? this.dlvCursor : "",
      }),
    );
    if (!result || name !== this.ctx.selected) return;
    const list = result.body.deliveries || [];
    const rows = list.map((d) => this.deliveryRow(name, d));
    if (more) $("dlv-rows").append(...rows);
    else $("dlv-rows").replaceChildren(...rows);
    this.dlvPaged = more;
    this.dlvCursor = result.body.next_cursor || null;
    $("dlv-more").hidden = !this.dlvCursor;
    $("dlv-empty").hidden = $("dlv-rows").children.length > 0;
    // Deliveries still in flight produce no event of their own: look again a few times.
    if (!more && list.some((d) => d.status === "pending") && this.followUps < 5) {
      this.followUps += 1;
      this.scheduleDeliveries(2000);
    }
  }

  scheduleDeliveries(delay) {
    clearTimeout(this.deliveryTimer);
    this.deliveryTimer = setTimeout(() => {
      if (this.tab === "webhook" && this.ctx.selected && !this.dlvPaged) this.loadDeliveries();
    }, delay);
  }

  deliveryRow(name, d) {
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const redeliver = h("button", { type: "button", class: "secondary small", text: "Redeliver" });
    redeliver.addEventListener("click", async () => {
      const done = await act(redeliver, error, () => this.ctx.api.redeliver(name, d.id));
      if (done) this.loadDeliveries();
    });
    const answer = [d.last_status_code ? `HTTP ${d.last_status_code}` : "", d.last_error || ""]
      .filter(Boolean).join(" · ") || "—";
    return h("tr", { dataset: { deliveryId: d.id, status: d.status } },
      cell("Status", statusBadge(d.status, WORDS)),
      cell("Event", d.event),
      cell("Tries", String(d.attempts ?? "")),
      h("td", { class: "wrap", "data-label": "Last answer" }, answer, h("div", { class: "hint", text: d.url })),
      cell("Next try", d.status === "pending" ? formatTime(d.next_attempt_at) : "—"),
      h("td", {}, redeliver, error));
  }

  // --- dead letters -----------------------------------------------------------------------

  async loadDead(more = false) {
    const name = this.ctx.selected;
    const result = await act(more ? $("dead-more") : $("dead-refresh"), "dead-error", () =>
      this.ctx.api.deadLetters(name, { cursor: more ? this.deadCursor : "" }),
    );
    if (!result || name !== this.ctx.selected) return;
    const rows = (result.body.dead_letters || []).map((d) => this.deadRow(d));
    if (more) $("dead-rows").append(...rows);
    else $("dead-rows").replaceChildren(...rows);
    this.deadPaged = more;
    this.deadCursor = result.body.next_cursor || null;
    $("dead-more").hidden = !this.deadCursor;
    const any = $("dead-rows").children.length > 0;
    $("dead-empty").hidden = any;
    $("dead-retry-all").hidden = !any;
  }

  async retryAll() {
    const name = this.ctx.selected;
    $("dead-ok").hidden = true;
    const ok = await confirmAction(
      "Retry all dead letters?",
      `Every dead letter of ${name}, on every page, is queued again and sent from the first try.`,
      "Retry all",
    );
    if (!ok || name !== this.ctx.selected) return;
    const result = await act($("dead-retry-all"), "dead-error", () => this.ctx.api.retryAllDeadLetters(name));
    if (!result || name !== this.ctx.selected) return;
    const n = result.body.retried;
    $("dead-ok").textContent = `${n} ${n === 1 ? "message" : "messages"} queued again.`;
    $("dead-ok").hidden = false;
    await this.loadDead();
  }

  deadRow(d) {
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const retry = h("button", { type: "button", class: "small", text: "Retry" });
    const remove = h("button", { type: "button", class: "danger small", text: "Delete" });
    retry.addEventListener("click", async () => {
      const done = await act(retry, error, () => this.ctx.api.retryDeadLetter(d.correlation_id));
      if (done) this.loadDead();
    });
    remove.addEventListener("click", async () => {
      const ok = await confirmAction("Delete this dead letter?", `Message ${d.correlation_id} will not be sent.`);
      if (!ok) return;
      const done = await act(remove, error, () => this.ctx.api.deleteDeadLetter(d.correlation_id));
      if (done) this.loadDead();
    });
    return h("tr", { dataset: { correlationId: d.correlation_id } },
      cell("Failed", formatTime(d.failed_at)),
      cell("Kind", d.kind),
      cell("To", d.to),
      h("td", { class: "wrap", "data-label": "Error" }, errorWords(d.error), h("div", {}, h("code", { class: "hint", text: d.correlation_id }))),
      cell("Tries", String(d.attempts ?? "")),
      h("td", {}, retry, remove, error));
  }
}
