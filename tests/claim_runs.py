"""The runs behind the lessons' claims, measured in a worker process while other tests run.

A claim's run is a seeded scenario, so its numbers are the same in any process. The claims
need dozens of runs, each one core's work, and the test process leaves the machine's other
core mostly idle: conftest starts the runs the selected claims need as soon as the tests are
collected, and test_lessons.py checks every claim against them (waiting for any not done).

Also the cheap password hashes: a run's login cost is simulated from the iterations a hash
states (`HASH_MS_PER_ITERATION`), never from the real hashing, which is capped here.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.mechanisms import auth
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings

CHEAP_ITERATIONS = 1000
CLAIM_TEST = "test_every_number_a_lesson_states_is_true"

# (scenario, requests, seed, settings): the arguments of `sandbox.course.claims._metrics`.
RunKey = tuple[str, int | None, int, Settings]


def _capped_pbkdf2_hmac(name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(name, password, salt, min(iterations, CHEAP_ITERATIONS))


# Stands in for the `hashlib` module in sandbox.mechanisms.auth: PBKDF2 with at most 1,000
# iterations. Stored hashes still state (and are checked with) their full count.
CHEAP_HASHLIB = SimpleNamespace(pbkdf2_hmac=_capped_pbkdf2_hmac)


def _worker_start(data_dir: str) -> None:
    os.environ["SANDBOX_DATA_DIR"] = data_dir  # never the user's own folder
    auth.hashlib = CHEAP_HASHLIB  # type: ignore[assignment]


def _run(key: RunKey) -> dict[str, Any]:
    scenario, requests, seed, settings = key
    return run_scenario(scenario, settings, seed=seed, requests=requests).metrics


def keys_of(items: Iterable[pytest.Item]) -> list[RunKey]:
    """The runs the selected claim tests need: each claim's, and its comparison's."""
    keys: list[RunKey] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.name.startswith(CLAIM_TEST + "[") and callspec is not None:
            claim = callspec.params["claim"]
            for changes in (claim.settings, claim.compare_to):
                if changes is not None:
                    keys.append((claim.run.scenario, claim.run.requests, claim.run.seed,
                                 Settings().replace(changes)))
    return keys


class Runs:
    """Runs measured by one spawned worker (a fork of the test process would copy its
    threads' locks), the longest first."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.data_dir = ""
        self.pending: dict[RunKey, Future[dict[str, Any]]] = {}

    def start(self, keys: Iterable[RunKey]) -> None:
        todo = sorted(set(keys) - set(self.pending), key=lambda k: -(k[1] or 0))
        if not todo:
            return
        if self.pool is None:
            self.data_dir = tempfile.mkdtemp(prefix="sandbox-claims-")
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_start,
                                            initargs=(self.data_dir,))
        for key in todo:
            self.pending[key] = self.pool.submit(_run, key)

    def get(self, key: RunKey) -> dict[str, Any] | None:
        """The run's metrics (waiting for them), or None if it was never started."""
        future = self.pending.get(key)
        return future.result() if future is not None else None

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
            shutil.rmtree(self.data_dir, ignore_errors=True)


RUNS = Runs()
