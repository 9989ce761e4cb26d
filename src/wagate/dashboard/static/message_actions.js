// The changes after the send on the Messages tab's records: edit (a text or caption, within
// WhatsApp's window), delete (for everyone or on this device; a send still queued is cancelled)
// and forward. Each row's actions open a small form in the row; errors show in the row.
import { $, act, confirmAction, formatTime, h } from "./ui.js";

// The page declares which kinds can be edited, and for how long (API.md "After the send").
function editRules() {
  const table = $("msg-table");
  const kinds = (table.dataset.editableKinds || "").split(/\s+/).filter(Boolean);
  return { kinds, windowMs: Number(table.dataset.editWindowS || 0) * 1000 };
}

const ON_WHATSAPP = ["sent", "delivered", "read", "played"];
const PENDING = ["queued", "sending"];

function enc(value) {
  return encodeURIComponent(value);
}

function recordPath(api, name, m, query = "") {
  return api.instancePath(name, `/messages/${enc(m.correlation_id)}${query}`);
}

function onWhatsApp(m) {
  return ON_WHATSAPP.includes(m.status) && Boolean(m.message_id) && m.revoked_for !== "everyone";
}

export function canEdit(m, now = Date.now()) {
  const { kinds, windowMs } = editRules();
  if (!onWhatsApp(m) || !kinds.includes(m.kind)) return false;
  const sent = Date.parse(m.sent_at || m.created_at);
  return Number.isNaN(sent) || now - sent < windowMs;
}

// What happened to the message after the send, in words, for the Details cell.
export function changeNotes(m) {
  const notes = [];
  if (m.edited_text !== null && m.edited_text !== undefined) {
    notes.push(h("div", { class: "hint edited", text: `Edited to “${m.edited_text}” (${formatTime(m.edited_at)})` }));
  }
  if (m.revoked_for === "everyone") notes.push(h("div", { class: "hint revoked", text: "Deleted for everyone" }));
  if (m.revoked_for === "me") {
    const words = m.status === "cancelled" ? "Cancelled before it was sent" : "Deleted on this device";
    notes.push(h("div", { class: "hint revoked", text: words }));
  }
  for (const f of m.forwards || []) {
    notes.push(h("div", { class: "hint forwarded", text: `Forwarded to ${f.to} (${formatTime(f.at)})` }));
  }
  return notes;
}

// One inline form at a time in a row: a field, a submit button and Cancel.
function inlineForm(label, value, submitText, onSubmit, onCancel) {
  const input = h("input", { type: "text", "aria-label": label, value });
  const submit = h("button", { type: "submit", class: "small", text: submitText });
  const cancel = h("button", { type: "button", class: "secondary small", text: "Cancel", onclick: onCancel });
  const form = h("form", { class: "row wrap inline-action" }, input, submit, cancel);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    onSubmit(input.value, submit);
  });
  return { form, input };
}

// The actions cell of a record. `onChanged(record)` redraws the row with the new record.
export function messageActions(ctx, m, onChanged) {
  const name = ctx.selected;
  const api = ctx.api;
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const slot = h("div");
  const buttons = h("div", { class: "row wrap" });
  const cellNode = h("td", { "data-label": "Actions", class: "msg-actions" }, buttons, slot, error);

  const close = () => slot.replaceChildren();
  const open = (form, input) => {
    slot.replaceChildren(form);
    input.focus();
  };

  if (canEdit(m)) {
    const edit = h("button", { type: "button", class: "secondary small", text: "Edit" });
    edit.addEventListener("click", () => {
      const { form, input } = inlineForm("New text", m.edited_text || "", "Save", async (text, button) => {
        const result = await act(button, error, () => api.request("PATCH", recordPath(api, name, m), { json: { text } }));
        if (result) onChanged(result.body);
      }, close);
      open(form, input);
    });
    buttons.append(edit);
  }

  if (onWhatsApp(m)) {
    const forward = h("button", { type: "button", class: "secondary small", text: "Forward" });
    forward.addEventListener("click", () => {
      const { form, input } = inlineForm("Forward to", "", "Forward", async (to, button) => {
        const path = api.instancePath(name, `/chats/${enc(m.to)}/messages/${enc(m.message_id)}/forward`);
        const result = await act(button, error, () => api.post(path, { to: to.trim() }));
        if (!result) return;
        const fresh = await act(null, error, () => api.message(name, m.correlation_id));
        if (fresh) onChanged(fresh.body);
      }, close);
      open(form, input);
    });
    const everyone = h("button", { type: "button", class: "danger small", text: "Delete for everyone" });
    everyone.addEventListener("click", () => revoke(everyone, "everyone"));
    buttons.append(forward, everyone);
  }
  if (onWhatsApp(m) && m.revoked_for !== "me") {
    const me = h("button", { type: "button", class: "secondary small", text: "Delete for me" });
    me.addEventListener("click", () => revoke(me, "me"));
    buttons.append(me);
  }
  if (PENDING.includes(m.status)) {
    const cancel = h("button", { type: "button", class: "danger small", text: "Cancel send" });
    cancel.addEventListener("click", () => revoke(cancel, "everyone"));
    buttons.append(cancel);
  }

  async function revoke(button, who) {
    const [title, text, ok] = PENDING.includes(m.status)
      ? ["Cancel this send?", "A message still queued is never sent.", "Cancel send"]
      : who === "everyone"
        ? ["Delete for everyone?", `The message to ${m.to} is deleted from the whole chat.`, "Delete for everyone"]
        : ["Delete for me?", "The message is deleted on this device only; the chat keeps it.", "Delete for me"];
    if (!(await confirmAction(title, text, ok)) || name !== ctx.selected) return;
    const result = await act(button, error, () =>
      api.request("DELETE", recordPath(api, name, m, `?for=${who}`)));
    if (result) onChanged(result.body);
  }

  return cellNode;
}
