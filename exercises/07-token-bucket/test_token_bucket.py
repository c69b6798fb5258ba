"""Graded tests for the token bucket: first on its own, then at the sandbox's gateway."""

from __future__ import annotations

from types import ModuleType

import fakeredis
import pytest

from sandbox.grading.harness import make_sandbox, scenario


def bucket(student: ModuleType, limit: int = 5, window_s: float = 1.0, burst: int = 0,
           redis: object | None = None) -> object:
    redis = redis or fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return student.TokenBucket(redis, limit, window_s, burst)


@pytest.mark.points(2)
def test_a_new_client_has_a_full_bucket(student: ModuleType) -> None:
    """limit 5, burst 2: seven requests at the same instant pass, the eighth is refused."""
    b = bucket(student, limit=5, burst=2)
    answers = [b.take("ada", 1000.0)[0] for _ in range(8)]
    assert answers == [True] * 7 + [False], (
        f"with limit 5 and burst 2 a new client may send 7 requests at once; got {answers}")


@pytest.mark.points(2)
def test_tokens_left_counts_down(student: ModuleType) -> None:
    """Each take spends one token, and take says how many are left: 2, 1, then 0."""
    b = bucket(student, limit=3)
    left = [round(float(b.take("ada", 0.0)[1]), 6) for _ in range(3)]
    assert left == [2.0, 1.0, 0.0], f"tokens left after each of three takes: {left}"


@pytest.mark.points(3)
def test_the_bucket_refills_with_time(student: ModuleType) -> None:
    """limit 4 per second: an empty bucket has one token again after 250 ms, not before."""
    b = bucket(student, limit=4)
    for _ in range(4):
        b.take("ada", 0.0)
    assert b.take("ada", 200.0)[0] is False, "after 200 ms less than one token has dripped in"
    assert b.take("ada", 260.0)[0] is True, "after 260 ms one whole token is back"
    assert b.take("ada", 270.0)[0] is False, "and that token was just used"


@pytest.mark.points(2)
def test_the_bucket_never_overflows(student: ModuleType) -> None:
    """After an hour of silence a client still has only limit + burst tokens."""
    b = bucket(student, limit=3, burst=1)
    b.take("ada", 0.0)
    answers = [b.take("ada", 3_600_000.0)[0] for _ in range(5)]
    assert answers == [True] * 4 + [False], f"capacity is limit + burst = 4; got {answers}"


@pytest.mark.points(2)
def test_clients_have_their_own_buckets(student: ModuleType) -> None:
    """One client emptying its bucket leaves another client's bucket full."""
    b = bucket(student, limit=2)
    assert [b.take("ada", 0.0)[0] for _ in range(3)] == [True, True, False]
    assert b.take("grace", 0.0)[0] is True, "grace's bucket is full even though ada's is empty"


@pytest.mark.points(2)
def test_the_count_lives_in_redis(student: ModuleType) -> None:
    """Two gateways (two TokenBucket objects) on one Redis share each client's bucket."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    first, second = bucket(student, limit=2, redis=redis), bucket(student, limit=2, redis=redis)
    assert first.take("ada", 0.0)[0] and second.take("ada", 0.0)[0]
    assert first.take("ada", 0.0)[0] is False, (
        "the second gateway's take must be seen by the first: keep the state in Redis")


def reference_answers(calls: list[tuple[str, float]], limit: int, window_s: float,
                      burst: int) -> list[bool]:
    """What a correct bucket answers to the same calls (plain Python, no Redis)."""
    capacity, rate = limit + burst, limit / (window_s * 1000.0)
    state: dict[str, tuple[float, float]] = {}
    out = []
    for client, now in calls:
        tokens, last = state.get(client, (float(capacity), now))
        tokens = min(capacity, tokens + max(0.0, now - last) * rate)
        allowed = tokens >= 1.0
        tokens -= 1.0 if allowed else 0.0
        state[client] = (tokens, max(last, now))
        out.append(allowed)
    return out


def spike_through_gateway(student: ModuleType, switches: dict[str, object], requests: int,
                          seed: int = 7) -> tuple[dict[str, object], list[tuple[str, float]],
                                                  list[bool]]:
    """Run `spike` with the student's bucket at the gateway, recording every decision."""
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
    """The spike scenario through the gateway with your bucket: every decision as a correct
    bucket would make it, so exactly the right requests get 429."""
    metrics, calls, answers = spike_through_gateway(
        student, {"ratelimit.algorithm": "token_bucket", "ratelimit.limit": 3}, 600)
    want = reference_answers(calls, 3, 1.0, 0)
    assert len(calls) == 600, "every request passes the gateway's limiter once"
    refused = answers.count(False)
    assert refused == metrics["status"].get("429", 0), "each refusal must become a 429"
    wrong = [i for i, (a, b) in enumerate(zip(answers, want, strict=True)) if a != b]
    assert not wrong, (f"{len(wrong)} of {len(calls)} decisions differ from a correct bucket; "
                       f"the first is request {wrong[0]} from {calls[wrong[0]][0]} at "
                       f"{calls[wrong[0]][1]:.1f} ms: you said {answers[wrong[0]]}")
    assert want.count(False) > 0, "the spike must hit the limit for this test to mean anything"
