"""Persist first, then commit (issue 12, item 2): every operation that writes the users
file, with the write failing, leaves memory and the file exactly as they were."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvmswitchd.accounts import Accounts, Credential
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.permissions import Permission, Role
from kvmswitchd.core.usersfile import users_document
from kvmswitchd.errors import BusyError, SaveError
from tests.accounts.fakes import HTTP, PASSWORD, Clock, Disk, Journal, Secrets, make_accounts

ADMIN = Origin(Source.HTTP, "192.0.2.7", user="root")


@dataclass
class World:
    accounts: Accounts
    disk: Disk
    clock: Clock
    journal: Journal
    root_session: Credential
    bob_session: str
    bob_token: str
    bob_token_id: str
    bob_bearer: Credential


async def world(tmp_path: Path) -> World:
    clock, journal, disk = Clock(), Journal(), Disk()
    accounts = make_accounts(tmp_path, clock, journal, Secrets(), disk)
    token = accounts.setup_token()
    _, root = await accounts.setup(token, "root", PASSWORD, HTTP)
    await accounts.create_user(
        "bob", PASSWORD, Role.OPERATOR, {Permission.SWITCH: frozenset({"1"})}, ADMIN
    )
    _, bob = await accounts.login("bob", PASSWORD, HTTP)
    made, secret = await accounts.create_token("bob", "ci", HTTP, expires_in=3600)
    root_found = accounts.resolve_session(root)
    bearer = accounts.resolve_bearer(secret)
    assert root_found is not None and bearer is not None
    return World(accounts, disk, clock, journal, root_found[1], bob, secret, made.id, bearer[1])


def memory(accounts: Accounts) -> bytes:
    """Everything the accounts hold, as the users file would have it."""
    return users_document(accounts.table, accounts.sessions)


Operation = Callable[[World], Awaitable[object]]
OPERATIONS: dict[str, Operation] = {
    "login": lambda w: w.accounts.login("bob", PASSWORD, HTTP),
    "logout": lambda w: w.accounts.logout(w.root_session, HTTP),
    "logout everywhere": lambda w: w.accounts.logout(w.root_session, HTTP, everywhere=True),
    "change password by session": lambda w: w.accounts.change_password(
        w.root_session, PASSWORD, "a brand new password", HTTP
    ),
    "change password by bearer token": lambda w: w.accounts.change_password(
        w.bob_bearer, PASSWORD, "a brand new password", HTTP
    ),
    "mint a token": lambda w: w.accounts.create_token("bob", "another", HTTP),
    "mint an expiring token": lambda w: w.accounts.create_token(
        "bob", "brief", HTTP, expires_in=60
    ),
    "revoke a token": lambda w: w.accounts.revoke_token("bob", w.bob_token_id, HTTP),
    "create a user": lambda w: w.accounts.create_user("carol", PASSWORD, Role.VIEWER, {}, ADMIN),
    "patch a role": lambda w: w.accounts.update_user("bob", ADMIN, role=Role.VIEWER),
    "patch ports": lambda w: w.accounts.update_user(
        "bob", ADMIN, ports={Permission.SWITCH: frozenset({"2"})}
    ),
    "patch a password": lambda w: w.accounts.update_user(
        "bob", ADMIN, password="reset by the admin"
    ),
    "patch everything": lambda w: w.accounts.update_user(
        "bob", ADMIN, role=Role.ADMIN, ports={}, password="reset by the admin"
    ),
    "delete a user": lambda w: w.accounts.delete_user("bob", ADMIN),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_a_failed_save_leaves_memory_and_the_file_as_they_were(
    tmp_path: Path, name: str
) -> None:
    w = await world(tmp_path)
    before_memory, before_file = memory(w.accounts), w.accounts.path.read_bytes()
    logged = len(w.journal.records)
    w.disk.full = True
    with pytest.raises(SaveError, match=r"No space left on device.*nothing was changed"):
        await OPERATIONS[name](w)
    assert memory(w.accounts) == before_memory
    assert w.accounts.path.read_bytes() == before_file
    assert w.journal.kinds()[logged:] == []  # no change was logged as made
    # every credential works as before
    assert w.accounts.resolve_session(w.bob_session) is not None
    assert w.accounts.resolve_bearer(w.bob_token) is not None
    assert w.accounts.recheck(w.root_session).name == "root"
    assert [t.id for t in w.accounts.tokens("bob")] == [w.bob_token_id]
    # and once the disk has room again, the same operation works
    w.disk.full = False
    await OPERATIONS[name](w)
    assert memory(w.accounts) != before_memory
    assert w.accounts.path.read_bytes() != before_file


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_each_operation_saves_exactly_what_memory_then_holds(
    tmp_path: Path, name: str
) -> None:
    w = await world(tmp_path)
    await OPERATIONS[name](w)
    assert w.accounts.path.read_bytes() == memory(w.accounts)


async def test_setup_with_a_failing_save_creates_no_admin_and_the_token_still_works(
    tmp_path: Path,
) -> None:
    disk = Disk()
    accounts = make_accounts(tmp_path, Clock(), Journal(), Secrets(), disk)
    token = accounts.setup_token()
    disk.full = True
    with pytest.raises(SaveError):
        await accounts.setup(token, "root", PASSWORD, HTTP)
    assert accounts.needs_setup and len(accounts.sessions) == 0
    assert not accounts.path.exists()
    assert accounts.setup_path.exists()
    disk.full = False
    await accounts.setup(token, "root", PASSWORD, HTTP)
    assert not accounts.needs_setup


async def test_a_failed_background_save_of_session_times_keeps_serving(tmp_path: Path) -> None:
    w = await world(tmp_path)
    w.disk.full = True
    w.clock.now += 120  # past the touch granularity: this lookup is saved in the background
    assert w.accounts.resolve_session(w.bob_session) is not None
    await w.accounts.flush()
    assert w.accounts.resolve_session(w.bob_session) is not None


async def test_concurrent_changes_never_overwrite_each_other(tmp_path: Path) -> None:
    w = await world(tmp_path)
    await asyncio.gather(
        *(w.accounts.create_user(f"u{n}", PASSWORD, Role.VIEWER, {}, ADMIN) for n in range(6)),
        *(w.accounts.create_token("bob", f"t{n}", HTTP) for n in range(6)),
    )
    assert {f"u{n}" for n in range(6)} <= {u.name for u in w.accounts.table}
    assert len(w.accounts.tokens("bob")) == 7
    assert w.accounts.path.read_bytes() == memory(w.accounts)


async def test_setup_succeeds_when_the_used_token_file_cannot_be_removed(tmp_path: Path) -> None:
    accounts = make_accounts(tmp_path, Clock(), Journal(), Secrets())
    token = accounts.setup_token()
    accounts.setup_path.unlink()
    accounts.setup_path.mkdir()  # unlink() of a directory fails
    (accounts.setup_path / "keep").write_text("x")
    user, session = await accounts.setup(token, "root", PASSWORD, HTTP)
    assert user.name == "root" and accounts.resolve_session(session) is not None
    with pytest.raises(BusyError):  # setup is done: the token is spent all the same
        await accounts.setup(token, "other", PASSWORD, HTTP)
