"""Asynchronous processing: a job queue on Redis Streams, and pub/sub fan-out.

Placing an order has follow-up work (confirm it, e-mail the customer, count the sale). Done
inside the request, the customer waits for all of it. With `queue.mode=async` the request only
appends a job to a stream (`XADD`) and answers; workers do the rest.

The queue is a Redis Stream read by a consumer group, so each job goes to one worker:

1. a worker takes the next job (`XREADGROUP ... >`); Redis records that it holds it;
2. it does the work and acknowledges (`XACK`); only then is the job done;
3. a worker that dies mid-job never acknowledges: after `queue.visibility_timeout_s` another
   worker takes the job over (`XCLAIM`). Nothing is lost, but a job may run twice (delivery is
   *at least once*), so the work must be idempotent: doing it twice has the effect of once;
4. a job that fails is retried after a backoff that doubles each time; after
   `queue.max_attempts` it moves to a dead-letter stream for a human to look at, instead of
   blocking the queue forever (a *poison message*).

A job is *lost* when Redis no longer has it although it was never done nor dead-lettered:
deleted or trimmed from the stream, or gone with a Redis that restarted without saving. The
queue does not infer that from its own counters (they always add up); it finds out from Redis,
when a worker asks for a job that is not there any more, and when `reconcile` checks every job
it is still waiting for.

Redis keeps who holds each job (the pending list); *when* a job may be taken over or retried
is a deadline in simulated time, which Redis cannot know, so the queue keeps those deadlines.
Workers run in simulated time too: the sandbox lets them catch up before each request.

Pub/sub is the other pattern: `PUBLISH` sends an event to every subscriber that is listening
right now (fan-out), and to nobody who is not: no storage, no acknowledgement, no retry. The
shop's order events and their subscribers are in `events.py`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.clock import SimClock
from sandbox.errors import SandboxError
from sandbox.mechanisms.redis_store import CacheUnavailable, RedisStore
from sandbox.settings import Settings

JOB_MS = 5.0  # a job's own work, besides the call to the e-mail provider it makes
RESTART_MS = 2000.0  # a crashed worker is back after this long
GROUP = "workers"


class JobFailed(SandboxError):
    """The job could not be done this time (it will be retried)."""


@dataclass
class QueueStats:
    published: int = 0
    processed: int = 0  # acknowledged after success (including duplicates recognised)
    duplicates: int = 0  # deliveries whose work had already been done (idempotency at work)
    retries: int = 0
    crashes: int = 0
    claimed: int = 0
    dead_lettered: int = 0
    lost: int = 0  # published, never done nor dead-lettered, and no longer in Redis

    def as_dict(self, pending: int) -> dict[str, int]:
        return {
            "published": self.published, "processed": self.processed,
            "dead_lettered": self.dead_lettered, "pending": pending, "lost": self.lost,
            "retries": self.retries, "crashes": self.crashes, "claimed": self.claimed,
            "duplicates": self.duplicates,
        }


@dataclass
class Worker:
    name: str
    free_at: float = 0.0  # simulated ms when it can take its next job


@dataclass
class Held:
    """A job some worker took and has not acknowledged."""

    attempts: int
    deadline_ms: float  # from then on, any worker may take it over (or retry it)


Handler = Callable[[str, dict[str, str]], bool]


class JobQueue:
    """A Redis Stream, a consumer group of workers, and a dead-letter stream.

    Args:
        store: the sandbox's Redis.
        clock: the simulated clock.
        settings: returns the live settings (`queue.*`, `faults.*`).
        rng: seeded randomness for crashes and job durations.
        handler: does one job: (job id, fields) -> True if it did the work, False if the
            work had already been done. Raises JobFailed (or anything) when it fails.
    """

    def __init__(self, store: RedisStore, clock: SimClock, settings: Callable[[], Settings],
                 rng: random.Random, handler: Handler) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.rng = rng
        self.handler = handler
        self.stream = store.key("jobs")
        self.dead = store.key("jobs:dead")
        self.stats = QueueStats()
        self.workers: list[Worker] = []
        self.held: dict[str, Held] = {}  # job id -> who-may-take-it-over deadline
        self._seq = 0
        self._dead_seq = 0
        # Job id -> publish time of jobs no worker has read yet, oldest first: a worker cannot
        # take a job before it exists.
        self._unread: dict[str, float] = {}
        # When each job was published and when each left the queue (done, dead-lettered or
        # found lost), in simulated ms: the consumer-lag series counts from these.
        self.published_ms: list[float] = []
        self.finished_ms: list[float] = []
        store.run("XGROUP", ("XGROUP", "CREATE", self.stream, GROUP, "0", "MKSTREAM"),
                  kind="queue")
        self.resize(settings().queue.workers)

    def resize(self, count: int) -> None:
        while len(self.workers) < count:
            self.workers.append(Worker(f"worker-{len(self.workers) + 1}", self.clock.now_ms))
        del self.workers[count:]

    @property
    def pending(self) -> int:
        """Jobs not yet done: waiting to be read, or held without acknowledgement."""
        return len(self._unread) + len(self.held)

    def publish(self, fields: dict[str, str]) -> str:
        """Append a job to the stream; returns its id. Called inside the request."""
        self._seq += 1
        job_id = f"{self._seq}-0"  # explicit ids: Redis's own come from the wall clock
        flat: list[str] = []
        for key, value in fields.items():
            flat += [key, value]
        self.store.run("XADD", ("XADD", self.stream, job_id, *flat), kind="queue")
        self.stats.published += 1
        self._unread[job_id] = self.clock.now_ms
        self.published_ms.append(self.clock.now_ms)
        return job_id

    # -- workers ----------------------------------------------------------------------------

    def run_until(self, now_ms: float) -> None:
        """Let every worker work through what it can start before `now_ms`."""
        idle: set[str] = set()
        saved = self.clock.now_ms
        try:
            while True:
                ready = [w for w in self.workers if w.free_at <= now_ms and w.name not in idle]
                if not ready:
                    return
                worker = min(ready, key=lambda w: (w.free_at, w.name))
                start = worker.free_at
                self.clock.now_ms = start
                taken = self._next_job(worker, start)
                if taken is None:
                    wake = self._next_arrival_after(start)
                    if wake is not None and wake <= now_ms:
                        worker.free_at = wake  # it polls again when something can be there
                    else:
                        idle.add(worker.name)  # nothing to do until after `now_ms`
                        worker.free_at = now_ms
                    continue
                self._work(worker, start, *taken)
        except CacheUnavailable:
            return  # Redis is down: workers wait; jobs stay where they are
        finally:
            self.clock.now_ms = saved

    def next_event_ms(self) -> float | None:
        """When a worker can next start something: a job is available and a worker is free."""
        available = [h.deadline_ms for h in self.held.values()]
        if self._unread:
            available.append(self._oldest_unread())
        if not available or not self.workers:
            return None
        return max(min(available), min(w.free_at for w in self.workers))

    def _next_arrival_after(self, t: float) -> float | None:
        """The first moment after `t` when a job becomes available to take."""
        times = [h.deadline_ms for h in self.held.values() if h.deadline_ms > t]
        if self._unread and self._oldest_unread() > t:
            times.append(self._oldest_unread())
        return min(times) if times else None

    def _next_job(self, worker: Worker, now: float) -> tuple[str, dict[str, str]] | None:
        # First, jobs whose holder ran out of time (crashed) or whose retry is due.
        due = [(h.deadline_ms, job_id) for job_id, h in self.held.items()
               if h.deadline_ms <= now]
        if due:
            _, job_id = min(due)
            reply = self.store.run("XCLAIM", ("XCLAIM", self.stream, GROUP, worker.name, 0,
                                              job_id), kind="worker")[0]
            if not reply or reply[0][1] is None:
                # Only this queue acknowledges, so the entry itself has left the stream.
                self._lose([job_id])
                return None
            self.stats.claimed += 1
            return job_id, _fields(reply[0][1])
        if not self._unread or self._oldest_unread() > now:
            return None
        reply = self.store.run("XREADGROUP", ("XREADGROUP", "GROUP", GROUP, worker.name,
                                              "COUNT", 1, "STREAMS", self.stream, ">"),
                               kind="worker")[0]
        entries = reply[0][1] if reply else []
        job_id, raw = entries[0] if entries else ("", {})
        # Redis hands out the oldest job left in the stream: any published before it (every
        # one, if it hands out none) is no longer there.
        gone: list[str] = []
        for unread_id in self._unread:
            if entries and _stream_order(unread_id) >= _stream_order(job_id):
                break
            gone.append(unread_id)
        self._lose(gone)
        if not entries:
            return None
        self._unread.pop(job_id, None)
        self.held[job_id] = Held(0, now)
        return job_id, _fields(raw)

    def _work(self, worker: Worker, start: float, job_id: str, fields: dict[str, str]) -> None:
        config = self.settings()
        held = self.held[job_id]
        held.attempts += 1
        # If this worker dies, the job becomes claimable once the visibility timeout passes.
        held.deadline_ms = start + config.queue.visibility_timeout_s * 1000.0
        duration = JOB_MS * (0.8 + 0.4 * self.rng.random())
        if self.rng.random() < config.faults.worker_crash_rate:
            # The worker dies mid-job, sometimes after the work is done but before the
            # acknowledgement: the case that makes idempotency necessary.
            if self.rng.random() < 0.5:
                with contextlib.suppress(Exception):
                    self._attempt(job_id, fields)
            self.stats.crashes += 1
            worker.free_at = start + duration / 2 + RESTART_MS
            return
        worker.free_at = start + duration
        self.clock.now_ms = worker.free_at
        try:
            done = self._attempt(job_id, fields)
        except Exception as exc:
            if held.attempts >= config.queue.max_attempts:
                self._dead_letter(job_id, fields, held.attempts, exc)
            else:
                backoff = config.queue.backoff_ms * 2 ** (held.attempts - 1)
                held.deadline_ms = worker.free_at + backoff
                self.stats.retries += 1
            return
        if not done:
            self.stats.duplicates += 1
        self.store.run("XACK", ("XACK", self.stream, GROUP, job_id), kind="worker")
        self.held.pop(job_id, None)
        self.stats.processed += 1
        self.finished_ms.append(worker.free_at)

    def _oldest_unread(self) -> float:
        return next(iter(self._unread.values()))

    def _lose(self, job_ids: list[str]) -> None:
        """Count jobs Redis no longer has as lost, and stop waiting for them."""
        for job_id in job_ids:
            self._unread.pop(job_id, None)
            self.held.pop(job_id, None)
            self.stats.lost += 1
            self.finished_ms.append(self.clock.now_ms)

    def reconcile(self) -> None:
        """Check every job the queue is still waiting for against the stream itself: a job no
        longer in it is lost. (Workers find out the same way when they next ask Redis for a
        job; this finds out now, for the figures.) Does nothing while Redis is down."""
        waiting = [*self.held, *self._unread]
        if not waiting:
            return
        oldest = min(waiting, key=_stream_order)
        try:
            entries = self.store.run("XRANGE", ("XRANGE", self.stream, oldest, "+"),
                                     kind="queue")[0]
        except CacheUnavailable:
            return
        there = {entry_id for entry_id, _ in entries or []}
        self._lose([job_id for job_id in waiting if job_id not in there])

    def _attempt(self, job_id: str, fields: dict[str, str]) -> bool:
        return self.handler(job_id, fields)

    def _dead_letter(self, job_id: str, fields: dict[str, str], attempts: int,
                     error: Exception) -> None:
        flat: list[str] = []
        for key, value in fields.items():
            flat += [key, value]
        self._dead_seq += 1
        self.store.run(
            "dead-letter",
            ("XADD", self.dead, f"{self._dead_seq}-0", "job_id", job_id, "attempts", str(attempts),
             "error", str(error)[:200], *flat),
            ("XACK", self.stream, GROUP, job_id),
            kind="worker",
        )
        self.held.pop(job_id, None)
        self.stats.dead_lettered += 1
        self.finished_ms.append(self.clock.now_ms)

    def dead_letters(self) -> list[dict[str, str]]:
        """Everything in the dead-letter stream, oldest first."""
        reply = self.store.run("XRANGE", ("XRANGE", self.dead, "-", "+"), kind="queue")[0]
        return [_fields(raw) for _, raw in reply or []]


def _stream_order(entry_id: str) -> tuple[int, int]:
    """`12-0` -> (12, 0): stream ids compare as numbers, not as text."""
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def _fields(raw: Any) -> dict[str, str]:
    """Stream entry fields as a dict (redis-py gives a dict or a flat list)."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return {str(raw[i]): str(raw[i + 1]) for i in range(0, len(raw), 2)}
