// The focused port's screen, and keyboard/mouse capture into the km-focused port.
// A PNG frame (/ports/{id}/screen) is used when the daemon serves one; otherwise the
// emulated computer's text screen (/ports/{id}/target → text, pointer).

import { api } from "./api.js";
import { evdevKey, MOUSE_BUTTONS } from "./keys.js";

const POLL_MS = 2000; // input from the console or other clients changes screens silently
const MOUSE_FLUSH_MS = 33; // mouse moves are coalesced to about 30 messages a second
const ABS_MAX = 32767;

export class Screen {
  constructor(els, { live, notify, allowed = () => true }) {
    this.els = els;
    this.live = live;
    this.notify = notify;
    this.allowed = allowed; // (permission, port) => may the signed-in user?
    this.typing = true; // may type and point into the km-focused port
    this.videoPort = null;
    this.kmPort = null;
    this.mouseMode = "relative";
    // The PNG route is used once the daemon documents it (no 404 probing before that);
    // a port whose frame fails to load falls back to its text screen.
    // Probed on the first draw, not before: with accounts on, the document needs a login.
    this.pngRoute = null;
    this.noPng = new Set();
    this.mode = { width: 1920, height: 1080 };
    this.keys = new Set();
    this.buttons = new Set();
    this.motion = { dx: 0, dy: 0, abs: null, timer: 0 };
    this.running = null; // the redraw in flight
    this.again = false;
    this.wire();
    els.image.addEventListener("error", () => {
      this.noPng.add(this.videoPort);
      this.refresh();
    });
    setInterval(() => { if (!document.hidden) this.refresh(); }, POLL_MS);
  }

  /** Show ``video``'s screen; input goes to ``km`` (the state's focus). */
  setFocus(state) {
    const byId = new Map(state.ports.map((p) => [p.id, p]));
    const video = state.focus.video;
    const km = state.focus.km;
    const changed = video !== this.videoPort || km !== this.kmPort;
    this.videoPort = video;
    this.kmPort = km;
    this.mouseMode = byId.get(km)?.mouse === "absolute" ? "absolute" : "relative";
    this.typing = this.allowed("type", km);
    const name = (id) => byId.get(id)?.name ?? `Port ${id}`;
    const label = (id) => (name(id) === `Port ${id}` ? name(id) : `${name(id)} · port ${id}`);
    this.els.title.textContent = label(video);
    if (!this.typing) {
      this.els.hint.textContent = `Your account can watch ${name(video)} but not type into ${name(km)}.`;
    } else {
      this.els.hint.textContent = km === video
        ? `Click the screen to type and point into ${name(km)}; click outside to release.`
        : `Keyboard and mouse go to ${label(km)}, not the port shown.`;
    }
    this.els.hint.classList.toggle("warn", km !== video || !this.typing);
    if (changed) this.refresh();
  }

  /** Signed out: show nothing, poll nothing, send nothing. */
  reset() {
    this.keys.clear(); // the session is gone: nothing can be sent any more
    this.buttons.clear();
    this.videoPort = this.kmPort = null;
    this.pngRoute = null; // probed again once signed in
    this.noPng.clear();
    const { text, image, pointer, status, title, hint, monitor } = this.els;
    text.textContent = "";
    image.hidden = true;
    image.removeAttribute("src");
    text.hidden = false;
    pointer.hidden = true;
    status.textContent = "";
    title.textContent = "Screen";
    hint.textContent = "";
    monitor.dataset.empty = "true";
    if (this.capturing) monitor.blur();
  }

  /** Redraw soon; calls while a redraw is in flight coalesce into one more. */
  refresh() {
    if (this.videoPort === null) return this.running ?? Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.draw(this.videoPort);
        } while (this.again && this.videoPort !== null);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Resolves once no redraw is in flight (before signing out). */
  async settle() {
    while (this.running) await this.running.catch(() => {});
  }

  async hasPng(port) {
    this.pngRoute ??= api("GET", "/openapi.json")
      .then((doc) => Boolean(doc?.paths?.["/api/v1/ports/{id}/screen"]?.get))
      .catch(() => false);
    return (await this.pngRoute) && !this.noPng.has(port);
  }

  async draw(port) {
    const { text, image, monitor } = this.els;
    const png = await this.hasPng(port);
    if (png) image.src = `/api/v1/ports/${encodeURIComponent(port)}/screen?t=${Date.now()}`;
    image.hidden = !png;
    text.hidden = png;
    let target;
    try {
      target = await api("GET", `/ports/${encodeURIComponent(port)}/target`);
    } catch (err) {
      if (port !== this.videoPort) return;
      text.textContent = png ? "" : `No screen for this port (${err.message}).`;
      monitor.dataset.empty = "true";
      this.els.pointer.hidden = true;
      this.els.status.textContent = "";
      return;
    }
    if (port !== this.videoPort) return; // focus moved while loading; the next draw follows
    text.textContent = target.text ?? ""; // kept when the frame is shown, for screen readers
    monitor.dataset.empty = target.text ? "false" : "true";
    const size = /^(\d+)x(\d+)/.exec(target.mode ?? "");
    if (size) {
      this.mode = { width: Number(size[1]), height: Number(size[2]) };
      monitor.style.aspectRatio = `${this.mode.width} / ${this.mode.height}`;
    }
    this.drawPointer(png ? null : target.pointer); // a frame draws its own pointer
    this.drawStatus(target);
  }

  drawPointer(pointer) {
    const dot = this.els.pointer;
    if (!pointer) {
      dot.hidden = true;
      return;
    }
    dot.hidden = false;
    dot.style.left = `${(100 * pointer.x) / Math.max(1, this.mode.width - 1)}%`;
    dot.style.top = `${(100 * pointer.y) / Math.max(1, this.mode.height - 1)}%`;
  }

  drawStatus(target) {
    const leds = target.leds ?? {};
    const parts = [["Num", leds.num], ["Caps", leds.caps], ["Scroll", leds.scroll]].map(
      ([label, on]) => `<span class="led${on ? " on" : ""}">${label}</span>`,
    );
    const p = target.pointer;
    const where = p ? `pointer ${p.x},${p.y}` : "";
    const clicks = p?.clicks ? ` · clicks L${p.clicks.left ?? 0} M${p.clicks.middle ?? 0} R${p.clicks.right ?? 0}` : "";
    this.els.status.innerHTML = `${parts.join("")}<span class="where"></span>`;
    // a port whose device is away (a CH9329 cable unplugged, its target off) says why
    const offline = target.online === false ? ` · offline: ${target.reason ?? ""}` : "";
    this.els.status.querySelector(".where").textContent = `${target.mode ?? ""} ${where}${clicks}${offline}`;
  }

  // -- capture ------------------------------------------------------------------------

  get capturing() {
    return this.typing && document.activeElement === this.els.monitor;
  }

  wire() {
    const m = this.els.monitor;
    m.addEventListener("keydown", (e) => this.key(e, 1));
    m.addEventListener("keyup", (e) => this.key(e, 0));
    // capture ends: the screen loses focus (a click elsewhere, another window), the tab
    // is hidden, or the page is left
    m.addEventListener("blur", () => this.releaseAll());
    document.addEventListener("visibilitychange", () => { if (document.hidden) this.releaseAll(); });
    window.addEventListener("pagehide", () => this.releaseAll());
    m.addEventListener("mousedown", (e) => {
      if (!this.capturing) return; // the first click only takes the focus
      const name = MOUSE_BUTTONS[e.button];
      if (!name || this.buttons.has(name)) return;
      e.preventDefault();
      this.flushMotion();
      this.buttons.add(name);
      this.input([{ type: "EV_KEY", code: name, value: 1 }]);
    });
    window.addEventListener("mouseup", (e) => {
      const name = MOUSE_BUTTONS[e.button];
      if (!name || !this.buttons.has(name)) return;
      this.flushMotion();
      this.buttons.delete(name);
      this.input([{ type: "EV_KEY", code: name, value: 0 }]);
    });
    m.addEventListener("mousemove", (e) => this.move(e));
    m.addEventListener("wheel", (e) => {
      if (!this.capturing) return;
      e.preventDefault();
      const value = -Math.sign(e.deltaY);
      if (value) this.input([{ type: "EV_REL", code: "REL_WHEEL", value }]);
    }, { passive: false });
    m.addEventListener("contextmenu", (e) => { if (this.capturing) e.preventDefault(); });
  }

  key(event, value) {
    if (!this.typing) return;
    const name = evdevKey(event.code);
    if (!name) return;
    event.preventDefault();
    if (value === 1) {
      if (event.repeat || this.keys.has(name)) return; // the target does its own autorepeat
      this.keys.add(name);
    } else {
      if (!this.keys.has(name)) return; // pressed before the capture began
      this.keys.delete(name);
    }
    this.input([{ type: "EV_KEY", code: name, value }]);
  }

  move(event) {
    if (!this.capturing) return;
    const box = this.els.monitor.getBoundingClientRect();
    if (this.mouseMode === "absolute") {
      const x = Math.round((ABS_MAX * (event.clientX - box.left)) / Math.max(1, box.width));
      const y = Math.round((ABS_MAX * (event.clientY - box.top)) / Math.max(1, box.height));
      this.motion.abs = [Math.min(Math.max(x, 0), ABS_MAX), Math.min(Math.max(y, 0), ABS_MAX)];
    } else {
      // scale so the target's pointer keeps up with the cursor over the screen box
      this.motion.dx += (event.movementX * this.mode.width) / Math.max(1, box.width);
      this.motion.dy += (event.movementY * this.mode.height) / Math.max(1, box.height);
    }
    if (!this.motion.timer) this.motion.timer = setTimeout(() => this.flushMotion(), MOUSE_FLUSH_MS);
  }

  flushMotion() {
    const motion = this.motion;
    clearTimeout(motion.timer);
    motion.timer = 0;
    const events = [];
    if (motion.abs) {
      events.push({ type: "EV_ABS", code: "ABS_X", value: motion.abs[0] });
      events.push({ type: "EV_ABS", code: "ABS_Y", value: motion.abs[1] });
      motion.abs = null;
    }
    const dx = Math.trunc(motion.dx);
    const dy = Math.trunc(motion.dy);
    motion.dx -= dx;
    motion.dy -= dy;
    if (dx) events.push({ type: "EV_REL", code: "REL_X", value: dx });
    if (dy) events.push({ type: "EV_REL", code: "REL_Y", value: dy });
    if (events.length) this.input([...events, { type: "EV_SYN", code: "SYN_REPORT", value: 0 }]);
  }

  /**
   * No key or button stays pressed on the target once the capture ends: "release" lets
   * go of everything the daemon counts as held by this connection (also what a lost
   * keyup left down), and nothing another client or the console holds.
   */
  releaseAll() {
    const held = this.keys.size + this.buttons.size;
    this.keys.clear();
    this.buttons.clear();
    this.flushMotion();
    if (!this.live.open) return; // a closed socket: the daemon has released it already
    if (!held) {
      this.live.send({ type: "release" });
      return;
    }
    this.live.request({ type: "release" }).then(
      () => this.refresh(),
      (err) => this.notify(err.message, "error"),
    );
  }

  input(events) {
    this.live.request({ type: "input", events }).then(
      () => this.refresh(),
      (err) => this.notify(err.message, "error"),
    );
  }

  /** Type a string (US layout) into the km-focused port. */
  async type(text) {
    if (this.live.open) await this.live.request({ type: "input", text });
    else await api("POST", "/input", { text });
    this.refresh();
  }
}
