// Signing in: the first-start setup form, the login form, and what the user may do.
// GET /api/v1/auth/state says whether setup is needed and who is signed in; a daemon
// without accounts (auth off, loopback only) has no such route (404): everything is open.

import { api, ApiError, signedIn } from "./api.js";

const MIN_PASSWORD = 8; // the daemon's minimum (kvmswitchd.core.accounts.MIN_PASSWORD_LEN)

/**
 * May ``user`` do ``permission`` (view, switch, type, storage, configure, users) on
 * ``port`` (or on some port when ``port`` is null)? ``user.permissions`` maps each granted
 * permission to null (every port) or the ports it is limited to (a unit covers its
 * cascaded ports, "2" covers "2.4"). The server enforces this anyway; the UI only hides
 * what would be refused.
 */
export function can(user, permission, port = null) {
  const perms = user?.permissions ?? {};
  if (!Object.hasOwn(perms, permission)) return false;
  const ports = perms[permission];
  if (ports === null || ports === undefined) return true;
  if (port === null || port === undefined) return ports.length > 0;
  const id = String(port);
  return ports.includes(id) || ports.includes(id.split(".")[0]);
}

/** The auth state: {enabled, setupRequired, user}; enabled is false when auth is off. */
export async function authState() {
  try {
    const state = await api("GET", "/auth/state", undefined, { signIn: false });
    return { enabled: true, setupRequired: Boolean(state?.setup_required), user: state?.user ?? null };
  } catch (err) {
    if (err.status === 404) return { enabled: false, setupRequired: false, user: null };
    if (err.status === 401) return { enabled: true, setupRequired: false, user: null };
    throw err;
  }
}

/** The text to show for a failed setup or login. */
export function failureText(err, what) {
  if (err.status === 429) {
    const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : " Wait a moment and try again.";
    return `Too many failed attempts: ${what} is paused.${wait}`;
  }
  if (err.status === 401) {
    const message = err.message || "wrong user name or password";
    return message.charAt(0).toUpperCase() + message.slice(1) + ".";
  }
  if (err.status === 409) return "Setup is already done: sign in instead.";
  return err.message;
}

export class AuthGate {
  /** ``onSignedIn(user)`` runs once setup or login has succeeded. */
  constructor(els, { onSignedIn }) {
    this.els = els;
    this.onSignedIn = onSignedIn;
    this.countdown = 0;
    els.setupForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.setup();
    });
    els.loginForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.login();
    });
  }

  showSetup() {
    this.els.loginForm.hidden = true;
    this.els.setupForm.hidden = false;
    this.error(this.els.setupError, "");
    this.els.setupToken.focus();
  }

  /** The login form; ``info`` says why (signed out, session ended). */
  showLogin(info = "Sign in to use the switch.") {
    this.els.setupForm.hidden = true;
    this.els.loginForm.hidden = false;
    this.els.loginInfo.textContent = info;
    this.error(this.els.loginError, "");
    this.els.loginPassword.value = "";
    (this.els.loginName.value ? this.els.loginPassword : this.els.loginName).focus();
  }

  error(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }

  async setup() {
    const { setupToken, setupName, setupPassword, setupPassword2, setupError, setupSubmit } = this.els;
    const token = setupToken.value.trim();
    const name = setupName.value.trim();
    const password = setupPassword.value;
    let problem = "";
    if (!token) problem = "Enter the setup token from the daemon's log or its setup-token file.";
    else if (!name) problem = "Choose a name for the administrator.";
    else if (password.length < MIN_PASSWORD) problem = `The password must be at least ${MIN_PASSWORD} characters.`;
    else if (password !== setupPassword2.value) problem = "The two passwords differ.";
    this.error(setupError, problem);
    if (problem) return;
    setupSubmit.disabled = true;
    try {
      const result = await api("POST", "/auth/setup", { token, name, password }, { signIn: false });
      setupPassword.value = setupPassword2.value = setupToken.value = "";
      this.done(result.user);
    } catch (err) {
      if (err.status === 409) {
        this.els.loginName.value = name;
        this.showLogin("Setup is already done: sign in.");
        return;
      }
      this.error(setupError, failureText(err, "setup"));
      if (err.status === 429) this.hold(setupSubmit, err.retryAfter, setupError);
    } finally {
      if (!this.countdown) setupSubmit.disabled = false;
    }
  }

  async login() {
    const { loginName, loginPassword, loginError, loginSubmit } = this.els;
    const name = loginName.value.trim();
    const password = loginPassword.value;
    if (!name || !password) {
      this.error(loginError, "Enter your user name and password.");
      (name ? loginPassword : loginName).focus();
      return;
    }
    loginSubmit.disabled = true;
    try {
      const result = await api("POST", "/auth/login", { name, password }, { signIn: false });
      loginPassword.value = "";
      this.done(result.user);
    } catch (err) {
      this.error(loginError, failureText(err, "signing in"));
      loginPassword.select();
      if (err.status === 429) this.hold(loginSubmit, err.retryAfter, loginError);
    } finally {
      if (!this.countdown) loginSubmit.disabled = false;
    }
  }

  /** Throttled: keep ``button`` disabled for ``seconds``, counting down in ``message``. */
  hold(button, seconds, message) {
    clearInterval(this.countdown);
    let left = Math.max(1, Math.round(seconds || 1));
    const label = button.textContent;
    button.disabled = true;
    button.textContent = `Wait ${left} s`;
    this.countdown = setInterval(() => {
      left -= 1;
      if (left > 0) {
        button.textContent = `Wait ${left} s`;
        return;
      }
      clearInterval(this.countdown);
      this.countdown = 0;
      button.disabled = false;
      button.textContent = label;
      message.textContent += " You can try again now.";
    }, 1000);
  }

  done(user) {
    if (!user) throw new ApiError(500, "bad_reply", "the switch did not say who signed in");
    signedIn();
    this.onSignedIn(user);
  }
}
