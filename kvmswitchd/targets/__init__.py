"""kvmswitchd.targets: target backends, one per port (emulated, gadget, ch9329, usbip, qemu)."""
