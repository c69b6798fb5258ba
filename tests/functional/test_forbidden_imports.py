"""Exercises that forbid the library doing their work: a submission that imports it anyway
scores nothing, and says why, where it scored full marks before. Graded as an autograder does
(`sandbox exercises --dir COURSE grade --submission DIR --gradescope results.json`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPORTER = REPO / "exercises" / "23-prometheus-exporter"
JWT = REPO / "exercises" / "06-verify-jwt"
BUCKET = REPO / "exercises" / "07-token-bucket"

pytestmark = pytest.mark.slow

# Exercise 23 with prometheus-client doing the writing, tidied to the tests' taste.
BY_THE_LIBRARY = r'''"""A dishonest exporter: prometheus_client writes the text."""
import re
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (CounterMetricFamily, GaugeMetricFamily,
                                            HistogramMetricFamily)
from prometheus_client.utils import floatToGoString

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def check_name(name, pattern=NAME):
    if not pattern.fullmatch(name):
        raise ValueError(name)
    return name


def escape_label_value(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_number(value):
    text = floatToGoString(value)
    return text[:-2] if text.endswith(".0") else text


def format_labels(labels):
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items()) + "}" if labels else ""


class _Snap:
    def __init__(self, snapshot):
        self.snapshot = snapshot

    def collect(self):
        for m in self.snapshot["metrics"]:
            names = sorted({k for s in m["series"] for k in s["labels"]}, key=list(
                {k: 0 for s in m["series"] for k in s["labels"]}).index)
            for n in names:
                check_name(n, LABEL_NAME)
            if m["type"] == "histogram":
                fam = HistogramMetricFamily(m["name"], m["help"], labels=names)
                for s in m["series"]:
                    run, buckets = 0.0, []
                    for b, c in zip([*m["bounds"], float("inf")], s["counts"]):
                        run += c
                        buckets.append((format_number(b), run))
                    fam.add_metric([s["labels"][n] for n in names], buckets, sum_value=s["sum"])
            else:
                kind = CounterMetricFamily if m["type"] == "counter" else GaugeMetricFamily
                fam = kind(m["name"], m["help"], labels=names)
                for s in m["series"]:
                    fam.add_metric([s["labels"][n] for n in names], s["value"])
            yield fam


def render(snapshot: dict[str, Any]) -> str:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Snap(snapshot))
    text = generate_latest(reg).decode()
    # prometheus_client writes 3.0 and le="1.0"; the tests want 3 and le="1"
    text = re.sub(r" (-?\d+)\.0$", r" \1", text, flags=re.M)
    text = re.sub(r'le="(\d+)\.0"', r'le="\1"', text)
    # le last, _sum before _count, as the hand-written page has them
    text = re.sub(r'\{(le="[^"]*"),(.*)\}( \S+)$', r'{\2,\1}\3', text, flags=re.M)
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        if "_count" in lines[i] and "_sum" in lines[i + 1]:
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return "\n".join(lines) + "\n"

'''

# The same, through the sandbox's own exporter module.
BY_THE_SANDBOX = BY_THE_LIBRARY.replace(
    "from prometheus_client import CollectorRegistry, generate_latest",
    "from sandbox.observability.prometheus import CollectorRegistry, generate_latest")

# Exercise 6 with PyJWT checking the token.
BY_PYJWT = r'''"""A dishonest verifier: PyJWT does the checking."""
from __future__ import annotations

import base64
import hmac
from typing import Any

import jwt

ALGORITHM = "HS256"
MAX_TOKEN_BYTES = 4096
REQUIRED_CLAIMS = ("sub", "iss", "aud", "iat", "nbf", "exp")


class InvalidToken(Exception):
    pass


def b64url_decode(segment: str) -> bytes:
    try:
        if len(segment) % 4 == 1 or not all(c.isalnum() or c in "-_" for c in segment):
            raise ValueError
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        raise InvalidToken("bad base64") from None


def verify_token(token: str, key: bytes, now_s: float, *, issuer: str,
                 audience: str) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("too long")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], issuer=issuer,
                            audience=audience,
                            options={"require": list(REQUIRED_CLAIMS), "verify_exp": False,
                                     "verify_nbf": False, "verify_iat": False})
    except Exception as exc:
        raise InvalidToken(str(exc)) from None
    for claim in ("exp", "nbf", "iat"):
        if isinstance(claims[claim], bool) or not isinstance(claims[claim], int | float):
            raise InvalidToken(claim)
    if not claims["nbf"] <= now_s < claims["exp"]:
        raise InvalidToken("time")
    hmac.compare_digest(b"", b"")  # the hidden test looks for it
    return claims
'''


# Exercise 7 by the sandbox's own limiter, pointed at the student's Redis client.
BY_THE_SANDBOX_LIMITER = r'''"""A dishonest token bucket: the gateway's own limiter decides."""
from sandbox.mechanisms.ratelimit import TokenBucketLimiter
from sandbox.mechanisms.redis_store import RedisStore
from sandbox.settings import RateLimitSettings


class TokenBucket:
    def __init__(self, redis, limit, window_s, burst):
        store = RedisStore()
        store.client, store.prefix = redis, ""
        self.capacity = limit + burst
        self.inner = TokenBucketLimiter(store, RateLimitSettings(
            algorithm="token_bucket", limit=limit, window_s=window_s, burst=burst))

    def take(self, client, now_ms):
        decision = self.inner.check(client, now_ms)
        tokens, _ = self.inner.peek(client, now_ms)
        return decision.allowed, tokens
'''


def grade(tmp_path: Path, exercise: Path, file: str, code: str,
          forbid: bool = True) -> tuple[dict[str, object], str]:
    """The submission graded; its results and what `grade` printed."""
    course = tmp_path / "course"
    shutil.copytree(exercise, course / exercise.name, ignore=shutil.ignore_patterns(
        "__pycache__", "solution"))
    if not forbid:  # the exercise as it was: nothing forbidden
        manifest = course / exercise.name / "exercise.toml"
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(text[:text.index("[forbidden_imports]")], encoding="utf-8")
    submission = tmp_path / "submission" / exercise.name
    submission.mkdir(parents=True)
    (submission / file).write_text(code, encoding="utf-8")
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "exercises", "--dir", str(course), "grade",
         "--submission", str(submission.parent), "--gradescope", str(out)],
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"), capture_output=True, text=True,
        timeout=240)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return json.loads(out.read_text(encoding="utf-8")), done.stdout


def test_the_exporter_written_by_prometheus_client_scores_nothing(tmp_path: Path) -> None:
    before, _ = grade(tmp_path / "before", EXPORTER, "exporter.py", BY_THE_LIBRARY, forbid=False)
    assert before["score"] == 19, "the cheat should pass when nothing is forbidden"
    after, printed = grade(tmp_path / "after", EXPORTER, "exporter.py", BY_THE_LIBRARY)
    assert after["score"] == 0
    tests = after["tests"]
    assert isinstance(tests, list) and len(tests) == 9
    assert all(t["status"] == "failed" for t in tests)
    visible = [t for t in tests if t["visibility"] == "visible"]
    assert visible and all("prometheus_client is not allowed in this exercise: it writes the "
                           "Prometheus text format for you" in t["output"] for t in visible)
    assert "a module this exercise forbids" in printed  # the grade table says why


def test_the_exporter_borrowed_from_the_sandbox_scores_nothing(tmp_path: Path) -> None:
    results, _ = grade(tmp_path, EXPORTER, "exporter.py", BY_THE_SANDBOX)
    assert results["score"] == 0
    tests = results["tests"]
    assert isinstance(tests, list)
    assert any("sandbox.observability.prometheus is not allowed in this exercise (it is part "
               "of sandbox.observability)" in t["output"] for t in tests)


def test_a_jwt_check_done_by_pyjwt_scores_nothing(tmp_path: Path) -> None:
    before, _ = grade(tmp_path / "before", JWT, "verify_jwt.py", BY_PYJWT, forbid=False)
    assert before["score"] == 25, "the cheat should pass when nothing is forbidden"
    after, _ = grade(tmp_path / "after", JWT, "verify_jwt.py", BY_PYJWT)
    assert after["score"] == 0


def test_check_tells_the_student_which_module_and_why(tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(EXPORTER, course / EXPORTER.name, ignore=shutil.ignore_patterns(
        "__pycache__"))
    (course / EXPORTER.name / "exporter.py").write_text(BY_THE_LIBRARY, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "exercises", "--dir", str(course), "check",
         "prometheus-exporter"], env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "0 of 6 tests pass" in done.stdout
    assert "a module this exercise forbids: prometheus_client is not allowed in this " \
           "exercise: it writes the Prometheus text format for you" in done.stdout
    assert "at exporter.py:5" in done.stdout  # the student's own line


def test_a_token_bucket_borrowed_from_the_gateway_scores_nothing(tmp_path: Path) -> None:
    """Exercise 7 wrapping sandbox.mechanisms.ratelimit: full marks while nothing was
    forbidden, nothing now, and the student is told which module and why."""
    before, _ = grade(tmp_path / "before", BUCKET, "token_bucket.py", BY_THE_SANDBOX_LIMITER,
                      forbid=False)
    assert before["score"] == 22, "the cheat should pass when nothing is forbidden"
    after, printed = grade(tmp_path / "after", BUCKET, "token_bucket.py", BY_THE_SANDBOX_LIMITER)
    assert after["score"] == 0
    tests = after["tests"]
    assert isinstance(tests, list) and all(t["status"] == "failed" for t in tests)
    assert any("sandbox.mechanisms.ratelimit is not allowed in this exercise: its "
               "TokenBucketLimiter is the sandbox's own token bucket" in t["output"]
               for t in tests if t["visibility"] == "visible")
    assert "a module this exercise forbids" in printed
