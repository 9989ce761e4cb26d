// The Groups tab: the instance's groups, their members with roles, create, add, remove,
// promote and demote, the invite link, leave.
import { $, act, confirmAction, h, showError } from "./ui.js";

const GROUP_EVENTS = ["group_update", "group_participants"];
const ROLE_WORDS = { member: "Member", admin: "Admin", superadmin: "Creator" };

function phones(text) {
  return text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean);
}

function settingsWords(group) {
  const words = [];
  if (group.announce) words.push("only admins send");
  if (group.locked) words.push("only admins edit");
  if (group.join_approval) words.push("approval to join");
  if (group.ephemeral_s) words.push("disappearing messages");
  return words.join(", ") || "—";
}

// Why a participant was not added, in words (the API's codes otherwise).
const RESULT_WORDS = {
  not_on_whatsapp: "not on WhatsApp",
  privacy: "their privacy settings refuse it; an invite was sent",
  already_in_group: "already in the group",
  not_in_group: "not in the group",
  not_allowed: "not allowed",
};

function resultsText(results) {
  const failed = results.filter((r) => !r.ok);
  if (!failed.length) return "Done.";
  return failed.map((r) => `${r.phone || r.jid}: ${RESULT_WORDS[r.error] || r.error}`).join("; ");
}

export class GroupsPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.tab = "connection";
    this.cursor = null;
    this.open = null; // the JID of the group shown below the list
    this.reloadTimer = null;
  }

  wire() {
    $("grp-refresh").addEventListener("click", () => this.load());
    $("grp-more").addEventListener("click", () => this.load(true));
    $("grp-create").addEventListener("submit", (e) => {
      e.preventDefault();
      this.create(e.submitter || e.target.querySelector("button[type=submit]"));
    });
    $("grp-add").addEventListener("submit", (e) => {
      e.preventDefault();
      const list = phones($("grp-add-phones").value);
      if (list.length) this.change("add", list, e.submitter || e.target.querySelector("button"));
    });
    $("grp-invite").addEventListener("click", () => this.invite());
    $("grp-leave").addEventListener("click", () => this.leave());
  }

  reset() {
    clearTimeout(this.reloadTimer);
    $("grp-rows").replaceChildren();
    $("grp-member-rows").replaceChildren();
    for (const id of ["grp-error", "grp-create-error", "grp-detail-error"]) showError(id, null);
    for (const id of ["grp-more", "grp-empty", "grp-detail", "grp-create-note", "grp-results", "grp-invite-box"]) {
      $(id).hidden = true;
    }
    $("grp-create").reset();
    this.cursor = null;
    this.open = null;
  }

  show(tab) {
    this.tab = tab;
    if (tab === "groups") this.load();
  }

  onEvent(event) {
    if (this.tab !== "groups" || !GROUP_EVENTS.includes(event)) return;
    // A burst of changes (a create adds many) reloads once.
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.load();
      if (this.open) this.openGroup(this.open);
    }, 300);
  }

  async load(more = false) {
    const name = this.ctx.selected;
    const result = await act(more ? $("grp-more") : $("grp-refresh"), "grp-error", () =>
      this.ctx.api.groups(name, { cursor: more ? this.cursor : "" }),
    );
    if (!result || name !== this.ctx.selected) return;
    const rows = result.body.groups.map((g) =>
      h("tr", { dataset: { jid: g.jid } },
        h("td", { "data-label": "Subject" }, g.subject),
        h("td", { "data-label": "Members" }, String(g.participants.length)),
        h("td", { "data-label": "Settings" }, settingsWords(g)),
        h("td", {},
          h("button", { type: "button", class: "secondary small", onclick: () => this.openGroup(g.jid) },
            `Open ${g.subject}`))));
    if (more) $("grp-rows").append(...rows);
    else $("grp-rows").replaceChildren(...rows);
    this.cursor = result.body.next_cursor;
    $("grp-more").hidden = !this.cursor;
    $("grp-empty").hidden = $("grp-rows").children.length > 0;
  }

  async create(button) {
    const subject = $("grp-subject").value.trim();
    const participants = phones($("grp-members").value);
    $("grp-create-note").hidden = true;
    const name = this.ctx.selected;
    const result = await act(button, "grp-create-error", () =>
      this.ctx.api.createGroup(name, { subject, participants }),
    );
    if (!result || name !== this.ctx.selected) return;
    $("grp-create").reset();
    if (result.body.failed.length) {
      $("grp-create-note").textContent = `Not added: ${resultsText(result.body.failed)}`;
      $("grp-create-note").hidden = false;
    }
    await this.load();
    await this.openGroup(result.body.jid);
  }

  me() {
    const inst = this.ctx.instances.get(this.ctx.selected);
    return inst ? inst.jid : null;
  }

  async openGroup(jid) {
    const name = this.ctx.selected;
    this.open = jid;
    $("grp-invite-box").hidden = true;
    const result = await act(null, "grp-detail-error", () => this.ctx.api.group(name, jid));
    if (name !== this.ctx.selected || this.open !== jid) return;
    if (!result) {
      $("grp-detail").hidden = true;
      this.open = null;
      return;
    }
    const group = result.body;
    const me = this.me();
    const mine = group.participants.find((p) => p.jid === me);
    const admin = Boolean(mine && mine.role !== "member");
    $("grp-title").textContent = group.subject;
    $("grp-jid").textContent = group.jid;
    $("grp-member-rows").replaceChildren(...group.participants.map((p) => this.memberRow(p, admin, me)));
    $("grp-add").hidden = !admin;
    $("grp-invite").hidden = !admin;
    $("grp-detail").hidden = false;
  }

  memberRow(p, admin, me) {
    const who = p.phone ? `+${p.phone}` : p.jid;
    const actions = [];
    if (admin && p.jid !== me && p.role !== "superadmin") {
      const promote = p.role === "member" ? "promote" : "demote";
      actions.push(
        h("button", { type: "button", class: "secondary small", onclick: (e) => this.change(promote, [p.jid], e.target) },
          promote === "promote" ? `Make ${who} admin` : `Dismiss ${who} as admin`),
        h("button", { type: "button", class: "danger small", onclick: (e) => this.change("remove", [p.jid], e.target) },
          `Remove ${who}`),
      );
    }
    return h("tr", { dataset: { jid: p.jid } },
      h("td", { "data-label": "Member" }, p.jid === me ? `${who} (this instance)` : who),
      h("td", { "data-label": "Role" }, ROLE_WORDS[p.role] || p.role),
      h("td", {}, ...actions));
  }

  async change(action, participants, button) {
    const name = this.ctx.selected;
    const jid = this.open;
    $("grp-results").hidden = true;
    const result = await act(button, "grp-detail-error", () =>
      this.ctx.api.groupParticipants(name, jid, action, participants),
    );
    if (!result || name !== this.ctx.selected) return;
    $("grp-results").textContent = resultsText(result.body.results);
    $("grp-results").hidden = false;
    if (action === "add") $("grp-add-phones").value = "";
    await this.openGroup(jid);
    await this.load();
  }

  async invite() {
    const name = this.ctx.selected;
    const result = await act($("grp-invite"), "grp-detail-error", () =>
      this.ctx.api.groupInvite(name, this.open),
    );
    if (!result) return;
    const url = String(result.body.url || "");
    $("grp-invite-link").textContent = url;
    // Only a web link becomes clickable: the page never follows another scheme it was handed.
    if (url.startsWith("https://")) $("grp-invite-link").href = url;
    else $("grp-invite-link").removeAttribute("href");
    $("grp-invite-box").hidden = false;
  }

  async leave() {
    const name = this.ctx.selected;
    const jid = this.open;
    const ok = await confirmAction("Leave this group?", `The instance leaves ${$("grp-title").textContent}.`, "Leave");
    if (!ok) return;
    const result = await act($("grp-leave"), "grp-detail-error", () => this.ctx.api.leaveGroup(name, jid));
    if (!result) return;
    $("grp-detail").hidden = true;
    this.open = null;
    await this.load();
  }
}
