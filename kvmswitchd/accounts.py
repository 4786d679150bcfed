"""Accounts adapter (SPEC §9): setup, logins, sessions, tokens, users, and the log.

The rules live in ``kvmswitchd.core.accounts`` / ``kvmswitchd.core.permissions``;
passwords are checked by ``kvmswitchd.passwords``; every change goes through
``kvmswitchd.userstore``: the users file is saved first and the change takes effect only
once it is (a failed save is a SaveError and changes nothing). Every login, logout,
refusal and account change is recorded in the event log. Nothing here logs a password,
a session id or a token.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from kvmswitchd.core.accounts import (
    ApiToken,
    Session,
    SessionPolicy,
    Sessions,
    ThrottlePolicy,
    User,
    UserTable,
    check_name,
    check_password,
    digest_of,
    parse_lifetime,
)
from kvmswitchd.core.commands import Origin
from kvmswitchd.core.permissions import Permission, PortRestrictions, Role, authorize
from kvmswitchd.credentials import (
    TOKEN_PREFIX,
    AccountLog,
    Credential,
    JournalRecord,
    Via,
    new_secret,
)
from kvmswitchd.errors import AuthError, BusyError, InputError, PermissionDenied, SaveError
from kvmswitchd.passwords import MAX_CONCURRENT_HASHES, LoginThrottledError, Passwords
from kvmswitchd.setuptoken import SetupToken
from kvmswitchd.statefile import write_atomic
from kvmswitchd.userstore import UserStore, Writer

USERS_FILE = "users.json"
SETUP_FILE = "setup-token"


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
        writer: Writer = write_atomic,
    ) -> None:
        self.path = state_dir / USERS_FILE
        self.setup_path = state_dir / SETUP_FILE
        self._log = AccountLog(journal_record)
        self._clock = clock  # wall-clock seconds: sessions and tokens outlive a restart
        self._secret = secret
        self.store = UserStore(self.path, clock=clock, writer=writer, policy=sessions)
        self.passwords = Passwords(
            self.store.user,
            self._log,
            clock=clock,
            secret=secret,
            hasher=hasher,
            throttle=throttle,
        )
        self.throttle = self.passwords.throttle
        self._setup = SetupToken(self.setup_path, secret=secret, writer=writer)

    @property
    def table(self) -> UserTable:
        """The saved user table (read it; change it only through ``store.change``)."""
        return self.store.table

    @property
    def sessions(self) -> Sessions:
        return self.store.sessions

    def user(self, name: str) -> User | None:
        """The account called ``name`` as it is now (the guarded path looks rights up here
        on every command, so a change applies at once); None when there is none."""
        return self.store.table.get(name)

    # -- start ------------------------------------------------------------------------

    def load(self) -> None:
        """Read the users file; StateFileError when it is unusable (the daemon must stop:
        silently starting with no users would reopen setup)."""
        self.store.load()

    @property
    def needs_setup(self) -> bool:
        return len(self.table) == 0

    def setup_token(self) -> str | None:
        """With no users: a new one-time token, written to ``setup_path`` (mode 0600) and
        returned for the daemon to print. With users: None (a stale file is removed)."""
        if not self.needs_setup:
            self._setup.discard()
            return None
        return self._setup.issue()

    async def setup(
        self, token: object, name: object, password: object, origin: Origin
    ) -> tuple[User, str]:
        """Create the first admin with the setup token; returns it and a session id."""
        self.passwords.not_throttled((self.passwords.key_of(origin),), origin, "setup")
        if not self.needs_setup:
            raise BusyError("setup is already done; log in")
        if not self._setup.matches(token):
            self.throttle.failure(self.passwords.key_of(origin), self._clock())
            self._log("login_failed", origin, None, reason="bad setup token")
            raise AuthError("the setup token is not valid")
        name, password = check_name(name), check_password(password)
        hashed = await self.passwords.hash(password)
        now = self._clock()
        user = User(name, Role.ADMIN, hashed, created=now)
        secret = self._secret()

        def edit(table: UserTable, sessions: Sessions) -> None:
            if len(table):
                raise BusyError("setup is already done; log in")
            table.add(user)
            sessions.create(name, secret, now)

        await self.store.change(edit)
        self._setup.discard()
        self._log("setup", origin, name)
        return user, secret

    # -- logging in -------------------------------------------------------------------

    async def login(self, name: object, password: object, origin: Origin) -> tuple[User, str]:
        """Check a password (throttled); returns the user and a new session id."""
        checked, rehashed = await self.passwords.check(name, password, origin, record=True)
        secret = self._secret()
        now = self._clock()

        def edit(table: UserTable, sessions: Sessions) -> User:
            user = self._unchanged(table, checked)
            if rehashed is not None:
                user = replace(user, password_hash=rehashed)
                table.replace(user)
            sessions.create(user.name, secret, now)
            return user

        user = await self.store.change(edit)
        self._log("login", origin, user.name, via="password")
        return user, secret

    async def authenticate_password(
        self, name: str, password: str, origin: Origin, *, record: bool = True
    ) -> str | None:
        """For serial logins (``CommandBus.authenticate``): the user name, or None."""
        try:
            user, rehashed = await self.passwords.check(name, password, origin, record=record)
        except (AuthError, InputError):
            return None
        if rehashed is not None:
            await self._save_rehash(user, rehashed)
        if record:
            self._log("login", origin, user.name, via="password")
        return user.name

    @staticmethod
    def _unchanged(table: UserTable, checked: User) -> User:
        """``checked`` as it is in ``table``; AuthError when it was deleted or its
        password changed while its password was being verified."""
        user = table.get(checked.name)
        if user is None or user.password_hash != checked.password_hash:
            raise AuthError("wrong user name or password")
        return user

    async def _save_rehash(self, checked: User, rehashed: str) -> None:
        def edit(table: UserTable, _sessions: Sessions) -> None:
            current = table.get(checked.name)
            if current is not None and current.password_hash == checked.password_hash:
                table.replace(replace(current, password_hash=rehashed))

        # On a failed save the old hash still works; the upgrade is tried at the next login.
        with contextlib.suppress(SaveError):
            await self.store.change(edit)

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
            self.store.save_soon()  # idle expiry survives restarts
        expires = self.sessions.expires(self.sessions.get(session.digest, now) or session)
        return user, Credential(user.name, Via.SESSION, session.digest, expires)

    def resolve_bearer(self, secret: str) -> tuple[User, Credential] | None:
        """The user of a live bearer token; None when unknown, revoked or expired (an
        expired token is then pruned from the users file)."""
        now = self._clock()
        found = self.table.by_token(secret, now)
        if found is None:
            if self.table.has_expired_tokens(now):
                self.store.save_soon()
            return None
        user, token = found
        return user, Credential(user.name, Via.BEARER, token.id, token.expires)

    def recheck(self, credential: Credential | None) -> User:
        """The user behind a credential still in force (a websocket re-checks per
        message); AuthError once it was revoked, expired or its user deleted."""
        if credential is None:
            raise AuthError("log in first")
        user = self.table.get(credential.user)
        now = self._clock()
        if user is not None:
            if credential.via is Via.SESSION:
                session = self.sessions.get(credential.key, now)
                if session is not None and session.user == user.name:
                    return user
            elif any(t.id == credential.key and not t.expired(now) for t in user.tokens):
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

        def edit(_table: UserTable, sessions: Sessions) -> int:
            if everywhere:
                return sessions.revoke_all_for_user(credential.user)
            return 1 if sessions.revoke(credential.key) else 0

        ended = await self.store.change(edit)
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
            checked, _ = await self.passwords.check(user.name, old, origin, record=False)
        except AuthError as exc:
            self.refused(origin, f"password change: {exc}", user=user.name)
            if isinstance(exc, LoginThrottledError):
                raise
            raise PermissionDenied("the old password is wrong") from None
        hashed = await self.passwords.hash(new)
        secret = self._secret() if credential.via is Via.SESSION else None
        now = self._clock()

        def edit(table: UserTable, sessions: Sessions) -> tuple[int, int]:
            current = self._unchanged(table, checked)
            table.replace(replace(current, password_hash=hashed, tokens=()))
            ended = sessions.revoke_all_for_user(current.name)
            if secret is not None:
                sessions.create(current.name, secret, now)
            return ended, len(current.tokens)

        ended, revoked = await self.store.change(edit)
        self._log(
            "password_changed", origin, user.name, sessions_ended=ended, tokens_revoked=revoked
        )
        return secret

    async def create_token(
        self, user: str, name: object, origin: Origin, *, expires_in: object = None
    ) -> tuple[ApiToken, str]:
        """A bearer token for scripts, valid for ``expires_in`` seconds (None: until
        revoked); the secret is returned here once, never again."""
        if not isinstance(name, str):
            raise InputError("token name must be a string")
        lifetime = parse_lifetime(expires_in)
        secret = TOKEN_PREFIX + self._secret()
        now = self._clock()
        expires = None if lifetime is None else now + lifetime
        token = ApiToken(digest_of("id:" + secret)[:12], name, digest_of(secret), now, expires)
        await self.store.change(lambda table, _sessions: table.add_token(user, token))
        detail: dict[str, Any] = {"token": token.id, "name": name}
        if expires is not None:
            detail["expires"] = expires
        self._log("token_created", origin, user, **detail)
        return token, secret

    def tokens(self, user: str) -> tuple[ApiToken, ...]:
        """The user's live tokens (expired ones are refused and pruned)."""
        now = self._clock()
        return tuple(t for t in self.table.require(user).tokens if not t.expired(now))

    async def revoke_token(self, user: str, token_id: str, origin: Origin) -> None:
        await self.store.change(lambda table, _sessions: table.remove_token(user, token_id))
        self._log("token_revoked", origin, user, token=token_id[:32])

    # -- administration (the web edge checks Permission.USERS first) --------------------

    async def create_user(
        self, name: object, password: object, role: Role, ports: PortRestrictions, origin: Origin
    ) -> User:
        name, password = check_name(name), check_password(password)
        if self.table.get(name) is not None:
            raise BusyError(f"user {name!r} already exists")
        user = User(name, role, await self.passwords.hash(password), dict(ports), (), self._clock())
        await self.store.change(lambda table, _sessions: table.add(user))
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
        self.table.require(name)
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = role
        if ports is not None:
            changes["ports"] = dict(ports)
        hashed = (
            await self.passwords.hash(check_password(password)) if password is not None else None
        )
        if hashed is not None:
            changes.update(password_hash=hashed, tokens=())

        def edit(table: UserTable, sessions: Sessions) -> tuple[User, User, int]:
            before = table.require(name)
            updated = replace(before, **changes)
            table.replace(updated)
            ended = sessions.revoke_all_for_user(name) if hashed is not None else 0
            return before, updated, ended

        before, updated, ended = await self.store.change(edit)
        if hashed is not None:
            self._log(
                "password_changed",
                origin,
                name,
                sessions_ended=ended,
                tokens_revoked=len(before.tokens),
            )
        changed = sorted(set(changes) - {"password_hash", "tokens"})
        changed += ["password"] if hashed else []
        self._log("user_updated", origin, origin.user, target=name, changed=changed)
        return updated

    async def delete_user(self, name: str, origin: Origin) -> None:
        def edit(table: UserTable, sessions: Sessions) -> None:
            table.remove(name)
            sessions.revoke_all_for_user(name)

        await self.store.change(edit)
        self._log("user_deleted", origin, origin.user, target=name)

    async def flush(self) -> None:
        """Wait for a pending background save (session last-seen times); at shutdown."""
        await self.store.flush()


__all__ = [
    "MAX_CONCURRENT_HASHES",
    "Accounts",
    "Credential",
    "JournalRecord",
    "LoginThrottledError",
    "Session",
    "Via",
]
