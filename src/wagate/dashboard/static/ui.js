// Small DOM helpers and the words the dashboard shows for API values.

export const $ = (id) => document.getElementById(id);

// Builds an element; text is always set as text (never HTML), so API values cannot inject markup.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function errorText(err) {
  if (!err) return "";
  if (err.code === "network_error") return err.message;
  let text = err.message || String(err);
  const fields = err.details && Array.isArray(err.details.fields) ? err.details.fields : [];
  const extra = fields
    .map((f) => (f.field ? `${f.field}: ${f.message}` : f.message))
    .filter((line) => line && line !== text);
  if (extra.length) text += ` (${extra.join("; ")})`;
  if (err.code === "rate_limited" && err.retryAfter) text += ` Try again in ${err.retryAfter} s.`;
  if (err.details && err.details.correlation_id) text += ` Message ${err.details.correlation_id}.`;
  return err.code && !err.code.startsWith("http_") ? `${text} [${err.code}]` : text;
}

export function showError(id, err) {
  const node = typeof id === "string" ? $(id) : id;
  if (!err) {
    node.hidden = true;
    node.textContent = "";
    return;
  }
  node.textContent = errorText(err);
  node.hidden = false;
}

// Runs an action with its button disabled and its error shown next to it.
export async function act(button, errorId, fn) {
  showError(errorId, null);
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (err) {
    if (err && err.name === "AbortError") return undefined;
    showError(errorId, err);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export const STATUS_WORDS = {
  disconnected: "Disconnected",
  connecting: "Connecting…",
  pairing: "Waiting for a scan",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  logged_out: "Logged out",
};

export function statusBadge(status, words = STATUS_WORDS) {
  return h("span", { class: `badge s-${status}`, text: words[status] || status });
}

export function setBadge(node, status, words = STATUS_WORDS) {
  node.className = `badge s-${status}`;
  node.textContent = words[status] || status;
}

const REASONS = {
  qr_timeout: "The QR code was not scanned in time, so the gateway stopped waiting. Press Connect for a new code.",
  stream_replaced: "This WhatsApp account was opened by another session, which took over. Press Connect to take it back.",
  logged_out: "The device was unlinked (from the phone, or with Log out). Press Connect and scan a new QR code.",
  node_stopping: "The gateway node holding this instance was stopped. It resumes when a node starts again.",
  disconnected: "Disconnected on request; the device stays linked.",
  restart: "Restarting on request.",
  connection_lost: "The connection to WhatsApp dropped; the gateway is retrying.",
  connection_closed: "The connection to WhatsApp dropped; the gateway is retrying.",
  timeout: "WhatsApp did not answer in time.",
};

// Engines give free-text reasons too: the status says what kind of problem it is.
const BY_STATUS = {
  logged_out: REASONS.logged_out,
  reconnecting: "The connection to WhatsApp dropped; the gateway is retrying.",
  disconnected: "The gateway could not keep this instance connected. Press Connect to try again.",
};

// last_error (or a connection_update reason) in words a user understands.
export function explainError(reason, status = "") {
  if (!reason) return "";
  const [code, ...rest] = String(reason).split(":");
  const detail = rest.join(":").trim();
  if (REASONS[code]) return REASONS[code] + (detail ? ` (${detail})` : "");
  if (code === "connect_failed") {
    return `The gateway could not connect to WhatsApp${detail ? `: ${detail}` : ""}. Check the network and press Connect to try again.`;
  }
  if (BY_STATUS[status]) return `${BY_STATUS[status]} (${reason})`;
  return `Last problem: ${reason}`;
}

export function formatTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function clockTime(value) {
  const date = value ? new Date(value) : new Date();
  return date.toLocaleTimeString(undefined, { hour12: false });
}

// The linked phone: the instance's phone, else the user part of its JID, as +digits.
export function linkedPhone(inst) {
  const raw = inst.phone || (inst.jid ? String(inst.jid).split("@")[0].split(":")[0].split(".")[0] : "");
  return /^\d+$/.test(raw) ? `+${raw}` : raw;
}

const confirmDialog = () => $("confirm");

// A modal confirmation: resolves true when the user confirms.
export function confirmAction(title, text, okLabel = "Delete") {
  const dialog = confirmDialog();
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}
