"""Password checks (SPEC §9): argon2 off the event loop, and throttled guesses.

Hashing is slow and memory-hungry on purpose; at most ``MAX_CONCURRENT_HASHES`` run at
once and each attempt re-checks the throttle when its turn comes, so a burst of
guesses gets no more tries than the throttle allows. An unknown user costs the same
time as a known one, so names don't leak. Nothing here logs a password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kvmswitchd.core.accounts import (
    MAX_NAME_LEN,
    MAX_PASSWORD_LEN,
    NAME_RE,
    Throttle,
    ThrottlePolicy,
    User,
)
from kvmswitchd.core.commands import Origin
from kvmswitchd.credentials import AccountLog
from kvmswitchd.errors import AuthError, InputError

# argon2 hashes running at once (each takes ~64 MiB and tens of ms of CPU on purpose);
# stops a burst of logins from exhausting memory. Others wait their turn.
MAX_CONCURRENT_HASHES = 2


class LoginThrottledError(AuthError):
    """Too many failed logins from this client or for this user: wait ``retry_after`` s."""

    code = "throttled"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class Passwords:
    def __init__(
        self,
        users: Callable[[str], User | None],
        report: AccountLog,
        *,
        clock: Callable[[], float],
        secret: Callable[[], str],
        hasher: PasswordHasher | None = None,
        throttle: ThrottlePolicy | None = None,
    ) -> None:
        self._users = users
        self._report = report
        self._clock = clock
        self._secret = secret
        self._hasher = hasher or PasswordHasher()
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        self._dummy_hash: str | None = None
        self.throttle = Throttle(throttle)

    async def check(
        self, name: object, password: object, origin: Origin, *, record: bool
    ) -> tuple[User, str | None]:
        """The user whose password this is, and a stronger hash of it when the hashing
        parameters rose since it was set (for the caller to save), else None."""
        if not isinstance(name, str) or not isinstance(password, str):
            raise InputError("name and password must be strings")
        if len(password) > MAX_PASSWORD_LEN:
            raise InputError(f"password must be at most {MAX_PASSWORD_LEN} characters")
        valid_name = len(name) <= MAX_NAME_LEN and NAME_RE.fullmatch(name) is not None
        keys = (self.key_of(origin),) + ((f"user:{name}",) if valid_name else ())
        self.not_throttled(keys, origin, "login", record=record)
        user = self._users(name) if valid_name else None
        hashed = user.password_hash if user else None
        ok = await self._verify(hashed, password, keys, origin, record=record)
        if ok:  # the password may have changed, or the user gone, while we verified
            user = self._users(name)
            ok = user is not None and user.password_hash == hashed
        if user is None or not ok:
            now = self._clock()
            for key in keys:
                self.throttle.failure(key, now)
            if record:  # an unknown "name" may be a password typed in the wrong box
                self._report(
                    "login_failed",
                    origin,
                    user.name if user else None,
                    reason="wrong password" if user else "unknown user",
                )
            raise AuthError("wrong user name or password")
        self.throttle.success(f"user:{name}")
        rehashed = None
        if self._hasher.check_needs_rehash(user.password_hash):  # hashing parameters rose
            rehashed = await self.hash(password)
        return user, rehashed

    def not_throttled(
        self, keys: tuple[str, ...], origin: Origin, what: str, *, record: bool = True
    ) -> None:
        now = self._clock()
        wait = max((self.throttle.check(k, now) or 0.0) for k in keys)
        if wait > 0:
            if record:
                self._report(
                    "login_failed",
                    origin,
                    None,
                    reason=f"{what} throttled",
                    retry_after=round(wait, 1),
                )
            raise LoginThrottledError(wait)

    async def hash(self, password: str) -> str:
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
            self.not_throttled(keys, origin, "login", record=record)
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

    @staticmethod
    def key_of(origin: Origin) -> str:
        """The throttle key of a client."""
        return f"from:{origin.source}:{origin.detail}"
