"""Sans-IO cores: switching, hotkeys, storage safety, the event model.

Nothing here imports asyncio, os, evdev, serial or aiohttp, or reads a clock.
"""
