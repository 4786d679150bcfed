"""The daemon in-process: its writers never follow a planted temp-file symlink."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import aiohttp

from kvmswitchd.config import parse_config
from kvmswitchd.daemon import Daemon


async def test_symlinks_planted_at_the_writers_temp_names_leave_their_target_untouched(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    pid = os.getpid()
    for name in ("state.json", "users.json", "setup-token"):
        (state / f".{name}.tmp-{pid}").symlink_to(victim)  # the names writers used to use
        (state / f".tmp-{name}.").symlink_to(victim)
    config = parse_config({"http": {"auth": True}})
    http_config = replace(config.http, listen_host="127.0.0.1", listen_port=0)
    daemon = Daemon(replace(config, http=http_config, serial=()), state)
    await daemon.start()
    try:
        assert daemon.setup_token is not None
        body = {"token": daemon.setup_token, "name": "admin", "password": "correct horse battery"}
        api = daemon.http_url + "/api/v1"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(api + "/auth/setup", json=body) as r:
                assert r.status in (200, 201), await r.text()
            async with http.post(api + "/switch", json={"port": "2"}) as r:
                assert r.status == 200, await r.text()
    finally:
        await daemon.stop()
    assert victim.read_text() == "precious\n"
    assert (state / "users.json").is_file()
    assert not [p.name for p in state.iterdir() if p.name.startswith(".")]
