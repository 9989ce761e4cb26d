// The Chats tab: the instance's conversations as the history keeps them (API.md "Chats and
// history"), a search over their words, and a reply sent in place through the send route.
import { $, act, formatTime, h, showError, statusBadge } from "./ui.js";

// Events that change what the chat list or an open conversation shows.
const CHAT_EVENTS = [
  "message_received",
  "message_ack",
  "message_status",
  "message_edited",
  "message_revoked",
  "message_reaction",
];
// Events naming one message whose row is read again when it is on screen.
const ROW_EVENTS = ["message_edited", "message_revoked", "message_reaction"];
const STATUS_WORDS = { received: "received", sent: "sent", delivered: "delivered", read: "read", played: "played" };
const KIND_WORDS = {
  image: "Photo",
  video: "Video",
  audio: "Audio",
  document: "Document",
  sticker: "Sticker",
  location: "Location",
  contact: "Contact card",
  poll: "Poll",
  reaction: "Reaction",
};
// A reply is written to the history by the sender's group commit, a moment after the send
// answers: look for it this many times before leaving it to the events.
const LAND_TRIES = [150, 400, 1000, 2000];

function debounce(fn, delay) {
  let timer = null;
  const run = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, delay);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A JID as people read it: +digits for a phone's chat, the JID itself otherwise.
export function jidLabel(jid) {
  if (!jid) return "";
  const [user, server] = String(jid).split("@");
  const digits = user.split(":")[0].split(".")[0];
  return server === "s.whatsapp.net" && /^\d+$/.test(digits) ? `+${digits}` : jid;
}

function size(bytes) {
  if (typeof bytes !== "number") return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// The words of a message of a kind without text of its own (location, contact, poll).
function extraWords(m) {
  const extra = m.extra || {};
  if (extra.location) {
    const loc = extra.location;
    const where = [loc.name, loc.address].filter(Boolean).join(", ");
    return `${where ? `${where} ` : ""}(${loc.latitude}, ${loc.longitude})`;
  }
  if (Array.isArray(extra.contacts)) {
    return extra.contacts.map((c) => c.name || c.display_name || "").filter(Boolean).join(", ");
  }
  if (extra.poll) return extra.poll.question || extra.poll.name || "";
  return "";
}

function preview(last) {
  if (!last) return "";
  const words = last.text || KIND_WORDS[last.kind] || last.kind;
  return last.from_me ? `You: ${words}` : words;
}

export class ChatsPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.tab = null;
    this.chatsCursor = null;
    // Once a further page of chats is loaded, events do not reload the first page (that
    // would take the page being read away); Refresh does.
    this.chatsPaged = false;
    this.open = null; // {jid, before, after, rows: Map message_id -> li}
    this.searchCursor = null;
    this.searchQuery = "";
    this.blobs = []; // object URLs of media shown, freed when the view changes
    this.mediaQueue = Promise.resolve();
    this.reloadChats = debounce(() => this.tab === "chats" && !this.chatsPaged && this.loadChats(), 300);
    this.fetchNewer = debounce(() => this.loadNewer(), 250);
  }

  wire() {
    $("chats-refresh").addEventListener("click", () => this.loadChats());
    $("chats-more").addEventListener("click", () => this.loadChats(true));
    $("chat-older").addEventListener("click", () => this.loadOlder());
    $("chats-search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.search(false);
    });
    $("chats-results-more").addEventListener("click", () => this.search(true));
    $("chats-search-clear").addEventListener("click", () => this.clearSearch());
    $("chat-reply-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.reply(e.submitter || e.target.querySelector("button[type=submit]"));
    });
    // Enter writes a new line; Ctrl+Enter (or ⌘+Enter) sends, as in most chat apps.
    $("chat-reply").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        $("chat-reply-form").requestSubmit();
      }
    });
  }

  reset() {
    this.reloadChats.cancel();
    this.fetchNewer.cancel();
    this.closeChat();
    this.chatsCursor = null;
    this.chatsPaged = false;
    $("chat-list").replaceChildren();
    $("chats-empty").hidden = true;
    $("chats-more").hidden = true;
    showError("chats-error", null);
    this.clearSearch();
    $("chats-search").value = "";
  }

  show(tab) {
    this.tab = tab;
    if (tab !== "chats") return;
    if (!this.chatsPaged) this.loadChats();
    if (this.open) this.loadNewer();
  }

  onEvent(event, envelope) {
    if (this.tab !== "chats" || !CHAT_EVENTS.includes(event)) return;
    this.reloadChats();
    const open = this.open;
    const data = envelope.data || {};
    if (!open) return;
    // message_ack names no chat: a send of this instance may be the reply just typed here.
    if (data.chat && data.chat !== open.jid) return;
    if (event === "message_status") this.setStatus(data.message_id, data.status);
    else if (ROW_EVENTS.includes(event)) this.refreshRow(data.message_id);
    else this.fetchNewer();
  }

  path(rest) {
    return this.ctx.api.instancePath(this.ctx.selected, rest);
  }

  chatPath(jid, rest = "") {
    return this.path(`/chats/${encodeURIComponent(jid)}${rest}`);
  }

  // --- the chat list ----------------------------------------------------------------------

  async loadChats(more = false) {
    const name = this.ctx.selected;
    const q = new URLSearchParams({ limit: "50" });
    if (more && this.chatsCursor) q.set("before", this.chatsCursor);
    const button = more ? $("chats-more") : $("chats-refresh");
    const result = await act(button, "chats-error", () => this.ctx.api.get(this.path(`/chats?${q}`)));
    if (!result || name !== this.ctx.selected) return;
    const items = result.body.chats.map((chat) => this.chatItem(chat));
    if (more) $("chat-list").append(...items);
    else $("chat-list").replaceChildren(...items);
    this.chatsPaged = more;
    this.chatsCursor = result.body.next_cursor || null;
    $("chats-more").hidden = !this.chatsCursor;
    $("chats-empty").hidden = $("chat-list").children.length > 0;
  }

  chatItem(chat) {
    const title = chat.name || jidLabel(chat.jid);
    const unread = chat.unread > 0
      ? h("span", { class: "unread", text: String(chat.unread), "aria-label": `${chat.unread} unread` })
      : null;
    const flags = [chat.pinned ? "pinned" : "", chat.archived ? "archived" : "", chat.kind === "group" ? "group" : ""]
      .filter(Boolean).join(" · ");
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "chat-item",
          "aria-current": this.open && this.open.jid === chat.jid ? "true" : "false",
          dataset: { jid: chat.jid, unread: String(chat.unread) },
          onclick: () => this.openChat(chat.jid, title),
        },
        h("span", { class: "chat-head" }, h("span", { class: "chat-name", text: title }), unread),
        h("span", { class: "chat-last", text: preview(chat.last_message) || "—" }),
        h("span", { class: "chat-when", text: [formatTime(chat.last_message_at), flags].filter(Boolean).join(" · ") }),
      ),
    );
  }

  listedName(jid) {
    const listed = $("chat-list").querySelector(`button[data-jid="${CSS.escape(jid)}"] .chat-name`);
    return listed ? listed.textContent : "";
  }

  markCurrent() {
    for (const button of $("chat-list").querySelectorAll("button.chat-item")) {
      button.setAttribute("aria-current", this.open && button.dataset.jid === this.open.jid ? "true" : "false");
    }
  }

  // --- one conversation -------------------------------------------------------------------

  closeChat() {
    this.open = null;
    for (const url of this.blobs) URL.revokeObjectURL(url);
    this.blobs = [];
    $("chat-messages").replaceChildren();
    $("chat-view").hidden = true;
    $("chat-pick").hidden = false;
    $("chat-older").hidden = true;
    $("chat-none").hidden = true;
    $("chat-reply").value = "";
    for (const id of ["chat-error", "chat-reply-error"]) showError(id, null);
  }

  async openChat(jid, title, found = null) {
    this.closeChat();
    const open = { jid, before: null, after: null, rows: new Map() };
    this.open = open;
    this.markCurrent();
    $("chat-title").textContent = title || this.listedName(jid) || jidLabel(jid);
    $("chat-jid").textContent = jid;
    $("chat-view").hidden = false;
    $("chat-pick").hidden = true;
    const result = await act(null, "chat-error", () => this.ctx.api.get(this.chatPath(jid, "/messages?limit=30")));
    if (!result || this.open !== open) return;
    this.place(result.body.messages.slice().reverse(), "end");
    open.before = result.body.before;
    open.after = result.body.after;
    $("chat-older").hidden = !open.before;
    this.scrollToEnd();
    if (found) this.highlight(found);
    // On a phone the conversation sits below the list: bring it into view.
    if (window.matchMedia("(max-width: 760px)").matches) $("chat-view").scrollIntoView();
  }

  async loadOlder() {
    const open = this.open;
    if (!open || !open.before) return;
    const q = new URLSearchParams({ limit: "30", before: open.before });
    const result = await act($("chat-older"), "chat-error", () =>
      this.ctx.api.get(this.chatPath(open.jid, `/messages?${q}`)),
    );
    if (!result || this.open !== open) return;
    const list = $("chat-messages");
    // Keep the messages being read where they are while older ones go in above them.
    const fromBottom = list.scrollHeight - list.scrollTop;
    this.place(result.body.messages.slice().reverse(), "start");
    list.scrollTop = list.scrollHeight - fromBottom;
    open.before = result.body.before;
    $("chat-older").hidden = !open.before;
  }

  // The messages newer than the newest shown (a received one, or a reply that landed).
  async loadNewer() {
    const open = this.open;
    if (!open) return [];
    const q = new URLSearchParams({ limit: "100" });
    if (open.after) q.set("after", open.after);
    let result;
    try {
      result = await this.ctx.api.get(this.chatPath(open.jid, `/messages?${q}`));
    } catch (err) {
      if (this.open === open) showError("chat-error", err);
      return [];
    }
    if (this.open !== open) return [];
    // Without a cursor the answer is the newest page, newest first.
    const messages = open.after ? result.body.messages : result.body.messages.slice().reverse();
    if (!open.after) open.before = result.body.before;
    if (result.body.after) open.after = result.body.after;
    const list = $("chat-messages");
    const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    this.place(messages, "end");
    if (atEnd) this.scrollToEnd();
    return messages;
  }

  // Puts messages (oldest first) at one end of the conversation; one already shown is
  // replaced where it is.
  place(messages, where) {
    const list = $("chat-messages");
    const fresh = [];
    for (const m of messages) {
      const item = this.messageItem(m);
      const shown = this.open.rows.get(m.message_id);
      this.open.rows.set(m.message_id, item);
      if (shown) shown.replaceWith(item);
      else fresh.push(item);
    }
    if (where === "start") list.prepend(...fresh);
    else list.append(...fresh);
    $("chat-none").hidden = list.children.length > 0;
  }

  scrollToEnd() {
    const list = $("chat-messages");
    list.scrollTop = list.scrollHeight;
  }

  highlight(messageId) {
    const item = this.open && this.open.rows.get(messageId);
    if (!item) return;
    item.classList.add("found");
    item.scrollIntoView({ block: "nearest" });
  }

  setStatus(messageId, status) {
    const item = this.open && this.open.rows.get(messageId);
    if (!item || !STATUS_WORDS[status]) return;
    item.dataset.status = status;
    const badge = item.querySelector(".msg-meta .badge");
    if (badge) badge.replaceWith(statusBadge(status, STATUS_WORDS));
  }

  async refreshRow(messageId) {
    const open = this.open;
    if (!open || !messageId || !open.rows.has(messageId)) return;
    try {
      const { body } = await this.ctx.api.get(this.chatPath(open.jid, `/messages/${encodeURIComponent(messageId)}`));
      if (this.open === open) this.place([body], "end");
    } catch (err) {
      if (this.open === open) showError("chat-error", err);
    }
  }

  messageItem(m) {
    const edited = Boolean(m.edited_text) && !m.revoked;
    const item = h("li", {
      class: `msg ${m.from_me ? "out" : "in"}${m.revoked ? " revoked" : ""}`,
      dataset: {
        messageId: m.message_id,
        direction: m.from_me ? "out" : "in",
        kind: m.kind,
        status: m.status,
        edited: edited ? "true" : "false",
        revoked: m.revoked ? "true" : "false",
      },
    });
    const group = this.open && this.open.jid.endsWith("@g.us");
    if (group && !m.from_me && m.sender) item.append(h("p", { class: "msg-sender", text: jidLabel(m.sender) }));
    if (m.reply_to) item.append(h("p", { class: "msg-quote", text: `Reply to ${m.reply_to}` }));
    item.append(...this.content(m, edited));
    const marks = [];
    if (edited) marks.push(h("span", { class: "mark", text: "edited", title: m.text ? `Before: ${m.text}` : null }));
    if (m.revoked) marks.push(h("span", { class: "mark", text: "deleted" }));
    const reactions = Object.values(m.reactions || {});
    item.append(
      h(
        "p",
        { class: "msg-meta" },
        h("time", { datetime: m.timestamp, text: formatTime(m.timestamp) }),
        ...marks,
        m.from_me ? statusBadge(m.status, STATUS_WORDS) : null,
        reactions.length ? h("span", { class: "reactions", text: reactions.join(" ") }) : null,
      ),
    );
    return item;
  }

  content(m, edited) {
    if (m.revoked) return [h("p", { class: "msg-body", text: "This message was deleted." })];
    const nodes = [];
    if (m.media) nodes.push(this.mediaNode(m));
    const words = (edited ? m.edited_text : null) || m.text || m.caption || extraWords(m);
    if (words) nodes.push(h("p", { class: "msg-body", text: words }));
    else if (!m.media) nodes.push(h("p", { class: "msg-body hint", text: KIND_WORDS[m.kind] || m.kind }));
    return nodes;
  }

  // --- media ------------------------------------------------------------------------------

  mediaPath(m) {
    return this.path(`/media/${encodeURIComponent(m.message_id)}`);
  }

  // The media route needs the token, which an <img src> or a plain link cannot send: the
  // bytes are fetched and shown from a blob: URL (allowed by the page's CSP).
  async mediaBlob(m) {
    const response = await fetch(this.mediaPath(m), { headers: this.ctx.api.headers({ Accept: "*/*" }), cache: "no-store" });
    if (!response.ok) {
      let message = `The gateway answered ${response.status}.`;
      try {
        const body = await response.json();
        if (body && body.error) message = body.error.message;
      } catch { /* not JSON */ }
      throw new Error(message);
    }
    const url = URL.createObjectURL(await response.blob());
    this.blobs.push(url);
    return url;
  }

  mediaNode(m) {
    const media = m.media || {};
    const mimetype = String(media.mimetype || "");
    if (mimetype.startsWith("image/")) return this.imageNode(m);
    const label = media.filename || KIND_WORDS[m.kind] || m.kind;
    const note = h("span", { class: "hint" });
    const link = h("a", {
      class: "download",
      href: this.mediaPath(m),
      text: `Download ${label}${media.size ? ` (${size(media.size)})` : ""}`,
    });
    link.addEventListener("click", async (e) => {
      if (link.dataset.ready) return;
      e.preventDefault();
      note.textContent = "";
      try {
        link.href = await this.mediaBlob(m);
        link.download = media.filename || `${m.message_id}`;
        link.dataset.ready = "true";
        link.click();
      } catch (err) {
        note.textContent = ` ${err.message}`;
      }
    });
    return h("p", { class: "msg-media" }, link, note);
  }

  imageNode(m) {
    const open = this.open;
    const figure = h("p", { class: "msg-media" }, h("span", { class: "hint", text: "Loading the picture…" }));
    // One picture at a time: the page's few connections are shared with the event streams.
    this.mediaQueue = this.mediaQueue.then(async () => {
      if (this.open !== open) return;
      try {
        const url = await this.mediaBlob(m);
        figure.replaceChildren(h("img", { src: url, alt: m.caption || "Picture", class: "msg-image" }));
      } catch (err) {
        figure.replaceChildren(h("span", { class: "hint", text: `Picture not shown: ${err.message}` }));
      }
    });
    return figure;
  }

  // --- the reply --------------------------------------------------------------------------

  async reply(button) {
    const open = this.open;
    const text = $("chat-reply").value;
    if (!open) return;
    if (!text.trim()) {
      showError("chat-reply-error", { message: "Type a reply first." });
      return;
    }
    const result = await act(button, "chat-reply-error", () =>
      this.ctx.api.send(this.ctx.selected, "text", { json: { to: open.jid, text } }),
    );
    if (!result || this.open !== open) return;
    $("chat-reply").value = "";
    const sent = result.body.message_id;
    for (const delay of LAND_TRIES) {
      await sleep(delay);
      if (this.open !== open || open.rows.has(sent)) break;
      await this.loadNewer();
    }
    if (this.open === open) this.scrollToEnd();
  }

  // --- search -----------------------------------------------------------------------------

  clearSearch() {
    this.searchCursor = null;
    this.searchQuery = "";
    $("chats-results").replaceChildren();
    $("chats-results-box").hidden = true;
    $("chats-results-more").hidden = true;
    showError("chats-search-error", null);
  }

  async search(more) {
    const name = this.ctx.selected;
    const query = more ? this.searchQuery : $("chats-search").value.trim();
    if (!query) {
      showError("chats-search-error", { message: "Type a word to search for." });
      return;
    }
    // A new search's answer replaces the last one's, even when it is an error.
    if (!more) this.clearSearch();
    const q = new URLSearchParams({ q: query, limit: "20" });
    if (more && this.searchCursor) q.set("before", this.searchCursor);
    const button = more ? $("chats-results-more") : $("chats-search-form").querySelector("button[type=submit]");
    const result = await act(button, "chats-search-error", () =>
      this.ctx.api.get(this.path(`/messages/search?${q}`)),
    );
    if (!result || name !== this.ctx.selected) return;
    this.searchQuery = query;
    const items = result.body.messages.map((m) => this.resultItem(m));
    if (more) $("chats-results").append(...items);
    else $("chats-results").replaceChildren(...items);
    this.searchCursor = result.body.next_cursor || null;
    $("chats-results-more").hidden = !this.searchCursor;
    $("chats-results-box").hidden = false;
    $("chats-results-empty").hidden = $("chats-results").children.length > 0;
  }

  resultItem(m) {
    const words = m.edited_text || m.text || m.caption || "";
    const who = m.from_me ? "You" : jidLabel(m.sender || m.chat);
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "chat-item",
          dataset: { jid: m.chat, messageId: m.message_id },
          onclick: () => this.openChat(m.chat, null, m.message_id),
        },
        h("span", { class: "chat-head" }, h("span", { class: "chat-name", text: jidLabel(m.chat) }),
          h("span", { class: "chat-when", text: formatTime(m.timestamp) })),
        h("span", { class: "chat-last", text: `${who}: ${words}` }),
      ),
    );
  }
}
