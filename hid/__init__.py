"""hid: a pure HID library (no I/O; imports only the standard library and kvmswitchd.errors).

Modules: ``evcodes`` (static evdev names/codes), ``keymap`` (evdev → HID usage → PS/2 set 2,
mouse button bits), ``layout`` (US layout text ↔ usages), ``keyboard`` (boot and NKRO
reports), ``mouse`` (relative and absolute reports), ``leds`` (USB / PS/2 / CH9329 LED
bytes), ``descriptors`` (report and HID class descriptors), ``ps2`` (set-2 encoder, decoder,
host commands), ``ch9329`` (CH9329 serial frames).
"""
