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

Redis keeps who holds each job (the pending list); *when* a job may be taken over or retried
is a deadline in simulated time, which Redis cannot know, so the queue keeps those deadlines.
Workers run in simulated time too: the sandbox lets them catch up before each request.

Pub/sub is the other pattern: `PUBLISH` sends an event to every subscriber that is listening
right now (fan-out), and to nobody who is not: no storage, no acknowledgement, no retry.
"""

from __future__ import annotations

import contextlib
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import SimClock
from sandbox.mechanisms.redis_store import CacheUnavailable, RedisStore
from sandbox.settings import Settings

JOB_MS = 5.0  # a job's own work, besides the call to the e-mail provider it makes
RESTART_MS = 2000.0  # a crashed worker is back after this long
GROUP = "workers"


class JobFailed(Exception):
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

    def as_dict(self, pending: int) -> dict[str, int]:
        return {
            "published": self.published, "processed": self.processed,
            "dead_lettered": self.dead_lettered, "pending": pending,
            "lost": self.published - self.processed - self.dead_lettered - pending,
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
        # Publish times of jobs no worker has read yet, oldest first: a worker cannot take a
        # job before it exists.
        self._unread: deque[float] = deque()
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
        self._unread.append(self.clock.now_ms)
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
            available.append(self._unread[0])
        if not available or not self.workers:
            return None
        return max(min(available), min(w.free_at for w in self.workers))

    def _next_arrival_after(self, t: float) -> float | None:
        """The first moment after `t` when a job becomes available to take."""
        times = [h.deadline_ms for h in self.held.values() if h.deadline_ms > t]
        if self._unread and self._unread[0] > t:
            times.append(self._unread[0])
        return min(times) if times else None

    def _next_job(self, worker: Worker, now: float) -> tuple[str, dict[str, str]] | None:
        # First, jobs whose holder ran out of time (crashed) or whose retry is due.
        due = [(h.deadline_ms, job_id) for job_id, h in self.held.items()
               if h.deadline_ms <= now]
        if due:
            _, job_id = min(due)
            reply = self.store.run("XCLAIM", ("XCLAIM", self.stream, GROUP, worker.name, 0,
                                              job_id), kind="worker")[0]
            self.stats.claimed += 1
            if reply:
                return job_id, _fields(reply[0][1])
            self.held.pop(job_id, None)  # acknowledged meanwhile
            return None
        if not self._unread or self._unread[0] > now:
            return None
        reply = self.store.run("XREADGROUP", ("XREADGROUP", "GROUP", GROUP, worker.name,
                                              "COUNT", 1, "STREAMS", self.stream, ">"),
                               kind="worker")[0]
        if not reply:
            return None
        job_id, raw = reply[0][1][0]
        self._unread.popleft()
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

    def dead_letters(self) -> list[dict[str, str]]:
        """Everything in the dead-letter stream, oldest first."""
        reply = self.store.run("XRANGE", ("XRANGE", self.dead, "-", "+"), kind="queue")[0]
        return [_fields(raw) for _, raw in reply or []]


def _fields(raw: Any) -> dict[str, str]:
    """Stream entry fields as a dict (redis-py gives a dict or a flat list)."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return {str(raw[i]): str(raw[i + 1]) for i in range(0, len(raw), 2)}


@dataclass
class EventBus:
    """Pub/sub fan-out: every subscriber listening gets every event; nobody else does."""

    store: RedisStore
    channel: str
    subscribers: tuple[str, ...] = ("analytics", "loyalty", "warehouse")
    published: int = 0
    received: dict[str, int] = field(default_factory=dict)
    _subs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.subscribers:
            sub = self.store.client.pubsub(ignore_subscribe_messages=True)
            sub.subscribe(self.channel)
            sub.get_message(timeout=1.0)  # the subscription's confirmation (read as None)
            self._subs[name] = sub
            self.received[name] = 0

    def publish(self, message: str) -> None:
        self.store.run("PUBLISH", ("PUBLISH", self.channel, message), kind="queue")
        self.published += 1

    def deliver(self, wait_s: float = 0.0) -> None:
        """Let subscribers read what has arrived (a real server delivers over a socket)."""
        for name, sub in self._subs.items():
            while True:
                message = sub.get_message(timeout=wait_s)
                if message is None:
                    break
                if message.get("type") == "message":
                    self.received[name] += 1

    def close(self) -> None:
        for sub in self._subs.values():
            sub.close()
