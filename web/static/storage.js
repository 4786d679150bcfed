// The USB storage panel: the attached image, where it is (pinned, or following usb focus),
// which busy computer holds it back and why, and attach / pin / eject. The image library
// (list, create, upload, read-only, delete) is images.js. What is shown comes from the
// state's "storage" view, kept live by the websocket; the routes are /api/v1/storage/*.

import { api } from "./api.js";
import { ImageList } from "./images.js";

/** The port holding the storage back from a wanted move, or null (a string id). */
export function heldBy(storage) {
  const held = storage?.held_by;
  if (held === undefined || held === null || held === false || held === "") return null;
  return String(typeof held === "object" ? held.port ?? held.id ?? JSON.stringify(held) : held);
}

/** Why the storage is held (``reason``: the shape the older fake service still sends). */
function heldReason(storage) {
  return storage?.held_reason ?? storage?.reason ?? null;
}

/**
 * Why the computer on the storage's port would keep it if usb focus moved now (null: it
 * would let go). The view's ``in_flight`` counts reads and writes together, so "I/O";
 * ``busy``, if the daemon sends it, is its own answer (the hold reason, quiet period too).
 */
export function busyReason(storage) {
  if (!storage) return null;
  if (typeof storage.busy === "string" && storage.busy) return storage.busy;
  if (storage.in_flight > 0) return storage.mode === "ro" ? "read in flight" : "I/O in flight";
  if (storage.locked) return "medium locked by host";
  return null;
}

/** Could a usb switch to ``portId`` be held back? Then the view is worth fetching afresh
 * (the state is pushed when the storage moves or is held, not on every I/O). */
export function mayHold(storage, portId, channels) {
  return Boolean(storage?.image) && channels.includes("usb") && !storage.pinned
    && heldBy(storage) === null && storage.port != null && String(storage.port) !== String(portId);
}

function riskText(port) {
  return `Forcing unplugs the USB storage from port ${port}'s computer at once, in the middle of `
    + "what it is doing: data it has not finished writing is lost and its file system can be "
    + "damaged.";
}

/** The confirmation a switch of ``channels`` to ``portId`` needs for the storage (or null). */
export function storageWarning(storage, portId, channels) {
  if (!storage || !channels.includes("usb")) return null;
  const target = String(portId);
  let holder = heldBy(storage);
  let reason = heldReason(storage);
  if (holder === null) {
    if (!mayHold(storage, target, channels)) return null;
    reason = busyReason(storage);
    if (!reason) return null;
    holder = String(storage.port);
  } else if (holder === target) {
    return null; // back to the holder: the held move is simply called off
  }
  const why = reason ? ` (${reason})` : "";
  return {
    storage: true,
    port: holder,
    text: `USB storage is in use by port ${holder}${why}: it stays with port ${holder} and `
      + `moves to port ${target} once that computer is idle or ejects it, unless you force it.`,
    risk: riskText(holder),
  };
}

/** "held by port 1: write in flight; will move to port 2 when the host is idle or ejects it" */
export function heldText(storage) {
  const holder = heldBy(storage);
  if (holder === null) return "";
  const reason = heldReason(storage);
  const pending = storage.pending ?? storage.focus;
  const then = pending != null
    ? `; will move to port ${pending}${storage.pinned ? " (pinned there)" : ""} when the host is idle or ejects it`
    : "; it moves once the host is idle or ejects it";
  return `Held by port ${holder}${reason ? `: ${reason}` : ""}${then}.`;
}

const MODE_TEXT = { rw: "read-write", ro: "read-only" };
const IN_FLIGHT_POLL_MS = 1000;

export class StoragePanel {
  constructor(els, { notify, allowed, ask, onView, refresh = async () => null }) {
    this.els = els;
    this.notify = notify;
    this.allowed = allowed; // (permission, port) => bool
    this.ask = ask;
    this.onView = onView; // a fresher storage view than the state's (an action's answer)
    this.refresh = refresh; // () => re-read the storage view (GET /storage)
    this.poll = 0;
    this.storage = null;
    this.ports = [];
    this.busy = false;
    this.where = ""; // image, port, pinned, holder: a change clears the last message
    this.library = new ImageList(els.library, { allowed, ask, notify });
    els.attachForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.attach();
    });
    els.attachImage.addEventListener("change", () => this.syncMode());
    els.attachPin.addEventListener("change", () => this.render());
    els.pinPort.addEventListener("change", () => {
      els.pinPort.dataset.touched = "true"; // the operator's pick outlives live updates
      this.render();
    });
    els.pin.addEventListener("click", () => this.pin(els.pinPort.value));
    els.unpin.addEventListener("click", () => this.pin(null));
    els.eject.addEventListener("click", () => this.eject());
    els.forceMove.addEventListener("click", () => this.forceMove());
  }

  /** New state from the daemon (no "storage" in it: a daemon without storage, no panel). */
  setState(state) {
    this.ports = (state.ports ?? []).map((p) => ({ id: String(p.id), name: p.name }));
    this.setView(state.storage ?? null);
  }

  setView(storage) {
    this.storage = storage && typeof storage === "object" ? storage : null;
    // Where it is changed (here or elsewhere): the last action's message is history now.
    const s = this.storage;
    const where = s ? [s.image, s.port, s.pinned, heldBy(s)].join() : "";
    if (where !== this.where && !this.busy) this.message("", "");
    this.where = where;
    // The daemon pushes a move, a hold or a lock, not the end of each command: while some
    // are shown in flight, re-read the view so the count does not go stale.
    if (s?.in_flight > 0 && !this.poll) {
      this.poll = setTimeout(() => {
        this.poll = 0;
        if (this.storage) this.refresh();
      }, IN_FLIGHT_POLL_MS);
    }
    this.render();
  }

  reset() {
    this.storage = null;
    this.ports = [];
    clearTimeout(this.poll);
    this.poll = 0;
    this.els.panel.hidden = true;
    this.library.reset();
    this.message("", "");
  }

  render() {
    const { els, storage } = this;
    els.panel.hidden = !storage;
    if (!storage) return;
    const attached = Boolean(storage.image);
    const holder = heldBy(storage);
    const port = storage.port != null ? String(storage.port) : null;

    els.summary.textContent = !attached ? "nothing attached"
      : holder !== null ? `held · port ${holder}`
        : `${storage.mode ?? "?"} · port ${port ?? "?"}`;
    els.summary.dataset.state = !attached ? "none" : holder !== null ? "held" : "attached";

    els.held.hidden = holder === null;
    els.heldText.textContent = heldText(storage);
    const target = storage.pinned ? storage.pending : storage.focus;
    els.forceMove.disabled = this.busy || !this.allowed("storage", target ?? holder);

    this.renderFacts(storage, attached, port);

    // attached: pin / unpin / eject; detached: the attach form
    els.attachedControls.hidden = !attached;
    els.attachForm.hidden = attached;
    this.fillPorts(els.pinPort, port);
    els.unpin.hidden = !storage.pinned;
    els.pin.textContent = storage.pinned ? "Pin elsewhere" : "Pin";
    els.pin.disabled = this.busy || !this.allowed("storage", els.pinPort.value);
    els.unpin.disabled = this.busy || !this.allowed("storage", storage.focus);
    els.eject.disabled = this.busy || !this.allowed("storage", port);

    const images = Array.isArray(storage.images) ? storage.images : [];
    this.fillImages(images);
    this.fillPorts(els.attachPin, els.attachPin.value, "follow usb focus");
    const where = els.attachPin.value || storage.focus;
    const attachable = images.length > 0 && this.allowed("storage", where);
    for (const el of els.attachForm.elements) el.disabled = this.busy || !attachable;
    this.syncMode();

    const mayChange = this.allowed("storage");
    els.readonly.hidden = mayChange;
    this.library.render(storage, images);
  }

  renderFacts(storage, attached, port) {
    const facts = [];
    if (!attached) {
      facts.push(["Image", "none attached"]);
    } else {
      facts.push(["Image", `${storage.image} · ${MODE_TEXT[storage.mode] ?? storage.mode ?? "?"}`]);
      const focus = storage.focus != null ? String(storage.focus) : null;
      const how = storage.pinned
        ? "pinned: stays when usb focus moves"
        : `follows usb focus${focus !== null && focus !== port ? ` (now on port ${focus})` : ""}`;
      facts.push(["On port", `${port ?? "?"} · ${how}`]);
      const host = [];
      if (storage.in_flight > 0) host.push(`${storage.in_flight} command${storage.in_flight > 1 ? "s" : ""} in flight`);
      if (storage.locked) host.push("has the medium locked (mounted)");
      if (storage.ejected) host.push("ejected it (safely removed); shown afresh after a move");
      else if (storage.present === false) host.push("no medium loaded");
      if (host.length) facts.push(["Computer", host.join(" · ")]);
    }
    this.els.facts.replaceChildren(...facts.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      return [dt, dd];
    }));
  }

  /** A port <select>: keeps the picked value; ``none`` labels an extra "" option. */
  fillPorts(select, wanted, none = null) {
    const options = [];
    if (none !== null) options.push(new Option(none, ""));
    for (const p of this.ports) {
      const label = p.name && p.name !== `Port ${p.id}` ? `port ${p.id} · ${p.name}` : `port ${p.id}`;
      options.push(new Option(none !== null ? `pin to ${label}` : label, p.id));
    }
    const key = options.map((o) => `${o.value}=${o.text}`).join();
    if (select.dataset.key !== key) {
      const current = select.value;
      select.replaceChildren(...options);
      select.dataset.key = key;
      select.value = current;
    }
    if (wanted !== null && wanted !== undefined && select.dataset.touched !== "true") select.value = wanted;
    if (select.selectedIndex < 0) select.selectedIndex = 0;
  }

  fillImages(images) {
    const select = this.els.attachImage;
    const current = select.value;
    const key = images.map((i) => `${i.name}:${i.read_only}`).join();
    if (select.dataset.key !== key) {
      select.replaceChildren(...images.map((i) => new Option(i.read_only ? `${i.name} (read-only)` : i.name, i.name)));
      select.dataset.key = key;
      if (images.some((i) => i.name === current)) select.value = current;
    }
  }

  /** A read-only image can only be attached read-only. */
  syncMode() {
    const els = this.els;
    const image = (this.storage?.images ?? []).find((i) => i.name === els.attachImage.value);
    const rw = [...els.attachMode.options].find((o) => o.value === "rw");
    rw.disabled = Boolean(image?.read_only);
    if (rw.disabled) els.attachMode.value = "ro";
  }

  message(error, done) {
    this.els.error.textContent = error;
    this.els.error.hidden = !error;
    this.els.done.textContent = done;
  }

  /** POST an action; shows the server's message inline. The answer (a view) or null. */
  async act(path, body, done) {
    if (this.busy) return null;
    this.busy = true;
    this.message("", "");
    this.render();
    try {
      const view = await api("POST", path, body);
      this.message("", typeof done === "function" ? done(view) : done);
      if (view && typeof view === "object" && "port" in view) this.onView(view);
      return view;
    } catch (err) {
      this.message(err.message, "");
      return { error: err };
    } finally {
      this.busy = false;
      this.render();
    }
  }

  attach() {
    const els = this.els;
    const image = els.attachImage.value;
    if (!image) {
      this.message("Create or upload an image first.", "");
      return;
    }
    const body = { image, mode: els.attachMode.value };
    if (els.attachPin.value) body.pin = els.attachPin.value;
    this.act("/storage/attach", body, (view) => `Attached ${image} (${MODE_TEXT[body.mode]}) to port ${view?.port}.`);
  }

  pin(port) {
    this.els.pinPort.dataset.touched = "false";
    const text = (view) => {
      if (view?.usb === "held") return `${heldText(view)}`;
      return port === null ? `Follows usb focus again: on port ${view?.port}.` : `Pinned to port ${view?.port}.`;
    };
    this.act("/storage/pin", { port }, text);
  }

  async eject() {
    const s = this.storage;
    if (!s?.image) return;
    const port = s.port;
    const answer = await this.ask({
      title: `Eject ${s.image}?`,
      items: [`Port ${port}'s computer loses the USB storage. Let it finish first ("Safely remove" / unmount).`],
      ok: "Eject",
    });
    if (answer !== "ok") return;
    const result = await this.act("/storage/eject", {}, `Ejected ${s.image} from port ${port}.`);
    if (result?.error?.status !== 409) return;
    const force = await this.ask({
      title: `Port ${port}'s computer is using ${s.image}`,
      items: [`The switch refused: ${result.error.message}.`, "Wait for it to finish, or eject it on that computer."],
      risk: `Force eject pulls the medium out from under port ${port}'s computer: data it has not `
        + "finished writing is lost and its file system can be damaged.",
      ok: null,
      force: "Force eject",
    });
    if (force !== "force") return;
    await this.act("/storage/eject", { force: true }, `Forced eject of ${s.image} from port ${port}.`);
  }

  async forceMove() {
    const s = this.storage;
    const holder = heldBy(s);
    if (holder === null) return;
    const target = s.pinned ? s.pending : s.focus;
    const answer = await this.ask({
      title: `Move the USB storage to port ${target} now?`,
      items: [heldText(s)],
      risk: riskText(holder),
      ok: null,
      force: "Force storage to move",
    });
    if (answer !== "force") return;
    // Pinned: pin again where it waits to go; following focus: "unpin" moves it to the focus.
    await this.act("/storage/pin", { port: s.pinned ? target : null, force: true },
      (view) => `Forced: the storage is on port ${view?.port}.`);
  }
}
