// kvmswitchd web UI: signing in first (when the daemon has accounts), then the port grid,
// the screen, the EDID panel, the USB storage panel, the event log and the live socket.

import { api, Live, signedIn, signedOut } from "./api.js";
import { AuthGate, authState, can } from "./auth.js";
import { ask } from "./dialog.js";
import { EdidPanel } from "./edid.js";
import { EventLog } from "./log.js";
import { CHANNELS, PortGrid } from "./ports.js";
import { Screen } from "./screen.js";
import { heldText, StoragePanel } from "./storage.js";

const $ = (id) => document.getElementById(id);
const BOOT_RETRY_MS = 3000;
let state = null;
let missed = false;
// enabled: the daemon has accounts; user: who is signed in (null with auth off).
const session = { enabled: false, user: null, running: false };

/** May the signed-in user do this? Everything is allowed when auth is off. */
const allowed = (permission, port = null) => !session.enabled || can(session.user, permission, port);

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

function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

// -- confirmation dialog --------------------------------------------------------------------

/** Before a switch: "cancel", "ok" (switch; busy storage stays behind) or "force". */
function confirmSwitch(title, warnings) {
  const storage = warnings.find((w) => w.storage);
  return ask({
    title,
    items: warnings.map((w) => w.text),
    risk: storage?.risk ?? "",
    ok: "Switch",
    force: storage ? "Force storage to move" : null,
  });
}

/** A switch's answer: the new state, and storage it left behind said out loud. */
function switched(result) {
  if (result?.state) showState(result.state);
  if (!/usb: held/.test(result?.message ?? "")) return;
  const held = heldText(result.state?.storage);
  notify(held ? `USB storage ${held.charAt(0).toLowerCase()}${held.slice(1)}` : result.message, "warn");
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
      api("GET", "/state").catch(() => {}); // surfaces a 401 (the session ended)
    } else if (status === "live" && missed) {
      missed = false;
      log.load(); // entries logged while we were away
    }
  },
});

const grid = new PortGrid(
  { grid: $("ports") },
  { notify, confirm: confirmSwitch, channels: pickedChannels, allowed, freshStorage, switched },
);
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
  { live, notify, allowed },
);
const log = new EventLog(
  { list: $("log"), kind: $("f-kind"), source: $("f-source"), port: $("f-port") },
  { notify },
);
const edid = new EdidPanel(
  {
    panel: $("edid"),
    port: $("edid-port"),
    facts: $("edid-facts"),
    warning: $("edid-warning"),
    warningText: $("edid-warning-text"),
    alternatives: $("edid-alternatives"),
    readonly: $("edid-readonly"),
    controls: $("edid-controls"),
    presetForm: $("edid-preset-form"),
    preset: $("edid-preset"),
    upload: $("edid-upload"),
    file: $("edid-file"),
    reset: $("edid-default"),
    download: $("edid-download"),
    hexForm: $("edid-hex-form"),
    hex: $("edid-hex"),
    idle: $("edid-idle"),
    error: $("edid-error"),
    done: $("edid-done"),
  },
  { notify, allowed },
);

const storage = new StoragePanel(
  {
    panel: $("storage"),
    summary: $("storage-summary"),
    held: $("storage-held"),
    heldText: $("storage-held-text"),
    forceMove: $("storage-force-move"),
    facts: $("storage-facts"),
    readonly: $("storage-readonly"),
    attachedControls: $("storage-attached"),
    pinPort: $("storage-pin-port"),
    pin: $("storage-pin"),
    unpin: $("storage-unpin"),
    eject: $("storage-eject"),
    attachForm: $("storage-attach-form"),
    attachImage: $("storage-attach-image"),
    attachMode: $("storage-attach-mode"),
    attachPin: $("storage-attach-pin"),
    error: $("storage-error"),
    done: $("storage-done"),
    library: {
      list: $("storage-images"),
      empty: $("storage-empty"),
      cap: $("storage-cap"),
      createForm: $("storage-create-form"),
      createName: $("storage-create-name"),
      createSize: $("storage-create-size"),
      createUnit: $("storage-create-unit"),
      uploadForm: $("storage-upload-form"),
      uploadFile: $("storage-upload-file"),
      uploadName: $("storage-upload-name"),
      progressBox: $("storage-progress-box"),
      progress: $("storage-progress"),
      progressText: $("storage-progress-text"),
      cancel: $("storage-upload-cancel"),
      error: $("storage-images-error"),
      done: $("storage-images-done"),
    },
  },
  { notify, allowed, ask, onView: applyStorage, refresh: freshStorage },
);

/** A storage view fresher than the last state (an action's answer, a re-read). */
function applyStorage(view) {
  if (!state || !view) return;
  const { ok: _ok, forced: _forced, usb: _usb, wanted: _wanted, reason: _reason, ...rest } = view;
  state = { ...state, storage: { ...rest, images: rest.images ?? state.storage?.images } };
  grid.state = state;
  storage.setView(state.storage);
}

/** The storage view now: I/O and locks change it without a pushed state. */
async function freshStorage() {
  try {
    const view = await api("GET", "/storage");
    applyStorage(view);
    return view;
  } catch {
    return null;
  }
}

function serialText(endpoints) {
  if (!Array.isArray(endpoints) || !endpoints.length) return "";
  const parts = endpoints.map((e) => {
    const where = e.path ?? e.device ?? e.address ?? e.endpoint ?? "";
    return `${e.name} (${e.dialect}) on ${where}${e.connected ? " · connected" : ""}`;
  });
  return `Serial control: ${parts.join("; ")}`;
}

function showState(next) {
  if (!session.running) return; // a late answer after signing out
  state = next;
  grid.render(state);
  screen.setFocus(state);
  edid.setState(state);
  storage.setState(state);
  log.setPorts(state.ports);
  const scanning = Boolean(state.scan?.on);
  const scan = $("scan");
  scan.setAttribute("aria-pressed", String(scanning));
  scan.textContent = scanning ? `Scanning (${state.scan.dwell ?? ""}s)` : "Auto-scan";
  const typing = allowed("type", state.focus?.km);
  for (const el of $("type-form").elements) el.disabled = !typing;
  $("serial-info").textContent = serialText(state.serial);
  document.body.dataset.ready = "true";
}

async function post(path, body) {
  try {
    switched(await api("POST", path, body));
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

// -- signing in and out ---------------------------------------------------------------------

const gate = new AuthGate(
  {
    setupForm: $("setup-form"),
    setupToken: $("setup-token"),
    setupName: $("setup-name"),
    setupPassword: $("setup-password"),
    setupPassword2: $("setup-password2"),
    setupError: $("setup-error"),
    setupSubmit: $("setup-submit"),
    loginForm: $("login-form"),
    loginInfo: $("login-info"),
    loginName: $("login-name"),
    loginPassword: $("login-password"),
    loginError: $("login-error"),
    loginSubmit: $("login-submit"),
  },
  { onSignedIn: (user) => startApp(user) },
);

function setView(view) {
  document.body.dataset.view = view;
}

function showAccount(user) {
  $("account").hidden = !user;
  if (!user) return;
  const who = $("who");
  const name = document.createElement("span");
  name.className = "who-name";
  name.textContent = user.name;
  const role = document.createElement("span");
  role.className = `role role-${String(user.role).replace(/[^a-z]/g, "")}`;
  role.textContent = user.role;
  who.replaceChildren(name, role);
  who.title = `Signed in as ${user.name} (${user.role})`;
}

function applyRole() {
  const switching = allowed("switch");
  for (const id of ["prev", "next", "scan"]) {
    const button = $(id);
    button.dataset.title ??= button.title;
    button.disabled = !switching;
    button.title = switching ? button.dataset.title : "Your account may not switch ports";
  }
}

function startApp(user) {
  session.user = user;
  session.running = true;
  showNotice("");
  showAccount(user);
  applyRole();
  setView("app");
  api("GET", "/state").then(showState, (err) => notify(err.message, "error"));
  log.load();
  live.start();
}

function stopApp() {
  session.running = false;
  session.user = null;
  live.stop();
  screen.reset();
  edid.reset();
  storage.reset();
  state = null;
  $("ports").replaceChildren();
  $("log").replaceChildren();
  $("serial-info").textContent = "";
  $("conn").dataset.state = "offline";
  $("conn").textContent = "offline";
  showAccount(null);
  document.body.dataset.ready = "false";
}

function showLogin(info) {
  stopApp();
  setView("gate");
  gate.showLogin(info);
}

$("logout").addEventListener("click", async () => {
  const user = session.user;
  signedOut(); // the 401s of anything still in flight are expected now
  stopApp(); // nothing new starts, the live socket closes...
  await screen.settle(); // ...and the screen's last redraw lands before the session ends
  try {
    await api("POST", "/auth/logout", {}, { signIn: false });
  } catch (err) {
    if (err.status !== 401) { // 401: the session had ended anyway
      notify(`Could not sign out: ${err.message}`, "error");
      signedIn();
      startApp(user);
      return;
    }
  }
  showLogin("You have signed out.");
});

document.addEventListener("kvm:signin", (event) => {
  session.enabled = true; // a 401 means this daemon has accounts, whatever we thought
  showLogin(event.detail?.message);
});

// -- start --------------------------------------------------------------------------------

async function boot() {
  let auth;
  try {
    auth = await authState();
  } catch (err) {
    $("gate-loading").textContent = `The switch did not answer (${err.message}); retrying…`;
    setTimeout(boot, BOOT_RETRY_MS);
    return;
  }
  session.enabled = auth.enabled;
  if (!auth.enabled || auth.user) {
    startApp(auth.user);
    return;
  }
  setView("gate");
  if (auth.setupRequired) gate.showSetup();
  else gate.showLogin();
}

boot();
