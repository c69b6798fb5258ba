"""Graded tests for the read router: on its own, then in front of the sandbox's replica."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest

from sandbox.backend.demo import DEMO_PASSWORD
from sandbox.backend.seed import seeded_email
from sandbox.grading.harness import make_sandbox, scenario


def router(student: ModuleType, lag_ms: float = 500.0) -> Any:
    return student.ReplicaRouter(lag_ms)


@pytest.mark.points(1)
def test_writes_go_to_the_primary(student: ModuleType) -> None:
    """POST, PUT, PATCH and DELETE may write: the primary, always."""
    r = router(student)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        got = r.choose("client-7", method, 1000.0)
        assert got == "primary", f"a {method} request may write, so it goes to the primary; " \
            f"your router said {got!r}"


@pytest.mark.points(1)
def test_reads_go_to_the_replica(student: ModuleType) -> None:
    """A client who never wrote reads from the replica."""
    r = router(student)
    for method in ("GET", "HEAD"):
        got = r.choose("client-7", method, 1000.0)
        assert got == "replica", (f"client-7 has written nothing, so its {method} can be "
                                  f"served by the replica; your router said {got!r}")


@pytest.mark.points(3)
def test_a_client_who_just_wrote_reads_from_the_primary(student: ModuleType) -> None:
    """Lag 500 ms: client-7 wrote (answered at 1,000 ms), so its reads go to the primary until
    1,500 ms; client-8, who wrote nothing, stays on the replica."""
    r = router(student, lag_ms=500.0)
    r.choose("client-7", "POST", 990.0)
    r.answered("client-7", "POST", 1000.0)
    for now, want in ((1000.0, "primary"), (1200.0, "primary"), (1499.0, "primary"),
                      (1500.0, "replica"), (4000.0, "replica")):
        got = r.choose("client-7", "GET", now)
        assert got == want, (
            f"client-7's write was answered at 1000 ms and the replica lags 500 ms: a GET at "
            f"{now:g} ms goes to the {want}; your router said {got!r}")
        r.answered("client-7", "GET", now)
    got = r.choose("client-8", "GET", 1200.0)
    assert got == "replica", (f"client-8 wrote nothing: its GET at 1200 ms goes to the replica "
                              f"even though client-7 just wrote; your router said {got!r}")


@pytest.mark.points(2)
def test_the_lag_counts_from_the_answer(student: ModuleType) -> None:
    """A POST arrives at 1,000 ms and is answered at 1,400 ms: its reads stay on the primary
    until 1,900 ms, lag 500 ms after the answer (when the write was surely committed)."""
    r = router(student, lag_ms=500.0)
    r.choose("client-7", "POST", 1000.0)
    r.answered("client-7", "POST", 1400.0)
    got = [r.choose("client-7", "GET", now) for now in (1600.0, 1899.0, 1900.0)]
    assert got == ["primary", "primary", "replica"], (
        "the write was answered at 1400 ms, so with a 500 ms lag GETs at 1600 and 1899 ms go "
        f"to the primary and one at 1900 ms to the replica; your router said {got}")


# -- in the sandbox ---------------------------------------------------------------------------

REPLICA = {"db.read_replica": True, "db.replica_lag_ms": 1000}


Event = tuple[str, str, str, float, str]  # (call, client, method, time, route)


def with_router(student: ModuleType, switches: dict[str, object] | None = None,
                seed: int = 7) -> tuple[Any, list[Event]]:
    """A sandbox with a lagging replica and the student's router. Every call the sandbox
    makes to the router is recorded, in order, as ("choose", client, method, time, route)
    or ("answered", client, method, time, "")."""
    sb = make_sandbox({**REPLICA, **(switches or {})}, plug=("replica", student), seed=seed)
    impl = sb.plugs["replica"].impl
    events: list[Event] = []
    choose, answered = impl.choose, impl.answered

    def recording_choose(client: str, method: str, now_ms: float) -> Any:
        route = choose(client, method, now_ms)
        events.append(("choose", client, method, now_ms, route))
        return route

    def recording_answered(client: str, method: str, now_ms: float) -> None:
        answered(client, method, now_ms)
        events.append(("answered", client, method, now_ms, ""))

    impl.choose, impl.answered = recording_choose, recording_answered
    return sb, events


def order_then_history(sb: Any, users: range) -> list[dict[str, Any]]:
    """Each user logs in; after the replica has caught up, each places an order and at once
    reads their order history, while another shopper looks at a product in between."""

    async def go() -> list[dict[str, Any]]:
        out = []
        async with sb.client() as http:
            tokens = {}
            for uid in users:
                login = await http.post("/auth/login", json={"email": seeded_email(uid),
                                                              "password": DEMO_PASSWORD},
                                        headers={"X-Sandbox-Client": f"client-{uid}"})
                tokens[uid] = "Bearer " + login.json()["access_token"]
            sb.clock.advance(5000)  # logins are writes too: let the replica catch up
            for uid in users:
                me = {"X-Sandbox-Client": f"client-{uid}", "Authorization": tokens[uid]}
                placed = await http.post("/orders", headers=me, json={
                    "items": [{"product_id": 2, "quantity": 1}]})
                browse = await http.get(f"/products/{uid}",
                                        headers={"X-Sandbox-Client": "client-999"})
                history = await http.get("/users/me/orders", headers=me,
                                         params={"limit": 10})
                trace = history.extensions["sandbox.trace"]
                out.append({"uid": uid, "order": placed.json().get("id"),
                            "status": placed.status_code,
                            "seen": [o["id"] for o in history.json().get("orders", [])],
                            "stale": trace.counts.get("db.stale_reads", 0),
                            "browse": browse.status_code})
        return out

    return asyncio.run(go())


@pytest.mark.points(5)
def test_customers_see_their_own_new_orders(student: ModuleType) -> None:
    """Replica lag 1 s: twelve customers each place an order and open their order history
    straight away: every one sees the new order, and other shoppers still use the replica."""
    sb, events = with_router(student)
    results = order_then_history(sb, range(3, 15))
    for r in results:
        assert r["status"] == 201, f"user {r['uid']}'s order was not taken ({r['status']})"
        assert r["order"] in r["seen"] and not r["stale"], (
            f"user {r['uid']} placed order {r['order']} and then read their order history, "
            "which did not list it: that read went to the replica, which is 1 s behind. A "
            "client who has just written must read from the primary")
    browsing = [e[4] for e in events if e[0] == "choose" and e[1] == "client-999"]
    assert browsing and set(browsing) == {"replica"}, (
        f"client-999 only reads: all its requests belong on the replica; yours sent them to "
        f"{browsing}")


@pytest.mark.points(4)
def test_most_reads_stay_on_the_replica(student: ModuleType) -> None:
    """The steady scenario with a replica 1 s behind: no one reads stale copies of their own
    writes, and still nine reads in ten or more go to the replica."""
    sb, events = with_router(student)
    own_stale: list[str] = []
    wrote: dict[str, float] = {}  # client -> when its last write was answered

    def watch(trace: Any) -> None:
        """After each request (the router's calls for it are the newest events)."""
        chosen = [e for e in events[-2:] if e[0] == "choose" and e[1] == trace.client]
        if not chosen:
            return
        now = chosen[0][3]
        if trace.method == "GET" and trace.counts.get("db.stale_reads", 0) and \
                now - wrote.get(trace.client, float("-inf")) < 1000:
            own_stale.append(trace.client)
        if trace.method not in ("GET", "HEAD"):
            wrote[trace.client] = events[-1][3]

    sb.network.observers.append(watch)
    metrics = scenario(sb, "steady", requests=1200, warmup=0)
    assert len(own_stale) == 0, (
        f"stale reads for clients who had written less than 1 s before: {len(own_stale)} (the "
        f"first by {own_stale[0]}); send a recent writer's reads to the primary")
    reads = [e[4] for e in events if e[0] == "choose" and e[2] == "GET"]
    share = reads.count("replica") / len(reads)
    assert share >= 0.9, (f"only {share:.0%} of GET requests went to the replica: send only "
                          "recent writers' reads to the primary")
    assert metrics["db"]["replica_queries"] > 0, "the replica served queries"
