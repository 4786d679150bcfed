"""Sessions (SPEC §9): expiry with an injected clock, revocation, caps, digests only."""

from __future__ import annotations

import pytest

from kvmswitchd.core.accounts import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    MAX_CREDENTIAL_LEN,
    MAX_SESSIONS_PER_USER,
    TOUCH_GRANULARITY,
    SessionPolicy,
    Sessions,
    digest_of,
)

T0 = 1_700_000_000.0


def test_defaults_are_twelve_hours_idle_and_seven_days_absolute() -> None:
    assert IDLE_TIMEOUT == 12 * 3600
    assert ABSOLUTE_TIMEOUT == 7 * 24 * 3600


def test_a_session_expires_after_the_idle_timeout() -> None:
    sessions = Sessions()
    sessions.create("alice", "s3cret-id", T0)
    assert sessions.lookup("s3cret-id", T0 + IDLE_TIMEOUT - 1) is not None
    assert sessions.lookup("s3cret-id", T0 + IDLE_TIMEOUT) is None
    assert len(sessions) == 0


def test_use_extends_the_idle_window_but_not_past_the_absolute_limit() -> None:
    sessions = Sessions(SessionPolicy(idle=100.0, absolute=1000.0))
    sessions.create("alice", "sid", T0)
    now = T0
    while now < T0 + 990:
        now += 90
        session = sessions.lookup("sid", now)
        assert session is not None, now
        sessions.touch(session, now)
    assert sessions.lookup("sid", T0 + 1000) is None


def test_touch_is_saved_at_most_once_a_minute() -> None:
    sessions = Sessions()
    session = sessions.create("alice", "sid", T0)
    assert not sessions.touch(session, T0 + TOUCH_GRANULARITY - 1)
    assert sessions.touch(session, T0 + TOUCH_GRANULARITY)
    touched = sessions.lookup("sid", T0 + TOUCH_GRANULARITY)
    assert touched is not None
    assert touched.last_seen == T0 + TOUCH_GRANULARITY


def test_revoke_ends_one_session_and_revoke_all_ends_every_session_of_the_user() -> None:
    sessions = Sessions()
    a1 = sessions.create("alice", "a1", T0)
    sessions.create("alice", "a2", T0)
    sessions.create("bob", "b1", T0)
    assert sessions.revoke(a1.digest) == a1
    assert sessions.lookup("a1", T0) is None
    assert sessions.lookup("a2", T0) is not None
    assert sessions.revoke_all_for_user("alice") == 1
    assert sessions.lookup("a2", T0) is None
    assert sessions.lookup("b1", T0) is not None


def test_only_the_digest_of_a_session_id_is_kept() -> None:
    sessions = Sessions()
    session = sessions.create("alice", "the-session-id", T0)
    assert session.digest == digest_of("the-session-id")
    assert "the-session-id" not in repr(list(sessions))
    assert "the-session-id" not in repr(session)


def test_logins_past_the_cap_end_the_oldest_session() -> None:
    sessions = Sessions()
    for n in range(MAX_SESSIONS_PER_USER + 3):
        sessions.create("alice", f"sid{n}", T0 + n)
    assert len(sessions) == MAX_SESSIONS_PER_USER
    assert sessions.lookup("sid0", T0 + 100) is None
    assert sessions.lookup(f"sid{MAX_SESSIONS_PER_USER + 2}", T0 + 100) is not None


@pytest.mark.parametrize("secret", ["", "x" * (MAX_CREDENTIAL_LEN + 1), "unknown"])
def test_empty_oversized_or_unknown_ids_find_nothing(secret: str) -> None:
    sessions = Sessions()
    sessions.create("alice", "sid", T0)
    assert sessions.lookup(secret, T0) is None


def test_purge_drops_only_expired_sessions() -> None:
    sessions = Sessions(SessionPolicy(idle=10.0, absolute=100.0))
    sessions.create("a", "old", T0)
    sessions.create("b", "new", T0 + 50)
    assert sessions.purge(T0 + 55) == 1
    assert [s.user for s in sessions] == ["b"]
