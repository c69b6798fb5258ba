"""Graded tests for the GCRA limiter: first on its own, then at the sandbox's gateway."""

from __future__ import annotations

import math
from types import ModuleType

import fakeredis
import pytest

from sandbox.grading.harness import make_sandbox, scenario, send


def limiter(student: ModuleType, limit: int = 4, window_s: float = 1.0, burst: int = 0,
            redis: object | None = None) -> object:
    redis = redis or fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return student.GCRA(redis, limit, window_s, burst)


@pytest.mark.points(2)
def test_a_quiet_client_may_send_capacity_at_once(student: ModuleType) -> None:
    """limit 4, burst 2: six requests at the same instant pass, the seventh is refused."""
    g = limiter(student, burst=2)
    answers = [g.take("ada", 1000.0)[0] for _ in range(7)]
    assert answers == [True] * 6 + [False], (
        f"with limit 4 and burst 2 a new client may send 6 requests at once; got {answers}")


@pytest.mark.points(2)
def test_remaining_counts_down(student: ModuleType) -> None:
    """After each of four requests at once (limit 4) the client has 3, 2, 1, then 0 left."""
    g = limiter(student)
    left = [round(float(g.take("ada", 0.0)[1]), 6) for _ in range(4)]
    assert left == [3.0, 2.0, 1.0, 0.0], f"remaining after each of four takes: {left}"
    assert tuple(g.take("ada", 0.0)) == (False, 0.0), "a refusal leaves (False, 0.0)"


@pytest.mark.points(3)
def test_then_one_request_per_period(student: ModuleType) -> None:
    """limit 4 per second is one request per 250 ms once the burst is spent."""
    g = limiter(student)
    for _ in range(4):
        g.take("ada", 0.0)
    assert g.take("ada", 200.0)[0] is False, "200 ms after the burst, no period has passed"
    assert g.take("ada", 260.0)[0] is True, "after 260 ms one request's period is free again"
    assert g.take("ada", 270.0)[0] is False, "and that one was just used"
    assert g.take("ada", 520.0)[0] is True, "another period later, another request passes"


@pytest.mark.points(2)
def test_a_refusal_costs_nothing(student: ModuleType) -> None:
    """Fifty refused requests do not push the client's next slot further away."""
    g = limiter(student)
    for _ in range(4):
        g.take("ada", 0.0)
    refused = [g.take("ada", 100.0)[0] for _ in range(50)]
    assert not any(refused), "the burst is spent: these are refused"
    assert g.take("ada", 260.0)[0] is True, (
        "a refused request must not save a new TAT: at 260 ms the next period is free")


@pytest.mark.points(2)
def test_a_long_silence_saves_no_more_than_capacity(student: ModuleType) -> None:
    """After an hour of silence a client may still send only limit + burst at once."""
    g = limiter(student, limit=4, burst=1)
    g.take("ada", 0.0)
    answers = [g.take("ada", 3_600_000.0)[0] for _ in range(6)]
    assert answers == [True] * 5 + [False], f"capacity is limit + burst = 5; got {answers}"


@pytest.mark.points(2)
def test_clients_are_apart_and_the_time_lives_in_redis(student: ModuleType) -> None:
    """Each client has its own TAT; two GCRA objects (two gateways) on one Redis share it."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    first, second = limiter(student, limit=2, redis=redis), limiter(student, limit=2, redis=redis)
    assert first.take("ada", 0.0)[0] and second.take("ada", 0.0)[0]
    assert first.take("ada", 0.0)[0] is False, (
        "the second gateway's request must be seen by the first: keep the TAT in Redis")
    assert second.take("grace", 0.0)[0] is True, "grace is not ada: her allowance is whole"


@pytest.mark.points(2)
def test_retry_after_and_peek_tell_without_taking(student: ModuleType) -> None:
    """limit 4: 100 ms after a spent burst the wait is 150 ms and 0.4 of a request is free;
    asking changes nothing."""
    g = limiter(student)
    assert float(g.retry_after_ms("ada", 0.0)) == 0.0, "a new client need not wait"
    assert tuple(g.peek("ada", 0.0)) == (4.0, 4.0), "a new client has its whole capacity"
    for _ in range(4):
        g.take("ada", 0.0)
    wait = float(g.retry_after_ms("ada", 100.0))
    assert math.isclose(wait, 150.0), f"the next period frees at 250 ms: wait 150, not {wait}"
    left, capacity = g.peek("ada", 100.0)
    assert math.isclose(float(left), 0.4) and float(capacity) == 4.0, (
        f"100 of 250 ms of a period: (0.4, 4.0) free; got {(left, capacity)}")
    assert g.take("ada", 240.0)[0] is False and g.take("ada", 250.0)[0] is True, (
        "retry_after_ms and peek must not change the stored TAT")


class RacedRedis:
    """Redis as one gateway sees it while a second gateway (`rival`, another GCRA on the same
    server) decides for the same client at the worst moment: after this one has read the
    client's TAT and just before its write lands. Reads pass straight through."""

    READS = frozenset({"get", "mget", "hget", "hmget", "hgetall", "exists", "pttl", "ttl"})

    def __init__(self, redis: object, rival: object) -> None:
        self.redis, self.rival, self.raced = redis, rival, False

    def race(self) -> None:
        if not self.raced:
            self.raced = True
            self.rival.take("ada", 0.0)

    def pipeline(self, *args: object, **kwargs: object) -> RacedPipeline:
        return RacedPipeline(self, self.redis.pipeline(*args, **kwargs))

    def __getattr__(self, name: str) -> object:
        method = getattr(self.redis, name)
        if name in self.READS:
            return method

        def write(*args: object, **kwargs: object) -> object:
            self.race()
            return method(*args, **kwargs)

        return write


class RacedPipeline:
    """A pipeline whose EXEC comes just after the rival gateway's write."""

    def __init__(self, raced: RacedRedis, pipe: object) -> None:
        self.raced, self.pipe = raced, pipe

    def __enter__(self) -> RacedPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pipe.reset()

    def execute(self, *args: object, **kwargs: object) -> object:
        self.raced.race()
        return self.pipe.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self.pipe, name)


@pytest.mark.points(3)
def test_two_gateways_cannot_both_take_the_last_slot(student: ModuleType) -> None:
    """limit 1: another gateway takes ada's only slot between your read and your write.
    Your write must not overwrite its TAT (WATCH the key, write in MULTI/EXEC, and on a
    WatchError decide again): your request is refused."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    rival = limiter(student, limit=1, redis=redis)
    raced = RacedRedis(redis, rival)
    answer = limiter(student, limit=1, redis=raced).take("ada", 0.0)
    assert raced.raced, "the race never happened: was the TAT written to Redis at all?"
    assert answer[0] is False, (
        "the other gateway took ada's only slot before your write; you allowed the request "
        "anyway: a lost update (WATCH the key, and decide again when EXEC fails)")
    assert rival.take("ada", 999.0)[0] is False, "ada's slot is taken until 1000 ms"


def reference_answers(calls: list[tuple[str, float]], limit: int, window_s: float,
                      burst: int) -> list[bool]:
    """What a correct GCRA answers to the same calls (plain Python, no Redis)."""
    period, capacity = window_s * 1000.0 / limit, limit + burst
    tat: dict[str, float] = {}
    out = []
    for client, now in calls:
        new_tat = max(tat.get(client, now), now) + period
        allowed = new_tat - now <= capacity * period
        if allowed:
            tat[client] = new_tat
        out.append(allowed)
    return out


def spike_through_gateway(student: ModuleType, switches: dict[str, object], requests: int,
                          seed: int = 7) -> tuple[dict[str, object], list[tuple[str, float]],
                                                  list[bool]]:
    """Run `spike` with the student's GCRA at the gateway (plugged in through the exercise's
    adapter), recording every decision."""
    sb = make_sandbox(switches, plug=("ratelimit", student), seed=seed)
    part = sb.plugs["ratelimit"]
    calls: list[tuple[str, float]] = []
    answers: list[bool] = []
    take = part.impl.take

    def recording_take(client: str, now_ms: float) -> tuple[bool, float]:
        allowed, left = take(client, now_ms)
        calls.append((client, now_ms))
        answers.append(bool(allowed))
        return allowed, left

    part.impl.take = recording_take
    return scenario(sb, "spike", requests=requests), calls, answers


@pytest.mark.points(5)
def test_spike_gets_exactly_the_right_429s(student: ModuleType) -> None:
    """The spike through the gateway with your GCRA: every decision as a correct GCRA makes
    it, so exactly the right requests get 429."""
    metrics, calls, answers = spike_through_gateway(student, {"ratelimit.limit": 3}, 400)
    want = reference_answers(calls, 3, 1.0, 0)
    assert len(calls) == 400, "every request passes the gateway's limiter once"
    refused = answers.count(False)
    assert refused == metrics["status"].get("429", 0), "each refusal must become a 429"
    wrong = [i for i, (a, b) in enumerate(zip(answers, want, strict=True)) if a != b]
    assert not wrong, (f"{len(wrong)} of {len(calls)} decisions differ from a correct GCRA; "
                       f"the first is request {wrong[0]} from {calls[wrong[0]][0]} at "
                       f"{calls[wrong[0]][1]:.1f} ms: you said {answers[wrong[0]]}")
    assert want.count(False) > 0, "the spike must hit the limit for this test to mean anything"


@pytest.mark.points(2)
def test_a_429_says_when_to_retry(student: ModuleType) -> None:
    """limit 2 per 4 s (one request per 2 s): the third request at once gets 429 with
    Retry-After 2, from your retry_after_ms, and RateLimit-Limit 2."""
    sb = make_sandbox({"ratelimit.limit": 2, "ratelimit.window_s": 4.0},
                      plug=("ratelimit", student))
    answers = [send(sb, "GET", "/products") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], (
        f"two pass, the third is refused; got {[a.status_code for a in answers]}")
    refused = answers[2].headers
    assert refused.get("Retry-After") == "2", (
        f"the next request passes about 2 s later; Retry-After said {refused.get('Retry-After')}")
    assert refused.get("RateLimit-Limit") == "2", "RateLimit-Limit is your capacity"
