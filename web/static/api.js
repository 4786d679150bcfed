// The JSON API and the live websocket, with one place for "not signed in" (401).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let signInShown = false;

/** A 401 anywhere: go to the login page when the daemon has one, else say so. */
export async function needSignIn() {
  if (signInShown) return;
  signInShown = true;
  try {
    const page = await fetch("/login.html", { method: "HEAD", cache: "no-store" });
    if (page.ok) {
      location.assign(`/login.html?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
  } catch { /* no login page: fall through */ }
  document.dispatchEvent(new CustomEvent("kvm:signin"));
}

/** Call /api/v1{path}; resolves to the JSON body, rejects with an ApiError. */
export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, init);
  } catch (err) {
    throw new ApiError(0, "unreachable", `the switch did not answer (${err.message})`);
  }
  if (resp.status === 401) {
    needSignIn();
    throw new ApiError(401, "unauthorized", "sign in to use the switch");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch { /* a non-JSON body */ }
  if (!resp.ok) {
    throw new ApiError(resp.status, data?.error ?? "http_error", data?.message ?? resp.statusText);
  }
  return data;
}

/**
 * The websocket: reconnects with backoff, hands every server message to onMessage, and
 * request(msg) resolves on the matching ack (rejects on the matching error).
 */
export class Live {
  constructor({ onMessage, onStatus }) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map();
    this.backoff = 500;
  }

  get open() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    this.socket = socket;
    this.onStatus("connecting");
    socket.addEventListener("open", () => {
      this.backoff = 500;
      this.onStatus("live");
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      for (const { reject } of this.pending.values()) {
        reject(new ApiError(0, "disconnected", "the live connection closed"));
      }
      this.pending.clear();
      this.onStatus("offline", event.reason);
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    });
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const waiter = message.id !== undefined ? this.pending.get(message.id) : undefined;
    if (waiter) {
      this.pending.delete(message.id);
      if (message.type === "error") {
        waiter.reject(new ApiError(400, message.error, message.message));
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
