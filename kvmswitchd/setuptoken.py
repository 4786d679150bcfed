"""The one-time setup token (SPEC §9): it alone may create the first admin.

Made at a start with no users, written to ``setup-token`` (mode 0600) for the person at
the console, kept in memory only as its digest, and gone once the admin exists.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from pathlib import Path

from kvmswitchd.core.accounts import MAX_CREDENTIAL_LEN, digest_of
from kvmswitchd.userstore import Writer

log = logging.getLogger(__name__)

SETUP_MODE = 0o600


class SetupToken:
    def __init__(self, path: Path, *, secret: Callable[[], str], writer: Writer) -> None:
        self.path = path
        self._secret = secret
        self._write = writer
        self._digest: str | None = None

    def issue(self) -> str:
        """A new token, written to ``path`` (an earlier one stops working)."""
        token = self._secret()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write(self.path, (token + "\n").encode(), SETUP_MODE)
        self._digest = digest_of(token)
        log.warning("no users yet: create the first admin with the setup token in %s", self.path)
        return token

    def matches(self, token: object) -> bool:
        """Whether ``token`` is the one issued (compared in constant time)."""
        return (
            isinstance(token, str)
            and len(token) <= MAX_CREDENTIAL_LEN
            and self._digest is not None
            and hmac.compare_digest(digest_of(token), self._digest)
        )

    def discard(self) -> None:
        """Setup is done (or not needed): the token stops working and its file goes."""
        self._digest = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:  # the admin exists either way; the token no longer works
            log.warning("cannot remove the used setup token file %s: %s", self.path, exc)
