// The event log: loaded with filters from GET /log, then updated live from the websocket.

import { api } from "./api.js";

const MAX_ROWS = 500; // older rows fall off the page (the daemon keeps them)
const SOURCES = ["hotkey", "button", "serial", "http", "scan", "system"];
const KINDS = ["switch", "rename", "scan", "storage", "hotkey_invalid", "startup", "shutdown"];

/** One line of text for an entry (the same wording as the serial `log` command). */
export function describe(entry) {
  const who = entry.user ? ` by ${entry.user}` : "";
  const d = entry.detail ?? {};
  if (entry.kind === "switch") {
    const via = d.via ? ` (${d.via})` : "";
    const forced = d.force ? " [forced]" : "";
    const usb = d.storage?.usb === "held" ? ` · usb held by port ${d.storage.held_by} (${d.storage.reason})` : "";
    return `switch to ${d.to} [${(d.channels ?? []).join(",")}] from ${entry.source}${via}${who}${forced}${usb}`;
  }
  if (entry.kind === "rename") {
    return `port ${(entry.ports ?? []).join(",")} renamed “${d.old}” → “${d.new}”${who}`;
  }
  const ports = (entry.ports ?? []).join(",");
  if (entry.kind === "edid") {
    const parts = [];
    if (d.edid !== undefined) parts.push(`EDID ${edidText(d.edid)}`);
    if (d.idle_monitor !== undefined) parts.push(`monitor while idle ${d.idle_monitor ? "on" : "off"}`);
    const mode = d.mode ? ` (${d.mode})` : "";
    return `port ${ports}: ${parts.join(", ") || "EDID changed"}${mode} from ${entry.source}${who}`;
  }
  if (entry.kind === "mode_warning" && d.warning) return shorten(String(d.warning), 240);
  if (entry.kind === "storage") {
    const text = storageText(d, entry.ports ?? []);
    if (text) return `${text} from ${entry.source}${d.via ? ` (${d.via})` : ""}${who}`;
  }
  const extra = Object.entries(d).map(([k, v]) => `${k}=${shorten(typeof v === "object" ? JSON.stringify(v) : String(v))}`);
  return `${entry.kind} from ${entry.source}${who} ${extra.join(" ")}`.trim();
}

/** A storage log entry in words (``detail.action`` says what happened), or "". */
function storageText(d, ports) {
  const image = d.image ? ` ${shorten(String(d.image), 60)}` : "";
  const forced = d.forced ? ` [forced${d.overrode ? `: ${d.overrode}` : ""}]` : "";
  switch (d.action) {
    case "attach": return `storage:${image} attached (${d.mode}) to port ${ports[0]}${d.pinned ? ", pinned" : ""}`;
    case "eject": return `storage:${image} ejected from port ${ports[0]}${forced}`;
    case "held": return `storage:${image} held by port ${ports[0]} (${d.reason}), wanted on port ${d.wanted}`;
    case "move": return `storage:${image} moved from port ${d.from} to ${d.to}${d.deferred ? " once idle" : ""}${forced}`;
    case "pin": return d.port ? `storage pinned to port ${d.port}` : "storage follows usb focus";
    case "host_eject": return `storage:${image} ejected by the computer on port ${ports[0]}`;
    case "create": return `storage:${image} created blank (${d.size} bytes)`;
    case "upload": return `storage:${image} uploaded (${d.size} bytes)`;
    case "read_only": return `storage:${image} read-only ${d.read_only ? "on" : "off"}`;
    case "delete": return `storage:${image} deleted`;
    default: return "";
  }
}

/** A long value (an EDID blob, say) cut to ``max`` characters. */
function shorten(text, max = 80) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** An EDID change in words: a preset, an uploaded blob (its size), or the default. */
function edidText(edid) {
  if (edid === "default") return "back to default";
  if (typeof edid === "string") return shorten(edid); // "preset 4k60", "blob of 256 bytes, ..."
  if (edid?.preset) return `preset ${edid.preset}`;
  const hex = typeof edid?.hex === "string" ? edid.hex.replace(/[^0-9a-f]/gi, "") : "";
  if (hex) return `uploaded (${hex.length / 2} bytes)`;
  if (edid?.base64) return "uploaded";
  return shorten(JSON.stringify(edid));
}

function fillSelect(select, values, label) {
  const current = select.value;
  const options = [new Option(label, "")];
  for (const value of values) options.push(new Option(value, value));
  select.replaceChildren(...options);
  select.value = values.includes(current) ? current : "";
}

export class EventLog {
  constructor(els, { notify }) {
    this.els = els;
    this.notify = notify;
    this.kinds = new Set(KINDS);
    this.seen = new Set();
    this.arrived = null;
    fillSelect(els.kind, [...this.kinds], "all kinds");
    fillSelect(els.source, SOURCES, "all sources");
    for (const select of [els.kind, els.source, els.port]) {
      select.addEventListener("change", () => this.load());
    }
  }

  setPorts(ports) {
    const ids = ports.map((p) => p.id);
    if (ids.join() !== [...this.els.port.options].slice(1).map((o) => o.value).join()) {
      fillSelect(this.els.port, ids, "all ports");
    }
  }

  filters() {
    return { kind: this.els.kind.value, source: this.els.source.value, port: this.els.port.value };
  }

  matches(entry) {
    const f = this.filters();
    return (!f.kind || entry.kind === f.kind)
      && (!f.source || entry.source === f.source)
      && (!f.port || (entry.ports ?? []).includes(f.port));
  }

  async load() {
    const params = new URLSearchParams({ limit: "200" });
    for (const [key, value] of Object.entries(this.filters())) if (value) params.set(key, value);
    this.arrived = []; // live entries that come in while the page of old ones loads
    try {
      const { entries } = await api("GET", `/log?${params}`);
      const live = this.arrived;
      this.arrived = null;
      this.els.list.replaceChildren();
      this.seen.clear();
      for (const entry of [...entries, ...live]) this.add(entry);
    } catch (err) {
      this.arrived = null;
      this.notify(`event log: ${err.message}`, "error");
    }
  }

  add(entry) {
    if (this.arrived) {
      this.arrived.push(entry);
      return;
    }
    if (!this.kinds.has(entry.kind)) {
      this.kinds.add(entry.kind);
      fillSelect(this.els.kind, [...this.kinds].sort(), "all kinds");
    }
    if (!this.matches(entry) || this.seen.has(entry.seq)) return;
    this.seen.add(entry.seq);
    const row = document.createElement("li");
    row.className = `entry kind-${entry.kind.replace(/[^a-z0-9_-]/gi, "")}`;
    row.dataset.kind = entry.kind;
    row.dataset.source = entry.source;
    const time = document.createElement("time");
    const when = new Date(entry.time * 1000);
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleTimeString([], { hour12: false });
    const kind = document.createElement("span");
    kind.className = "entry-kind";
    kind.textContent = entry.kind;
    const text = document.createElement("span");
    text.className = "entry-text";
    text.textContent = describe(entry);
    row.append(time, kind, text);
    this.els.list.prepend(row); // newest first
    while (this.els.list.children.length > MAX_ROWS) this.els.list.lastElementChild.remove();
  }
}
