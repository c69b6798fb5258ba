"""What the mechanisms hold at one moment of a run, for a picture that moves while it runs.

A run's metrics are totals; this is the state behind them: one client's rate limit (tokens
left in its bucket, or requests left in its window), the cache's entries with the next ones
out and the ones it keeps longest, the queue's waiting, claimed and dead jobs. Looking changes
nothing a run measures: no request, no counter, no use of a cache entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

SHOWN_KEYS = 3  # cache keys shown at each end of the eviction order


@dataclass(frozen=True)
class LimitState:
    """One client's allowance now: `left` of `capacity` (tokens, or requests in the window)."""

    client: str
    algorithm: str
    left: float
    capacity: float


@dataclass(frozen=True)
class CachedKey:
    key: str
    ttl_left_s: float


@dataclass(frozen=True)
class CacheState:
    """How full the cache is, and its two ends in the eviction policy's order."""

    eviction: str
    entries: int
    max_entries: int
    hits: int
    misses: int
    evictions: int
    next_out: tuple[CachedKey, ...]  # what the policy would evict first
    kept: tuple[CachedKey, ...]  # what it would keep longest


@dataclass(frozen=True)
class QueueState:
    waiting: int  # published, no worker has read them yet
    claimed: int  # read by a worker, not acknowledged yet
    processed: int
    dead: int


@dataclass(frozen=True)
class LiveState:
    """The mechanisms at simulated second `t_s` of a run's measured part (after any warm-up),
    `done` of its `total` requests sent. A part that is switched off is None."""

    t_s: float
    done: int
    total: int
    limit: LimitState | None
    cache: CacheState | None
    queue: QueueState | None


def snapshot(sb: Sandbox, client: str, counts: Mapping[str, int], t_s: float, done: int,
             total: int) -> LiveState:
    """The state of `sb`'s mechanisms now, with `client`'s rate limit; `counts` are the run's
    counters so far (cache hits, misses and evictions come from there)."""
    from sandbox.mechanisms.redis_store import CacheUnavailable  # not when only reading types

    try:
        limit, cache = _limit(sb, client), _cache(sb, counts)
    except CacheUnavailable:  # Redis is down (a fault): nothing to look at there
        limit, cache = None, None
    return LiveState(t_s, done, total, limit, cache, _queue(sb))


def _limit(sb: Sandbox, client: str) -> LimitState | None:
    limiter = sb.network.gateway.limiter
    # A learner's own limiter plugged in (an exercise) need not say what it holds.
    peek = getattr(limiter, "peek", None)
    if limiter is None or peek is None:
        return None
    left, capacity = peek(client, sb.clock.now_ms)
    return LimitState(client, limiter.name, left, capacity)


def _cache(sb: Sandbox, counts: Mapping[str, int]) -> CacheState | None:
    settings = sb.settings.cache
    if settings.strategy == "off":
        return None
    cache = sb.cache
    lowest, highest = cache.ends(SHOWN_KEYS)

    def with_ttl(keys: list[str]) -> tuple[CachedKey, ...]:
        left = ((key, cache.ttl_left_s(key)) for key in keys)
        return tuple(CachedKey(key, ttl) for key, ttl in left if ttl is not None)

    return CacheState(settings.eviction, cache.size, settings.max_entries,
                      counts.get("cache.hits", 0), counts.get("cache.misses", 0),
                      counts.get("cache.evictions", 0), with_ttl(lowest), with_ttl(highest))


def _queue(sb: Sandbox) -> QueueState | None:
    jobs = sb.ctx.jobs
    if jobs is None or sb.settings.queue.mode != "async":
        return None
    claimed = len(jobs.held)
    return QueueState(jobs.pending - claimed, claimed, jobs.stats.processed,
                      jobs.stats.dead_lettered)


__all__ = ["CacheState", "CachedKey", "LimitState", "LiveState", "QueueState", "snapshot"]
