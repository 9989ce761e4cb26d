// The dashboard's entry point: sign-in, the instance list with live status, tabs.
import { AccountPanel } from "./account.js";
import { PolicyPanel } from "./policy.js";
import { Api, ApiError, EventStream, looksAdmin } from "./api.js";
import { ChatsPanel } from "./chats.js";
import { ConnectionPanel } from "./connection.js";
import { GroupsPanel } from "./groups.js";
import { RecordsPanels } from "./records.js";
import { SendPanel } from "./send.js";
import { $, act, h, setBadge, showError, statusBadge } from "./ui.js";

const TOKEN_KEY = "wagate.token";
// Browsers open at most 6 HTTP/1.1 connections per host; each live stream holds one. Keep
// enough free for the page's own requests.
const MAX_STREAMS = 4;

const ctx = {
  api: null,
  admin: false,
  instances: new Map(),
  selected: null,
  streams: new Map(),
  streamState: new Map(),
  // connection_update events seen per instance: a GET that started before one is stale.
  updates: new Map(),
};

const connection = new ConnectionPanel(ctx);
const send = new SendPanel(ctx);
const records = new RecordsPanels(ctx);
const account = new AccountPanel(ctx);
const groups = new GroupsPanel(ctx);
const chats = new ChatsPanel(ctx);
const policy = new PolicyPanel(ctx);
ctx.refreshInstance = refreshInstance;
ctx.setInstance = setInstance;
ctx.reloadList = loadList;
ctx.removeInstance = removeInstance;

function forget(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const stream of ctx.streams.values()) stream.stop();
  ctx.streams.clear();
  ctx.streamState.clear();
  ctx.updates.clear();
  ctx.instances.clear();
  ctx.selected = null;
  ctx.api = null;
  connection.reset();
  send.reset();
  records.reset();
  account.reset();
  groups.reset();
  chats.reset();
  policy.reset();
  $("app").hidden = true;
  $("who").hidden = true;
  $("signin").hidden = false;
  $("signin-token").value = "";
  showError("signin-error", message ? { message } : null);
  $("signin-token").focus();
}

async function signIn(token) {
  const api = new Api(token, () => {
    if (ctx.api === api) forget("Your token is no longer accepted. Sign in again.");
  });
  // Check the token before keeping it: this one call works with either kind of token.
  let body;
  try {
    ({ body } = await api.listInstances());
  } catch (err) {
    if (err.status !== 401) throw err;
    throw new ApiError(
      401,
      err.code,
      `This token is not accepted (${err.message}). Paste the admin token or an instance token.`,
    );
  }
  const admin = looksAdmin(token, body.instances);
  ctx.api = api;
  ctx.admin = admin;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-label").textContent = admin
    ? "Signed in as admin"
    : `Signed in to instance ${body.instances[0] ? body.instances[0].name : ""}`;
  $("create-box").hidden = !admin;
  // Open where there is room, or when there is nothing else to do.
  $("create-box").open = !body.instances.length || window.matchMedia("(min-width: 761px)").matches;
  $("conn-delete").hidden = !admin;
  showInstances(body.instances);
  const first = body.instances[0];
  if (first && !ctx.selected) select(first.name);
}

// An answer read before a connection_update arrived is older than that event: keep the
// event's status (the answer's other fields are still fresh).
function newest(inst, seenUpdates) {
  const current = ctx.instances.get(inst.name);
  if (!current || (ctx.updates.get(inst.name) || 0) === seenUpdates) return inst;
  return { ...inst, status: current.status, last_error: current.last_error, jid: current.jid };
}

async function loadList() {
  const seen = new Map(ctx.updates);
  const result = await act($("list-refresh"), "list-error", () => ctx.api.listInstances());
  if (result) showInstances(result.body.instances.map((i) => newest(i, seen.get(i.name) || 0)));
}

function showInstances(list) {
  ctx.instances = new Map(list.map((inst) => [inst.name, inst]));
  if (ctx.selected && !ctx.instances.has(ctx.selected)) select(null);
  renderList();
  syncStreams();
}

function renderList() {
  const ul = $("instance-list");
  ul.replaceChildren(
    ...[...ctx.instances.values()].map((inst) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            "aria-current": inst.name === ctx.selected ? "true" : "false",
            dataset: { name: inst.name },
            onclick: () => {
              select(inst.name);
              // On a phone the details sit below the list: bring them into view.
              if (window.matchMedia("(max-width: 760px)").matches) $("detail").scrollIntoView();
            },
          },
          h("span", { class: "name", text: inst.name }),
          statusBadge(inst.status),
        ),
      ),
    ),
  );
  $("list-empty").hidden = ctx.instances.size > 0;
  const live = [...ctx.streams.keys()].length;
  const note = $("list-live-note");
  note.hidden = ctx.instances.size <= live;
  note.textContent = `Live status for the selected instance and ${MAX_STREAMS - 1} others; Refresh updates the rest.`;
}

// Streams for the selected instance, then for those most likely to change: on the way to
// connecting first, then connected ones, then the rest.
const STREAM_PRIORITY = { connecting: 0, pairing: 0, reconnecting: 0, connected: 1 };

function syncStreams() {
  const wanted = [];
  if (ctx.selected) wanted.push(ctx.selected);
  const others = [...ctx.instances.values()]
    .filter((inst) => inst.name !== ctx.selected)
    .sort((a, b) => (STREAM_PRIORITY[a.status] ?? 2) - (STREAM_PRIORITY[b.status] ?? 2));
  for (const inst of others) {
    if (wanted.length >= MAX_STREAMS) break;
    wanted.push(inst.name);
  }
  for (const [name, stream] of ctx.streams) {
    if (!wanted.includes(name)) {
      stream.stop();
      ctx.streams.delete(name);
      ctx.streamState.delete(name);
    }
  }
  for (const name of wanted) {
    if (ctx.streams.has(name)) continue;
    const stream = new EventStream(ctx.api, name, {
      onEvent: (event, envelope) => onEvent(name, event, envelope),
      onState: (state, text) => {
        ctx.streamState.set(name, { state, text });
        if (name === ctx.selected) connection.showStreamState(state, text);
      },
      onResync: () => refreshInstance(name),
    });
    ctx.streams.set(name, stream.start());
  }
}

function onEvent(name, event, envelope) {
  const inst = ctx.instances.get(name);
  if (event === "connection_update" && inst) {
    ctx.updates.set(name, (ctx.updates.get(name) || 0) + 1);
    const data = envelope.data || {};
    const changed = { ...inst, status: data.status, last_error: data.status === "connected" ? null : data.reason };
    if ("jid" in data) changed.jid = data.jid;
    setInstance(changed);
    // The event carries no phone, node or connected_at: read the instance once.
    if (data.status === "connected" || data.status === "logged_out") refreshInstance(name);
  }
  if (name !== ctx.selected) return;
  connection.onEvent(event, envelope);
  send.onEvent(event, envelope);
  records.onEvent(event, envelope);
  account.onEvent(event, envelope);
  groups.onEvent(event);
  chats.onEvent(event, envelope);
  policy.onEvent(event, envelope);
}

function setInstance(inst) {
  ctx.instances.set(inst.name, inst);
  renderList();
  if (inst.name === ctx.selected) {
    setBadge($("detail-status"), inst.status);
    connection.render(inst);
  }
}

async function refreshInstance(name) {
  const seen = ctx.updates.get(name) || 0;
  try {
    const { body } = await ctx.api.getInstance(name);
    setInstance(newest(body, seen));
  } catch (err) {
    if (err.status === 404) removeInstance(name);
  }
}

function removeInstance(name) {
  ctx.instances.delete(name);
  if (ctx.selected === name) select(null);
  renderList();
  syncStreams();
}

function select(name) {
  ctx.selected = name;
  const inst = name ? ctx.instances.get(name) : null;
  $("detail-empty").hidden = Boolean(inst);
  $("detail-body").hidden = !inst;
  renderList();
  connection.reset();
  send.reset();
  records.reset();
  account.reset();
  groups.reset();
  chats.reset();
  policy.reset();
  if (!inst) return;
  $("detail-title").textContent = inst.name;
  setBadge($("detail-status"), inst.status);
  connection.render(inst);
  syncStreams();
  const link = ctx.streamState.get(name);
  if (link) connection.showStreamState(link.state, link.text);
  records.show(currentTab());
  account.show(currentTab());
  groups.show(currentTab());
  chats.show(currentTab());
  policy.show(currentTab());
}

function currentTab() {
  const tab = document.querySelector('.tabs [aria-selected="true"]');
  return tab ? tab.id.replace("tab-", "") : "connection";
}

function openTab(id) {
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    const on = tab.id === `tab-${id}`;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
  if (ctx.selected) {
    records.show(id);
    account.show(id);
    groups.show(id);
    chats.show(id);
    policy.show(id);
  }
}

function wireTabs() {
  const tabs = [...document.querySelectorAll(".tabs [role=tab]")];
  tabs.forEach((tab, index) => {
    tab.tabIndex = index === 0 ? 0 : -1;
    tab.addEventListener("click", () => openTab(tab.id.replace("tab-", "")));
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
  });
}

function wireCreate() {
  $("create-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("create-token").hidden = true;
    const name = $("create-name").value.trim();
    const engine = $("create-engine").value;
    const button = e.submitter || e.target.querySelector("button[type=submit]");
    const result = await act(button, "create-error", () =>
      ctx.api.createInstance(engine ? { name, engine } : { name }),
    );
    if (!result) return;
    const { token, ...inst } = result.body;
    $("create-token-value").textContent = token;
    $("create-token").hidden = false;
    $("create-name").value = "";
    ctx.instances.set(inst.name, inst);
    select(inst.name);
  });
  $("create-token-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("create-token-value").textContent);
      $("create-token-copy").textContent = "Copied";
    } catch {
      // Clipboard needs a secure context; select the text so Ctrl+C works.
      window.getSelection().selectAllChildren($("create-token-value"));
    }
  });
}

function init() {
  wireTabs();
  wireCreate();
  connection.wire();
  send.wire();
  records.wire();
  account.wire();
  groups.wire();
  chats.wire();
  policy.wire();
  $("list-refresh").addEventListener("click", loadList);
  // Instances without a live stream are brought up to date when the user comes back.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && ctx.api) loadList();
  });
  $("sign-out").addEventListener("click", () => forget(null));
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = $("signin-token").value.trim();
    if (!token) {
      showError("signin-error", { message: "Type a token first." });
      return;
    }
    const button = e.submitter || e.target.querySelector("button");
    await act(button, "signin-error", () => signIn(token));
  });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    signIn(saved).catch((err) => forget(err.message));
  } else {
    forget(null);
  }
}

init();
