"""The user table's invariants and the users file document (SPEC §9)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.core.accounts import (
    MAX_PASSWORD_LEN,
    MAX_TOKENS_PER_USER,
    MAX_USERS,
    ApiToken,
    Sessions,
    User,
    UserTable,
    check_name,
    check_password,
    digest_of,
)
from kvmswitchd.core.permissions import Permission, Role
from kvmswitchd.core.usersfile import parse_users_document, users_document
from kvmswitchd.errors import BusyError, InputError, NotFoundError, StateFileError

HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"


def user(name: str, role: Role = Role.OPERATOR) -> User:
    return User(name, role, HASH, created=1.0)


def test_the_last_admin_can_be_neither_deleted_nor_demoted() -> None:
    table = UserTable()
    table.add(user("root", Role.ADMIN))
    with pytest.raises(BusyError, match="last admin"):
        table.remove("root")
    with pytest.raises(BusyError, match="last admin"):
        table.replace(user("root", Role.VIEWER))
    table.add(user("second", Role.ADMIN))
    table.replace(user("root", Role.VIEWER))
    with pytest.raises(BusyError, match="last admin"):
        table.remove("second")


def test_names_are_unique_and_the_user_count_is_capped() -> None:
    table = UserTable()
    table.add(user("a"))
    with pytest.raises(BusyError, match="exists"):
        table.add(user("a"))
    for n in range(MAX_USERS - 1):
        table.add(user(f"u{n}"))
    with pytest.raises(BusyError, match="maximum"):
        table.add(user("one-too-many"))


def test_unknown_users_are_not_found() -> None:
    with pytest.raises(NotFoundError):
        UserTable().require("ghost")


@pytest.mark.parametrize("name", ["", "-dash", "a b", "x" * 65, "é", "a/b", "a\nb", None, 3])
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(InputError):
        check_name(name)


@pytest.mark.parametrize("password", ["short", "x" * (MAX_PASSWORD_LEN + 1), None, 12345678])
def test_passwords_must_be_8_to_1024_characters(password: object) -> None:
    with pytest.raises(InputError):
        check_password(password)


def test_tokens_are_found_by_their_secret_and_capped_per_user() -> None:
    table = UserTable()
    table.add(user("bot"))
    for n in range(MAX_TOKENS_PER_USER):
        table.add_token("bot", ApiToken(f"id{n}", f"t{n}", digest_of(f"secret{n}"), 1.0))
    with pytest.raises(BusyError):
        table.add_token("bot", ApiToken("idx", "tx", digest_of("x"), 1.0))
    found = table.by_token("secret3", 2.0)
    assert found is not None
    assert found[1].id == "id3"
    table.remove_token("bot", "id3")
    assert table.by_token("secret3", 2.0) is None
    with pytest.raises(NotFoundError):
        table.remove_token("bot", "id3")


def test_the_document_round_trips_users_tokens_restrictions_and_sessions() -> None:
    table = UserTable()
    alice = User(
        "alice",
        Role.OPERATOR,
        HASH,
        {Permission.SWITCH: frozenset({"1", "2.4"})},
        (ApiToken("abc", "ci", digest_of("tok"), 5.0),),
        2.0,
    )
    table.add(alice)
    table.add(user("root", Role.ADMIN))
    sessions = Sessions()
    sessions.create("alice", "sid", 10.0)
    users, restored = parse_users_document(users_document(table, sessions))
    assert {u.name: u for u in users}["alice"] == alice
    assert [(s.user, s.digest) for s in restored] == [("alice", digest_of("sid"))]


def test_the_document_holds_digests_never_the_secrets() -> None:
    table = UserTable()
    table.add(User("alice", Role.ADMIN, HASH, tokens=(ApiToken("i", "n", digest_of("TOK"), 1),)))
    sessions = Sessions()
    sessions.create("alice", "SESSIONID", 1.0)
    text = users_document(table, sessions).decode()
    assert 'TOK"' not in text
    assert "SESSIONID" not in text
    assert digest_of("SESSIONID") in text


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"{}",
        b'{"version": 2}',
        b'{"version": 1, "users": [], "sessions": [{}]}',
        json.dumps({"version": 1, "users": [{"name": "a"}], "sessions": []}).encode(),
        json.dumps(
            {
                "version": 1,
                "sessions": [],
                "users": [
                    {
                        "name": "a",
                        "role": "god",
                        "password_hash": "x",
                        "ports": {},
                        "tokens": [],
                        "created": 1,
                    }
                ],
            }
        ).encode(),
        json.dumps(
            {
                "version": 1,
                "sessions": [],
                "users": [
                    {
                        "name": "a",
                        "role": "admin",
                        "password_hash": "x",
                        "ports": {},
                        "tokens": [],
                        "created": 1,
                    }
                ]
                * 2,
            }
        ).encode(),
    ],
)
def test_a_broken_users_file_is_a_clean_state_file_error(raw: bytes) -> None:
    with pytest.raises(StateFileError, match="users file"):
        parse_users_document(raw)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_users_file_parser(raw: bytes) -> None:
    with contextlib.suppress(StateFileError):
        parse_users_document(raw)
