// kvmswitchd web UI: wires the port grid, the screen, the event log and the live socket.

import { api, Live } from "./api.js";
import { EventLog } from "./log.js";
import { CHANNELS, PortGrid } from "./ports.js";
import { Screen } from "./screen.js";

const $ = (id) => document.getElementById(id);
let state = null;
let missed = false;

// -- notices ------------------------------------------------------------------------------

const recent = new Map();
function notify(message, kind = "info") {
  const now = Date.now();
  if (recent.get(message) > now - 3000) return; // the same problem once, not per keystroke
  recent.set(message, now);
  const toast = document.createElement("div");
  toast.className = `toast ${kind}`;
  toast.setAttribute("role", kind === "error" ? "alert" : "status");
  toast.textContent = message;
  $("toasts").append(toast);
  setTimeout(() => toast.remove(), 6000);
}

document.addEventListener("kvm:signin", () => {
  const notice = $("notice");
  notice.textContent = "Sign in required: this switch needs a login before it can be used.";
  notice.hidden = false;
});

// -- confirmation dialog --------------------------------------------------------------------

function confirmSwitch(title, warnings) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-list").replaceChildren(...warnings.map((w) => {
    const item = document.createElement("li");
    item.textContent = w.text;
    return item;
  }));
  $("confirm-force").hidden = !warnings.some((w) => w.storage);
  dialog.returnValue = "cancel";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue || "cancel"), { once: true });
  });
}

// -- panels -------------------------------------------------------------------------------

function pickedChannels() {
  const picked = CHANNELS.filter((c) => $(`ch-${c}`).checked);
  return picked.length ? picked : [...CHANNELS];
}

const live = new Live({
  onMessage: (message) => {
    if (message.type === "state") showState(message.state);
    else if (message.type === "log") {
      log.add(message.entry);
      screen.refresh();
    } else if (message.type === "error") notify(message.message, "error");
  },
  onStatus: (status, reason) => {
    const el = $("conn");
    el.dataset.state = status;
    el.textContent = { live: "live", connecting: "connecting…", offline: "offline" }[status];
    el.title = reason ? `closed: ${reason}` : "";
    if (status === "offline") {
      missed = true;
      api("GET", "/health").catch(() => {}); // surfaces a 401
    } else if (status === "live" && missed) {
      missed = false;
      log.load(); // entries logged while we were away
    }
  },
});

const grid = new PortGrid({ grid: $("ports") }, { notify, confirm: confirmSwitch, channels: pickedChannels });
const screen = new Screen(
  {
    monitor: $("monitor"),
    text: $("screen-text"),
    image: $("screen-img"),
    pointer: $("pointer"),
    title: $("screen-title"),
    hint: $("capture-hint"),
    status: $("target-status"),
  },
  { live, notify },
);
const log = new EventLog(
  { list: $("log"), kind: $("f-kind"), source: $("f-source"), port: $("f-port") },
  { notify },
);

function showState(next) {
  state = next;
  grid.render(state);
  screen.setFocus(state);
  log.setPorts(state.ports);
  const scanning = Boolean(state.scan?.on);
  const scan = $("scan");
  scan.setAttribute("aria-pressed", String(scanning));
  scan.textContent = scanning ? `Scanning (${state.scan.dwell ?? ""}s)` : "Auto-scan";
  document.body.dataset.ready = "true";
}

async function post(path, body) {
  try {
    const result = await api("POST", path, body);
    if (result?.state) showState(result.state);
  } catch (err) {
    notify(err.message, "error");
  }
}

$("prev").addEventListener("click", () => post("/switch/prev"));
$("next").addEventListener("click", () => post("/switch/next"));
$("scan").addEventListener("click", () => post("/scan", { on: !state?.scan?.on }));

$("type-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const field = $("type-text");
  const text = field.value + ($("type-enter").checked ? "\n" : "");
  if (!text) return;
  try {
    await screen.type(text);
    field.value = "";
  } catch (err) {
    notify(err.message, "error");
  }
});

// -- start --------------------------------------------------------------------------------

api("GET", "/state").then(showState, (err) => notify(err.message, "error"));
log.load();
live.connect();
