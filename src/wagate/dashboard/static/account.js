// The Account tab: the instance's own profile and privacy, and a contact's card.
import { $, act, h, showError } from "./ui.js";

// WhatsApp's privacy settings and their values, as the API takes them (the gateway's
// PRIVACY_VALUES; tests/unit/test_dashboard_account.py keeps the two the same).
export const PRIVACY = {
  "last_seen": ["all", "contacts", "contact_blacklist", "none"],
  "online": ["all", "match_last_seen"],
  "profile_picture": ["all", "contacts", "contact_blacklist", "none"],
  "about": ["all", "contacts", "contact_blacklist", "none"],
  "groups_add": ["all", "contacts", "contact_blacklist"],
  "read_receipts": ["all", "none"],
  "calls": ["all", "known"]
};

const LABELS = {
  last_seen: "Who sees my last seen",
  online: "Who sees when I am online",
  profile_picture: "Who sees my profile picture",
  about: "Who sees my about",
  groups_add: "Who can add me to groups",
  read_receipts: "Read receipts",
  calls: "Who can call me",
};
const VALUE_WORDS = {
  all: "everyone",
  contacts: "my contacts",
  contact_blacklist: "my contacts except…",
  none: "nobody",
  match_last_seen: "same as last seen",
  known: "known numbers (silence unknown)",
};
const CARD_FIELDS = [
  ["jid", "JID"],
  ["phone", "Phone"],
  ["lid", "LID"],
  ["name", "Saved name"],
  ["push_name", "Their name"],
  ["business_name", "Business"],
  ["about", "About"],
  ["picture_url", "Picture"],
];

export class AccountPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.tab = null;
    this.loaded = null; // the privacy values shown, to send only what changed
  }

  wire() {
    const fields = $("privacy-fields");
    fields.replaceChildren(
      ...Object.entries(PRIVACY).map(([name, values]) =>
        h(
          "div",
          {},
          h("label", { for: `privacy-${name}`, text: LABELS[name] || name }),
          h(
            "select",
            { id: `privacy-${name}`, name },
            values.map((value) => h("option", { value, text: VALUE_WORDS[value] || value })),
          ),
        ),
      ),
    );
    $("profile-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.saveProfile(e.submitter || e.target.querySelector("button[type=submit]"));
    });
    $("privacy-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.savePrivacy(e.submitter || e.target.querySelector("button[type=submit]"));
    });
    $("contact-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.lookUp(e.submitter || e.target.querySelector("button[type=submit]"));
    });
  }

  reset() {
    for (const id of ["profile-error", "privacy-error", "contact-error"]) showError(id, null);
    for (const id of ["profile-ok", "privacy-ok"]) $(id).hidden = true;
    $("profile-form").reset();
    $("privacy-form").reset();
    $("profile-jid").textContent = "";
    $("contact-card").replaceChildren();
    $("contact-card").hidden = true;
    this.loaded = null;
  }

  show(tab) {
    this.tab = tab;
    if (tab === "account") this.load();
  }

  onEvent(event, envelope) {
    const data = envelope.data || {};
    const shown = $("contact-card").dataset.jid;
    if (this.tab === "account" && event === "contact_update" && shown && data.contact === shown) {
      this.lookUp(null, shown);
    }
  }

  path(rest) {
    return this.ctx.api.instancePath(this.ctx.selected, rest);
  }

  async load() {
    const api = this.ctx.api;
    const name = this.ctx.selected;
    const profile = await act(null, "profile-error", () => api.get(this.path("/profile")));
    if (profile && name === this.ctx.selected) this.showProfile(profile.body);
    const privacy = await act(null, "privacy-error", () => api.get(this.path("/privacy")));
    if (privacy && name === this.ctx.selected) this.showPrivacy(privacy.body);
  }

  showProfile(profile) {
    $("profile-name").value = profile.name || "";
    $("profile-about").value = profile.about || "";
    $("profile-jid").textContent = profile.picture_url
      ? `${profile.jid} · has a profile picture`
      : profile.jid;
  }

  showPrivacy(settings) {
    this.loaded = { ...settings };
    for (const name of Object.keys(PRIVACY)) {
      if (settings[name]) $(`privacy-${name}`).value = settings[name];
    }
  }

  async saveProfile(button) {
    $("profile-ok").hidden = true;
    const body = { name: $("profile-name").value.trim(), about: $("profile-about").value };
    if (!body.name) delete body.name;
    const result = await act(button, "profile-error", () =>
      this.ctx.api.request("PATCH", this.path("/profile"), { json: body }),
    );
    if (!result) return;
    this.showProfile(result.body);
    $("profile-ok").textContent = "Profile saved.";
    $("profile-ok").hidden = false;
  }

  async savePrivacy(button) {
    $("privacy-ok").hidden = true;
    const changes = {};
    for (const name of Object.keys(PRIVACY)) {
      const value = $(`privacy-${name}`).value;
      if (!this.loaded || this.loaded[name] !== value) changes[name] = value;
    }
    const result = await act(button, "privacy-error", () =>
      this.ctx.api.request("PATCH", this.path("/privacy"), { json: changes }),
    );
    if (!result) return;
    this.showPrivacy(result.body);
    $("privacy-ok").textContent = "Privacy saved.";
    $("privacy-ok").hidden = false;
  }

  async lookUp(button, given) {
    const contact = given || $("contact-query").value.trim();
    if (!contact) {
      showError("contact-error", { message: "Type a phone number or a JID first." });
      return;
    }
    const card = $("contact-card");
    const result = await act(button, "contact-error", () =>
      this.ctx.api.get(this.path(`/contacts/${encodeURIComponent(contact)}`)),
    );
    if (!result) return;
    const body = result.body;
    const rows = [];
    for (const [key, label] of CARD_FIELDS) {
      if (body[key] === null || body[key] === undefined || body[key] === "") continue;
      rows.push(h("dt", { text: label }), h("dd", { text: String(body[key]) }));
    }
    rows.push(
      h("dt", { text: "On WhatsApp" }),
      h("dd", { text: body.on_whatsapp ? "yes" : "no" }),
    );
    card.replaceChildren(...rows);
    card.dataset.jid = body.jid;
    card.hidden = false;
  }
}
