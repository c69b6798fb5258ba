"""Order events for whoever listens: Redis pub/sub or Redis Streams, split into partitions.

Each placed order is announced as an event, and three subscribers (analytics, loyalty,
warehouse) react to it. How the event reaches them is `queue.delivery`:

- `pubsub`: `PUBLISH` to a channel. Redis hands the event to every connection subscribed
  right now and keeps nothing. A subscriber that is away (`faults.subscriber_offline_s`)
  never sees what was published meanwhile: those events are *lost*, and nobody is told.
- `stream`: `XADD` to a Redis Stream, read by one consumer group per subscriber
  (`XREADGROUP`, then `XACK`). The stream keeps every entry and the group remembers how far
  it has read, so a subscriber that comes back reads what it missed: the events were late,
  not lost. The price is a backlog to work through, which shows as consumer lag.

`queue.partitions` splits the events over several channels or streams; each subscriber reads
each partition with a consumer of its own, one event after another. More consumers work
through more events at once, but events of one customer can now sit in different
partitions, and the consumer with the shorter queue finishes a customer's later order before
another finishes the earlier one: *out of order*. `queue.partition_key=customer` routes all of
a customer's events to the same partition (a hash of the key), so one consumer sees them in
the order they were published; without a key they are dealt out round robin.

Subscribers work in simulated time: an event is processed from when it was published (or
when its consumer is free, or back online) for about `EVENT_MS`. A consumer may read its
events from Redis later than that (the figures are worked out from the simulated times the
events carry), so reading late changes nothing but the wall-clock time a run takes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from sandbox.clock import SimClock
from sandbox.mechanisms.redis_store import CacheUnavailable, RedisStore
from sandbox.settings import Settings

SUBSCRIBERS = ("analytics", "loyalty", "warehouse")
OFFLINE = "analytics"  # the subscriber `faults.subscriber_offline_s` takes away
EVENT_MS = 10.0  # a subscriber's work on one event (a write to its own store), on average
READ_COUNT = 200  # entries one XREADGROUP asks for


@dataclass(slots=True)
class Processed:
    """One event one consumer has worked on."""

    published_ms: float
    done_ms: float
    partition: int
    customer: int
    order_id: int


@dataclass
class Consumer:
    """One subscriber's reader of one partition."""

    subscriber: str
    partition: int
    free_at: float = 0.0  # simulated ms when it has finished what it read so far
    online: bool = True
    pubsub: Any = None  # its own SUBSCRIBE connection (pubsub delivery)


@dataclass
class EventBus:
    """Publishes order events and lets the subscribers read and process them.

    Args:
        store: the sandbox's Redis.
        channel: the name events go under (partition 0's channel; streams and further
            partitions add a suffix).
        clock: the simulated clock (a clock of its own when none is given).
        settings: returns the live settings (`queue.delivery`, `queue.partitions`,
            `queue.partition_key`, `faults.subscriber_offline_*`).
        seed: makes each event's processing time repeat from run to run.
    """

    store: RedisStore
    channel: str
    clock: SimClock = field(default_factory=SimClock)
    settings: Callable[[], Settings] = Settings
    subscribers: tuple[str, ...] = SUBSCRIBERS
    seed: int = 0
    published: int = 0
    received: dict[str, int] = field(default_factory=dict)
    # When the next offline window opens or closes (inf: nothing due); read before each request.
    next_change_ms: float = float("inf")
    _consumers: list[Consumer] = field(default_factory=list)
    _delivery: str = ""
    _partitions: int = 0
    _key: str = "none"
    _round_robin: int = -1
    _seq: int = 0
    _published_ms: list[float] = field(default_factory=list)
    _first_stored: int = 0  # the first of _published_ms that went to today's partitions
    _processed: dict[str, list[Processed]] = field(default_factory=dict)
    _offline: tuple[float, float] | None = None  # (from, until) in simulated ms

    def __post_init__(self) -> None:
        for name in self.subscribers:
            self.received[name] = 0
            self._processed[name] = []
        self.configure(self.settings())

    # -- setting up ---------------------------------------------------------------------------

    def configure(self, settings: Settings) -> None:
        """Follow the switches: rebuild the partitions and consumers when they change, and
        count the offline window from now."""
        queue = settings.queue
        self._key = queue.partition_key
        if (queue.delivery, queue.partitions) != (self._delivery, self._partitions):
            if self._consumers:
                self.deliver()  # what the old consumers were sent is read, not dropped
                self._close_consumers()
            self._delivery, self._partitions = queue.delivery, queue.partitions
            self._first_stored = len(self._published_ms)
            self._consumers = [Consumer(name, p, self.clock.now_ms) for name in self.subscribers
                               for p in range(self._partitions)]
            for consumer in self._consumers:
                self._connect(consumer)
        self.anchor(settings)

    def anchor(self, settings: Settings) -> None:
        """Start the offline window `faults.subscriber_offline_at_s` from now (a run's start)."""
        faults = settings.faults
        if faults.subscriber_offline_s <= 0 or OFFLINE not in self.subscribers:
            self._offline = None
            self.next_change_ms = float("inf")
            if any(not c.online for c in self._consumers):
                self.switch(self.clock.now_ms)
            return
        start = self.clock.now_ms + faults.subscriber_offline_at_s * 1000.0
        self._offline = (start, start + faults.subscriber_offline_s * 1000.0)
        self.next_change_ms = self.clock.now_ms  # take effect at the next step

    def _partition_name(self, partition: int) -> str:
        base = self.channel if self._delivery == "pubsub" else self.channel + ":stream"
        return base if partition == 0 else f"{base}:{partition}"

    def _connect(self, consumer: Consumer) -> None:
        """Bring a consumer (back) online: a stream's group remembers where it stopped; a
        pub/sub subscriber starts from whatever is published after it subscribes."""
        consumer.online = True
        name = self._partition_name(consumer.partition)
        if self._delivery == "pubsub":
            sub = self.store.client.pubsub(ignore_subscribe_messages=True)
            sub.subscribe(name)
            # The subscription's confirmation (read as None): after it, Redis sends this
            # connection every event published to the channel.
            sub.get_message(timeout=1.0)
            consumer.pubsub = sub
            return
        try:
            self.store.client.execute_command("XGROUP", "CREATE", name, consumer.subscriber,
                                              "0", "MKSTREAM")
        except Exception as exc:  # the group exists already: it keeps its place
            if "BUSYGROUP" not in str(exc):
                raise

    def _disconnect(self, consumer: Consumer) -> None:
        consumer.online = False
        if consumer.pubsub is not None:
            consumer.pubsub.close()  # its process is gone, and with it the subscription
            consumer.pubsub = None

    def _close_consumers(self) -> None:
        for consumer in self._consumers:
            self._disconnect(consumer)

    # -- publishing ---------------------------------------------------------------------------

    def partition_for(self, customer_id: int) -> int:
        """The partition an event goes to: by its key, or round robin without one."""
        if self._partitions == 1:
            return 0
        if self._key == "customer":
            # A stable hash (Python's own hash() of a str changes per process).
            return zlib.crc32(str(customer_id).encode()) % self._partitions
        self._round_robin = (self._round_robin + 1) % self._partitions
        return self._round_robin

    def publish(self, order_id: int, customer_id: int, kind: str = "order_placed") -> None:
        """Announce an event; one Redis command, inside the request that caused it."""
        self._seq += 1
        now = self.clock.now_ms
        # The event carries its own time: the subscribers' clock is the simulated one.
        payload = orjson.dumps({"type": kind, "order_id": order_id,
                                "customer_id": customer_id, "at_ms": now}).decode()
        name = self._partition_name(self.partition_for(customer_id))
        if self._delivery == "pubsub":
            command: tuple[Any, ...] = ("PUBLISH", name, payload)
        else:  # explicit ids: Redis's own come from the wall clock
            command = ("XADD", name, f"{self._seq}-0", "event", payload)
        self.store.run(str(command[0]), command, kind="queue")
        self.published += 1
        self._published_ms.append(now)

    # -- subscribers --------------------------------------------------------------------------

    def switch(self, now_ms: float) -> None:
        """Open or close the offline window when it is due (called before each request)."""
        window = self._offline
        away = window is not None and window[0] <= now_ms < window[1]
        for consumer in self._consumers:
            if consumer.subscriber != OFFLINE or consumer.online != away:
                continue
            if away:
                self._read(consumer, 0.05 if self.store.url else 0.0)  # what arrived before
                self._disconnect(consumer)
            else:
                self._connect(consumer)
                if window is not None:  # back: from now on it works again
                    consumer.free_at = max(consumer.free_at, window[1])
        if window is None or now_ms >= window[1]:
            self.next_change_ms = float("inf")
        else:
            self.next_change_ms = window[1] if away else window[0]

    def deliver(self, wait_s: float = 0.0) -> None:
        """Every online consumer reads and processes what Redis has for it. (`wait_s`: how
        long to wait for a real server's pub/sub messages to arrive over the socket.)"""
        for consumer in self._consumers:
            if consumer.online:
                self._read(consumer, wait_s)

    def _read(self, consumer: Consumer, wait_s: float) -> None:
        if consumer.pubsub is not None:
            while True:
                message = consumer.pubsub.get_message(timeout=wait_s)
                if message is None:
                    return
                if message.get("type") == "message":
                    self._process(consumer, str(message["data"]))
        if self._delivery != "stream":
            return
        name = self._partition_name(consumer.partition)
        consumer_name = f"{consumer.subscriber}-{consumer.partition}"
        while True:
            try:
                reply = self.store.run("XREADGROUP", (
                    "XREADGROUP", "GROUP", consumer.subscriber, consumer_name, "COUNT",
                    READ_COUNT, "STREAMS", name, ">"), kind="worker")[0]
                entries = _entries(reply)
                if not entries:
                    return
                for _, fields in entries:
                    self._process(consumer, fields["event"])
                # Acknowledged once processed: the group's pending list is empty again.
                self.store.run("XACK", ("XACK", name, consumer.subscriber,
                                        *[entry_id for entry_id, _ in entries]), kind="worker")
            except CacheUnavailable:
                return  # Redis is down: the entries wait in the stream

    def _process(self, consumer: Consumer, payload: str) -> None:
        event = orjson.loads(payload)
        start = max(consumer.free_at, float(event["at_ms"]))
        # The same event takes the same time however the run is read (a hash, not a draw).
        spread = zlib.crc32(f"{self.seed}:{consumer.subscriber}:{event['order_id']}".encode())
        done = start + EVENT_MS * (0.5 + (spread % 1000) / 1000.0)
        consumer.free_at = done
        self.received[consumer.subscriber] += 1
        self._processed[consumer.subscriber].append(Processed(
            float(event["at_ms"]), done, consumer.partition, int(event["customer_id"]),
            int(event["order_id"])))

    # -- figures ------------------------------------------------------------------------------

    def backlog(self, subscriber: str) -> int:
        """Events Redis still keeps for `subscriber` that it has not read (stream delivery;
        pub/sub keeps nothing). Asked of Redis, not worked out from the counters."""
        if self._delivery != "stream":
            return 0
        waiting = 0
        for partition in range(self._partitions):
            name = self._partition_name(partition)
            for group in _groups(self.store.client.execute_command("XINFO", "GROUPS", name)):
                if group.get("name") == subscriber:
                    lag = group.get("lag")
                    if lag is None:  # a Redis before 7.0: count from the stream's length
                        lag = (int(self.store.client.execute_command("XLEN", name))
                               - int(group.get("entries-read") or 0))
                    waiting += int(lag) + int(group.get("pending") or 0)
        return waiting

    def out_of_order(self, subscriber: str) -> int:
        """Events `subscriber` finished after a later order of the same customer: the
        per-key order check, in the order the consumers finished them."""
        latest: dict[int, int] = {}
        late = 0
        for event in sorted(self._processed[subscriber],
                            key=lambda e: (e.done_ms, e.partition, e.order_id)):
            seen = latest.get(event.customer, 0)
            if event.order_id < seen:
                late += 1
            else:
                latest[event.customer] = event.order_id
        return late

    def figures(self) -> dict[str, Any]:
        """Published, delivered, lost, waiting and out-of-order events, in total and by
        subscriber. Lost: published, never delivered, and not in Redis either."""
        by: dict[str, dict[str, int]] = {}
        for name in self.subscribers:
            delivered = self.received[name]
            waiting = self.backlog(name)
            by[name] = {"delivered": delivered, "lost": self.published - delivered - waiting,
                        "pending": waiting, "out_of_order": self.out_of_order(name)}
        total = {key: sum(s[key] for s in by.values())
                 for key in ("delivered", "lost", "pending", "out_of_order")}
        return {"delivery": self._delivery, "partitions": self._partitions,
                "partition_key": self._key, "published": self.published, **total,
                "by_subscriber": by}

    def lag_curve(self) -> tuple[list[float], list[float]]:
        """When events started and stopped waiting for a subscriber (simulated ms): what the
        consumer-lag series counts. A stream keeps each event for every subscriber until it
        is processed; pub/sub keeps only what reached a subscriber."""
        added: list[float] = []
        removed: list[float] = []
        for name in self.subscribers:
            done = self._processed[name]
            if self._delivery == "stream":
                added += self._published_ms[self._first_stored:]
            else:
                added += [e.published_ms for e in done]
            removed += [e.done_ms for e in done]
        return added, removed

    def close(self) -> None:
        self._close_consumers()


def _entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """XREADGROUP's entries for its one stream, as (id, fields)."""
    if not reply:
        return []
    streams = reply.items() if isinstance(reply, dict) else reply
    out: list[tuple[str, dict[str, str]]] = []
    for _, entries in streams:
        for entry_id, raw in entries or []:
            if isinstance(raw, dict):
                fields = {str(k): str(v) for k, v in raw.items()}
            else:
                fields = {str(raw[i]): str(raw[i + 1]) for i in range(0, len(raw), 2)}
            out.append((str(entry_id), fields))
    return out


def _groups(reply: Any) -> list[dict[str, Any]]:
    """XINFO GROUPS as one dict per group (redis-py gives dicts or flat lists)."""
    groups: list[dict[str, Any]] = []
    for group in reply or []:
        if isinstance(group, dict):
            groups.append({str(k): v for k, v in group.items()})
        else:
            groups.append({str(group[i]): group[i + 1] for i in range(0, len(group), 2)})
    return groups
