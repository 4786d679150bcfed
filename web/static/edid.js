// The EDID panel: what monitor a port's computer sees (console monitor, preset or an
// uploaded blob), the "black screen risk" warning, and the controls to change it
// (PUT /api/v1/ports/{id}/edid). The port follows the video focus unless picked here.

import { api } from "./api.js";

export const PRESETS = ["1080p60", "1440p60", "4k30", "4k60", "1024x768"];
// A preset's preferred mode, so an alternative mode the warning suggests can be one click.
const PRESET_OF_MODE = {
  "1920x1080@60": "1080p60",
  "2560x1440@60": "1440p60",
  "3840x2160@30": "4k30",
  "3840x2160@60": "4k60",
  "1024x768@60": "1024x768",
};
// The daemon refuses a bigger body (web.api.MAX_EDID_BODY); checked here for a clear message.
const MAX_UPLOAD = 16384;

/** What the port's EDID comes from, in words. */
export function sourceText(view) {
  switch (view?.source) {
    case "preset": return `preset ${view.override?.preset ?? ""}`.trim();
    case "blob": return "uploaded EDID";
    case "console": return "default: the console monitor's EDID";
    case "console-rebuilt": return "default: the console monitor's mode, with this port's audio";
    default: return view?.source ?? "unknown";
  }
}

export class EdidPanel {
  constructor(els, { notify, allowed }) {
    this.els = els;
    this.notify = notify;
    this.allowed = allowed; // (permission, port) => bool
    this.state = null;
    this.port = null;
    this.videoFocus = null;
    this.detail = null;
    this.detailKey = "";
    this.busy = false;
    els.preset.replaceChildren(...PRESETS.map((p) => new Option(p, p)));
    els.port.addEventListener("change", () => this.select(els.port.value));
    els.presetForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.put({ preset: els.preset.value }, `preset ${els.preset.value}`);
    });
    els.upload.addEventListener("click", () => els.file.click());
    els.file.addEventListener("change", () => this.upload());
    els.hexForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const hex = els.hex.value.trim();
      if (!hex) {
        this.showError("Paste the EDID as hex first.");
        return;
      }
      this.put({ hex }, "the pasted EDID").then((ok) => { if (ok) els.hex.value = ""; });
    });
    els.reset.addEventListener("click", () => this.put({ default: true }, "the default EDID"));
    els.idle.addEventListener("change", () => {
      const on = els.idle.checked;
      this.put({ idle_monitor: on }, on ? "a monitor while idle" : "no monitor while idle");
    });
  }

  /** New state from the daemon: the port list, the video focus, this port's EDID view. */
  setState(state) {
    this.state = state;
    const ids = state.ports.map((p) => p.id);
    const select = this.els.port;
    if (ids.join() !== [...select.options].map((o) => o.value).join()) {
      select.replaceChildren(...state.ports.map((p) => new Option(`${p.id} · ${p.name}`, p.id)));
    } else {
      state.ports.forEach((p, i) => { select.options[i].text = `${p.id} · ${p.name}`; });
    }
    const video = state.focus?.video ?? ids[0] ?? null;
    if (video !== this.videoFocus || !ids.includes(this.port)) {
      this.videoFocus = video; // a switch brings the panel along to the shown port
      this.port = video;
    }
    this.render();
  }

  select(port) {
    this.port = port;
    this.clearMessages();
    this.render();
  }

  /** Forget everything (signed out). */
  reset() {
    this.state = null;
    this.port = this.videoFocus = this.detail = null;
    this.detailKey = "";
    this.els.panel.hidden = true;
    this.els.port.replaceChildren();
    this.els.facts.replaceChildren();
    this.els.warning.hidden = true;
    this.clearMessages();
  }

  view() {
    return this.state?.ports.find((p) => p.id === this.port) ?? null;
  }

  render() {
    const port = this.view();
    const els = this.els;
    // a daemon (or port) without EDID support sends no "edid" view: no panel
    els.panel.hidden = !port?.edid;
    if (!port?.edid) return;
    els.port.value = port.id;
    const edid = port.edid;
    const key = `${port.id} ${JSON.stringify(edid)}`;
    if (key !== this.detailKey) {
      this.detailKey = key;
      this.loadDetail(port.id, key);
      if (edid.override?.preset) els.preset.value = edid.override.preset; // not on every render
    }
    const detail = this.detail?.port === port.id ? this.detail : null;
    const facts = [
      ["Source", sourceText(edid)],
      ["Mode", edid.mode ?? "—"],
      ["Monitor name", detail ? [detail.name, detail.manufacturer].filter(Boolean).join(" · ") || "—" : "…"],
      ["Shown to the computer", edid.present ? "yes" : "no (unplugged while idle)"],
      ["Console monitor", this.state.console?.monitor ?? "—"],
    ];
    els.facts.replaceChildren(...facts.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      return [dt, dd];
    }));
    this.renderWarning(edid);
    els.idle.checked = edid.idle_monitor !== false;
    els.download.href = `/api/v1/ports/${encodeURIComponent(port.id)}/edid`;
    els.download.download = `port${port.id}-edid.bin`;
    const writable = this.allowed("configure", port.id);
    els.controls.hidden = !writable;
    els.readonly.hidden = writable;
  }

  renderWarning(edid) {
    const els = this.els;
    els.warning.hidden = !edid.warning;
    if (!edid.warning) return;
    els.warningText.textContent = edid.warning;
    const writable = this.allowed("configure", this.port);
    const chips = (edid.alternatives ?? []).slice(0, 6).map((mode) => {
      const preset = PRESET_OF_MODE[mode];
      if (preset && writable) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "chip action";
        button.textContent = `Use ${preset}`;
        button.title = `Set the ${preset} preset (${mode}) on this port`;
        button.addEventListener("click", () => this.put({ preset }, `preset ${preset}`));
        return button;
      }
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = mode;
      return chip;
    });
    els.alternatives.replaceChildren(...chips);
  }

  async loadDetail(port, key) {
    try {
      const detail = await api("GET", `/ports/${encodeURIComponent(port)}/edid?format=json`);
      if (key !== this.detailKey) return;
      this.detail = { ...detail, port };
      this.render();
    } catch (err) {
      if (err.status !== 401) this.showError(`EDID of port ${port}: ${err.message}`);
    }
  }

  async upload() {
    const file = this.els.file.files?.[0];
    this.els.file.value = ""; // the same file again is a new change
    if (!file) return;
    if (file.size > MAX_UPLOAD) {
      this.showError(`${file.name} is ${file.size} bytes: an EDID is 128 to 512 bytes (or its hex text).`);
      return;
    }
    await this.put(null, file.name, await file.arrayBuffer());
  }

  /** PUT a change; shows the server's message inline on failure. True when it worked. */
  async put(body, what, raw) {
    const port = this.port;
    if (port === null || this.busy) {
      this.render(); // e.g. the idle switch, clicked while another change was on its way
      return false;
    }
    this.busy = true;
    this.clearMessages();
    try {
      const path = `/ports/${encodeURIComponent(port)}/edid`;
      const view = raw === undefined ? await api("PUT", path, body) : await api("PUT", path, undefined, { raw });
      this.applyView(port, view);
      this.els.done.textContent = `Port ${port} now uses ${what}: ${view?.mode ?? "?"}.`;
      return true;
    } catch (err) {
      this.showError(err.message);
      this.render(); // the idle switch back to what the daemon has
      return false;
    } finally {
      this.busy = false;
    }
  }

  /** The PUT's answer is the new view; the live state follows, this shows it at once. */
  applyView(port, view) {
    const entry = this.state?.ports.find((p) => p.id === port);
    if (entry && view) {
      entry.edid = view;
      entry.warnings = view.warning ? [view.warning] : [];
    }
    this.render();
  }

  showError(text) {
    this.els.error.textContent = text;
    this.els.error.hidden = !text;
    if (text) this.els.done.textContent = "";
  }

  clearMessages() {
    this.showError("");
    this.els.done.textContent = "";
  }
}
