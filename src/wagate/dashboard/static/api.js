// The public API (API.md) as the dashboard uses it: every call sends the signed-in token.

export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.retryAfter = retryAfter;
  }
}

const LIST_PAGE = 1000; // the largest page GET /v1/instances gives

function enc(value) {
  return encodeURIComponent(value);
}

export class Api {
  constructor(token, onUnauthorized = () => {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, Accept: "application/json", ...extra };
  }

  // Returns {status, body, headers}; throws ApiError with the API.md error message.
  async request(method, path, { json, form, headers = {}, signal } = {}) {
    const init = { method, headers: this.headers(headers), signal, cache: "no-store" };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers["Content-Type"] = "application/json";
    } else if (form !== undefined) {
      init.body = form; // the browser sets the multipart boundary
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network_error", `Cannot reach the gateway (${err.message}).`);
    }
    const text = await response.text();
    let body = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (!response.ok) {
      const error = body && body.error ? body.error : null;
      const failure = new ApiError(
        response.status,
        error ? error.code : `http_${response.status}`,
        error ? error.message : `The gateway answered ${response.status} ${response.statusText}.`,
        error ? error.details : {},
        response.headers.get("Retry-After"),
      );
      if (response.status === 401) this.onUnauthorized(failure);
      throw failure;
    }
    return { status: response.status, body, headers: response.headers };
  }

  get(path, opts) { return this.request("GET", path, opts); }
  post(path, json, opts = {}) { return this.request("POST", path, { ...opts, json }); }

  instancePath(name, rest = "") {
    return `/v1/instances/${enc(name)}${rest}`;
  }

  // Every instance, page after page: the list shows them all.
  async listInstances() {
    const instances = [];
    let cursor = null;
    for (;;) {
      const query = cursor === null ? "" : `&cursor=${enc(cursor)}`;
      const page = await this.get(`/v1/instances?limit=${LIST_PAGE}${query}`);
      instances.push(...page.body.instances);
      if (page.body.next_cursor === null) return { ...page, body: { instances } };
      cursor = page.body.next_cursor;
    }
  }
  getInstance(name) { return this.get(this.instancePath(name)); }
  createInstance(body) { return this.post("/v1/instances", body); }
  deleteInstance(name) { return this.request("DELETE", this.instancePath(name)); }
  lifecycle(name, action) { return this.post(this.instancePath(name, `/${action}`)); }
  qr(name) { return this.get(this.instancePath(name, "/qr")); }
  pair(name, phone) { return this.post(this.instancePath(name, "/pair"), { phone }); }
  simulateScan(name, phone) {
    return this.post(this.instancePath(name, "/simulator/scan"), phone ? { phone } : {});
  }

  send(name, kind, { json, form, async, idempotencyKey }) {
    const query = async ? "?async=true" : "";
    const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
    return this.request("POST", this.instancePath(name, `/send/${enc(kind)}${query}`), {
      json, form, headers,
    });
  }
  message(name, correlationId) {
    return this.get(this.instancePath(name, `/messages/${enc(correlationId)}`));
  }
  messages(name, { status = "", limit = 50, cursor = "" } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (status) q.set("status", status);
    if (cursor) q.set("cursor", cursor);
    return this.get(this.instancePath(name, `/messages?${q}`));
  }

  groups(name, { limit = 50, cursor = "" } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    return this.get(this.instancePath(name, `/groups?${q}`));
  }
  group(name, jid) { return this.get(this.instancePath(name, `/groups/${enc(jid)}`)); }
  createGroup(name, body) { return this.post(this.instancePath(name, "/groups"), body); }
  groupParticipants(name, jid, action, participants) {
    return this.post(this.instancePath(name, `/groups/${enc(jid)}/participants`), { action, participants });
  }
  groupInvite(name, jid) { return this.get(this.instancePath(name, `/groups/${enc(jid)}/invite`)); }
  leaveGroup(name, jid) { return this.post(this.instancePath(name, `/groups/${enc(jid)}/leave`)); }

  webhook(name) { return this.get(this.instancePath(name, "/webhook")); }
  putWebhook(name, body) { return this.request("PUT", this.instancePath(name, "/webhook"), { json: body }); }
  deleteWebhook(name) { return this.request("DELETE", this.instancePath(name, "/webhook")); }
  deliveries(name, { status = "", limit = 50, cursor = "" } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (status) q.set("status", status);
    if (cursor) q.set("cursor", cursor);
    return this.get(this.instancePath(name, `/webhook/deliveries?${q}`));
  }
  redeliver(name, id) {
    return this.post(this.instancePath(name, `/webhook/deliveries/${enc(id)}/redeliver`));
  }

  deadLetters(instance, { limit = 50, cursor = "" } = {}) {
    const q = new URLSearchParams({ instance, limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    return this.get(`/v1/dead-letters?${q}`);
  }
  retryDeadLetter(id) { return this.post(`/v1/dead-letters/${enc(id)}/retry`); }
  retryAllDeadLetters(instance) {
    return this.post(`/v1/dead-letters/retry?${new URLSearchParams({ instance })}`);
  }
  deleteDeadLetter(id) { return this.request("DELETE", `/v1/dead-letters/${enc(id)}`); }
}

// Whether the token signed in with is the admin's, from GET /v1/instances alone (the only
// call sign-in makes, valid for both kinds of token): an instance token sees exactly its own
// instance, so any other count is the admin. For exactly one, the token's shape decides:
// instance tokens are made by the gateway and always start with wgi_. Probing an admin-only
// route instead would answer 403 to every instance token.
export function looksAdmin(token, instances) {
  if (instances.length !== 1) return true;
  return !token.startsWith("wgi_");
}

// Reads GET /v1/instances/{name}/events with fetch(), which (unlike EventSource) can send the
// Authorization header. Reconnects with backoff until stopped; onState reports the link state.
export class EventStream {
  constructor(api, name, { onEvent, onState = () => {}, onResync = () => {} }) {
    this.api = api;
    this.name = name;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onResync = onResync;
    this.controller = null;
    this.stopped = false;
    this.failures = 0;
  }

  start() {
    this.stopped = false;
    this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    let first = true;
    while (!this.stopped) {
      this.controller = new AbortController();
      try {
        await this.readOnce(this.controller.signal, first);
        first = false;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof ApiError && (err.status === 401 || err.status === 404 || err.status === 403)) {
          this.onState("failed", err.message);
          return;
        }
      }
      if (this.stopped) return;
      this.failures += 1;
      const delay = Math.min(15000, 500 * 2 ** Math.min(this.failures, 5));
      this.onState("retrying", `Live updates interrupted; retrying in ${Math.round(delay / 1000)} s.`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async readOnce(signal, first) {
    const response = await fetch(this.api.instancePath(this.name, "/events"), {
      headers: this.api.headers({ Accept: "text/event-stream" }),
      signal,
      cache: "no-store",
    });
    if (!response.ok) {
      let message = `The event stream answered ${response.status}.`;
      let code = `http_${response.status}`;
      try {
        const body = await response.json();
        if (body && body.error) ({ message, code } = body.error);
      } catch { /* not JSON */ }
      throw new ApiError(response.status, code, message);
    }
    this.failures = 0;
    this.onState("live", "Live");
    // Events may have happened while we were not listening: the caller reloads the state.
    if (!first) this.onResync();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        this.dispatch(block);
      }
    }
  }

  dispatch(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    try {
      const envelope = JSON.parse(data.join("\n"));
      this.onEvent(envelope.event || event, envelope);
    } catch {
      /* a malformed frame is skipped, the stream goes on */
    }
  }
}
