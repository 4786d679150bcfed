"""kvmswitchd.console: console input sources (evdev devices, fifo, injected events)."""
