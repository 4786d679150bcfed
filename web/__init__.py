"""web: the aiohttp edge of the daemon (HTTP API, websocket, static UI)."""
