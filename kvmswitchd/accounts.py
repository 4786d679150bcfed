"""Accounts adapter (SPEC §9): argon2 hashing, the users file, the setup token, the log.

The rules live in ``kvmswitchd.core.accounts`` / ``kvmswitchd.core.permissions``; this
module hashes passwords off the event loop, keeps ``users.json`` (mode 0600, written
atomically: users, password hashes, token and session digests — never a secret) and
records every login, logout, refusal and account change in the event log. Nothing
here logs a password, a session id or a token.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kvmswitchd.core.accounts import (
    MAX_CREDENTIAL_LEN,
    MAX_NAME_LEN,
    MAX_PASSWORD_LEN,
    NAME_RE,
    ApiToken,
    Session,
    SessionPolicy,
    Sessions,
    Throttle,
    ThrottlePolicy,
    User,
    UserTable,
    check_name,
    check_password,
    digest_of,
    parse_users_document,
    users_document,
)
from kvmswitchd.core.commands import Origin
from kvmswitchd.core.permissions import Permission, PortRestrictions, Role, authorize
from kvmswitchd.errors import (
    AuthError,
    BusyError,
    DeviceError,
    InputError,
    PermissionDenied,
    StateFileError,
)
from kvmswitchd.statedir import read_nofollow
from kvmswitchd.statefile import write_atomic

log = logging.getLogger(__name__)

USERS_FILE = "users.json"
SETUP_FILE = "setup-token"
# Users, hashes and session digests fit in far less; reading more would let a planted
# file exhaust memory at start.
MAX_USERS_FILE_BYTES = 16 << 20
# argon2 hashes running at once (each takes ~64 MiB and tens of ms of CPU on purpose);
# stops a burst of logins from exhausting memory. Others wait their turn.
MAX_CONCURRENT_HASHES = 2
# Makes a leaked bearer token recognisable to secret scanners.
TOKEN_PREFIX = "kvmt_"  # noqa: S105  # a public prefix, not a secret


class JournalRecord(Protocol):
    """``Journal.record``."""

    def __call__(
        self,
        kind: str,
        source: str,
        ports: tuple[str, ...] = (),
        user: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> object: ...


class LoginThrottledError(AuthError):
    """Too many failed logins from this client or for this user: wait ``retry_after`` s."""

    code = "throttled"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class Via(enum.StrEnum):
    SESSION = "session"
    BEARER = "bearer"


@dataclass(frozen=True, slots=True)
class Credential:
    """What authenticated a request: a session (``key`` = its digest) or a token (its id)."""

    user: str
    via: Via
    key: str
    expires: float | None = None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Accounts:
    def __init__(
        self,
        state_dir: Path,
        journal_record: JournalRecord,
        *,
        clock: Callable[[], float] = time.time,
        secret: Callable[[], str] = new_secret,
        hasher: PasswordHasher | None = None,
        sessions: SessionPolicy | None = None,
        throttle: ThrottlePolicy | None = None,
    ) -> None:
        self.path = state_dir / USERS_FILE
        self.setup_path = state_dir / SETUP_FILE
        self._record = journal_record
        self._clock = clock  # wall-clock seconds: sessions and tokens outlive a restart
        self._secret = secret
        self._hasher = hasher or PasswordHasher()
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        self._dummy_hash: str | None = None
        self.table = UserTable()
        self.sessions = Sessions(sessions)
        self.throttle = Throttle(throttle)
        self._setup_digest: str | None = None
        self._generation = 0
        self._saved = 0
        self._writer: asyncio.Task[None] | None = None

    # -- start ------------------------------------------------------------------------

    def load(self) -> None:
        """Read the users file; StateFileError when it is unusable (the daemon must stop:
        silently starting with no users would reopen setup)."""
        try:
            raw = read_nofollow(self.path, MAX_USERS_FILE_BYTES)  # a planted symlink: refused
        except FileNotFoundError:
            return
        if len(raw) > MAX_USERS_FILE_BYTES:
            raise StateFileError(f"{self.path} is over {MAX_USERS_FILE_BYTES} bytes: not ours")
        users, sessions = parse_users_document(raw)
        self.table = UserTable({u.name: u for u in users})
        for session in sessions:
            if self.table.get(session.user) is not None:
                self.sessions.restore(session)
        self.sessions.purge(self._clock())

    @property
    def needs_setup(self) -> bool:
        return len(self.table) == 0

    def setup_token(self) -> str | None:
        """With no users: a new one-time token, written to ``setup_path`` (mode 0600) and
        returned for the daemon to print. With users: None (a stale file is removed)."""
        if not self.needs_setup:
            self.setup_path.unlink(missing_ok=True)
            return None
        token = self._secret()
        self.setup_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.setup_path, (token + "\n").encode(), 0o600)
        self._setup_digest = digest_of(token)
        log.warning(
            "no users yet: create the first admin with the setup token in %s", self.setup_path
        )
        return token

    async def setup(
        self, token: object, name: object, password: object, origin: Origin
    ) -> tuple[User, str]:
        """Create the first admin with the setup token; returns it and a session id."""
        self._not_throttled((self._from(origin),), origin, "setup")
        if not self.needs_setup:
            raise BusyError("setup is already done; log in")
        expected = self._setup_digest
        if (
            not isinstance(token, str)
            or len(token) > MAX_CREDENTIAL_LEN
            or expected is None
            or not hmac.compare_digest(digest_of(token), expected)
        ):
            self.throttle.failure(self._from(origin), self._clock())
            self._log("login_failed", origin, None, reason="bad setup token")
            raise AuthError("the setup token is not valid")
        name, password = check_name(name), check_password(password)
        hashed = await self._hash(password)
        if not self.needs_setup:
            raise BusyError("setup is already done; log in")
        now = self._clock()
        user = User(name, Role.ADMIN, hashed, created=now)
        self.table.add(user)
        self._setup_digest = None
        secret = self._new_session(name, now)
        await self._persist()
        self.setup_path.unlink(missing_ok=True)
        self._log("setup", origin, name)
        return user, secret

    # -- logging in -------------------------------------------------------------------

    async def login(self, name: object, password: object, origin: Origin) -> tuple[User, str]:
        """Check a password (throttled); returns the user and a new session id."""
        user = await self._check_password(name, password, origin, record=True)
        secret = self._new_session(user.name, self._clock())
        await self._persist()
        self._log("login", origin, user.name, via="password")
        return user, secret

    async def authenticate_password(
        self, name: str, password: str, origin: Origin, *, record: bool = True
    ) -> str | None:
        """For serial logins (``CommandBus.authenticate``): the user name, or None."""
        try:
            user = await self._check_password(name, password, origin, record=record)
        except (AuthError, InputError):
            return None
        if record:
            self._log("login", origin, user.name, via="password")
        return user.name

    async def _check_password(
        self, name: object, password: object, origin: Origin, *, record: bool
    ) -> User:
        if not isinstance(name, str) or not isinstance(password, str):
            raise InputError("name and password must be strings")
        if len(password) > MAX_PASSWORD_LEN:
            raise InputError(f"password must be at most {MAX_PASSWORD_LEN} characters")
        valid_name = len(name) <= MAX_NAME_LEN and NAME_RE.fullmatch(name) is not None
        keys = (self._from(origin),) + ((f"user:{name}",) if valid_name else ())
        self._not_throttled(keys, origin, "login", record=record)
        user = self.table.get(name) if valid_name else None
        hashed = user.password_hash if user else None
        ok = await self._verify(hashed, password, keys, origin, record=record)
        if ok:  # the password may have changed, or the user gone, while we verified
            user = self.table.get(name)
            ok = user is not None and user.password_hash == hashed
        if user is None or not ok:
            now = self._clock()
            for key in keys:
                self.throttle.failure(key, now)
            if record:  # an unknown "name" may be a password typed in the wrong box
                self._log(
                    "login_failed",
                    origin,
                    user.name if user else None,
                    reason="wrong password" if user else "unknown user",
                )
            raise AuthError("wrong user name or password")
        self.throttle.success(f"user:{name}")
        if self._hasher.check_needs_rehash(user.password_hash):  # hashing parameters rose
            rehashed = await self._hash(password)
            current = self.table.get(user.name)
            if current is not None and current.password_hash == user.password_hash:
                user = replace(current, password_hash=rehashed)
                self.table.replace(user)
        return user

    def _not_throttled(
        self, keys: tuple[str, ...], origin: Origin, what: str, *, record: bool = True
    ) -> None:
        now = self._clock()
        wait = max((self.throttle.check(k, now) or 0.0) for k in keys)
        if wait > 0:
            if record:
                self._log(
                    "login_failed",
                    origin,
                    None,
                    reason=f"{what} throttled",
                    retry_after=round(wait, 1),
                )
            raise LoginThrottledError(wait)

    def _new_session(self, name: str, now: float) -> str:
        self.sessions.purge(now)  # sessions nobody came back to leave the file here
        secret = self._secret()
        self.sessions.create(name, secret, now)
        return secret

    # -- requests ---------------------------------------------------------------------

    def resolve_session(self, secret: str) -> tuple[User, Credential] | None:
        now = self._clock()
        session = self.sessions.lookup(secret, now)
        if session is None:
            return None
        user = self.table.get(session.user)
        if user is None:
            self.sessions.revoke(session.digest)
            return None
        if self.sessions.touch(session, now):
            self._mark_dirty()  # saved in the background; idle expiry survives restarts
        expires = self.sessions.expires(self.sessions.get(session.digest, now) or session)
        return user, Credential(user.name, Via.SESSION, session.digest, expires)

    def resolve_bearer(self, secret: str) -> tuple[User, Credential] | None:
        found = self.table.by_token(secret)
        if found is None:
            return None
        user, token = found
        return user, Credential(user.name, Via.BEARER, token.id)

    def recheck(self, credential: Credential | None) -> User:
        """The user behind a credential still in force (a websocket re-checks per
        message); AuthError once it was revoked, expired or its user deleted."""
        if credential is None:
            raise AuthError("log in first")
        user = self.table.get(credential.user)
        if user is not None:
            if credential.via is Via.SESSION:
                session = self.sessions.get(credential.key, self._clock())
                if session is not None and session.user == user.name:
                    return user
            elif any(t.id == credential.key for t in user.tokens):
                return user
        raise AuthError("the session has ended; log in again")

    def check(
        self, name: str | None, permission: Permission, port: str | None, origin: Origin
    ) -> User:
        """Authorize a named user (serial, websocket); refusals are logged."""
        user = self.table.get(name) if name is not None else None
        try:
            authorize(user, permission, port)
        except (AuthError, PermissionDenied) as exc:
            self.refused(origin, str(exc), port=port)
            raise
        assert user is not None  # authorize raised otherwise
        return user

    def refused(
        self, origin: Origin, reason: str, *, user: str | None = None, **detail: Any
    ) -> None:
        """Log a refusal (401/403, a serial command, a websocket message) with the user."""
        ports = (str(detail["port"]),) if detail.get("port") else ()
        self._log("refused", origin, user or origin.user, ports, reason=reason, **detail)

    async def logout(
        self, credential: Credential, origin: Origin, *, everywhere: bool = False
    ) -> int:
        if credential.via is not Via.SESSION:
            raise InputError("bearer tokens are revoked with DELETE /api/v1/auth/tokens/{id}")
        if everywhere:
            ended = self.sessions.revoke_all_for_user(credential.user)
        else:
            ended = 1 if self.sessions.revoke(credential.key) else 0
        await self._persist()
        self._log("logout", origin, credential.user, sessions_ended=ended)
        return ended

    # -- own account ------------------------------------------------------------------

    async def change_password(
        self, credential: Credential, old: object, new: object, origin: Origin
    ) -> str | None:
        """Ends every session and token of the user; a new session id when the change
        came through a session (the browser stays logged in), else None."""
        user = self.recheck(credential)
        new = check_password(new)
        try:
            checked = await self._check_password(user.name, old, origin, record=False)
        except AuthError as exc:
            self.refused(origin, f"password change: {exc}", user=user.name)
            if isinstance(exc, LoginThrottledError):
                raise
            raise PermissionDenied("the old password is wrong") from None
        hashed = await self._hash(new)
        await self._replace_secrets(checked, origin, password_hash=hashed)
        if credential.via is not Via.SESSION:
            return None
        secret = self._new_session(user.name, self._clock())
        await self._persist()
        return secret

    async def _replace_secrets(self, user: User, origin: Origin, **changes: Any) -> User:
        updated = replace(self.table.require(user.name), tokens=(), **changes)
        self.table.replace(updated)
        ended = self.sessions.revoke_all_for_user(user.name)
        await self._persist()
        self._log(
            "password_changed",
            origin,
            user.name,
            sessions_ended=ended,
            tokens_revoked=len(user.tokens),
        )
        return updated

    async def create_token(self, user: str, name: object, origin: Origin) -> tuple[ApiToken, str]:
        """A bearer token for scripts; the secret is returned here once, never again."""
        if not isinstance(name, str):
            raise InputError("token name must be a string")
        secret = TOKEN_PREFIX + self._secret()
        token = ApiToken(digest_of("id:" + secret)[:12], name, digest_of(secret), self._clock())
        self.table.add_token(user, token)
        await self._persist()
        self._log("token_created", origin, user, token=token.id, name=name)
        return token, secret

    def tokens(self, user: str) -> tuple[ApiToken, ...]:
        return self.table.require(user).tokens

    async def revoke_token(self, user: str, token_id: str, origin: Origin) -> None:
        self.table.remove_token(user, token_id)
        await self._persist()
        self._log("token_revoked", origin, user, token=token_id[:32])

    # -- administration (the web edge checks Permission.USERS first) --------------------

    async def create_user(
        self, name: object, password: object, role: Role, ports: PortRestrictions, origin: Origin
    ) -> User:
        name, password = check_name(name), check_password(password)
        if self.table.get(name) is not None:
            raise BusyError(f"user {name!r} already exists")
        user = User(name, role, await self._hash(password), dict(ports), (), self._clock())
        self.table.add(user)
        await self._persist()
        self._log("user_created", origin, origin.user, target=name, role=str(role))
        return user

    async def update_user(
        self,
        name: str,
        origin: Origin,
        *,
        role: Role | None = None,
        ports: PortRestrictions | None = None,
        password: object = None,
    ) -> User:
        user = self.table.require(name)
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = role
        if ports is not None:
            changes["ports"] = dict(ports)
        hashed = await self._hash(check_password(password)) if password is not None else None
        updated = replace(self.table.require(name), **changes)
        self.table.replace(updated)
        if hashed is not None:
            updated = await self._replace_secrets(user, origin, password_hash=hashed)
        await self._persist()
        changed = sorted(changes) + (["password"] if hashed else [])
        self._log("user_updated", origin, origin.user, target=name, changed=changed)
        return updated

    async def delete_user(self, name: str, origin: Origin) -> None:
        self.table.remove(name)
        self.sessions.revoke_all_for_user(name)
        await self._persist()
        self._log("user_deleted", origin, origin.user, target=name)

    # -- hashing ----------------------------------------------------------------------

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self._hasher.hash, password)

    async def _verify(
        self,
        hashed: str | None,
        password: str,
        keys: tuple[str, ...],
        origin: Origin,
        *,
        record: bool,
    ) -> bool:
        async with self._hashing:
            # Attempts queued behind the semaphore re-check: a burst sent at once gets
            # no more guesses than the throttle allows.
            self._not_throttled(keys, origin, "login", record=record)
            loop = asyncio.get_running_loop()
            if hashed is None:  # unknown user: spend the same time, so names don't leak
                if self._dummy_hash is None:
                    self._dummy_hash = await loop.run_in_executor(
                        None, self._hasher.hash, self._secret()
                    )
                hashed = self._dummy_hash
                password = ""
            try:
                return await loop.run_in_executor(None, self._hasher.verify, hashed, password)
            except (VerificationError, InvalidHashError):
                return False

    # -- persistence ------------------------------------------------------------------

    def _mark_dirty(self) -> asyncio.Task[None]:
        self._generation += 1
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        return self._writer

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._saved < self._generation:
            generation = self._generation
            data = users_document(self.table, self.sessions)
            try:
                await loop.run_in_executor(None, write_atomic, self.path, data, 0o600)
            except OSError:
                log.exception("cannot save the users file %s", self.path)
                return
            self._saved = generation

    async def _persist(self) -> None:
        generation = self._generation + 1
        await asyncio.shield(self._mark_dirty())
        if self._saved < generation:
            raise DeviceError(f"cannot save the users file {self.path}")

    async def flush(self) -> None:
        """Wait for a pending background save (session last-seen times); at shutdown."""
        if self._writer is not None:
            await asyncio.shield(self._writer)

    # -- event log --------------------------------------------------------------------

    def _from(self, origin: Origin) -> str:
        return f"from:{origin.source}:{origin.detail}"

    def _log(
        self,
        kind: str,
        origin: Origin,
        user: str | None,
        ports: tuple[str, ...] = (),
        **detail: Any,
    ) -> None:
        self._record(
            kind,
            str(origin.source),
            ports,
            user,
            {"remote": origin.detail, **detail} if origin.detail else detail,
        )


__all__ = ["Accounts", "Credential", "JournalRecord", "LoginThrottledError", "Session", "Via"]
