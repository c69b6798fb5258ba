"""The in-process fakeredis path of `redis_store.send` answers exactly as redis-py does."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
import redis

from sandbox.mechanisms.redis_store import send

ROUND_TRIPS: tuple[tuple[tuple[Any, ...], ...], ...] = (
    (("HSET", "b", "tokens", repr(3.5), "updated_ms", repr(12.0)),),
    (("HMGET", "b", "tokens", "updated_ms", "nothing"),),
    (("SET", "k", '{"a": 1}'), ("ZADD", "exp", 30000.0, "k")),
    (("GET", "k"), ("GET", "missing"), ("INCR", "n"), ("INCR", "n")),
    (("ZRANGE", "exp", 0, 0, "WITHSCORES"), ("ZPOPMIN", "exp"), ("ZCARD", "exp")),
    (("SADD", "tag", "k", "j"), ("SMEMBERS", "tag"), ("DEL", "tag", "k")),
    (("XGROUP", "CREATE", "jobs", "g", "0", "MKSTREAM"),),
    (("XADD", "jobs", "*", "order", "7"),),
    (("XREADGROUP", "GROUP", "g", "w1", "COUNT", 1, "STREAMS", "jobs", ">"),),
    (("XPENDING", "jobs", "g"), ("PUBLISH", "events", "hello")),
)


def clients() -> tuple[Any, Any]:
    """Two fresh fakeredis clients: one held connection (the in-process path), one pooled
    (redis-py all the way)."""
    held = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True,
                               single_connection_client=True)
    pooled = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    return held, pooled


def without_ids(reply: Any) -> Any:
    """Stream entry ids come from the wall clock: replace them before comparing."""
    if isinstance(reply, str) and "-" in reply and reply.split("-")[0].isdigit():
        return "<id>"
    if isinstance(reply, (list, tuple)):
        return [without_ids(r) for r in reply]
    if isinstance(reply, dict):
        return {k: without_ids(v) for k, v in reply.items()}
    return reply


def test_same_replies_as_redis_py() -> None:
    held, pooled = clients()
    assert held.connection is not None and pooled.connection is None
    for commands in ROUND_TRIPS:
        assert without_ids(send(held, commands)) == without_ids(send(pooled, commands))


def test_an_error_runs_the_rest_then_raises() -> None:
    held, pooled = clients()
    for client in (held, pooled):
        send(client, (("SET", "s", "text"),))
        with pytest.raises(redis.ResponseError):
            send(client, (("INCR", "s"), ("SET", "after", "1")))
        assert send(client, (("GET", "after"),)) == ["1"]  # the pipeline ran on


def test_a_fakeredis_without_the_inside_way_takes_the_ordinary_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process path uses a private fakeredis method; without it, replies still come."""
    from sandbox.mechanisms import redis_store

    monkeypatch.setattr(redis_store, "_send_in_process", lambda *args: None)
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True,
                                 single_connection_client=True)
    assert redis_store.send(client, (("SET", "k", "1"), ("INCR", "k"))) == [True, 2]


def test_protocol_characters_in_a_key_stay_one_argument() -> None:
    """A client picks part of some keys (its API key names its rate-limit bucket). Sent
    straight to the fake server, a key holding Redis protocol text is still one argument: it
    cannot smuggle in a command, here a FLUSHALL that would wipe every client's state."""
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True,
                                 single_connection_client=True)
    send(client, (("SET", "victim", "1"),))
    hostile = "rl:x\r\n*1\r\n$8\r\nFLUSHALL\r\n"
    assert send(client, (("INCR", hostile), ("GET", "victim"))) == [1, "1"]
    assert sorted(client.keys("*")) == sorted([hostile, "victim"])
