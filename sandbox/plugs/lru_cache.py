"""The product cache, replaced by the student's in-process LRU cache with a TTL per entry.

The student writes `LruTtlCache(max_entries, ttl_s)` with `get(key, now_s)`, `put(key, value,
now_s)` and `delete(key)`: a bounded map that forgets the least recently used entry. The
adapter here turns it into the service's cache strategy (cache-aside: look, load on a miss,
store; drop on a write), with the hit, miss and stale-read counts the sandbox's own strategies
report, and the tags that drop a listing page when a product on it changes. Since the cache
lives in the app's own memory, there is no Redis round trip to charge and no Redis to lose.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox import tracing
from sandbox.plugs import PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

Value = dict[str, Any]

# The field a stored value carries through the student's cache: [oracle version, tags].
STAMP = "_sandbox_freshness"


class StudentLruCache:
    """Adapts a student's `LruTtlCache` to the service's cache strategy (`read(key, load,
    tags)` and `written(key, load)`), cache-aside style."""

    name = "cache_aside"

    def __init__(self, sb: Sandbox, cls: Any) -> None:
        self.sb = sb
        self.cls = cls
        self.made_with: tuple[int, float] | None = None
        self.impl: Any = None
        self.tagged: dict[str, set[str]] = {}  # a key -> the entries built from it

    def _student(self) -> Any:
        config = self.sb.settings.cache
        wanted = (config.max_entries, config.ttl_s)
        if self.impl is None or wanted != self.made_with:  # new bounds: a new cache, a restart
            self.made_with, self.tagged = wanted, {}
            self.impl = self.cls(*wanted)
        return self.impl

    def _now_s(self) -> float:
        return self.sb.clock.now_ms / 1000.0

    def read(self, key: str, load: Callable[[], Value | None],
             tags: Callable[[Value], list[str]] | None = None) -> Value | None:
        oracle = self.sb.cache.oracle
        cache = self._student()
        with tracing.span("cache.get", "cache") as span:
            span.attrs["cache.key"] = key
            found = cache.get(key, self._now_s())
            if isinstance(found, dict):
                value = dict(found)
                stamp = value.pop(STAMP, None)
                span.attrs["cache.hit"] = True
                tracing.count("cache.hits")
                if stamp is not None and oracle.is_stale(key, stamp[0], stamp[1]):
                    span.attrs["cache.stale"] = True
                    tracing.count("cache.stale_reads")
                return value
            span.attrs["cache.hit"] = False
            tracing.count("cache.misses")
            version = oracle.now()
            loaded = load()
            if loaded is None:
                return None
            built_from = tags(loaded) if tags else []
            for source in built_from:
                self.tagged.setdefault(source, set()).add(key)
            cache.put(key, {**loaded, STAMP: [version, built_from]}, self._now_s())
            return loaded

    def written(self, key: str, load: Callable[[], Value | None]) -> None:
        self.sb.cache.oracle.bump(key)
        if not self.sb.settings.cache.invalidate_on_write:
            return
        with tracing.span("cache.invalidate", "cache") as span:
            span.attrs["cache.key"] = key
            cache = self._student()
            cache.delete(key)
            for other in sorted(self.tagged.pop(key, ())):
                cache.delete(other)


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentLruCache(sb, need(module, "LruTtlCache", "lru_cache"))


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.cache = part


POINT = PlugPoint("lru_cache", "a class LruTtlCache(max_entries, ttl_s) with get(key, now_s), "
                  "put(key, value, now_s) and delete(key)", _build, _attach)
