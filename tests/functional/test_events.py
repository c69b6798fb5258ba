"""Order events (issue #17, item 4): lost with pub/sub while a subscriber is away, kept by a
stream; reordered across partitions without a key, in order with one; consumer lag as series."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.clock import SimClock
from sandbox.errors import SettingsError
from sandbox.mechanisms.events import EventBus
from sandbox.mechanisms.redis_store import RedisStore
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings


@pytest.fixture
def redis_url(any_redis_url: str) -> str:
    """This module's tests run on fakeredis and on a real Redis server."""
    return any_redis_url


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    s = RedisStore(redis_url)
    yield s
    s.close()


def _rush(redis_url: str, changes: dict[str, Any], requests: int = 500) -> dict[str, Any]:
    settings = Settings().replace({"redis.url": redis_url, **changes})
    return run_scenario("rush", settings, requests=requests, warmup=0).metrics


def _wait(store: RedisStore) -> float:
    return 0.2 if store.url else 0.0  # a real server's pub/sub messages cross a socket


@pytest.mark.parametrize("delivery", ["pubsub", "stream"])
def test_an_absent_subscriber_is_gone_from_redis_and_its_stream_group_keeps_its_place(
    store: RedisStore, delivery: str,
) -> None:
    settings = Settings().replace({"queue.delivery": delivery,
                                   "faults.subscriber_offline_at_s": 1,
                                   "faults.subscriber_offline_s": 1})
    clock = SimClock()
    bus = EventBus(store, store.key("events:t"), clock, lambda: settings)
    try:
        bus.publish(1, 10)
        clock.jump_to(1500)
        bus.switch(clock.now_ms)  # analytics goes away
        if delivery == "pubsub":  # Redis itself no longer has it as a subscriber
            reply = store.client.execute_command("PUBSUB", "NUMSUB", store.key("events:t"))
            assert int(reply[1]) == 2
        for order in (2, 3, 4):
            bus.publish(order, 10)
        if delivery == "stream":  # the stream holds them for the absent group
            assert bus.backlog("analytics") == 3
        clock.jump_to(2500)
        bus.switch(clock.now_ms)  # back
        bus.publish(5, 10)
        bus.deliver(_wait(store))
        figures = bus.figures()["by_subscriber"]
        assert figures["loyalty"] == {"delivered": 5, "lost": 0, "pending": 0, "out_of_order": 0}
        if delivery == "pubsub":
            assert figures["analytics"]["delivered"] == 2 and figures["analytics"]["lost"] == 3
        else:
            assert figures["analytics"]["delivered"] == 5 and figures["analytics"]["lost"] == 0
            assert bus.backlog("analytics") == 0
    finally:
        bus.close()


def test_pubsub_loses_what_is_published_while_the_subscriber_is_away_the_stream_does_not(
    redis_url: str,
) -> None:
    # Four partitions keyed by customer: enough consumers to keep up with the rush.
    window = {"faults.subscriber_offline_at_s": 0.5, "faults.subscriber_offline_s": 0.5,
              "queue.partitions": 4, "queue.partition_key": "customer"}
    runs = {delivery: _rush(redis_url, {"queue.delivery": delivery, **window}, requests=400)
            for delivery in ("pubsub", "stream")}
    pubsub, stream = (runs[d]["queue"]["events"] for d in ("pubsub", "stream"))
    assert pubsub["published"] == stream["published"] > 200
    # About half a second of orders (some 70) never reached analytics; the others got all.
    assert 40 < pubsub["by_subscriber"]["analytics"]["lost"] < 110
    assert pubsub["lost"] == pubsub["by_subscriber"]["analytics"]["lost"]
    assert pubsub["by_subscriber"]["loyalty"]["delivered"] == pubsub["published"]
    assert stream["lost"] == 0 and stream["pending"] == 0
    assert stream["delivered"] == 3 * stream["published"]
    # Consumer lag: the stream's backlog builds while analytics is away, then drains; pub/sub
    # keeps nothing to wait.
    t_s, lag = runs["stream"]["series"]["t_s"], runs["stream"]["series"]["events_lag"]
    during = [n for t, n in zip(t_s, lag, strict=True) if 0.6 <= t < 1.0]
    assert min(during) > 5 and lag[-1] == 0
    assert max(runs["pubsub"]["series"]["events_lag"]) < min(during)


def test_a_partition_key_keeps_each_customers_events_in_order(redis_url: str) -> None:
    base = {"queue.delivery": "stream", "queue.partitions": 4}
    unkeyed = _rush(redis_url, base)
    keyed = _rush(redis_url, {**base, "queue.partition_key": "customer"})
    one = _rush(redis_url, {"queue.delivery": "stream"})
    for run in (unkeyed, keyed, one):
        assert run["queue"]["events"]["published"] > 300
        assert run["queue"]["events"]["lost"] == 0
    assert unkeyed["queue"]["events"]["out_of_order"] > 4  # a later order finished first
    assert keyed["queue"]["events"]["out_of_order"] == 0
    assert one["queue"]["events"]["out_of_order"] == 0
    # One consumer per subscriber cannot keep up with the rush: its lag grows all run long;
    # four partitions keep up.
    assert max(one["series"]["events_lag"]) > 10 * max(keyed["series"]["events_lag"])


def test_routing_by_key_always_picks_the_same_partition(store: RedisStore) -> None:
    settings = Settings().replace({"queue.partitions": 4, "queue.partition_key": "customer"})
    bus = EventBus(store, store.key("events:r"), settings=lambda: settings)
    try:
        picks = {customer: {bus.partition_for(customer) for _ in range(5)}
                 for customer in range(40)}
        assert all(len(p) == 1 for p in picks.values())
        assert set().union(*picks.values()) == {0, 1, 2, 3}
        bus.configure(settings.replace({"queue.partition_key": "none"}))
        assert [bus.partition_for(7) for _ in range(8)] == [0, 1, 2, 3] * 2  # round robin
    finally:
        bus.close()


def test_switching_delivery_live_drops_nothing(store: RedisStore) -> None:
    settings = Settings()
    bus = EventBus(store, store.key("events:s"), settings=lambda: settings)
    try:
        bus.publish(1, 5)
        bus.publish(2, 5)
        bus.configure(settings.replace({"queue.delivery": "stream", "queue.partitions": 3}))
        for order in (3, 4, 5):
            bus.publish(order, 5)
        bus.deliver(_wait(store))
        assert bus.received == {"analytics": 5, "loyalty": 5, "warehouse": 5}
        assert bus.figures()["lost"] == 0
    finally:
        bus.close()


def test_consumer_lag_of_the_job_queue_is_a_series(redis_url: str) -> None:
    one = _rush(redis_url, {"queue.mode": "async", "queue.workers": 1}, requests=300)
    four = _rush(redis_url, {"queue.mode": "async", "queue.workers": 4}, requests=300)
    for run in (one, four):
        series = run["series"]
        assert len(series["queue_lag"]) == len(series["t_s"])
        assert series["queue_lag"][-1] == 0 or run["queue"]["pending"] > 0
    assert max(one["series"]["queue_lag"]) > max(four["series"]["queue_lag"]) > 0


def test_bad_event_switches_are_refused_with_the_valid_ones() -> None:
    with pytest.raises(SettingsError, match=r"pubsub.*stream"):
        Settings().replace({"queue.delivery": "kafka"})
    with pytest.raises(SettingsError, match=r"none.*customer"):
        Settings().replace({"queue.partition_key": "order"})
    with pytest.raises(SettingsError):
        Settings().replace({"queue.partitions": 0})


def test_lost_and_late_events_show_in_the_cli_table_and_the_apps_metrics() -> None:
    from rich.console import Console

    from sandbox.render import metrics_table
    from sandbox.tui.widgets.metrics_panel import headline_table

    def text(renderable: Any) -> str:
        out = io.StringIO()
        Console(file=out, width=160).print(renderable)
        return out.getvalue()

    quiet = _rush("", {}, requests=100)
    for render in (metrics_table, headline_table):
        assert "events" not in text(render(quiet))  # nothing happened: nothing shown
    lossy = _rush("", {"faults.subscriber_offline_at_s": 0.1, "faults.subscriber_offline_s": 0.2,
                       "queue.partitions": 4}, requests=200)
    lost = lossy["queue"]["events"]["lost"]
    assert lost > 0
    assert f"/ {lost} /" in text(metrics_table(lossy))
    assert "events lost" in text(headline_table(lossy))
