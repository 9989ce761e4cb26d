// The Connection tab: status, lifecycle actions, the QR code (live), phone-code pairing, events.
import {
  $, STATUS_WORDS, act, clockTime, confirmAction, explainError, formatTime, h, linkedPhone,
  showError,
} from "./ui.js";

const MAX_LOG = 60;

function describe(event, data) {
  switch (event) {
    case "connection_update":
      return `${STATUS_WORDS[data.status] || data.status}${data.reason ? ` — ${explainError(data.reason, data.status)}` : ""}`;
    case "qr_updated":
      return "New QR code";
    case "message_received":
      return `Message from ${data.from || data.chat}: ${data.text || data.caption || data.kind}`;
    case "message_ack":
      return `Message ${data.correlation_id} ${data.status}${data.error ? ` (${data.error})` : ""}`;
    case "message_status":
      return `Message ${data.correlation_id || data.message_id} ${data.status}`;
    default:
      return event;
  }
}

export class ConnectionPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.timer = null;
    this.qrExpires = null;
    this.qrLoading = null;
  }

  wire() {
    for (const button of $("conn-actions").querySelectorAll("button[data-action]")) {
      button.addEventListener("click", () => this.action(button));
    }
    $("pair-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.pair(e.submitter || e.target.querySelector("button"));
    });
    $("sim-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.simulateScan(e.submitter || e.target.querySelector("button"));
    });
  }

  reset() {
    this.stopQr();
    showError("conn-error", null);
    showError("pair-error", null);
    showError("sim-error", null);
    $("pair-code").hidden = true;
    $("event-log").replaceChildren();
    $("events-state").textContent = "";
  }

  render(inst) {
    $("conn-status").textContent = STATUS_WORDS[inst.status] || inst.status;
    $("conn-phone").textContent = linkedPhone(inst) || "—";
    $("conn-engine").textContent = inst.engine;
    $("conn-node").textContent = inst.node || "—";
    $("conn-since").textContent = inst.status === "connected" ? formatTime(inst.connected_at) : "—";
    const problem = $("conn-problem");
    problem.textContent = explainError(inst.last_error, inst.status);
    problem.hidden = !inst.last_error;
    const live = ["connecting", "pairing", "connected", "reconnecting"].includes(inst.status);
    const buttons = $("conn-actions");
    buttons.querySelector('[data-action="connect"]').disabled = live;
    buttons.querySelector('[data-action="disconnect"]').disabled = !live;
    buttons.querySelector('[data-action="logout"]').disabled = inst.status === "logged_out";
    // The simulator stands in for a phone: it can "scan" its own code.
    $("sim-form").hidden = inst.engine !== "simulator";
    if (inst.status === "pairing") {
      if (!this.qrExpires && !this.qrLoading) this.loadQr();
    } else {
      this.stopQr();
      $("pair-code").hidden = true;
    }
  }

  showStreamState(state, text) {
    $("events-state").textContent = state === "live" ? "Listening for events as they happen." : text;
  }

  onEvent(event, envelope) {
    const data = envelope.data || {};
    if (event === "qr_updated") this.loadQr();
    const log = $("event-log");
    log.prepend(
      h("li", {}, h("time", { text: clockTime(envelope.timestamp) }), h("strong", { text: event }), " ",
        describe(event, data)),
    );
    while (log.children.length > MAX_LOG) log.lastElementChild.remove();
  }

  async action(button) {
    const name = this.ctx.selected;
    const action = button.dataset.action;
    if (action === "delete") {
      const ok = await confirmAction(
        `Delete ${name}?`,
        "This stops the instance, unlinks its device and deletes its data. It cannot be undone.",
      );
      if (!ok) return;
      const done = await act(button, "conn-error", () => this.ctx.api.deleteInstance(name));
      if (done) this.ctx.removeInstance(name);
      return;
    }
    if (action === "logout") {
      const ok = await confirmAction(
        `Log out ${name}?`,
        "The device is unlinked from the phone; connecting again needs a new QR scan.",
        "Log out",
      );
      if (!ok) return;
    }
    const done = await act(button, "conn-error", () => this.ctx.api.lifecycle(name, action));
    if (done) await this.ctx.refreshInstance(name);
  }

  async loadQr() {
    const name = this.ctx.selected;
    if (!name) return;
    const loading = this.ctx.api.qr(name);
    this.qrLoading = loading;
    try {
      const { body } = await loading;
      if (name !== this.ctx.selected) return;
      $("qr-image").src = body.image;
      $("qr-image").dataset.code = body.code;
      this.qrExpires = new Date(body.expires_at);
      $("qr-box").hidden = false;
      showError("qr-error", null);
      this.tick();
      if (!this.timer) this.timer = setInterval(() => this.tick(), 1000);
    } catch (err) {
      // not_pairing: the status moved on (scanned, timed out); the connection_update says so.
      if (err.code === "not_pairing") this.stopQr();
      else {
        $("qr-box").hidden = false;
        showError("qr-error", err);
      }
    } finally {
      if (this.qrLoading === loading) this.qrLoading = null;
    }
  }

  tick() {
    if (!this.qrExpires) return;
    const left = Math.max(0, Math.round((this.qrExpires - Date.now()) / 1000));
    $("qr-left").textContent = left > 0
      ? `This code changes in ${left} s.`
      : "Waiting for the next code…";
  }

  stopQr() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.qrExpires = null;
    $("qr-box").hidden = true;
    $("qr-image").removeAttribute("src");
    delete $("qr-image").dataset.code;
  }

  // The connected status arrives through the live event stream, like a real scan's.
  async simulateScan(button) {
    const phone = $("sim-phone").value.trim();
    await act(button, "sim-error", () => this.ctx.api.simulateScan(this.ctx.selected, phone));
  }

  async pair(button) {
    const phone = $("pair-phone").value.trim();
    $("pair-code").hidden = true;
    const result = await act(button, "pair-error", () => this.ctx.api.pair(this.ctx.selected, phone));
    if (!result) return;
    $("pair-code").textContent = result.body.code;
    $("pair-code").hidden = false;
  }
}
