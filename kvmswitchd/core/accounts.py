"""Accounts, sessions and login throttling (SPEC §9): values and rules, no I/O.

Secrets (session ids, bearer tokens) are made by the adapter and reach this module only
to be hashed: tables keep their SHA-256 (``digest_of``), so a leaked users file or a
memory dump of these tables does not leak a usable credential. Password hashing
(argon2) is the adapter's; here a hash is an opaque string. Time is ``now``, wall-clock
seconds from the adapter, because sessions and tokens outlive a restart.
"""

from __future__ import annotations

import collections
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from kvmswitchd.core.permissions import PortRestrictions, Role
from kvmswitchd.errors import BusyError, InputError, NotFoundError

# User names: short, printable, safe in a log line, a URL path and a serial prompt.
MAX_NAME_LEN = 64
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD_LEN = 8
# argon2 pre-hashes any length cheaply, but a multi-megabyte "password" still costs a
# copy per hashing thread and a big request body; nobody types more than this.
MAX_PASSWORD_LEN = 1024
# Accounts in one unit; stops a compromised admin session from growing the users file
# (loaded whole at start) without bound.
MAX_USERS = 256
# Bearer tokens per user; each is checked in a table held in memory.
MAX_TOKENS_PER_USER = 16
MAX_TOKEN_NAME_LEN = 64
# Longest lifetime a bearer token may be given (``expires_in``): ten years. Stops a float
# overflow (1e308 s) and keeps every expiry a plain timestamp.
MAX_TOKEN_LIFETIME = 10 * 366 * 24 * 3600.0
# Live sessions per user; a login beyond this ends the oldest, so a login loop cannot
# grow memory or the users file.
MAX_SESSIONS_PER_USER = 32
# Longest credential (cookie value, bearer token, setup token) we even hash; ours are
# 43..48 characters.
MAX_CREDENTIAL_LEN = 256

IDLE_TIMEOUT = 12 * 3600.0
ABSOLUTE_TIMEOUT = 7 * 24 * 3600.0
# A session's last-seen time is moved (and saved) at most this often, so a busy browser
# does not rewrite the users file on every request; idle expiry is exact to this.
TOUCH_GRANULARITY = 60.0


def digest_of(secret: str) -> str:
    """What we store instead of a session id or token: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InputError(
            "user name must be 1..64 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: object) -> str:
    if not isinstance(password, str):
        raise InputError("password must be a string")
    if len(password) < MIN_PASSWORD_LEN:
        raise InputError(f"password must be at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise InputError(f"password must be at most {MAX_PASSWORD_LEN} characters")
    return password


def parse_role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise InputError("role must be admin, operator or viewer") from None


def parse_lifetime(value: object) -> float | None:
    """A token's ``expires_in``: seconds from now (1..MAX_TOKEN_LIFETIME), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError("expires_in must be a number of seconds")
    if not 1 <= value <= MAX_TOKEN_LIFETIME:
        raise InputError(f"expires_in must be 1..{MAX_TOKEN_LIFETIME:.0f} seconds")
    return float(value)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token for scripts; only ``digest`` identifies the secret. ``expires`` is
    the wall-clock second from which it is refused (None: until revoked)."""

    id: str
    name: str
    digest: str = field(repr=False)
    created: float
    expires: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def view(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "created": self.created, "expires": self.expires}


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    password_hash: str = field(repr=False)
    ports: PortRestrictions = field(default_factory=dict)
    tokens: tuple[ApiToken, ...] = ()
    created: float = 0.0


class UserTable:
    """The accounts of the unit and their invariants (unique names, caps, an admin)."""

    def __init__(self, users: Mapping[str, User] | None = None) -> None:
        self._users: dict[str, User] = dict(users or {})

    def copy(self) -> UserTable:
        """A table to change: the adapter edits a copy, saves it, then swaps it in."""
        return UserTable(self._users)

    def __len__(self) -> int:
        return len(self._users)

    def __iter__(self) -> Iterator[User]:
        return iter(sorted(self._users.values(), key=lambda u: u.name))

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def require(self, name: str) -> User:
        user = self._users.get(name)
        if user is None:
            raise NotFoundError(f"no user {name[:MAX_NAME_LEN]!r}")
        return user

    def add(self, user: User) -> None:
        check_name(user.name)
        if user.name in self._users:
            raise BusyError(f"user {user.name!r} already exists")
        if len(self._users) >= MAX_USERS:
            raise BusyError(f"this unit already has the maximum of {MAX_USERS} users")
        self._users[user.name] = user

    def replace(self, user: User) -> None:
        old = self.require(user.name)
        if old.role is Role.ADMIN and user.role is not Role.ADMIN:
            self._keep_an_admin(user.name, "demote")
        self._users[user.name] = user

    def remove(self, name: str) -> User:
        user = self.require(name)
        if user.role is Role.ADMIN:
            self._keep_an_admin(name, "delete")
        del self._users[name]
        return user

    def _keep_an_admin(self, name: str, verb: str) -> None:
        if not any(u.role is Role.ADMIN for u in self._users.values() if u.name != name):
            raise BusyError(f"cannot {verb} {name!r}: it is the last admin")

    # -- bearer tokens ------------------------------------------------------------

    def add_token(self, name: str, token: ApiToken) -> User:
        user = self.require(name)
        if len(user.tokens) >= MAX_TOKENS_PER_USER:
            raise BusyError(f"{name!r} already has {MAX_TOKENS_PER_USER} tokens; revoke one")
        if not token.name or len(token.name) > MAX_TOKEN_NAME_LEN or not token.name.isprintable():
            raise InputError(f"token name must be 1..{MAX_TOKEN_NAME_LEN} printable characters")
        if any(t.id == token.id for t in user.tokens):
            raise BusyError("token id collision; try again")
        updated = replace(user, tokens=(*user.tokens, token))
        self._users[name] = updated
        return updated

    def remove_token(self, name: str, token_id: str) -> ApiToken:
        user = self.require(name)
        for token in user.tokens:
            if token.id == token_id:
                rest = tuple(t for t in user.tokens if t.id != token_id)
                self._users[name] = replace(user, tokens=rest)
                return token
        raise NotFoundError(f"no token {token_id[:32]!r} for {name!r}")

    def by_token(self, secret: str, now: float) -> tuple[User, ApiToken] | None:
        """The user and live token for ``secret``; None when unknown or expired."""
        if not secret or len(secret) > MAX_CREDENTIAL_LEN:
            return None
        digest = digest_of(secret)
        for user in self._users.values():
            for token in user.tokens:
                if token.digest == digest:
                    return None if token.expired(now) else (user, token)
        return None

    def has_expired_tokens(self, now: float) -> bool:
        return any(t.expired(now) for u in self._users.values() for t in u.tokens)

    def prune_tokens(self, now: float) -> int:
        """Drop every expired token; how many went."""
        gone = 0
        for user in list(self._users.values()):
            live = tuple(t for t in user.tokens if not t.expired(now))
            if len(live) != len(user.tokens):
                gone += len(user.tokens) - len(live)
                self._users[user.name] = replace(user, tokens=live)
        return gone


@dataclass(frozen=True, slots=True)
class Session:
    digest: str = field(repr=False)
    user: str
    created: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: float = IDLE_TIMEOUT
    absolute: float = ABSOLUTE_TIMEOUT

    def expires(self, session: Session) -> float:
        return min(session.last_seen + self.idle, session.created + self.absolute)


class Sessions:
    """Live login sessions, keyed by the digest of their id."""

    def __init__(self, policy: SessionPolicy | None = None) -> None:
        self.policy = policy or SessionPolicy()
        self._by_digest: dict[str, Session] = {}

    def copy(self) -> Sessions:
        """Sessions to change: edited as a copy, saved, then swapped in (as ``UserTable``)."""
        other = Sessions(self.policy)
        other._by_digest = dict(self._by_digest)
        return other

    def __len__(self) -> int:
        return len(self._by_digest)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_digest.values()))

    def restore(self, session: Session) -> None:
        self._by_digest[session.digest] = session

    def create(self, user: str, secret: str, now: float) -> Session:
        session = Session(digest_of(secret), user, now, now)
        mine = sorted(
            (s for s in self._by_digest.values() if s.user == user), key=lambda s: s.created
        )
        for old in mine[: max(0, len(mine) - MAX_SESSIONS_PER_USER + 1)]:
            del self._by_digest[old.digest]
        self._by_digest[session.digest] = session
        return session

    def lookup(self, secret: str, now: float) -> Session | None:
        """The live session for ``secret``, or None (an expired one is dropped)."""
        if not secret or len(secret) > MAX_CREDENTIAL_LEN:
            return None
        session = self._by_digest.get(digest_of(secret))
        if session is None:
            return None
        if now >= self.policy.expires(session):
            del self._by_digest[session.digest]
            return None
        return session

    def get(self, digest: str, now: float) -> Session | None:
        """Like ``lookup`` for a digest already known (a websocket re-checking its login)."""
        session = self._by_digest.get(digest)
        if session is None or now >= self.policy.expires(session):
            return None
        return session

    def touch(self, session: Session, now: float) -> bool:
        """Record use; True when the change is worth saving (see TOUCH_GRANULARITY)."""
        if now - session.last_seen < TOUCH_GRANULARITY or session.digest not in self._by_digest:
            return False
        self._by_digest[session.digest] = replace(session, last_seen=now)
        return True

    def expires(self, session: Session) -> float:
        return self.policy.expires(session)

    def revoke(self, digest: str) -> Session | None:
        return self._by_digest.pop(digest, None)

    def revoke_all_for_user(self, user: str) -> int:
        gone = [d for d, s in self._by_digest.items() if s.user == user]
        for digest in gone:
            del self._by_digest[digest]
        return len(gone)

    def purge(self, now: float) -> int:
        """Drop expired sessions; how many went."""
        gone = [d for d, s in self._by_digest.items() if now >= self.policy.expires(s)]
        for digest in gone:
            del self._by_digest[digest]
        return len(gone)


# Failed logins per key (a user name, a client address) before each further attempt
# must wait; then BASE_DELAY seconds, doubling per failure, at most MAX_DELAY.
FREE_FAILURES = 5
BASE_DELAY = 1.0
MAX_DELAY = 300.0
# A key with no failure for this long starts over.
FORGET_AFTER = 3600.0
# Keys tracked at once; the least recently failed is forgotten beyond this, so a spray
# of user names or addresses cannot grow memory without bound.
MAX_TRACKED = 10_000


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    free_failures: int = FREE_FAILURES
    base_delay: float = BASE_DELAY
    max_delay: float = MAX_DELAY
    forget_after: float = FORGET_AFTER
    max_tracked: int = MAX_TRACKED


@dataclass(frozen=True, slots=True)
class _Failures:
    count: int
    last: float
    blocked_until: float


class Throttle:
    """Exponential back-off after repeated failed logins, per key."""

    def __init__(self, policy: ThrottlePolicy | None = None) -> None:
        self.policy = policy or ThrottlePolicy()
        self._keys: collections.OrderedDict[str, _Failures] = collections.OrderedDict()

    def check(self, key: str, now: float) -> float | None:
        """Seconds ``key`` must still wait, or None when an attempt is allowed now."""
        entry = self._current(key, now)
        if entry is None or now >= entry.blocked_until:
            return None
        return entry.blocked_until - now

    def failure(self, key: str, now: float) -> None:
        entry = self._current(key, now)
        count = 1 if entry is None else entry.count + 1
        blocked = now
        if count >= self.policy.free_failures:
            exponent = min(count - self.policy.free_failures, 30)  # 2**30 s ≫ max_delay
            blocked = now + min(self.policy.max_delay, self.policy.base_delay * 2**exponent)
        self._keys[key] = _Failures(count, now, blocked)
        self._keys.move_to_end(key)
        while len(self._keys) > self.policy.max_tracked:
            self._keys.popitem(last=False)

    def success(self, key: str) -> None:
        self._keys.pop(key, None)

    def failures(self, key: str, now: float) -> int:
        entry = self._current(key, now)
        return 0 if entry is None else entry.count

    def _current(self, key: str, now: float) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and now - entry.last >= self.policy.forget_after:
            del self._keys[key]
            return None
        return entry
