"""The users file on disk (SPEC §9): read at start; saved before any change takes effect.

Every account change goes through :meth:`UserStore.change`: under one lock, the edit is
made on a copy of the user table and the sessions, the copy is written (mode 0600,
``write_atomic``), and only then swapped in. An edit that raises, or a write that fails,
leaves memory and the file exactly as they were; a failed write is a :class:`SaveError`
(503) saying nothing changed. Session last-seen times are the one thing kept in memory
first and saved in the background (:meth:`save_soon`): losing one costs an idle timeout
a minute early, never an account change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kvmswitchd.core.accounts import SessionPolicy, Sessions, User, UserTable
from kvmswitchd.core.usersfile import parse_users_document, users_document
from kvmswitchd.errors import SaveError, StateFileError
from kvmswitchd.statedir import read_nofollow
from kvmswitchd.statefile import write_atomic

log = logging.getLogger(__name__)

USERS_MODE = 0o600
# Users, hashes and session digests fit in far less; reading more would let a planted
# file exhaust memory at start.
MAX_USERS_FILE_BYTES = 16 << 20
T = TypeVar("T")
Writer = Callable[[Path, bytes, int], None]
"""Writes a whole file atomically (``statefile.write_atomic``); raises OSError on failure."""
Edit = Callable[[UserTable, Sessions], T]


class UserStore:
    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float],
        writer: Writer = write_atomic,
        policy: SessionPolicy | None = None,
    ) -> None:
        self.path = path
        self.write = writer  # the seam tests fail writes through
        self._clock = clock
        self.table = UserTable()
        self.sessions = Sessions(policy)
        self._lock = asyncio.Lock()
        self._dirty = False
        self._background: asyncio.Task[None] | None = None

    def user(self, name: str) -> User | None:
        """The saved user ``name`` (the table is swapped on each change: look it up here)."""
        return self.table.get(name)

    def load(self) -> None:
        """Read the users file (none yet: no users); StateFileError when it is unusable."""
        try:
            raw = read_nofollow(self.path, MAX_USERS_FILE_BYTES)  # a planted symlink: refused
        except FileNotFoundError:
            return
        if len(raw) > MAX_USERS_FILE_BYTES:
            raise StateFileError(f"{self.path} is over {MAX_USERS_FILE_BYTES} bytes: not ours")
        users, saved = parse_users_document(raw)
        table = UserTable({u.name: u for u in users})
        sessions = Sessions(self.sessions.policy)
        for session in saved:
            if table.get(session.user) is not None:
                sessions.restore(session)
        now = self._clock()
        sessions.purge(now)
        table.prune_tokens(now)  # gone from the file at the next save
        self.table, self.sessions = table, sessions

    async def change(self, edit: Edit[T]) -> T:
        """Make ``edit`` on copies, save them, then swap them in; returns what it returned.

        The edit runs after every earlier change is saved and sees the current table, so
        changes never overwrite each other. Expired sessions and tokens are pruned."""
        async with self._lock:
            table, sessions = self.table.copy(), self.sessions.copy()
            result = edit(table, sessions)
            now = self._clock()
            table.prune_tokens(now)
            sessions.purge(now)
            await self._save(table, sessions)
            self.table, self.sessions = table, sessions
            return result

    def save_soon(self) -> None:
        """Save what memory holds (session last-seen times) and prune, in the background."""
        self._dirty = True
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._save_loop())

    async def _save_loop(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self.change(lambda _table, _sessions: None)
            except SaveError:
                return  # logged; the next change or save_soon tries again

    async def _save(self, table: UserTable, sessions: Sessions) -> None:
        data = users_document(table, sessions)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.write, self.path, data, USERS_MODE)
        except OSError as exc:
            log.error("cannot save the users file %s: %s", self.path, exc)  # noqa: TRY400  # no traceback wanted
            reason = exc.strerror or type(exc).__name__
            raise SaveError(f"cannot save the users file ({reason}); nothing was changed") from None

    async def flush(self) -> None:
        """Wait for a background save; at shutdown."""
        if self._background is not None:
            await asyncio.shield(self._background)
