"""The users file (SPEC §9): its JSON document, written and read back. No I/O.

It holds users with their password hashes and token digests, and session digests —
never a secret. The adapter (``kvmswitchd.userstore``) writes and reads the bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from kvmswitchd.core.accounts import (
    MAX_NAME_LEN,
    ApiToken,
    Session,
    Sessions,
    User,
    UserTable,
    check_name,
    parse_role,
)
from kvmswitchd.core.permissions import parse_restrictions, restrictions_json
from kvmswitchd.errors import KvmError, StateFileError

USERS_VERSION = 1
# A users file bigger than this is not ours (MAX_USERS users with their tokens and
# sessions fit in well under a megabyte); stops us from parsing an arbitrary blob.
MAX_USERS_FILE = 4 << 20


def users_document(table: UserTable, sessions: Sessions) -> bytes:
    """The users file: users with password hashes and token digests, session digests."""
    doc = {
        "version": USERS_VERSION,
        "users": [
            {
                "name": u.name,
                "role": str(u.role),
                "password_hash": u.password_hash,
                "ports": restrictions_json(u.ports),
                "tokens": [
                    {
                        "id": t.id,
                        "name": t.name,
                        "digest": t.digest,
                        "created": t.created,
                        "expires": t.expires,
                    }
                    for t in u.tokens
                ],
                "created": u.created,
            }
            for u in table
        ],
        "sessions": [
            {"digest": s.digest, "user": s.user, "created": s.created, "last_seen": s.last_seen}
            for s in sessions
        ],
    }
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def parse_users_document(raw: bytes) -> tuple[list[User], list[Session]]:
    """Users and sessions from the users file; StateFileError naming what is wrong."""
    try:
        return _parse_users(raw)
    except (ValueError, TypeError, KeyError, RecursionError, KvmError) as exc:
        raise StateFileError(f"the users file is unusable: {exc}") from None


def _parse_users(raw: bytes) -> tuple[list[User], list[Session]]:
    if len(raw) > MAX_USERS_FILE:
        raise ValueError(f"file is {len(raw)} bytes, over {MAX_USERS_FILE}")
    doc = json.loads(raw)
    if not isinstance(doc, dict) or doc.get("version") != USERS_VERSION:
        raise ValueError("not a version 1 users document")
    users = [_user(u) for u in doc["users"]]
    sessions = [
        Session(
            str(s["digest"]), check_name(s["user"]), _float(s["created"]), _float(s["last_seen"])
        )
        for s in doc["sessions"]
    ]
    if len({u.name for u in users}) != len(users):
        raise ValueError("a user name appears twice")
    return users, sessions


def _user(doc: Mapping[str, object]) -> User:
    tokens = doc["tokens"]
    if not isinstance(tokens, list) or not isinstance(doc["password_hash"], str):
        raise TypeError(f"user {str(doc.get('name'))[:MAX_NAME_LEN]!r} is malformed")
    return User(
        name=check_name(doc["name"]),
        role=parse_role(doc["role"]),
        password_hash=doc["password_hash"],
        ports=parse_restrictions(doc["ports"], f"user {doc['name']} ports"),
        tokens=tuple(_token(t) for t in tokens),
        created=_float(doc["created"]),
    )


def _token(doc: Mapping[str, object]) -> ApiToken:
    expires = doc.get("expires")  # absent in files written before tokens could expire
    return ApiToken(
        str(doc["id"]),
        str(doc["name"]),
        str(doc["digest"]),
        _float(doc["created"]),
        None if expires is None else _float(expires),
    )


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)
