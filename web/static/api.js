// The JSON API and the live websocket, with one place for "not signed in" (401).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Websocket error codes → the HTTP status the same refusal has on the JSON API.
const WS_STATUS = { unauthorized: 401, forbidden: 403, not_found: 404, unknown_port: 404, busy: 409 };

let signInShown = false;

/** A 401 anywhere (the session ended): tell the page once, until signedIn(). */
export function needSignIn(message = "Your session has ended. Sign in again.") {
  if (signInShown) return;
  signInShown = true;
  document.dispatchEvent(new CustomEvent("kvm:signin", { detail: { message } }));
}

/** Signed in again: the next 401 is news. */
export function signedIn() {
  signInShown = false;
}

/** Signed out on purpose: the 401s of requests still in flight are not news. */
export function signedOut() {
  signInShown = true;
}

function errorText(status, data, fallback) {
  const message = data?.message ?? fallback;
  if (status === 403) return `Not allowed: ${message}`;
  if (status === 413) return `Too large: ${message}`;
  return message;
}

/**
 * Call /api/v1{path}; resolves to the JSON body, rejects with an ApiError.
 * Options: ``raw`` (a Blob/ArrayBuffer sent as ``type``, default application/octet-stream)
 * instead of a JSON body; ``signIn: false`` for the login routes, whose 401 means "wrong
 * password", not "the session ended".
 */
export async function api(method, path, body, { raw, type, signIn = true } = {}) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (raw !== undefined) {
    init.headers["Content-Type"] = type ?? "application/octet-stream";
    init.body = raw;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, init);
  } catch (err) {
    throw new ApiError(0, "unreachable", `the switch did not answer (${err.message})`);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch { /* a non-JSON body */ }
  if (resp.status === 401 && signIn) {
    needSignIn();
    throw new ApiError(401, "unauthorized", "sign in to use the switch");
  }
  if (!resp.ok) {
    const error = new ApiError(resp.status, data?.error ?? "http_error", errorText(resp.status, data, resp.statusText));
    error.retryAfter = Number(resp.headers.get("Retry-After")) || null;
    throw error;
  }
  return data;
}

/**
 * The websocket: reconnects with backoff while started, hands every server message to
 * onMessage, and request(msg) resolves on the matching ack (rejects on the matching error).
 */
export class Live {
  constructor({ onMessage, onStatus }) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map();
    this.backoff = 500;
    this.wanted = false;
    this.timer = 0;
  }

  get open() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Connect, and keep reconnecting until stop(). */
  start() {
    this.wanted = true;
    if (!this.socket) this.connect();
  }

  /** Close for good (logout): no reconnect; pending requests fail. */
  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000, "signed out");
    this.failPending("the live connection closed");
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    this.socket = socket;
    this.onStatus("connecting");
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.backoff = 500;
      this.onStatus("live");
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return; // stop() already cleaned up
      this.socket = null;
      this.failPending("the live connection closed");
      this.onStatus("offline", event.reason);
      if (!this.wanted) return;
      this.timer = setTimeout(() => { if (this.wanted && !this.socket) this.connect(); }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    });
  }

  failPending(text) {
    for (const { reject } of this.pending.values()) reject(new ApiError(0, "disconnected", text));
    this.pending.clear();
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "error" && message.error === "unauthorized") needSignIn();
    const waiter = message.id !== undefined ? this.pending.get(message.id) : undefined;
    if (waiter) {
      this.pending.delete(message.id);
      if (message.type === "error") {
        const status = WS_STATUS[message.error] ?? 400;
        waiter.reject(new ApiError(status, message.error, errorText(status, message, message.error)));
      } else {
        waiter.resolve(message);
      }
      return;
    }
    this.onMessage(message);
  }

  /** Send without waiting for an answer; false when not connected. */
  send(message) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Send with an id; resolves on the ack. */
  request(message) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...message, id })) {
        reject(new ApiError(0, "disconnected", "not connected to the switch"));
        return;
      }
      this.pending.set(id, { resolve, reject });
    });
  }
}

/**
 * PUT a File or Blob as the raw body of /api/v1{path}, with upload progress (which fetch
 * does not report): the browser streams the file from disk. Returns {promise, abort};
 * the promise resolves to the JSON answer and rejects with an ApiError (status 0: cut
 * off or cancelled). ``onProgress(sent, total)`` follows the bytes sent.
 */
export function upload(path, blob, { onProgress } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("PUT", `/api/v1${path}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      onProgress?.(event.loaded, event.lengthComputable ? event.total : blob.size);
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch { /* a non-JSON body */ }
      if (xhr.status === 401) {
        needSignIn();
        reject(new ApiError(401, "unauthorized", "sign in to use the switch"));
      } else if (xhr.status < 200 || xhr.status >= 300) {
        const text = errorText(xhr.status, data, xhr.statusText || `HTTP ${xhr.status}`);
        reject(new ApiError(xhr.status, data?.error ?? "http_error", text));
      } else {
        resolve(data);
      }
    });
    xhr.addEventListener("error", () => {
      reject(new ApiError(0, "unreachable", "the upload was cut off: the switch closed the connection or did not answer"));
    });
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "upload cancelled")));
    xhr.send(blob);
  });
  return { promise, abort: () => xhr.abort() };
}
