"""The accounts adapter: setup token, argon2 hashes, the users file, sessions, tokens,
throttling and the event log (SPEC §9)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from kvmswitchd.accounts import MAX_CONCURRENT_HASHES, Accounts, LoginThrottledError, Via
from kvmswitchd.core.accounts import FREE_FAILURES, IDLE_TIMEOUT, User
from kvmswitchd.core.commands import Origin, Source
from kvmswitchd.core.permissions import Permission, Role
from kvmswitchd.errors import (
    AuthError,
    BusyError,
    InputError,
    NotFoundError,
    PermissionDenied,
    SaveError,
    StateFileError,
)
from tests.accounts.fakes import HTTP, PASSWORD, Clock, Journal, Secrets, make_accounts


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def secrets() -> Secrets:
    return Secrets()


@pytest.fixture
def accounts(tmp_path: Path, clock: Clock, journal: Journal, secrets: Secrets) -> Accounts:
    return make_accounts(tmp_path, clock, journal, secrets)


async def with_admin(accounts: Accounts) -> tuple[User, str]:
    token = accounts.setup_token()
    assert token is not None
    return await accounts.setup(token, "root", PASSWORD, HTTP)


# -- setup ------------------------------------------------------------------------------


def test_first_start_writes_a_setup_token_file_readable_only_by_the_daemon(
    accounts: Accounts,
) -> None:
    token = accounts.setup_token()
    assert token is not None
    assert accounts.setup_path.read_text().strip() == token
    assert mode_of(accounts.setup_path) == 0o600


async def test_setup_creates_the_first_admin_and_deletes_the_token_file(
    accounts: Accounts, journal: Journal
) -> None:
    user, session = await with_admin(accounts)
    assert user.role is Role.ADMIN
    assert not accounts.setup_path.exists()
    assert not accounts.needs_setup
    assert accounts.resolve_session(session) is not None
    assert journal.last("setup").user == "root"
    assert accounts.setup_token() is None


async def test_a_wrong_setup_token_is_refused_and_logged(
    accounts: Accounts, journal: Journal
) -> None:
    accounts.setup_token()
    with pytest.raises(AuthError):
        await accounts.setup("guess", "root", PASSWORD, HTTP)
    assert journal.last("login_failed").detail["reason"] == "bad setup token"
    assert accounts.needs_setup


async def test_setup_works_once(accounts: Accounts) -> None:
    token = accounts.setup_token()
    await accounts.setup(token, "root", PASSWORD, HTTP)
    with pytest.raises(BusyError):
        await accounts.setup(token, "evil", PASSWORD, HTTP)


async def test_a_stale_setup_token_file_is_removed_once_users_exist(
    tmp_path: Path, accounts: Accounts, clock: Clock, journal: Journal
) -> None:
    await with_admin(accounts)
    accounts.setup_path.write_text("stale\n")
    again = make_accounts(tmp_path, clock, journal)
    assert again.setup_token() is None
    assert not again.setup_path.exists()


# -- the users file ---------------------------------------------------------------------


async def test_the_users_file_is_0600_with_argon2_hashes_and_no_secret_in_it(
    accounts: Accounts, secrets: Secrets
) -> None:
    _, session = await with_admin(accounts)
    _, token = await accounts.create_token("root", "ci", HTTP)
    assert mode_of(accounts.path) == 0o600
    text = accounts.path.read_text()
    assert "$argon2id$" in text
    assert PASSWORD not in text
    for secret in [*secrets.made, session, token]:
        assert secret not in text


async def test_users_sessions_and_tokens_survive_a_restart(
    tmp_path: Path, accounts: Accounts, clock: Clock, journal: Journal
) -> None:
    _, session = await with_admin(accounts)
    _, token = await accounts.create_token("root", "ci", HTTP)
    again = make_accounts(tmp_path, clock, journal)
    assert not again.needs_setup
    assert again.resolve_session(session) is not None
    assert again.resolve_bearer(token) is not None
    user, _ = await again.login("root", PASSWORD, HTTP)
    assert user.name == "root"


def test_a_corrupt_users_file_stops_the_start_rather_than_reopening_setup(
    tmp_path: Path, clock: Clock, journal: Journal
) -> None:
    (tmp_path / "users.json").write_text("{not json")
    with pytest.raises(StateFileError):
        make_accounts(tmp_path, clock, journal)


# -- logging in -------------------------------------------------------------------------


async def test_login_gives_a_session_and_is_logged_with_user_and_remote(
    accounts: Accounts, journal: Journal
) -> None:
    await with_admin(accounts)
    user, session = await accounts.login("root", PASSWORD, HTTP)
    found = accounts.resolve_session(session)
    assert found is not None
    assert found[0] == user
    assert found[1].via is Via.SESSION
    record = journal.last("login")
    assert (record.user, record.detail["remote"]) == ("root", "192.0.2.7")


async def test_a_wrong_password_or_unknown_user_is_the_same_refusal(
    accounts: Accounts, journal: Journal
) -> None:
    await with_admin(accounts)
    with pytest.raises(AuthError, match="wrong user name or password"):
        await accounts.login("root", "not the password", HTTP)
    assert journal.last("login_failed").user == "root"
    with pytest.raises(AuthError, match="wrong user name or password"):
        await accounts.login(PASSWORD, "whatever1", HTTP)  # a password in the name box
    failed = journal.last("login_failed")
    assert failed.user is None
    assert PASSWORD not in repr(failed)


async def test_repeated_failures_throttle_the_user_even_with_the_right_password(
    accounts: Accounts, clock: Clock, journal: Journal
) -> None:
    await with_admin(accounts)
    for _ in range(FREE_FAILURES):
        with pytest.raises(AuthError):
            await accounts.login("root", "wrong password", Origin(Source.HTTP, "198.51.100.1"))
    with pytest.raises(LoginThrottledError) as info:
        await accounts.login("root", PASSWORD, Origin(Source.HTTP, "203.0.113.5"))
    assert info.value.retry_after > 0
    assert journal.last("login_failed").detail["reason"] == "login throttled"
    clock.now += info.value.retry_after
    await accounts.login("root", PASSWORD, HTTP)


async def test_repeated_failures_throttle_the_client_address_for_any_user(
    accounts: Accounts,
) -> None:
    await with_admin(accounts)
    for n in range(FREE_FAILURES):
        with pytest.raises(AuthError):
            await accounts.login(f"user{n}", "wrong password", HTTP)
    with pytest.raises(LoginThrottledError):
        await accounts.login("root", PASSWORD, HTTP)
    await accounts.login("root", PASSWORD, Origin(Source.HTTP, "192.0.2.8"))


async def test_serial_logins_share_the_checker_and_answer_a_name_or_none(
    accounts: Accounts, journal: Journal
) -> None:
    await with_admin(accounts)
    serial = Origin(Source.SERIAL, "ttyKVM0")
    assert await accounts.authenticate_password("root", PASSWORD, serial) == "root"
    assert journal.last("login").source == "serial"
    assert await accounts.authenticate_password("root", "nope nope", serial) is None
    assert await accounts.authenticate_password("root", "x" * 5000, serial) is None


async def test_sessions_expire_when_idle(accounts: Accounts, clock: Clock) -> None:
    _, session = await with_admin(accounts)
    found = accounts.resolve_session(session)
    assert found is not None
    clock.now += IDLE_TIMEOUT
    assert accounts.resolve_session(session) is None
    with pytest.raises(AuthError):
        accounts.recheck(found[1])


async def test_logout_revokes_the_session(accounts: Accounts, journal: Journal) -> None:
    _, session = await with_admin(accounts)
    _, other = await accounts.login("root", PASSWORD, HTTP)
    found = accounts.resolve_session(session)
    assert found is not None
    assert await accounts.logout(found[1], HTTP) == 1
    assert accounts.resolve_session(session) is None
    assert accounts.resolve_session(other) is not None
    assert journal.last("logout").user == "root"
    with pytest.raises(AuthError):
        accounts.recheck(found[1])


async def test_logout_everywhere_ends_every_session_of_the_user(accounts: Accounts) -> None:
    _, session = await with_admin(accounts)
    _, other = await accounts.login("root", PASSWORD, HTTP)
    found = accounts.resolve_session(session)
    assert found is not None
    assert await accounts.logout(found[1], HTTP, everywhere=True) == 2
    assert accounts.resolve_session(other) is None


async def test_a_password_change_revokes_every_session_and_token(
    accounts: Accounts, journal: Journal
) -> None:
    _, session = await with_admin(accounts)
    _, other = await accounts.login("root", PASSWORD, HTTP)
    _, token = await accounts.create_token("root", "ci", HTTP)
    found = accounts.resolve_session(session)
    assert found is not None
    fresh = await accounts.change_password(found[1], PASSWORD, "a new password!", HTTP)
    assert fresh is not None
    for old in (session, other):
        assert accounts.resolve_session(old) is None
    assert accounts.resolve_bearer(token) is None
    assert accounts.resolve_session(fresh) is not None
    assert journal.last("password_changed").detail["sessions_ended"] == 2
    with pytest.raises(AuthError):
        await accounts.login("root", PASSWORD, HTTP)
    await accounts.login("root", "a new password!", HTTP)


async def test_a_password_change_with_the_wrong_old_password_is_refused(
    accounts: Accounts, journal: Journal
) -> None:
    _, session = await with_admin(accounts)
    found = accounts.resolve_session(session)
    assert found is not None
    with pytest.raises(PermissionDenied, match="old password"):
        await accounts.change_password(found[1], "not it at all", "a new password!", HTTP)
    assert journal.last("refused").user == "root"
    with pytest.raises(InputError):
        await accounts.change_password(found[1], PASSWORD, "short", HTTP)
    assert accounts.resolve_session(session) is not None


# -- bearer tokens ----------------------------------------------------------------------


async def test_a_bearer_token_is_shown_once_listed_without_secret_and_revocable(
    accounts: Accounts, journal: Journal
) -> None:
    await with_admin(accounts)
    token, secret = await accounts.create_token("root", "backup script", HTTP)
    assert secret.startswith("kvmt_")
    assert secret not in repr(accounts.tokens("root"))
    assert [t.view() for t in accounts.tokens("root")] == [token.view()]
    found = accounts.resolve_bearer(secret)
    assert found is not None
    assert found[1].via is Via.BEARER
    await accounts.revoke_token("root", token.id, HTTP)
    assert accounts.resolve_bearer(secret) is None
    with pytest.raises(AuthError):
        accounts.recheck(found[1])
    assert journal.kinds()[-2:] == ["token_created", "token_revoked"]


async def test_logout_is_for_sessions_not_tokens(accounts: Accounts) -> None:
    await with_admin(accounts)
    _, secret = await accounts.create_token("root", "ci", HTTP)
    found = accounts.resolve_bearer(secret)
    assert found is not None
    with pytest.raises(InputError):
        await accounts.logout(found[1], HTTP)


# -- administration ---------------------------------------------------------------------


async def test_admins_create_update_and_delete_users_and_each_change_is_logged(
    accounts: Accounts, journal: Journal
) -> None:
    await with_admin(accounts)
    admin = Origin(Source.HTTP, "192.0.2.7", user="root")
    bob = await accounts.create_user(
        "bob", PASSWORD, Role.OPERATOR, {Permission.SWITCH: frozenset({"1"})}, admin
    )
    assert bob.ports == {Permission.SWITCH: frozenset({"1"})}
    _, session = await accounts.login("bob", PASSWORD, HTTP)
    updated = await accounts.update_user("bob", admin, role=Role.VIEWER)
    assert updated.role is Role.VIEWER
    assert accounts.resolve_session(session) is not None  # a role change keeps the login
    await accounts.update_user("bob", admin, password="reset by admin")
    assert accounts.resolve_session(session) is None  # a password reset does not
    await accounts.delete_user("bob", admin)
    with pytest.raises(NotFoundError):
        accounts.table.require("bob")
    created, updated_, deleted = (
        journal.last(k) for k in ("user_created", "user_updated", "user_deleted")
    )
    assert {created.user, updated_.user, deleted.user} == {"root"}
    assert deleted.detail["target"] == "bob"


async def test_deleting_a_user_ends_their_sessions(accounts: Accounts) -> None:
    await with_admin(accounts)
    admin = Origin(Source.HTTP, "192.0.2.7", user="root")
    await accounts.create_user("bob", PASSWORD, Role.OPERATOR, {}, admin)
    _, session = await accounts.login("bob", PASSWORD, HTTP)
    await accounts.delete_user("bob", admin)
    assert accounts.resolve_session(session) is None


async def test_the_last_admin_stays(accounts: Accounts) -> None:
    await with_admin(accounts)
    with pytest.raises(BusyError):
        await accounts.delete_user("root", HTTP)
    with pytest.raises(BusyError):
        await accounts.update_user("root", HTTP, role=Role.OPERATOR)


async def test_check_authorizes_a_named_user_and_logs_refusals(
    accounts: Accounts, journal: Journal
) -> None:
    await with_admin(accounts)
    admin = Origin(Source.HTTP, "192.0.2.7", user="root")
    await accounts.create_user("eve", PASSWORD, Role.VIEWER, {}, admin)
    serial = Origin(Source.SERIAL, "ttyKVM0", user="eve")
    assert accounts.check("eve", Permission.VIEW, None, serial).name == "eve"
    with pytest.raises(PermissionDenied):
        accounts.check("eve", Permission.SWITCH, "2", serial)
    refused = journal.last("refused")
    assert (refused.user, refused.source, refused.ports) == ("eve", "serial", ("2",))
    with pytest.raises(AuthError):
        accounts.check(None, Permission.VIEW, None, Origin(Source.SERIAL, "ttyKVM0"))


# -- robustness -------------------------------------------------------------------------


async def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_the_throttle_allows(
    accounts: Accounts, journal: Journal
) -> None:
    await with_admin(accounts)
    results = await asyncio.gather(
        *(accounts.login("root", f"guess number {n}", HTTP) for n in range(30)),
        return_exceptions=True,
    )
    assert all(isinstance(r, AuthError) for r in results)
    verified = [r for r in journal.records if r.detail.get("reason") == "wrong password"]
    assert len(verified) < FREE_FAILURES + MAX_CONCURRENT_HASHES
    assert sum(isinstance(r, LoginThrottledError) for r in results) >= 30 - len(verified)


async def test_a_hash_made_with_weaker_parameters_is_upgraded_at_login(
    tmp_path: Path, accounts: Accounts, clock: Clock, journal: Journal
) -> None:
    await with_admin(accounts)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    again = Accounts(tmp_path, journal, clock=clock, hasher=stronger)
    again.load()
    await again.login("root", PASSWORD, HTTP)
    assert "t=2" in again.table.require("root").password_hash
    assert "t=2" in again.path.read_text()


async def test_a_users_file_that_cannot_be_written_fails_the_change_cleanly(
    accounts: Accounts,
) -> None:
    token = accounts.setup_token()
    accounts.path.mkdir()  # a directory where the file goes: the atomic rename fails
    with pytest.raises(SaveError, match="cannot save the users file"):
        await accounts.setup(token, "root", PASSWORD, HTTP)
