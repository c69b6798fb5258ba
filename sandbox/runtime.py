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
from sandbox.backend.database import Database, StoreStats
from sandbox.backend.repositories import OrderRepository, Repositories
from sandbox.backend.seed import add_oauth_clients
from sandbox.backend.services import EMAIL_MS, Services
from sandbox.backend.sharding import (
    SHARDED_TABLES,
    ShardedOrderRepository,
    move_orders,
    open_shards,
    reshard,
    shard_figures,
)
from sandbox.clock import SimClock
from sandbox.mechanisms.auth import SECRET_BYTES, TokenIssuer
from sandbox.mechanisms.cache import Cache, WriteBehind, make_strategy
from sandbox.mechanisms.events import EventBus
from sandbox.mechanisms.login_limit import make_login_limiter
from sandbox.mechanisms.queue import JobQueue
from sandbox.mechanisms.ratelimit import make_limiter
from sandbox.mechanisms.redis_store import RedisStore
from sandbox.mechanisms.resilience import Dependency
from sandbox.mechanisms.revocation import RevocationList
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
        add_oauth_clients(self.db.conn)
        self.replica: Database | None = None
        self.shards: list[Database] = []  # `db.shards` above 1: the orders' files, shard k at k
        self._cores = 0
        self.redis = RedisStore(self.settings.redis.url)
        if self.settings.redis.url:
            self.redis.check()
        self.cache = Cache(self.redis, self.clock, self.settings.cache,
                           random.Random(seed * 17 + 9))
        self.cache_crashed = False  # `faults.cache_down_at_s` has come
        self._cache_dies_at: float | None = None
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
        self.ctx.events = EventBus(self.redis, self.redis.key("events:orders"), self.clock,
                                   lambda: self.settings, seed=seed)
        self.ctx.revocations = RevocationList(self.redis)
        self.ctx.email = Dependency("email", EMAIL_MS, self.clock, lambda: self.settings,
                                    random.Random(seed * 11 + 7))
        self._db_guard = Dependency("db", 0.0, self.clock, lambda: self.settings,
                                    random.Random(seed * 13 + 1))
        self.network = Network(
            self.clock, lambda: self.settings, lambda: create_app(self.ctx), self.rng,
            self.ctx.log_event, background=self.background, release_seed=seed * 17 + 5,
        )
        self.network.ping_database = self._database_answers
        self.network.edge_fingerprint = self._page_data
        self.network.gateway.key_is_valid = self._api_key_exists
        self.ctx.client_address = self.network.gateway.client_address
        self._configure_mechanisms(self.settings, None)

    def apply(self, settings: Settings) -> None:
        """Switch to new settings live: indexes are created or dropped, instances resized."""
        if settings.redis.url != self.settings.redis.url:
            from sandbox.errors import SettingsError

            raise SettingsError("redis.url is fixed when a sandbox starts; start a new one")
        previous = self.settings
        self.settings = settings
        self.ctx.settings = settings
        for store in (self.db, *self.shards):  # each file has only some of the tables
            if store.indexes != store.among(settings.db.indexes):
                store.set_indexes(settings.db.indexes)
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
                old.flush_due(everything=True)  # nothing deferred is dropped on a change
            self.ctx.cache = make_strategy(self.cache)
        if previous is None or previous.ratelimit != settings.ratelimit:
            self.network.gateway.limiter = make_limiter(self.redis, settings.ratelimit)
        if previous is None or previous.faults.cache_down_at_s != settings.faults.cache_down_at_s:
            self.time_faults()
        if previous is None or previous.auth != settings.auth:
            self.ctx.login_limiter = make_login_limiter(self.redis, settings.auth)
            self.network.gateway.revocations = (self.ctx.revocations
                                                if settings.auth.revocation_check else None)
        self.redis.available = not (settings.faults.cache_down or self.cache_crashed)
        self.db.available = not settings.faults.db_down
        guarded = settings.faults.hop == "db" or settings.resilience.breaker
        self.db.guard = self._db_guard if guarded else None
        self._configure_rating(settings, previous)
        self._configure_shards(settings, previous)
        self._configure_replica(settings)
        if self.ctx.jobs is not None:
            self.ctx.jobs.resize(settings.queue.workers)
        if self.ctx.events is not None and previous is not None:
            self.ctx.events.configure(settings)

    def _configure_rating(self, settings: Settings, previous: Settings | None) -> None:
        """`db.rating`: computed ratings count reviews on every read; stored ones are kept on
        the product row. Back to stored, the totals the reviews written meanwhile never added
        are counted once (a backfill), so the row is right again."""
        computed = settings.db.rating == "computed"
        for repos in (self.ctx.repos, self.ctx.replica_repos):
            if repos is not None:
                repos.products.computed_rating = computed
        if previous is not None and previous.db.rating == "computed" and not computed:
            for db in (self.db, self.replica):
                if db is not None:
                    db.conn.execute(
                        "UPDATE products SET rating_count = coalesce(r.n, 0), "
                        "rating_sum = coalesce(r.total, 0) FROM products AS p LEFT JOIN "
                        "(SELECT product_id, count(*) AS n, sum(rating) AS total FROM reviews "
                        " GROUP BY product_id) AS r ON r.product_id = p.id "
                        "WHERE products.id = p.id")

    def _configure_shards(self, settings: Settings, previous: Settings | None) -> None:
        """`db.shards`: split the orders across that many files, or move them between layouts
        (resharding: every order is copied to its new shard). Also gives every file its cores."""
        wanted = int(settings.db.shards)
        if wanted != (len(self.shards) or 1):
            indexes = settings.db.indexes
            if previous is None:  # the seeded orders, split once and kept beside the seed file
                stores = open_shards(DATA_SEED, wanted, indexes)
            elif wanted > 1:
                stores = reshard(self.shards or [self.db], wanted, indexes)
            else:  # back into the main file
                for sql in self.shards[0].schema(SHARDED_TABLES):
                    self.db.conn.execute(sql)
                move_orders(self.shards, [self.db], lambda customer_id: 0)
                stores = []
            if not self.shards:
                for table in reversed(SHARDED_TABLES):
                    self.db.conn.execute(f"DROP TABLE {table}")
            for store in self.shards:
                store.close()
            self.shards = stores
            self.db.set_indexes(indexes)
            self.ctx.repos.orders = (ShardedOrderRepository(stores) if stores
                                     else OrderRepository(self.db))
            if self.replica is not None:  # rebuilt below from the main file as it is now
                self.ctx.replica_repos = None
                self.db.replication_log = None
                self.replica.close()
                self.replica = None
            self._cores = -1
        for store in self.shards:
            store.available = self.db.available
            store.guard = self.db.guard
        if settings.db.cores != self._cores:
            for store in (self.db, *self.shards):
                store.set_cores(settings.db.cores)
            self._cores = settings.db.cores

    def reset_shard_stats(self) -> None:
        """Start the shards' figures afresh (a run's measured part begins)."""
        for store in self.shards:
            store.stats = StoreStats()

    def shard_metrics(self) -> dict[str, Any]:
        """Per shard: orders held, queries, rows examined, core waits, and the p95 of a
        statement's time there (waits included). Empty with one database."""
        return shard_figures(self.shards)

    def time_faults(self) -> None:
        """Count `faults.cache_down_at_s` from now (a run calls this when measuring starts)."""
        at_s = self.settings.faults.cache_down_at_s
        self._cache_dies_at = self.clock.now_ms + at_s * 1000.0 if at_s > 0 else None
        if at_s <= 0:
            self.cache_crashed = False

    def _crash_cache(self) -> None:
        """`faults.cache_down_at_s` has come: the cache server dies and loses what it held."""
        self._cache_dies_at = None
        self.cache_crashed = True
        self.cache.crash()
        self.redis.available = False

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
            self.ctx.replica_repos.products.computed_rating = settings.db.rating == "computed"
            if self.shards:  # shards have no replicas here: their reads go to the shards
                self.ctx.replica_repos.orders = self.ctx.repos.orders
        elif not settings.db.read_replica and self.replica is not None:
            self.ctx.replica_repos = None
            self.db.replication_log = None
            self.replica.close()
            self.replica = None
        if self.replica is not None and self.replica.indexes != self.replica.among(
                settings.db.indexes):
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
        if self.ctx.seams.outbox is not None:
            return self.ctx.seams.outbox.waiting()
        row = self.db.conn.execute("SELECT count(*) FROM outbox WHERE published = 0").fetchone()
        return int(row[0])

    def _page_data(self, path: str) -> object:
        """What a public page shows, read untraced: the edge's oracle for stale copies (a real
        CDN cannot know). A product page shows the product's row, a reviews page its reviews;
        a listing is not judged (None)."""
        parts = path.split("/")
        if len(parts) < 3 or not parts[2].isdigit():
            return None
        product_id = int(parts[2])
        if len(parts) == 3:
            return self.db.conn.execute("SELECT * FROM products WHERE id = ?",
                                        (product_id,)).fetchone()
        return self.db.conn.execute("SELECT count(*), max(id) FROM reviews WHERE product_id = ?",
                                    (product_id,)).fetchone()

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
        if self._cache_dies_at is not None and self.clock.now_ms >= self._cache_dies_at:
            self._crash_cache()
        cache = self.ctx.cache
        if isinstance(cache, WriteBehind) and cache.pending:
            cache.flush_due()
        if self.ctx.outbox_behind:  # jobs the queue could not take when their order committed
            self._orders.relay_outbox()
        jobs = self.ctx.jobs
        if jobs is not None and jobs.pending:
            jobs.run_until(self.clock.now_ms)
        events = self.ctx.events
        if events is not None and events.next_change_ms <= self.clock.now_ms:
            events.switch(self.clock.now_ms)  # a subscriber goes away or comes back

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
            # The rows still deferred are written, as their time would come (unless the
            # cache has lost them).
            self.ctx.cache.flush_due(everything=True)
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
            out["events"] = events.figures()
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
        for store in self.shards:
            store.close()
        self.db.close()
        self.redis.close()
