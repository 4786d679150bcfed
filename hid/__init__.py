"""hid: a pure HID library (evdev → HID usage → PS/2, reports, descriptors, CH9329 frames)."""
