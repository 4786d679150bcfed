"""Cascading: downstream switches hung off one of our ports (issue 16, SPEC §2)."""
