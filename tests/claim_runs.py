"""The runs behind the lessons' claims, measured once per test session, beside the tests.

A claim's run is a seeded scenario, so its numbers are the same in any process. The claims
need over a hundred runs, each one core's work. Each test process (each xdist worker, or the
only one) starts a helper process when the tests are collected, which works through the runs
the selected claims need, longest first, while the tests run; test_lessons.py checks every
claim against them.

The helpers share the work through a folder the whole session uses (`SHARED_ENV`, made by
the controlling process): a run's result is a file there, and a lock file per run says
who is measuring it, so no run is measured twice. A test that needs a run nobody has
started measures it itself; one that somebody is measuring waits for that lock. Locks are
`flock`s, which the system drops when their process ends, so nothing waits on a dead one.

Also the cheap password hashes: a run's login cost is simulated from the iterations a hash
states (`HASH_MS_PER_ITERATION`), never from the real hashing, which is capped here.
"""

from __future__ import annotations

import fcntl
import hashlib
import multiprocessing
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.mechanisms import auth
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings

CHEAP_ITERATIONS = 1000
CLAIM_TEST = "test_every_number_a_lesson_states_is_true"
SHARED_ENV = "SANDBOX_TEST_CLAIM_RUNS"  # the session's folder of results and locks

# (scenario, requests, seed, settings): the arguments of `sandbox.course.claims._metrics`.
RunKey = tuple[str, int | None, int, Settings]


def _capped_pbkdf2_hmac(name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(name, password, salt, min(iterations, CHEAP_ITERATIONS))


# Stands in for the `hashlib` module in sandbox.mechanisms.auth: PBKDF2 with at most 1,000
# iterations. Stored hashes still state (and are checked with) their full count.
CHEAP_HASHLIB = SimpleNamespace(pbkdf2_hmac=_capped_pbkdf2_hmac)


def _paths(folder: Path, key: RunKey) -> tuple[Path, Path]:
    """The result file and the lock file of one run (Settings' repr is stable)."""
    name = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    return folder / f"{name}.pickle", folder / f"{name}.lock"


def _measure(folder: Path, key: RunKey, wait: bool) -> dict[str, Any] | None:
    """The run's metrics: read if done, measured here if nobody has, waited for if somebody
    is measuring it (or None at once, without `wait`)."""
    result, lock = _paths(folder, key)
    if not result.exists():
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return None  # another process is measuring it
            if not result.exists():
                scenario, requests, seed, settings = key
                metrics = run_scenario(scenario, settings, seed=seed, requests=requests).metrics
                partial = result.with_suffix(f".{os.getpid()}")
                partial.write_bytes(pickle.dumps(metrics))
                partial.replace(result)  # whole or not at all
                return metrics
    loaded: dict[str, Any] = pickle.loads(result.read_bytes())
    return loaded


def _helper_start(data_dir: str) -> None:
    os.environ["SANDBOX_DATA_DIR"] = data_dir  # never the user's own folder
    auth.hashlib = CHEAP_HASHLIB  # type: ignore[assignment]


def _helper_run(folder: str, key: RunKey) -> None:
    _measure(Path(folder), key, wait=False)


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


def make_shared_folder() -> Path:
    """The session's folder, for the controlling process to make before any worker starts
    (workers inherit it through the environment) and to remove at the end."""
    folder = Path(tempfile.mkdtemp(prefix="sandbox-claim-runs-"))
    os.environ[SHARED_ENV] = str(folder)
    return folder


class Runs:
    """This process's helper (spawned: a fork of the test process would copy its threads'
    locks) and the session's shared folder."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.data_dir = ""
        self.started: set[RunKey] = set()

    @property
    def folder(self) -> Path:
        if SHARED_ENV not in os.environ:  # a test process with no controller: its own
            make_shared_folder()
        return Path(os.environ[SHARED_ENV])

    def start(self, keys: Iterable[RunKey]) -> None:
        todo = sorted(set(keys) - self.started, key=lambda k: (-(k[1] or 0), repr(k)))
        if not todo:
            return
        folder = str(self.folder)
        if self.pool is None:
            self.data_dir = tempfile.mkdtemp(prefix="sandbox-claim-runs-data-")
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_helper_start,
                                            initargs=(self.data_dir,))
        for key in todo:
            self.started.add(key)
            self.pool.submit(_helper_run, folder, key)

    def get(self, key: RunKey) -> dict[str, Any]:
        """The run's metrics, measured here if nobody else has started it."""
        metrics = _measure(self.folder, key, wait=True)
        assert metrics is not None  # a waiting measure always has them
        return metrics

    def stop(self) -> None:
        if self.pool is not None:
            # Runs not begun are dropped: whoever needs one measures it then.
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
            shutil.rmtree(self.data_dir, ignore_errors=True)


RUNS = Runs()
