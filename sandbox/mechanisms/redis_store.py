"""The sandbox's Redis: in-process fakeredis by default, a real server with `redis.url`.

This is the only module that imports a Redis client. Mechanisms send real Redis commands
through `RedisStore.run`, which makes each round trip one span, charges its simulated cost,
and turns any Redis failure into CacheUnavailable so callers can degrade instead of failing.
Expiry is never left to Redis (it runs on the wall clock): mechanisms store their own
deadlines in simulated time.
"""

from __future__ import annotations

import uuid
from typing import Any

import fakeredis
import redis

from sandbox import tracing
from sandbox.errors import SandboxError

ROUND_TRIP_MS = 0.15  # app -> Redis -> app on a local network: cheaper than a SQL query
PER_COMMAND_MS = 0.005


class CacheUnavailable(SandboxError):
    """Redis could not be reached or answered with an error."""


def send(client: Any, commands: tuple[tuple[Any, ...], ...]) -> list[Any]:
    """One round trip: a single command, or a pipeline (no MULTI) for several."""
    if isinstance(client, fakeredis.FakeRedis) and client.connection is not None:
        replies = _send_in_process(client, client.connection, commands)
        if replies is not None:
            return replies
    if len(commands) == 1:
        return [client.execute_command(*commands[0])]
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return list(pipe.execute())


def _send_in_process(client: Any, connection: Any,
                     commands: tuple[tuple[Any, ...], ...]) -> list[Any] | None:
    """`send` for an in-process fakeredis client holding one connection.

    The same commands reach the same fake server, in order, as a pipeline reaches a server;
    each reply goes through redis-py's own decoding and reply callbacks. Only the wire format
    is skipped: through redis-py, each command is packed into protocol bytes that fakeredis
    then parses back, in Python, and that was half the time of every command. None when
    this fakeredis has no such inside way.
    """
    replies: list[Any] = []
    with client.single_connection_lock:  # as redis-py holds it for the one connection
        connection.connect()  # opens the connection once; nothing after that
        # fakeredis's server side of the connection (a private method: a fakeredis that
        # renamed it gets None back, and `send` takes the ordinary way)
        run = getattr(connection._sock, "_process_command", None)
        if run is None:
            return None
        encode = connection.encoder.encode  # redis-py's encoding of each argument
        for command in commands:
            run([encode(arg) for arg in command])
            try:
                replies.append(client.parse_response(connection, command[0]))
            except redis.ResponseError as exc:  # a pipeline runs on past an error, then
                replies.append(exc)  # raises it
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            raise reply
    return replies


def scored(reply: Any) -> list[tuple[str, float]]:
    """(member, score) pairs from a ZPOPMIN or ZRANGE ... WITHSCORES reply.

    redis-py versions answer either with pairs or with one flat list; both mean the same.
    """
    if not reply:
        return []
    if isinstance(reply[0], (list, tuple)):
        return [(str(m), float(s)) for m, s in reply]
    return [(str(reply[i]), float(reply[i + 1])) for i in range(0, len(reply), 2)]


class RedisStore:
    """Real Redis commands against fakeredis or a real server.

    Args:
        url: `redis://HOST:PORT/DB` for a real server; empty for an in-process fakeredis
            with its own FakeServer (so sandboxes never share state by accident).
    """

    def __init__(self, url: str = "") -> None:
        self.url = url
        if url:
            self.client: Any = redis.Redis.from_url(
                url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0
            )
            # Keys carry a per-sandbox prefix: several sandboxes may share one server.
            self.prefix = f"sandbox:{uuid.uuid4().hex[:10]}:"
        else:
            # One connection held for good, as an app server holds its own: no pool to take
            # it from and give it back to on every command (pub/sub still takes its own from
            # the pool). `send` hands commands on it straight to the fake server.
            self.client = fakeredis.FakeRedis(server=fakeredis.FakeServer(),
                                              decode_responses=True,
                                              single_connection_client=True)
            self.prefix = "sandbox:"
        self.available = True  # the `faults.cache_down` switch
        # When a list, every round trip (its commands) is appended; the bench replays them.
        self.log: list[tuple[tuple[Any, ...], ...]] | None = None

    @property
    def kind(self) -> str:
        return "redis" if self.url else "fakeredis"

    def key(self, name: str) -> str:
        return self.prefix + name

    def check(self) -> None:
        """Raise CacheUnavailable with a clear message if the server cannot be reached."""
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise CacheUnavailable(
                f"cannot reach Redis at {self.url}: {exc}. Start it, or leave redis.url empty "
                "to use the built-in fakeredis."
            ) from None

    def run(self, label: str, *commands: tuple[Any, ...], kind: str = "cache") -> list[Any]:
        """Send `commands` in one round trip (a pipeline when more than one); their replies."""
        with tracing.span("redis." + label, kind) as span:
            span.attrs["redis.commands"] = (str(commands[0][0]) if len(commands) == 1
                                            else " | ".join(str(c[0]) for c in commands))
            trace = tracing.current_trace.get()
            if trace is not None:  # the round trip's simulated cost, and the running total
                trace.clock.now_ms += ROUND_TRIP_MS + PER_COMMAND_MS * len(commands)
                counts = trace.counts
                counts["redis.commands"] = counts.get("redis.commands", 0) + len(commands)
            if not self.available:
                span.attrs["error"] = "cache down"
                raise CacheUnavailable("the cache server is unreachable")
            if self.log is not None:
                self.log.append(commands)
            try:
                return send(self.client, commands)
            except redis.RedisError as exc:
                span.attrs["error"] = type(exc).__name__
                raise CacheUnavailable(f"Redis failed: {type(exc).__name__}") from None

    def close(self) -> None:
        """Forget this sandbox's keys on a shared server, then disconnect."""
        if self.url:
            try:
                keys = list(self.client.scan_iter(match=self.prefix + "*", count=1000))
                for start in range(0, len(keys), 500):
                    self.client.delete(*keys[start:start + 500])
            except redis.RedisError:
                pass  # the server went away; nothing of ours is left to tidy
        self.client.close()
