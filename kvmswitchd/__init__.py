"""kvmswitchd: the firmware of an IP KVM switch (SPEC §1)."""

__version__ = "0.1.0"
