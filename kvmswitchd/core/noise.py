"""The noise budget of the event log: refusals can't rotate the audit trail away.

Entries of a noise kind (refused connections, failed logins, refused requests) pass two
token buckets: one per (kind, peer) and one per kind for all peers together. Past either
budget an entry is only counted; when the budget has refilled, one summary stands for
all of them ("12 more login_failed from 203.0.113.9 in the last 40 s"). Every other kind
(switches, logins, account and config changes) is never suppressed.

So however fast and from however many addresses refusals arrive, noise (entries and
summaries together) is written at most at ``per_kind_rate`` lines per second per kind,
after a burst of ``per_kind_burst``: at the default 1 line / 10 s and ~250 bytes a line,
a 1 MiB log rotates after more than 11 hours of sustained flood, not seconds.

Sans-IO: time is passed in (``now``, seconds); the adapter re-arms one timer at
``next_deadline()`` and calls ``handle_timer(now)`` for the summaries that are due.
"""

from __future__ import annotations

from dataclasses import dataclass

NOISE_KINDS = frozenset(
    {
        "refused",
        "login_failed",
        "connection_refused",
        "serial_refused",
        "serial_login_failed",
        "usbip_refused",
    }
)
# Peers tracked one by one; an attacker can invent addresses (IPv6, source ports) faster
# than we may remember them, so past this all new peers of a kind share one bucket.
MAX_TRACKED_PEERS = 256
OTHER_PEERS = "other peers"
# A peer name is whatever a request carried (an address, a user name): kept this short.
MAX_PEER_LENGTH = 100


@dataclass(frozen=True, slots=True)
class NoisePolicy:
    per_peer_burst: float = 10.0
    per_peer_rate: float = 1 / 30  # tokens per second
    per_kind_burst: float = 100.0
    per_kind_rate: float = 1 / 10

    def __post_init__(self) -> None:
        if min(self.per_peer_burst, self.per_kind_burst) < 1:
            raise ValueError("a noise burst must allow at least one entry")
        if min(self.per_peer_rate, self.per_kind_rate) <= 0:
            raise ValueError("a noise refill rate must be positive")


@dataclass(frozen=True, slots=True)
class Summary:
    """Stands for ``count`` suppressed entries of ``kind`` from ``peer`` since ``since``."""

    kind: str
    peer: str
    count: int
    since: float
    until: float

    @property
    def message(self) -> str:
        seconds = max(0, round(self.until - self.since))
        return f"{self.count} more {self.kind} from {self.peer} in the last {seconds} s"


class _Bucket:
    __slots__ = ("first_suppressed", "stamp", "suppressed", "tokens")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.stamp = now
        self.suppressed = 0
        self.first_suppressed = now

    def refill(self, now: float, burst: float, rate: float) -> None:
        elapsed = max(0.0, now - self.stamp)  # a clock stepping back refills nothing
        self.tokens = min(burst, self.tokens + elapsed * rate)
        self.stamp = max(self.stamp, now)

    def ready_at(self, rate: float) -> float:
        """When this bucket will hold one whole token."""
        return self.stamp + max(0.0, 1.0 - self.tokens) / rate


class NoiseBudget:
    """Per-entry work is O(1) while a flood lasts: only peers being counted are visited,
    and only when their kind has a token to spend on a summary."""

    def __init__(self, policy: NoisePolicy | None = None) -> None:
        self.policy = policy or NoisePolicy()
        self._peers: dict[tuple[str, str], _Bucket] = {}
        self._kinds: dict[str, _Bucket] = {}
        # Buckets being counted, by kind; insertion order: oldest first.
        self._counting: dict[str, dict[str, _Bucket]] = {}
        self._deadline: float | None = None
        self._deadline_stale = False
        self._swept_at = float("-inf")

    @staticmethod
    def is_noise(kind: str) -> bool:
        return kind in NOISE_KINDS

    def admit(self, kind: str, peer: str, now: float) -> tuple[bool, list[Summary]]:
        """May this entry be written? Also returns the summaries to write before it.

        Only call this for noise kinds (``is_noise``)."""
        summaries = self.handle_timer(now)
        policy = self.policy
        key, peer_bucket = self._peer_bucket(kind, peer[:MAX_PEER_LENGTH], now)
        kind_bucket = self._kind_bucket(kind, now)
        peer_bucket.refill(now, policy.per_peer_burst, policy.per_peer_rate)
        kind_bucket.refill(now, policy.per_kind_burst, policy.per_kind_rate)
        if peer_bucket.suppressed == 0 and peer_bucket.tokens >= 1 and kind_bucket.tokens >= 1:
            peer_bucket.tokens -= 1
            kind_bucket.tokens -= 1
            return True, summaries
        if peer_bucket.suppressed == 0:
            peer_bucket.first_suppressed = now
            self._counting.setdefault(kind, {})[key[1]] = peer_bucket
            self._deadline_stale = True
        peer_bucket.suppressed += 1
        return False, summaries

    def handle_timer(self, now: float) -> list[Summary]:
        """The summaries whose budget has refilled (each takes one token of both)."""
        policy = self.policy
        out: list[Summary] = []
        for kind, counting in self._counting.items():
            kind_bucket = self._kinds[kind]
            kind_bucket.refill(now, policy.per_kind_burst, policy.per_kind_rate)
            if kind_bucket.tokens < 1 or not counting:
                continue  # the usual case during a flood: nothing to visit
            for peer, bucket in list(counting.items()):
                bucket.refill(now, policy.per_peer_burst, policy.per_peer_rate)
                if bucket.tokens < 1:
                    continue
                bucket.tokens -= 1
                kind_bucket.tokens -= 1
                out.append(Summary(kind, peer, bucket.suppressed, bucket.first_suppressed, now))
                bucket.suppressed = 0
                del counting[peer]
                if kind_bucket.tokens < 1:
                    break
        if out:
            self._deadline_stale = True
        return out

    def next_deadline(self) -> float | None:
        """When the next summary may be due (None: nothing is being counted)."""
        if self._deadline_stale:
            policy = self.policy
            self._deadline = min(
                (
                    max(
                        bucket.ready_at(policy.per_peer_rate),
                        self._kinds[kind].ready_at(policy.per_kind_rate),
                    )
                    for kind, counting in self._counting.items()
                    for bucket in counting.values()
                ),
                default=None,
            )
            self._deadline_stale = False
        return self._deadline

    @property
    def tracked(self) -> int:
        return len(self._peers)

    def _kind_bucket(self, kind: str, now: float) -> _Bucket:
        bucket = self._kinds.get(kind)
        if bucket is None:
            bucket = self._kinds[kind] = _Bucket(self.policy.per_kind_burst, now)
        return bucket

    def _peer_bucket(self, kind: str, peer: str, now: float) -> tuple[tuple[str, str], _Bucket]:
        key = (kind, peer)
        bucket = self._peers.get(key)
        if bucket is not None:
            return key, bucket
        room = MAX_TRACKED_PEERS - 1  # one slot is kept for the shared bucket
        if len(self._peers) >= room and now - self._swept_at >= 1.0:
            self._swept_at = now  # a sweep visits every bucket: at most once a second
            self._forget_idle(now)
        if len(self._peers) >= room:
            key = (kind, OTHER_PEERS)
            bucket = self._peers.get(key)
            if bucket is not None:
                return key, bucket
        bucket = self._peers[key] = _Bucket(self.policy.per_peer_burst, now)
        return key, bucket

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that are back to full with nothing counted: same as a new one."""
        policy = self.policy
        for key, bucket in list(self._peers.items()):
            if bucket.suppressed == 0:
                bucket.refill(now, policy.per_peer_burst, policy.per_peer_rate)
                if bucket.tokens >= policy.per_peer_burst:
                    del self._peers[key]
