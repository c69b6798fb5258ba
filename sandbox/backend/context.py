"""What every app instance shares: live settings, the clock, the data, the secrets."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.backend.repositories import Repositories
from sandbox.backend.seams import Seams
from sandbox.backend.seed import SEED_EPOCH_S
from sandbox.clock import SimClock
from sandbox.mechanisms.auth import TokenIssuer
from sandbox.mechanisms.cache import NoCache
from sandbox.mechanisms.email_provider import EmailProvider
from sandbox.mechanisms.events import EventBus
from sandbox.mechanisms.login_limit import LoginLimiter
from sandbox.mechanisms.queue import JobQueue
from sandbox.mechanisms.resilience import Dependency
from sandbox.mechanisms.revocation import RevocationList
from sandbox.request_context import current_request
from sandbox.settings import Settings


@dataclass
class AppContext:
    """The live state app instances read on every request.

    `settings` is replaced, never mutated, when a switch flips; services read it per call,
    so a change takes effect on the next request.
    """

    settings: Settings
    clock: SimClock
    repos: Repositories
    tokens: TokenIssuer
    rng: random.Random
    cache: NoCache  # the cache strategy in force (NoCache when `cache.strategy=off`)
    jobs: JobQueue | None = None  # set once the sandbox has built it
    # True while jobs wait in the outbox because the queue could not take them (Redis down):
    # the sandbox's background relay tries again (OrderService.relay_outbox).
    outbox_behind: bool = False
    events: EventBus | None = None
    email: Dependency | None = None  # the network hop to the outside e-mail provider
    mailer: EmailProvider = field(default_factory=EmailProvider)  # the provider's own side
    replica_repos: Repositories | None = None  # set while `db.read_replica` is on

    @property
    def reads(self) -> Repositories:
        """Where reads that can tolerate a little lag go: the replica if there is one, unless
        a read router sent this request's reads to the primary (`Network.read_router`)."""
        if self.replica_repos is None:
            return self.repos
        request = current_request.get()
        if request is not None and request.read_route == "primary":
            return self.repos
        return self.replica_repos
    log: list[dict[str, object]] = field(default_factory=list)
    seams: Seams = field(default_factory=Seams)  # parts a student's code stands in for
    revocations: RevocationList | None = None  # revoked token subjects, in Redis
    login_limiter: LoginLimiter | None = None  # set while `auth.login_limit` is not off
    # The caller's address as the gateway trusts it (peer, or a trusted proxy's
    # X-Forwarded-For): (headers, peer) -> address. Set by the sandbox.
    client_address: Callable[[list[tuple[bytes, bytes]], str], str] = lambda headers, peer: peer

    def now_s(self) -> float:
        """Simulated time as Unix seconds (the sandbox starts where the seed data ends)."""
        return SEED_EPOCH_S + self.clock.now_ms / 1000.0

    def log_event(self, level: str, message: str, **fields: object) -> None:
        """A structured, server-side log line; details that clients must never see go here."""
        entry: dict[str, object] = {"t_ms": round(self.clock.now_ms, 3), "level": level,
                                    "message": message}
        entry.update(fields)
        self.log.append(entry)
        if len(self.log) > 2000:  # keep the newest; the log is for reading, not archiving
            del self.log[:1000]
