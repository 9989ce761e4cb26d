// The Send tab: a test message of any kind, sync or async, and its status as it moves on.
import { $, act, clockTime, h, showError } from "./ui.js";

// The kinds of a block of the form (its data-kinds): the page declares each list once.
function kindsOf(id) {
  return $(id).dataset.kinds.split(" ");
}
const STEPS = ["queued", "sent", "delivered", "read"];
const RANK = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, played: 5 };
const BUFFER = 200;

function value(form, name) {
  const field = form.elements.namedItem(name);
  return field ? String(field.value).trim() : "";
}

function checked(form, name) {
  const field = form.elements.namedItem(name);
  return Boolean(field && field.checked);
}

function number(text) {
  const parsed = Number(text);
  // An unparsable value goes as typed so the gateway's validation message names it.
  return text !== "" && Number.isFinite(parsed) ? parsed : text;
}

export class SendPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.tracked = new Map(); // correlation_id -> {status, messageId, node}
    this.early = []; // events that arrived before their send answered
  }

  wire() {
    const form = $("send-form");
    $("send-kind").addEventListener("change", () => this.showFields());
    for (const radio of form.querySelectorAll('input[name="media_source"]')) {
      radio.addEventListener("change", () => this.showFields());
    }
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit(e.submitter || form.querySelector("button[type=submit]"));
    });
    this.showFields();
  }

  reset() {
    this.tracked.clear();
    this.early = [];
    $("send-tracker").replaceChildren();
    $("send-none").hidden = false;
    showError("send-error", null);
  }

  showFields() {
    const form = $("send-form");
    const kind = $("send-kind").value;
    for (const block of form.querySelectorAll("[data-kinds]")) {
      block.hidden = !block.dataset.kinds.split(" ").includes(kind);
    }
    const source = form.querySelector('input[name="media_source"]:checked').value;
    for (const block of form.querySelectorAll("[data-source]")) {
      block.hidden = block.dataset.source !== source;
    }
  }

  // {json} or {form} for POST /send/{kind}.
  body(kind) {
    const form = $("send-form");
    const to = value(form, "to");
    const common = {};
    if (value(form, "reply_to")) common.reply_to = value(form, "reply_to");
    // Numbers may contain spaces ("+49 151 …"), so only commas and new lines separate them.
    const mentions = value(form, "mentions").split(/[,\n]/).map((m) => m.trim()).filter(Boolean);
    if (mentions.length) common.mentions = mentions;
    if (kindsOf("send-media").includes(kind)) {
      const extra = {};
      if (["image", "video", "document"].includes(kind) && value(form, "caption")) {
        extra.caption = value(form, "caption");
      }
      if (kind === "audio" && checked(form, "ptt")) extra.ptt = true;
      if (kind === "video" && checked(form, "gif")) extra.gif = true;
      if (kindsOf("send-view-once").includes(kind) && checked(form, "view_once")) extra.view_once = true;
      const source = form.querySelector('input[name="media_source"]:checked').value;
      const file = $("send-file").files[0];
      if (kind === "document") {
        const filename = value(form, "filename") || (source === "file" && file ? file.name : "");
        if (filename) extra.filename = filename;
      }
      if (source === "file") {
        const data = new FormData();
        data.set("to", to);
        if (file) data.set("file", file, file.name);
        for (const [key, val] of Object.entries({ ...common, ...extra })) {
          // A list goes as one form field per item (mentions).
          for (const item of Array.isArray(val) ? val : [val]) data.append(key, String(item));
        }
        return { form: data };
      }
      return { json: { to, media: { url: value(form, "url") }, ...common, ...extra } };
    }
    switch (kind) {
      case "text": {
        const json = { to, text: $("send-text").value, ...common };
        if (checked(form, "link_preview")) json.link_preview = true;
        return { json };
      }
      case "location": {
        const json = { to, latitude: number(value(form, "latitude")), longitude: number(value(form, "longitude")), ...common };
        if (value(form, "name")) json.name = value(form, "name");
        if (value(form, "address")) json.address = value(form, "address");
        return { json };
      }
      case "contact": {
        const card = { name: value(form, "contact_name"), phone: value(form, "contact_phone") };
        if (value(form, "contact_organization")) card.organization = value(form, "contact_organization");
        if (value(form, "contact_email")) card.email = value(form, "contact_email");
        return { json: { to, contacts: [card], ...common } };
      }
      case "reaction":
        return { json: { to, message_id: value(form, "message_id"), emoji: $("send-emoji").value, ...common } };
      case "poll": {
        const options = $("send-options").value.split("\n").map((o) => o.trim()).filter(Boolean);
        return {
          json: { to, question: value(form, "question"), options, selectable_count: number(value(form, "selectable_count") || "1"), ...common },
        };
      }
      default:
        return { json: { to, ...common } };
    }
  }

  async submit(button) {
    const form = $("send-form");
    const name = this.ctx.selected;
    const kind = $("send-kind").value;
    const isAsync = $("send-async").checked;
    const idempotencyKey = value(form, "idempotency_key");
    const result = await act(button, "send-error", async () => {
      try {
        return await this.ctx.api.send(name, kind, { ...this.body(kind), async: isAsync, idempotencyKey });
      } catch (err) {
        // A sync send that timed out goes on in the background: keep watching it.
        const correlationId = err.details && err.details.correlation_id;
        if (correlationId) {
          this.track(name, correlationId, kind, "queued", null);
          this.catchUp(name, correlationId);
        }
        throw err;
      }
    });
    if (!result || !result.body) return;
    const answer = result.body;
    this.track(name, answer.correlation_id, kind, answer.status, answer.message_id || null);
    await this.catchUp(name, answer.correlation_id);
  }

  // What happened before we started listening for this message: read its record once.
  async catchUp(name, correlationId) {
    try {
      const record = await this.ctx.api.message(name, correlationId);
      this.update(correlationId, record.body.status, record.body);
    } catch {
      /* the events still move it on */
    }
  }

  track(instance, correlationId, kind, status, messageId) {
    if (this.tracked.has(correlationId)) return;
    const steps = h("ol", { class: "steps", "aria-label": "Progress" },
      STEPS.map((step) => h("li", { dataset: { step }, text: step })));
    const state = h("strong", { class: "state" });
    const detail = h("p", { class: "hint note" });
    const node = h("li", { dataset: { correlationId, status } },
      h("div", {}, h("code", { text: correlationId }), " · ", kind, " · ", clockTime(), " · ", state),
      steps, detail);
    $("send-tracker").prepend(node);
    $("send-none").hidden = true;
    this.tracked.set(correlationId, { status: null, messageId, node, instance });
    this.update(correlationId, status, { message_id: messageId });
    for (const [event, data] of this.early.splice(0)) this.onEvent(event, { data });
  }

  update(correlationId, status, extra = {}) {
    const item = this.tracked.get(correlationId);
    if (!item || !status) return;
    if (extra.message_id) item.messageId = extra.message_id;
    const failed = status === "failed";
    // Events can overtake each other (a receipt before the sync answer): never step back.
    if (!failed && item.status && (item.status === "failed" || RANK[status] <= RANK[item.status])) return;
    item.status = status;
    item.node.dataset.status = status;
    item.node.querySelector(".state").textContent = status;
    for (const step of item.node.querySelectorAll(".steps li")) {
      const reached = !failed && RANK[step.dataset.step] <= RANK[status];
      step.className = reached ? "done" : "";
    }
    if (failed) {
      item.node.querySelector(".steps").append(h("li", { class: "failed", text: "failed" }));
    }
    const detail = [];
    if (item.messageId) detail.push(`WhatsApp id ${item.messageId}`);
    if (extra.error) detail.push(typeof extra.error === "string" ? extra.error : JSON.stringify(extra.error));
    item.node.querySelector(".note").textContent = detail.join(" · ");
  }

  onEvent(event, envelope) {
    const data = envelope.data || {};
    if (event !== "message_ack" && event !== "message_status") return;
    let correlationId = data.correlation_id;
    if (!correlationId && data.message_id) {
      for (const [id, item] of this.tracked) if (item.messageId === data.message_id) correlationId = id;
    }
    if (!correlationId || !this.tracked.has(correlationId)) {
      this.early.push([event, data]);
      if (this.early.length > BUFFER) this.early.shift();
      return;
    }
    this.update(correlationId, data.status, data);
  }
}
