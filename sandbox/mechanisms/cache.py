"""Caching: keep hot data in Redis so most reads never reach the database.

Two parts, as in real systems:

- `Cache` is the store: entries with a TTL on the simulated clock, a size bound, and an
  eviction policy (`lru`, `lfu`, `fifo`) that the sandbox implements itself on a Redis sorted
  set (fakeredis has no memory-based eviction, and the policy is the lesson).
- A *strategy* decides how the service uses the store:

  ============  ==================================  ======================================
  strategy      on a read                           on a write
  ============  ==================================  ======================================
  off           database                            database
  cache_aside   service checks cache, loads the     service writes the database, then
                database on a miss, fills cache     drops the cached entry
  read_through  the cache loads on a miss (the      as cache_aside
                service only ever asks the cache)
  write_through as read_through                     database, then the fresh row into the
                                                    cache in the same request
  write_behind  as read_through                     the cache now, the database later
                                                    (`cache.write_behind_delay_s`)
  ============  ==================================  ======================================

An entry can carry *tags*: the keys of the rows it was built from (a page of products is
tagged with each product's key). Dropping a key drops every entry tagged with it too, so a
product's new stock reaches the product page and every listing page that shows it. CDNs call
these surrogate keys; cache libraries call them tags.

With `cache.invalidate_on_write=off` writes leave old entries in place, and readers get stale
data until the TTL ends. The sandbox counts those stale reads with an oracle: it knows the
truth because it sees every write, which a real cache cannot.

When a hot entry expires, every request that misses before it is stored again loads the same
row: a stampede. `cache.stampede_protection` tames it with a lock (one request loads, the
others serve the expired copy or wait) or with early refresh (one reader reloads the entry,
at random, shortly before it expires).

If Redis is down, every strategy falls back to the database: slower, never failing. A write is
the exception that cannot be hidden: if the old entry cannot be dropped, `written` raises
CacheUnavailable, and the service (whose database write has already committed) logs and counts
it instead of failing the request. Until its TTL ends, that entry serves stale data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from sandbox import tracing
from sandbox.clock import SimClock
from sandbox.mechanisms.redis_store import CacheUnavailable, RedisStore, scored
from sandbox.settings import CacheSettings

Value = dict[str, Any]
Loader = Callable[[], Value | None]
Tagger = Callable[[Value], list[str]]  # the keys a value was built from, for its tags

TOUCH_BUFFER = 512  # access records kept in-process before they are flushed to Redis
LOCK_LEASE_MS = 1000.0  # a loader that never releases its lock (it crashed) blocks no longer
LOCK_POLL_MS = 5.0  # how long a request waiting for another's load sleeps between looks
LOCK_POLLS = 40  # looks before it gives up waiting and loads itself


class FreshnessOracle:
    """Not part of any real cache: the sandbox's record of every write, to judge freshness.

    Writes are numbered in order. An entry remembers how many writes had happened when its
    data was read; it is stale once its key, or a key it is tagged with, is written after that.
    """

    def __init__(self) -> None:
        self._writes = 0
        self._last_write: dict[str, int] = {}

    def now(self) -> int:
        """The version of data read from the database at this moment."""
        return self._writes

    def bump(self, key: str) -> None:
        self._writes += 1
        self._last_write[key] = self._writes

    def is_stale(self, key: str, version: int, tags: list[str]) -> bool:
        last_write = self._last_write
        if last_write.get(key, 0) > version:
            return True
        return any(last_write.get(tag, 0) > version for tag in tags) if tags else False


@dataclass
class Entry:
    value: Value
    version: int
    tags: list[str]
    expires_ms: float = math.inf
    cost_ms: float = 0.0  # how long loading it took: early refresh starts that much ahead


class Cache:
    """Entries in Redis with a TTL on the simulated clock and a bounded size.

    Redis layout (all under the store's prefix):
        `cache:v:<key>`  a string: the JSON value, its expiry time, version and tags, when
                         it was stored and how long loading it took
        `cache:idx`      a sorted set of keys, scored by the eviction policy: last use (lru),
                         use count (lfu) or insertion time (fifo); the lowest score leaves first
        `cache:t:<tag>`  a set: the keys of the entries tagged with `tag`
        `cache:lock:<key>`  with `stampede_protection=lock`: who is loading `key` (see
                         `try_lock`)
        `cache:behind`   with write_behind: the rows waiting to be written (`WriteBehind`)

    Requests run one after another but overlap in simulated time: a request that arrived at
    10 ms may run after one that arrived at 8 ms and stored an entry at 48 ms, once its slow
    load was done. So an entry records when it was stored (`at`), and a reader at an earlier
    moment does not see it yet; it sees the entry that was there before (`prev`). Without
    this, a load would be finished for every later request the moment it started, and a
    cache stampede could never happen.
    """

    def __init__(self, store: RedisStore, clock: SimClock, settings: CacheSettings,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.rng = rng or random.Random(0)  # early refresh's dice
        self.oracle = FreshnessOracle()
        self._index = store.key("cache:idx")
        # A hit is one GET. Recording the use in Redis too would double the cost of every hit,
        # so uses are buffered here and flushed in one command before any eviction decision:
        # the decision still sees every use.
        self._touches: dict[str, float] = {}
        # Entries in the index, kept from ZADD's own replies rather than asked for with ZCARD
        # on every fill (this Cache is the only writer of its index).
        self._size = 0

    def _data_key(self, key: str) -> str:
        return self.store.key("cache:v:" + key)

    def _tag_key(self, tag: str) -> str:
        return self.store.key("cache:t:" + tag)

    def peek(self, key: str) -> Entry | None:
        """The entry for `key` as a reader sees it at this moment, live or expired."""
        raw = self.store.run("GET", ("GET", self._data_key(key)))[0]
        if raw is None:
            return None
        stored = orjson.loads(raw)
        if self.clock.now_ms < stored.get("at", 0.0):
            stored = stored.get("prev")  # stored later than now: what was there before
            if stored is None:
                return None
        return Entry(stored["v"], stored["ver"], stored["tags"], stored["exp"],
                     stored.get("cost", 0.0))

    def get(self, key: str) -> Entry | None:
        """The live entry for `key`, or None (missing or expired)."""
        entry = self.peek(key)
        if entry is None or self.clock.now_ms >= entry.expires_ms:
            return None  # expired: the next set overwrites it
        policy = self.settings.eviction
        if policy == "lru":
            self._touches[key] = self.clock.now_ms
        elif policy == "lfu":
            self._touches[key] = self._touches.get(key, 0) + 1
        if len(self._touches) >= TOUCH_BUFFER:
            self._flush_touches()
        return entry

    def set(self, key: str, value: Value, version: int, tags: list[str] | None = None,
            cost_ms: float = 0.0, replace: bool = True) -> None:
        """Store `value` with its `tags`, then evict the lowest-scored entries while over
        `max_entries`. With `replace=False` a live entry readers already see stays: another
        request loaded the same row first, and this load was wasted."""
        now = self.clock.now_ms
        tags = tags or []
        record: dict[str, Any] = {"v": value, "exp": now + self.settings.ttl_s * 1000.0,
                                  "ver": version, "tags": tags, "at": now, "cost": cost_ms}
        payload = orjson.dumps(record)
        policy = self.settings.eviction
        if policy == "lru":  # replies 1 when the key is new to the index
            score: tuple[Any, ...] = ("ZADD", self._index, now, key)
        elif policy == "lfu":  # replies the new use count: 1 when the key is new
            score = ("ZADD", self._index, "INCR", 1, key)
        else:  # fifo: only the first insertion time counts; replies 1 when new
            score = ("ZADD", self._index, "NX", now, key)
        tagging = [("SADD", self._tag_key(tag), key) for tag in tags]
        data = self._data_key(key)
        # GETSET: the old entry comes back in the same command (SET ... GET would too, but
        # redis-py's reply callback for SET turns every answer into True or False).
        replies = self.store.run("SET", ("GETSET", data, payload), score, *tagging)
        old_raw, reply = replies[0], replies[1]
        if old_raw is not None:
            old = orjson.loads(old_raw)
            live = now < old["exp"]
            if old.get("at", 0.0) > now:
                pass  # stored later than this: readers before then get this one, the same row
            elif live and not replace:  # another request's load came first: its entry stays
                self.store.run("SET", ("SET", data, old_raw))
            elif live or self.settings.stampede_protection == "lock":
                # Readers from before `now` still see the old entry (an expired one serves
                # only the requests waiting on a lock, as a stale copy).
                old.pop("prev", None)
                record["prev"] = old
                self.store.run("SET", ("SET", data, orjson.dumps(record)))
        self._touches.pop(key, None)
        if (float(reply) == 1.0) if policy == "lfu" else int(reply) == 1:
            self._size += 1
        over = self._size - self.settings.max_entries
        if over > 0:
            self._evict(over, keep=key)

    def delete(self, key: str) -> None:
        """Remove `key`, and every entry tagged with it: they were built from its old data."""
        tag = self._tag_key(key)
        replies = self.store.run("DEL", ("DEL", self._data_key(key)), ("ZREM", self._index, key),
                                ("SMEMBERS", tag), ("DEL", tag))
        removed = int(replies[1])
        others = sorted(replies[2])  # sets have no order; sorting keeps runs reproducible
        if others:
            removed += int(self.store.run("DEL", ("DEL", *(self._data_key(k) for k in others)),
                                          ("ZREM", self._index, *others))[1])
        for dropped in (key, *others):
            self._touches.pop(dropped, None)
        self._size -= removed

    def try_lock(self, key: str) -> float | None:
        """Take the lock on loading `key`, as of now; returns when it was taken (to hand to
        `unlock`), or None if someone else holds it.

        A lock is a Redis key set with SET NX, as in production. Its lifetime is simulated
        time, like an entry's TTL, so the key holds when it was taken and until when it is held
        (a lease, or the moment its holder released it) rather than a Redis PX expiry.
        """
        now = self.clock.now_ms
        lock = self.store.key("cache:lock:" + key)
        lease = orjson.dumps({"from": now, "until": now + LOCK_LEASE_MS})
        if self.store.run("SET", ("SET", lock, lease, "NX"))[0]:
            return now
        held = orjson.loads(self.store.run("GET", ("GET", lock))[0] or b"{}")
        if held.get("from", 0.0) <= now < held.get("until", 0.0):
            return None
        self.store.run("SET", ("SET", lock, lease))  # the last holder is done, or its lease ran out
        return now

    def unlock(self, key: str, taken_ms: float) -> None:
        """Release the lock taken at `taken_ms`: it stays held for readers before now."""
        released = orjson.dumps({"from": taken_ms, "until": self.clock.now_ms})
        self.store.run("SET", ("SET", self.store.key("cache:lock:" + key), released))

    def crash(self) -> None:
        """The cache server dies and, keeping nothing on disk, forgets all it held: entries,
        index, tags, locks and the rows waiting to be written behind (`faults.cache_down_at_s`).
        """
        client = self.store.client
        keys = list(client.scan_iter(match=self.store.key("cache:*"), count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        self._size = 0
        self._touches.clear()

    def _flush_touches(self) -> None:
        if not self._touches:
            return
        touches, self._touches = self._touches, {}
        if self.settings.eviction == "lru":
            args: list[Any] = []
            for key, when in touches.items():
                args += [when, key]
            # XX: only keys still cached; a deleted key must not come back into the index.
            self.store.run("touch", ("ZADD", self._index, "XX", *args))
        elif self.settings.eviction == "lfu":
            self.store.run("touch", *(("ZADD", self._index, "XX", "INCR", n, key)
                                      for key, n in touches.items()))

    @property
    def size(self) -> int:
        """Entries in the cache now."""
        return self._size

    def ends(self, n: int) -> tuple[list[str], list[str]]:
        """The `n` keys the eviction policy would drop first, and the `n` it keeps longest,
        for a picture of the cache. The uses still buffered here are added to the index's
        scores in this copy only: writing them now would move a round trip's cost into
        another request and change what a watched run measures."""
        scores = dict(scored(self.store.run("ZRANGE", ("ZRANGE", self._index, 0, -1,
                                                       "WITHSCORES"))[0]))
        policy = self.settings.eviction
        for key, touch in self._touches.items():
            if key in scores and policy == "lru":
                scores[key] = max(scores[key], touch)
            elif key in scores and policy == "lfu":
                scores[key] += touch
        ranked = sorted(scores, key=lambda k: (scores[k], k))
        return ranked[:n], ranked[::-1][:n]

    def ttl_left_s(self, key: str) -> float | None:
        """Simulated seconds `key` has left, or None when it is not cached."""
        raw = self.store.run("GET", ("GET", self._data_key(key)))[0]
        if raw is None:
            return None
        expires_ms = float(orjson.loads(raw)["exp"])
        return max(0.0, (expires_ms - self.clock.now_ms) / 1000.0)

    def _evict(self, count: int, keep: str) -> None:
        """Remove the `count` entries the policy ranks lowest, never `keep` (the entry just
        stored). A cache makes room for a newcomer; it does not throw the newcomer out. Under
        LFU that matters: a new entry has been used once, the fewest of all, so ranking it
        with the others evicted every newcomer at once and froze the cache (issue #16)."""
        with tracing.span("cache.evict", "cache") as span:
            self._flush_touches()
            lowest = self.store.run("ZRANGE", ("ZRANGE", self._index, 0, count))[0]
            keys = [str(k) for k in lowest if str(k) != keep][:count]
            if keys:
                self.store.run("DEL", ("ZREM", self._index, *keys),
                               ("DEL", *(self._data_key(k) for k in keys)))
            self._size -= len(keys)
            span.attrs["cache.evicted"] = len(keys)
            tracing.count("cache.evictions", len(keys))


class CacheStrategy(Protocol):
    """How a service reads and writes through the cache.

    `read` returns the value for `key`, from the cache or from `load` (the database); `tags`,
    if given, names the keys the loaded value was built from (see `Cache`).
    `written` is called after the service changed the row behind `key` in the database;
    `load` then returns the fresh row. It raises CacheUnavailable when the old entry could not
    be dropped (Redis is down): the change is in the database, the cache may still show the
    old row.
    """

    name: str

    def read(self, key: str, load: Loader, tags: Tagger | None = None) -> Value | None: ...

    def written(self, key: str, load: Loader) -> None: ...


class NoCache:
    """Every read goes to the database."""

    name = "off"

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def read(self, key: str, load: Loader, tags: Tagger | None = None) -> Value | None:
        return load()

    def written(self, key: str, load: Loader) -> None:
        self.cache.oracle.bump(key)


class CacheAside(NoCache):
    """The service looks in the cache first; on a miss it loads and fills the cache itself."""

    name = "cache_aside"

    def read(self, key: str, load: Loader, tags: Tagger | None = None) -> Value | None:
        entry = self._lookup(key)
        if entry is not None:
            if not self._refresh_early(entry):
                return entry.value
            tracing.count("cache.early_refreshes")
            return self._load(key, load, tags, replace=True)
        if self.cache.settings.stampede_protection == "lock":
            return self._load_once(key, load, tags)
        return self._load(key, load, tags)

    def _load(self, key: str, load: Loader, tags: Tagger | None,
              replace: bool = False) -> Value | None:
        """Load from the database (the service goes there itself) and fill the cache."""
        version = self.cache.oracle.now()
        clock = self.cache.clock
        started = clock.now_ms
        value = load()
        tracing.count("cache.loads")
        if value is not None:
            self._fill(key, value, version, tags(value) if tags else [],
                       clock.now_ms - started, replace)
        return value

    def _refresh_early(self, entry: Entry) -> bool:
        """With `stampede_protection=early_refresh`: should this hit reload the entry now,
        before it expires? Probabilistic early expiration (XFetch, Vattani et al. 2015): each
        reader rolls a die, and the closer the expiry and the slower the load, the likelier it
        refreshes. One reader usually refreshes well ahead, while the rest keep hitting; no
        moment comes when everyone misses at once."""
        settings = self.cache.settings
        if settings.stampede_protection != "early_refresh" or entry.cost_ms <= 0.0:
            return False
        left = entry.expires_ms - self.cache.clock.now_ms
        # -ln(u) for u in (0, 1] is an exponential draw: usually near 1, now and then large.
        ahead = entry.cost_ms * settings.early_refresh_beta * -math.log(1.0 - self.cache.rng.random())
        return ahead >= left

    def _load_once(self, key: str, load: Loader, tags: Tagger | None) -> Value | None:
        """With `stampede_protection=lock`: one request loads a missing entry, the others do
        not pile onto the database. The first to miss takes a short lock and loads; the rest
        serve the expired copy if there is one, or wait a little and look again."""
        cache = self.cache
        try:
            with tracing.span("cache.lock", "cache") as span:
                span.attrs["cache.key"] = key
                taken = cache.try_lock(key)
                span.attrs["cache.lock"] = "taken" if taken is not None else "held by another"
            if taken is not None:
                return self._load_holding(key, load, tags, taken)
            stale = cache.peek(key)
            if stale is not None:  # expired, but close enough while someone reloads it
                tracing.count("cache.stale_served")
                return stale.value
            for _ in range(LOCK_POLLS):
                with tracing.span("cache.lock_wait", "cache"):
                    tracing.work(LOCK_POLL_MS)
                    tracing.count("cache.lock_waits")
                    entry = cache.get(key)
                if entry is not None:
                    return entry.value
                taken = cache.try_lock(key)
                if taken is not None:  # the loader gave up without storing anything
                    return self._load_holding(key, load, tags, taken)
        except CacheUnavailable:
            tracing.count("cache.errors")
        return self._load(key, load, tags)  # waited long enough, or Redis is down

    def _load_holding(self, key: str, load: Loader, tags: Tagger | None,
                      taken: float) -> Value | None:
        """Load while holding the lock taken at `taken`; release it however the load ends."""
        try:
            return self._load(key, load, tags)
        finally:
            _degrade(lambda: self.cache.unlock(key, taken))

    def written(self, key: str, load: Loader) -> None:
        self.cache.oracle.bump(key)
        if self.cache.settings.invalidate_on_write:
            # Drop, don't update: the next reader loads the fresh row. Two writers racing to
            # *update* a cache can leave the older value in it; deleting cannot.
            self._invalidate(key)

    def _invalidate(self, key: str) -> None:
        """Drop `key` and the entries tagged with it. Raises CacheUnavailable if Redis is down:
        unlike a failed read or fill, a failed drop leaves wrong data behind, so the caller
        must hear of it."""
        with tracing.span("cache.invalidate", "cache") as span:
            span.attrs["cache.key"] = key
            self.cache.delete(key)

    def _lookup(self, key: str) -> Entry | None:
        with tracing.span("cache.get", "cache") as span:
            span.attrs["cache.key"] = key
            try:
                entry = self.cache.get(key)
            except CacheUnavailable:
                span.attrs["cache.hit"] = False
                tracing.count("cache.errors")
                return None
            span.attrs["cache.hit"] = entry is not None
            if entry is None:
                tracing.count("cache.misses")
                return None
            tracing.count("cache.hits")
            if self.cache.oracle.is_stale(key, entry.version, entry.tags):
                span.attrs["cache.stale"] = True
                tracing.count("cache.stale_reads")
            return entry

    def _fill(self, key: str, value: Value, version: int, tags: list[str] | None = None,
              cost_ms: float = 0.0, replace: bool = True) -> None:
        with tracing.span("cache.set", "cache") as span:
            span.attrs["cache.key"] = key
            _degrade(lambda: self.cache.set(key, value, version, tags, cost_ms, replace))


class ReadThrough(CacheAside):
    """The service only asks the cache; the cache itself loads from the database on a miss."""

    name = "read_through"

    def read(self, key: str, load: Loader, tags: Tagger | None = None) -> Value | None:
        with tracing.span("cache.read_through", "cache"):
            return super().read(key, load, tags)


class WriteThrough(ReadThrough):
    """A write updates the database and then the cache, in the same request."""

    name = "write_through"

    def written(self, key: str, load: Loader) -> None:
        self.cache.oracle.bump(key)
        if not self.cache.settings.invalidate_on_write:
            return
        value = load()
        # Entries tagged with `key` were built from the old row: they go. The row itself is
        # written back fresh.
        self._invalidate(key)
        if value is not None:
            self._fill(key, value, self.cache.oracle.now())


class WriteBehind(WriteThrough):
    """A write lands in the cache at once and reaches the database later, in the background.

    Fast writes, at a price: until the flush, the database is behind the cache. The deferred
    rows wait in Redis (`cache:behind`, a sorted set scored by when each is due), so a cache
    crash loses every row that had not been flushed yet, though the client was told it was
    saved. The service uses it only where losing a write is survivable (product edits), never
    for stock or money.
    """

    name = "write_behind"

    def __init__(self, cache: Cache) -> None:
        super().__init__(cache)
        # What this process knows of each deferred write: when it is due, and the code that
        # writes a row to the database. The row itself is only in Redis.
        self.pending: dict[int, tuple[float, Callable[[Value], None]]] = {}
        self._queue = cache.store.key("cache:behind")
        self._sequence = 0

    def defer(self, key: str, value: Value, write_db: Callable[[Value], None]) -> None:
        """Put `value` in the cache now; `write_db` writes it (as Redis then holds it) to the
        database after the configured delay."""
        cache = self.cache
        cache.oracle.bump(key)
        due = cache.clock.now_ms + cache.settings.write_behind_delay_s * 1000.0
        self._sequence += 1
        row = orjson.dumps({"seq": self._sequence, "key": key, "row": value})
        try:
            with tracing.span("cache.defer", "cache"):
                cache.store.run("ZADD", ("ZADD", self._queue, due, row))
        except CacheUnavailable:
            # Nowhere to keep the row until later: write it now, as write-through would,
            # rather than acknowledge a write that exists nowhere.
            tracing.count("cache.errors")
            write_db(value)
            return
        self.pending[self._sequence] = (due, write_db)
        if cache.settings.invalidate_on_write:
            # Entries tagged with it show the old row; the row itself is stored fresh below.
            _degrade(lambda: self._invalidate(key))
        self._fill(key, value, cache.oracle.now())
        tracing.count("cache.deferred_writes")

    def flush_due(self, everything: bool = False) -> int:
        """Write to the database every deferred row whose time has come (`everything`: all of
        them, due or not); how many were written. A due row the cache no longer holds was
        lost with it, and nothing can write it now."""
        now = self.cache.clock.now_ms
        if not everything and not any(due <= now for due, _ in self.pending.values()):
            return 0
        store = self.cache.store
        try:
            rows = store.run("flush", ("ZRANGEBYSCORE", self._queue, "-inf",
                                       "+inf" if everything else now))[0]
            if rows:
                store.run("flush", ("ZREM", self._queue, *rows))
        except CacheUnavailable:
            return 0  # unreachable: the rows wait there, and are lost if it never comes back
        with tracing.span("cache.flush_behind", "cache") as span:
            written = 0
            for raw in rows:
                item = orjson.loads(raw)
                found = self.pending.pop(item["seq"], None)
                if found is not None:
                    found[1](item["row"])
                    written += 1
            span.attrs["cache.flushed"] = written
        for sequence in [s for s, (due, _) in self.pending.items() if everything or due <= now]:
            del self.pending[sequence]  # gone from Redis: lost in a crash
        return written


def _degrade(action: Callable[[], None]) -> None:
    """Run a cache write; if Redis is down, count it and carry on without the cache."""
    try:
        action()
    except CacheUnavailable:
        tracing.count("cache.errors")


STRATEGIES: dict[str, type[NoCache]] = {
    s.name: s for s in (NoCache, CacheAside, ReadThrough, WriteThrough, WriteBehind)
}


def make_strategy(cache: Cache) -> NoCache:
    return STRATEGIES[cache.settings.strategy](cache)
