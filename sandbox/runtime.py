"""The sandbox: one mini backend built from settings, with its clock, data, network and apps.

    sandbox = Sandbox(Settings())
    async with sandbox.client() as client:          # an ordinary httpx.AsyncClient
        response = await client.get("/products/1")
    trace = response.extensions["sandbox.trace"]

Everything else (the CLI, scenarios, the terminal app, tests) builds a Sandbox and talks to it.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import sqlite3
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from sandbox.backend.app import create_app
from sandbox.backend.context import AppContext
from sandbox.backend.database import Database
from sandbox.backend.repositories import Repositories
from sandbox.backend.services import EMAIL_MS, Services
from sandbox.clock import SimClock
from sandbox.mechanisms.auth import SECRET_BYTES, TokenIssuer
from sandbox.mechanisms.cache import Cache, WriteBehind, make_strategy
from sandbox.mechanisms.queue import EventBus, JobQueue
from sandbox.mechanisms.ratelimit import make_limiter
from sandbox.mechanisms.redis_store import RedisStore
from sandbox.mechanisms.resilience import Dependency
from sandbox.network import Network, SandboxTransport, SimRequest, SimResponse
from sandbox.settings import Settings

DATA_SEED = 1  # the shop's data is always the same; `seed` varies traffic and jitter
BASE_URL = "http://shop.sandbox"


class Sandbox:
    """A running mini backend.

    Args:
        settings: the switches; change them later with `apply`.
        seed: seeds traffic, jitter and anything else random, so runs repeat exactly.
        secret: the root of the token signing key; `sandbox serve` keeps one per data folder
            (`auth.load_signing_secret`). By default a random one for this sandbox only.
            Never derived from the seed: anyone could then mint tokens. (No number a run
            prints depends on it: every signature has the same length.)
    """

    def __init__(self, settings: Settings | None = None, seed: int = 7,
                 secret: bytes | None = None) -> None:
        self.settings = settings or Settings()
        self.seed = seed
        self.plugs: dict[str, object] = {}  # parts replaced by a student's code (sandbox.plugs)
        # How to put each plugged part back in place after a settings change, by plug name.
        self._reattach: dict[str, Callable[[Sandbox, Any], None]] = {}
        self.clock = SimClock()
        self.rng = random.Random(seed)
        self.db = Database.open_seeded(DATA_SEED, self.settings.db.indexes)
        self.replica: Database | None = None
        self.redis = RedisStore(self.settings.redis.url)
        if self.settings.redis.url:
            self.redis.check()
        self.cache = Cache(self.redis, self.clock, self.settings.cache)
        root = secret if secret is not None else secrets.token_bytes(SECRET_BYTES)
        # Tokens live as long as this sandbox's data: every start rebuilds the shop and
        # restarts its clock, so a token from an earlier run would name a user id that may now
        # be someone else's, and count its expiry on a clock that went back. Each sandbox
        # signs with its own key, derived from the root and a random value.
        secret = hmac.new(root, b"run " + secrets.token_bytes(16), hashlib.sha256).digest()
        self.ctx = AppContext(
            settings=self.settings,
            clock=self.clock,
            repos=Repositories(self.db),
            tokens=TokenIssuer(secret),
            rng=self.rng,
            cache=make_strategy(self.cache),
        )
        self._orders = Services(self.ctx).orders  # the workers' handler, and the outbox relay
        self.ctx.jobs = JobQueue(self.redis, self.clock, lambda: self.settings,
                                 random.Random(seed * 7 + 3), self._orders.confirm)
        self.ctx.events = EventBus(self.redis, self.redis.key("events:orders"))
        self.ctx.email = Dependency("email", EMAIL_MS, self.clock, lambda: self.settings,
                                    random.Random(seed * 11 + 7))
        self._db_guard = Dependency("db", 0.0, self.clock, lambda: self.settings,
                                    random.Random(seed * 13 + 1))
        self.network = Network(
            self.clock, lambda: self.settings, lambda: create_app(self.ctx), self.rng,
            self.ctx.log_event, background=self.background, release_seed=seed * 17 + 5,
        )
        self.network.ping_database = self._database_answers
        self.network.gateway.key_is_valid = self._api_key_exists
        self._configure_mechanisms(self.settings, None)

    def apply(self, settings: Settings) -> None:
        """Switch to new settings live: indexes are created or dropped, instances resized."""
        if settings.redis.url != self.settings.redis.url:
            from sandbox.errors import SettingsError

            raise SettingsError("redis.url is fixed when a sandbox starts; start a new one")
        previous = self.settings
        self.settings = settings
        self.ctx.settings = settings
        if settings.db.indexes != self.db.indexes:
            self.db.set_indexes(settings.db.indexes)
        self.network.configure(settings)
        self._configure_mechanisms(settings, previous)
        for plug, part in self.plugs.items():
            self._reattach[plug](self, part)

    def plug(self, name: str, part: object, attach: Callable[[Sandbox, Any], None]) -> None:
        """Put a student's part in place at plug point `name`; `attach` puts it back again
        after every settings change, so the part survives switches being flipped."""
        self.plugs[name] = part
        self._reattach[name] = attach
        attach(self, part)

    def _configure_mechanisms(self, settings: Settings, previous: Settings | None) -> None:
        self.cache.settings = settings.cache
        if previous is None or previous.cache.strategy != settings.cache.strategy:
            old = self.ctx.cache
            if isinstance(old, WriteBehind):
                old.flush_due()  # nothing deferred is dropped when the strategy changes
                for _, _, write_db in old.pending:
                    write_db()
            self.ctx.cache = make_strategy(self.cache)
        if previous is None or previous.ratelimit != settings.ratelimit:
            self.network.gateway.limiter = make_limiter(self.redis, settings.ratelimit)
        self.redis.available = not settings.faults.cache_down
        self.db.available = not settings.faults.db_down
        guarded = settings.faults.hop == "db" or settings.resilience.breaker
        self.db.guard = self._db_guard if guarded else None
        self._configure_replica(settings)
        if self.ctx.jobs is not None:
            self.ctx.jobs.resize(settings.queue.workers)

    def _configure_replica(self, settings: Settings) -> None:
        """Start a read replica as a copy of the primary now, or stop it."""
        if settings.db.read_replica and self.replica is None:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self.db.conn.backup(conn)
            self.replica = Database(conn)
            self.replica.truth = self.db
            self.db.replication_log = deque()
            self.db.clock = self.clock
            self.ctx.replica_repos = Repositories(self.replica)
        elif not settings.db.read_replica and self.replica is not None:
            self.ctx.replica_repos = None
            self.db.replication_log = None
            self.replica.close()
            self.replica = None
        if self.replica is not None and self.replica.indexes != settings.db.indexes:
            self.replica.set_indexes(settings.db.indexes)
        if self.replica is not None:
            self.replica.lag_ms = settings.db.replica_lag_ms
            self.replica.guard = self.db.guard
            self.replica.available = self.db.available

    def _api_key_exists(self, key: str) -> bool:
        """The gateway's own copy of the issued API keys (read here, untraced, from the table
        the shop keeps them in; a real gateway syncs a copy and asks no database per request)."""
        found = self.db.conn.execute("SELECT 1 FROM api_keys WHERE key = ?", (key,)).fetchone()
        return found is not None

    def _outbox_waiting(self) -> int:
        """Jobs in the outbox the queue does not have yet (read untraced: a figure, not traffic)."""
        if not self.ctx.outbox_behind:
            return 0
        row = self.db.conn.execute("SELECT count(*) FROM outbox WHERE published = 0").fetchone()
        return int(row[0])

    def _database_answers(self) -> bool:
        """A readiness probe's trivial query (`SELECT 1`): does the database answer at all?"""
        if not self.db.available:
            return False
        self.db.conn.execute("SELECT 1").fetchone()
        return True

    def background(self) -> None:
        """Work that happens as simulated time passes, outside any request."""
        if self.replica is not None:
            self.replica.replicate_until(self.db, self.clock.now_ms - self.settings.db.replica_lag_ms)
        cache = self.ctx.cache
        if isinstance(cache, WriteBehind) and cache.pending:
            cache.flush_due()
        if self.ctx.outbox_behind:  # jobs the queue could not take when their order committed
            self._orders.relay_outbox()
        jobs = self.ctx.jobs
        if jobs is not None and jobs.pending:
            jobs.run_until(self.clock.now_ms)

    def drain(self, limit_ms: float = 3_600_000.0) -> None:
        """Let simulated time run on until the workers have nothing left (or `limit_ms`)."""
        jobs = self.ctx.jobs
        deadline = self.clock.now_ms + limit_ms
        self._orders.relay_outbox()
        while jobs is not None and jobs.pending:
            when = jobs.next_event_ms()
            if when is None or when > deadline:
                break
            self.clock.jump_to(max(self.clock.now_ms, when))
            before = (jobs.pending, jobs.stats.processed, jobs.stats.dead_lettered)
            jobs.run_until(self.clock.now_ms)
            if (jobs.pending, jobs.stats.processed, jobs.stats.dead_lettered) == before:
                self.clock.advance(1.0)  # nothing moved at this instant; let time pass
        if isinstance(self.ctx.cache, WriteBehind):
            self.ctx.cache.flush_due()
        if self.ctx.events is not None:
            self.ctx.events.deliver(wait_s=0.05 if self.redis.url else 0.0)

    def queue_metrics(self) -> dict[str, object]:
        """The queue's figures. `pending` counts jobs still in the outbox too; `emails_sent` is
        what the e-mail provider really sent (one per order, however often it was asked)."""
        jobs, events, mailer = self.ctx.jobs, self.ctx.events, self.ctx.mailer
        out: dict[str, object] = {}
        if jobs is not None:
            jobs.reconcile()  # a job gone from Redis is lost, not pending
            figures = jobs.stats.as_dict(jobs.pending + self._outbox_waiting())
            out = {"published": 0, "processed": 0, "emails_sent": mailer.sent,
                   "email_repeats": mailer.repeats, **figures}
        if events is not None:
            out["pubsub"] = {"published": events.published, "received": dict(events.received)}
        return out

    def client(self, client: str = "client-1") -> httpx.AsyncClient:
        """An ordinary httpx client whose requests travel through the simulated network."""
        return httpx.AsyncClient(
            transport=SandboxTransport(self.network, client), base_url=BASE_URL
        )

    async def deliver(self, request: SimRequest) -> SimResponse:
        """Send one request without httpx (the scenario engine's fast path)."""
        return await self.network.deliver(request)

    def close(self) -> None:
        if self.ctx.events is not None:
            self.ctx.events.close()
        if self.replica is not None:
            self.replica.close()
        self.db.close()
        self.redis.close()
