"""Bearer tokens with an expiry (issue 12, item 4): ``expires_in`` seconds at creation,
shown in the token list, refused like a revoked token once past, and pruned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvmswitchd.accounts import Accounts
from kvmswitchd.core.accounts import MAX_TOKEN_LIFETIME, parse_lifetime
from kvmswitchd.core.usersfile import parse_users_document
from kvmswitchd.errors import AuthError, InputError
from tests.accounts.fakes import HTTP, PASSWORD, T0, Clock, Journal, Secrets, make_accounts


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def accounts(tmp_path: Path, clock: Clock) -> Accounts:
    accounts = make_accounts(tmp_path, clock, Journal(), Secrets())
    await accounts.setup(accounts.setup_token(), "root", PASSWORD, HTTP)
    return accounts


@pytest.mark.parametrize(
    "value", [0, -5, 0.5, MAX_TOKEN_LIFETIME + 1, float("inf"), float("nan"), True, "60", [60]]
)
def test_a_lifetime_must_be_1_second_to_10_years(value: object) -> None:
    with pytest.raises(InputError, match="expires_in"):
        parse_lifetime(value)


def test_no_lifetime_means_until_revoked() -> None:
    assert parse_lifetime(None) is None
    assert parse_lifetime(60) == 60.0


async def test_an_expiring_token_works_until_its_expiry_then_is_refused_and_pruned(
    accounts: Accounts, clock: Clock
) -> None:
    token, secret = await accounts.create_token("root", "nightly", HTTP, expires_in=600)
    forever, forever_secret = await accounts.create_token("root", "cron", HTTP)
    assert token.view()["expires"] == T0 + 600 and forever.view()["expires"] is None
    found = accounts.resolve_bearer(secret)
    assert found is not None and found[1].expires == T0 + 600
    credential = found[1]
    assert [t.id for t in accounts.tokens("root")] == [token.id, forever.id]

    clock.now = T0 + 600  # the first second it no longer works
    assert accounts.resolve_bearer(secret) is None
    with pytest.raises(AuthError):
        accounts.recheck(credential)  # a websocket opened with it is closed too
    assert [t.id for t in accounts.tokens("root")] == [forever.id]
    assert accounts.resolve_bearer(forever_secret) is not None

    await accounts.flush()  # the refusal pruned it from the users file
    users, _ = parse_users_document(accounts.path.read_bytes())
    assert [t.id for t in users[0].tokens] == [forever.id]
    assert [t.id for t in accounts.table.require("root").tokens] == [forever.id]


async def test_an_expired_token_is_pruned_at_load(
    tmp_path: Path, accounts: Accounts, clock: Clock
) -> None:
    await accounts.create_token("root", "brief", HTTP, expires_in=5)
    clock.now += 5
    again = make_accounts(tmp_path, clock, Journal(), Secrets())
    assert again.table.require("root").tokens == ()


async def test_a_users_file_from_before_expiry_existed_loads_tokens_without_expiry(
    accounts: Accounts,
) -> None:
    await accounts.create_token("root", "old", HTTP)
    doc = json.loads(accounts.path.read_bytes())
    for token in doc["users"][0]["tokens"]:
        del token["expires"]
    users, _ = parse_users_document(json.dumps(doc).encode())
    assert users[0].tokens[0].expires is None


async def test_a_bad_lifetime_mints_nothing(accounts: Accounts) -> None:
    before = accounts.path.read_bytes()
    with pytest.raises(InputError):
        await accounts.create_token("root", "x", HTTP, expires_in="soon")
    assert accounts.tokens("root") == ()
    assert accounts.path.read_bytes() == before
