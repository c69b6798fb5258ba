"""The service's cache strategy, replaced by the student's cache-aside class.

The student writes `CacheAside(redis, ttl_s, now)` with `get(key, load)` and
`invalidate(key)`: the whole idea of cache-aside and nothing else. The adapter here gives it
what the sandbox's own strategies have on top (see sandbox/mechanisms/cache.py):

- the hit, miss and stale-read counts, spans and Redis costs every trace shows. A stale read is
  judged by the sandbox's freshness oracle: each loaded value carries, in a field the adapter
  adds and removes again, the oracle's version at load time and the keys it was built from;
- tags: when a product is written, the listing pages built from it are invalidated too (the
  adapter remembers which entries each key went into and asks the student's `invalidate` for
  each of them);
- a fallback to the database while Redis is down (`faults.cache_down`); a write's invalidation
  then raises CacheUnavailable, as the sandbox's own strategies do, for the service to log.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox import tracing
from sandbox.mechanisms.redis_store import (
    PER_COMMAND_MS,
    ROUND_TRIP_MS,
    CacheUnavailable,
    RedisStore,
)
from sandbox.plugs import PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

Value = dict[str, Any]

# The field a loaded value carries through the student's cache: [oracle version, tags].
STAMP = "_sandbox_freshness"


def _round_trip(name: str, commands: int) -> tracing.Span:
    """Charge one round trip to Redis, as RedisStore.run does for the sandbox's own calls."""
    span = tracing.span(f"redis.{name}", "cache")
    tracing.work(ROUND_TRIP_MS + PER_COMMAND_MS * commands)
    tracing.count("redis.commands", commands)
    return span


class TracedPipeline:
    """A redis-py pipeline whose `execute` is charged as one round trip."""

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)

    def __enter__(self) -> TracedPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pipe.reset()

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        with _round_trip("pipeline", max(1, len(self._pipe))):
            return self._pipe.execute(*args, **kwargs)


class TracedRedis:
    """The student's Redis client: the sandbox's own connection, each call one traced and
    costed round trip (a pipeline is one round trip for all its commands)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store.client, name)
        if not callable(attr):
            return attr
        if name == "pipeline":
            return lambda *a, **k: TracedPipeline(attr(*a, **k))

        def call(*args: Any, **kwargs: Any) -> Any:
            with _round_trip(name, 1):
                return attr(*args, **kwargs)

        return call


class StudentCacheAside:
    """Adapts a student's `CacheAside(redis, ttl_s, now)` to the service's cache strategy
    (`read(key, load, tags)` and `written(key, load)`)."""

    name = "cache_aside"

    def __init__(self, sb: Sandbox, cls: Any) -> None:
        self.sb = sb
        self.cls = cls
        self.ttl_s = -1.0
        self.impl: Any = None
        self.tagged: dict[str, set[str]] = {}  # a key -> the entries built from it

    def _student(self) -> Any:
        ttl_s = self.sb.settings.cache.ttl_s
        if self.impl is None or ttl_s != self.ttl_s:  # a new TTL: a new object, like a restart
            self.ttl_s = ttl_s
            clock = self.sb.clock
            self.impl = self.cls(TracedRedis(self.sb.redis), ttl_s, lambda: clock.now_ms / 1000.0)
        return self.impl

    def _key(self, key: str) -> str:
        return self.sb.redis.key(key)  # several sandboxes may share one real Redis server

    def read(self, key: str, load: Callable[[], Value | None],
             tags: Callable[[Value], list[str]] | None = None) -> Value | None:
        oracle = self.sb.cache.oracle
        if not self.sb.redis.available:
            tracing.count("cache.errors")
            return load()
        loaded = False

        def stamped_load() -> Value | None:
            nonlocal loaded
            loaded = True
            version = oracle.now()
            value = load()
            if value is None:
                return None
            built_from = tags(value) if tags else []
            for source in built_from:
                self.tagged.setdefault(source, set()).add(key)
            return {**value, STAMP: [version, built_from]}

        with tracing.span("cache.get", "cache") as span:
            span.attrs["cache.key"] = key
            value = self._student().get(self._key(key), stamped_load)
            span.attrs["cache.hit"] = not loaded
            tracing.count("cache.misses" if loaded else "cache.hits")
            if not isinstance(value, dict):
                return None  # a None from load, passed on (anything else is not a row)
            value = dict(value)
            stamp = value.pop(STAMP, None)
            if not loaded and stamp is not None and oracle.is_stale(key, stamp[0], stamp[1]):
                span.attrs["cache.stale"] = True
                tracing.count("cache.stale_reads")
            return value

    def written(self, key: str, load: Callable[[], Value | None]) -> None:
        self.sb.cache.oracle.bump(key)
        if not self.sb.settings.cache.invalidate_on_write:
            return
        with tracing.span("cache.invalidate", "cache") as span:
            span.attrs["cache.key"] = key
            if not self.sb.redis.available:  # the service logs and counts it (see written)
                raise CacheUnavailable("the cache server is unreachable")
            student = self._student()
            student.invalidate(self._key(key))
            for other in sorted(self.tagged.pop(key, ())):
                student.invalidate(self._key(other))


def _build_cache(sb: Sandbox, module: ModuleType) -> Any:
    return StudentCacheAside(sb, need(module, "CacheAside", "cache_aside"))


def _attach_cache(sb: Sandbox, part: Any) -> None:
    sb.ctx.cache = part


POINT = PlugPoint("cache_aside", "a class CacheAside(redis, ttl_s, now) with get(key, load) and "
                  "invalidate(key)", _build_cache, _attach_cache)
