"""The connection table: keep-alive reuse, the idle timeout, and what a new connection costs."""

from __future__ import annotations

from sandbox.network.connections import ConnectionTable
from sandbox.settings import NetworkSettings


def test_keep_alive_reuses_until_idle_timeout() -> None:
    table = ConnectionTable(NetworkSettings(keep_alive=True, idle_timeout_s=5))
    assert not table.reuse("c1", 0.0)  # never connected
    table.done("c1", 100.0)
    assert table.reuse("c1", 5_100.0)  # idle exactly the timeout: still open
    table.done("c1", 5_100.0)  # used again: the idle time starts over
    assert table.reuse("c1", 10_000.0)
    assert not table.reuse("c1", 10_100.1)  # idle past it: the server closed it
    assert not table.reuse("c2", 10_100.1)  # a connection is one client's


def test_keep_alive_off_never_reuses() -> None:
    table = ConnectionTable(NetworkSettings(keep_alive=False))
    table.done("c1", 0.0)
    table.open_warm(["c1"], 0.0)
    assert not table.reuse("c1", 1.0)
    assert table.open_connections == 0


def test_warm_connections_count_as_open() -> None:
    table = ConnectionTable(NetworkSettings(idle_timeout_s=75))
    table.open_warm(["c1", "c2"], 0.0)
    assert table.reuse("c2", 74_000.0)
    assert not table.reuse("c1", 76_000.0)


def test_handshake_round_trips() -> None:
    assert ConnectionTable(NetworkSettings(tls=False)).handshake_rtts() == 1  # TCP
    assert ConnectionTable(NetworkSettings(tls=True)).handshake_rtts() == 2  # TCP + TLS 1.3
