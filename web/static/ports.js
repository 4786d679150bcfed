// The port grid: names, focus per channel, warnings; click to switch, inline rename.

import { api } from "./api.js";
import { mayHold, storageWarning } from "./storage.js";

export const CHANNELS = ["km", "video", "audio", "usb"];
// [action, label, ask first]: a qemu port's power buttons
const POWER_BUTTONS = [
  ["on", "On", false],
  ["pause", "Pause", false],
  ["resume", "Resume", false],
  ["off", "Off", false],
  ["reset", "Reset", true],
  ["hard-off", "Hard off", true],
];

/** A warning as text, whatever shape the daemon sends (string or {message}). */
export function warningText(warning) {
  if (typeof warning === "string") return warning;
  return warning?.message ?? warning?.text ?? JSON.stringify(warning);
}

/**
 * What the operator should confirm before switching ``port`` (an empty list: nothing):
 * the USB storage staying behind with a busy computer (``storage: true``: a force is
 * offered, with ``risk`` saying what it costs), and the port's own warnings. ``storage``
 * is the freshest storage view at hand.
 */
export function switchWarnings(state, port, channels, storage = state?.storage) {
  const out = [];
  const held = storageWarning(storage, port.id, channels);
  if (held) out.push(held);
  for (const w of port.warnings ?? []) out.push({ storage: false, text: warningText(w) });
  return out;
}

export class PortGrid {
  constructor(els, { notify, confirm, channels, allowed = () => true, freshStorage, switched }) {
    this.els = els;
    // () => the storage view now (the state is not pushed on every I/O), or null
    this.freshStorage = freshStorage ?? (async () => null);
    this.switched = switched ?? ((result) => this.render(result.state)); // the POST's answer
    this.allowed = allowed; // (permission, port) => may the signed-in user?
    this.notify = notify;
    this.confirm = confirm;
    this.channels = channels; // () => the channels picked for a switch
    this.state = null;
    this.editing = null;
  }

  render(state) {
    this.state = state;
    if (this.editing !== null) return; // don't replace the input being typed into
    const grid = this.els.grid;
    grid.replaceChildren(...state.ports.map((port) => this.card(port)));
  }

  card(port) {
    const card = document.createElement("article");
    card.className = "port";
    card.dataset.port = port.id;
    const focus = port.focus ?? [];
    if (focus.length) card.classList.add("focused");
    if (focus.includes("km")) card.classList.add("km");
    if ((port.warnings ?? []).length) card.classList.add("has-warnings");

    const select = document.createElement("button");
    select.className = "port-select";
    select.type = "button";
    const switchable = this.allowed("switch", port.id);
    select.title = switchable ? `Switch to ${port.name}` : `Your account may not switch to ${port.name}`;
    select.disabled = !switchable;
    select.addEventListener("click", () => this.switchTo(port));
    const head = document.createElement("span");
    head.className = "port-head";
    const num = document.createElement("span");
    num.className = "port-num";
    num.textContent = port.id;
    const name = document.createElement("span");
    name.className = "port-name";
    name.textContent = port.name;
    head.append(num, name);
    const badges = document.createElement("span");
    badges.className = "badges";
    for (const channel of CHANNELS) {
      const badge = document.createElement("span");
      badge.className = `badge ${channel}`;
      badge.dataset.channel = channel;
      badge.textContent = channel;
      const on = focus.includes(channel);
      badge.classList.toggle("on", on);
      badge.title = on ? `${channel} is on this port` : `${channel} is elsewhere`;
      badges.append(badge);
    }
    const meta = document.createElement("span");
    meta.className = "port-meta";
    meta.textContent = [port.target, port.keyboard, port.video, port.audio !== "none" ? port.audio : null]
      .filter(Boolean)
      .join(" · ");
    select.append(head, badges, meta);

    const rename = document.createElement("button");
    rename.className = "rename";
    rename.type = "button";
    rename.title = "Rename";
    rename.setAttribute("aria-label", `Rename ${port.name}`);
    rename.textContent = "✎";
    rename.hidden = !this.allowed("configure", port.id);
    rename.addEventListener("click", () => this.startRename(card, port));
    card.append(select, rename);
    if (port.power) card.append(this.powerRow(port));

    if ((port.warnings ?? []).length) {
      const list = document.createElement("ul");
      list.className = "warnings";
      for (const w of port.warnings) {
        const item = document.createElement("li");
        item.textContent = warningText(w);
        item.title = warningText(w);
        list.append(item);
      }
      card.append(list);
    }
    return card;
  }

  /** A VM's run state and its power buttons (the daemon checks the power right again). */
  powerRow(port) {
    const row = document.createElement("div");
    row.className = "power";
    const status = document.createElement("span");
    status.className = `power-status ${port.power.status}`;
    status.textContent = port.power.status;
    status.title = port.power.last_event ? `last event: ${port.power.last_event}` : "";
    row.append(status);
    if (!this.allowed("power", port.id)) return row;
    const running = port.power.status === "running";
    for (const [action, label, risky] of POWER_BUTTONS) {
      if (action === "pause" && !running) continue;
      if ((action === "resume" || action === "on") && running) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = `power-${action}`;
      button.textContent = label;
      button.disabled = !port.power.online;
      button.addEventListener("click", () => this.power(port, action, risky));
      row.append(button);
    }
    return row;
  }

  async power(port, action, risky) {
    if (risky && !window.confirm(`${action} ${port.name}? Unsaved work in the VM is lost.`)) return;
    try {
      const result = await api("POST", `/ports/${encodeURIComponent(port.id)}/power`, { action });
      this.notify(result.message, "info");
      if (result?.state) this.render(result.state);
    } catch (err) {
      this.notify(err.message, "error");
    }
  }

  async switchTo(port) {
    const channels = this.channels();
    let storage = this.state?.storage;
    if (mayHold(storage, port.id, channels)) storage = (await this.freshStorage()) ?? storage;
    const warnings = switchWarnings(this.state, port, channels, storage);
    let force = false;
    if (warnings.length) {
      const answer = await this.confirm(`Switch to ${port.name}?`, warnings);
      if (answer === "cancel") return;
      force = answer === "force";
    }
    const body = { port: port.id };
    if (channels.length !== CHANNELS.length) body.channels = channels;
    if (force) body.force = true;
    try {
      const result = await api("POST", "/switch", body);
      if (result?.state) this.switched(result);
    } catch (err) {
      this.notify(err.message, "error");
    }
  }

  startRename(card, port) {
    this.editing = port.id;
    const input = document.createElement("input");
    input.className = "rename-input";
    input.value = port.name;
    input.maxLength = 64;
    input.setAttribute("aria-label", `New name for port ${port.id}`);
    const form = document.createElement("form");
    form.className = "rename-form";
    form.append(input);
    card.append(form);
    card.classList.add("editing");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      finish(true);
    });
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const name = input.value.trim();
      if (save && name && name !== port.name) {
        try {
          await api("PATCH", `/ports/${encodeURIComponent(port.id)}`, { name });
        } catch (err) {
          this.notify(err.message, "error");
        }
      }
      this.editing = null;
      if (this.state) this.render(this.state);
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
    input.focus();
    input.select();
  }
}
