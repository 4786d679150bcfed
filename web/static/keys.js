// Browser KeyboardEvent.code → Linux evdev key names (what /api/v1/input and the
// websocket take). Only keys the daemon's HID keymap can send (keyboard page 0x07) are
// listed; other codes are not sent. tests/web/test_keys.py checks every name here.

const NAMED = {
  Escape: "KEY_ESC", Enter: "KEY_ENTER", Backspace: "KEY_BACKSPACE", Tab: "KEY_TAB",
  Space: "KEY_SPACE", Minus: "KEY_MINUS", Equal: "KEY_EQUAL",
  BracketLeft: "KEY_LEFTBRACE", BracketRight: "KEY_RIGHTBRACE", Backslash: "KEY_BACKSLASH",
  IntlBackslash: "KEY_102ND", Semicolon: "KEY_SEMICOLON", Quote: "KEY_APOSTROPHE",
  Backquote: "KEY_GRAVE", Comma: "KEY_COMMA", Period: "KEY_DOT", Slash: "KEY_SLASH",
  CapsLock: "KEY_CAPSLOCK", NumLock: "KEY_NUMLOCK", ScrollLock: "KEY_SCROLLLOCK",
  PrintScreen: "KEY_SYSRQ", Pause: "KEY_PAUSE", Insert: "KEY_INSERT", Delete: "KEY_DELETE",
  Home: "KEY_HOME", End: "KEY_END", PageUp: "KEY_PAGEUP", PageDown: "KEY_PAGEDOWN",
  ArrowUp: "KEY_UP", ArrowDown: "KEY_DOWN", ArrowLeft: "KEY_LEFT", ArrowRight: "KEY_RIGHT",
  ControlLeft: "KEY_LEFTCTRL", ControlRight: "KEY_RIGHTCTRL",
  ShiftLeft: "KEY_LEFTSHIFT", ShiftRight: "KEY_RIGHTSHIFT",
  AltLeft: "KEY_LEFTALT", AltRight: "KEY_RIGHTALT",
  MetaLeft: "KEY_LEFTMETA", MetaRight: "KEY_RIGHTMETA",
  OSLeft: "KEY_LEFTMETA", OSRight: "KEY_RIGHTMETA", ContextMenu: "KEY_COMPOSE",
  NumpadDivide: "KEY_KPSLASH", NumpadMultiply: "KEY_KPASTERISK",
  NumpadSubtract: "KEY_KPMINUS", NumpadAdd: "KEY_KPPLUS", NumpadEnter: "KEY_KPENTER",
  NumpadDecimal: "KEY_KPDOT",
  IntlRo: "KEY_RO", IntlYen: "KEY_YEN", KanaMode: "KEY_KATAKANAHIRAGANA",
  Convert: "KEY_HENKAN", NonConvert: "KEY_MUHENKAN",
  AudioVolumeMute: "KEY_MUTE", AudioVolumeDown: "KEY_VOLUMEDOWN", AudioVolumeUp: "KEY_VOLUMEUP",
  Power: "KEY_POWER",
};

/** The evdev name for a KeyboardEvent.code, or null when the key has no mapping. */
export function evdevKey(code) {
  if (Object.hasOwn(NAMED, code)) return NAMED[code];
  let m = /^Key([A-Z])$/.exec(code);
  if (m) return `KEY_${m[1]}`;
  m = /^Digit([0-9])$/.exec(code);
  if (m) return `KEY_${m[1]}`;
  m = /^Numpad([0-9])$/.exec(code);
  if (m) return `KEY_KP${m[1]}`;
  m = /^F([1-9]|1[0-9]|2[0-4])$/.exec(code);
  if (m) return `KEY_F${m[1]}`;
  return null;
}

/** MouseEvent.button → evdev button name. */
export const MOUSE_BUTTONS = ["BTN_LEFT", "BTN_MIDDLE", "BTN_RIGHT", "BTN_SIDE", "BTN_EXTRA"];
