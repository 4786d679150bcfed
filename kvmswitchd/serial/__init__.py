"""kvmswitchd.serial: serial control dialects (sans-IO) and their asyncio adapter."""
