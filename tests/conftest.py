"""Shared fixtures: a seeded database cache shared by the run, fresh sandboxes per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import hypothesis
import pytest

# Tests build the seeded shop once into the repository's own cache folder (ignored by git),
# so they never depend on, or write to, the user's cache.
os.environ.setdefault(
    "SANDBOX_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".sandbox-cache")
)

# Imported after the cache folder is chosen.
from sandbox.runtime import Sandbox
from sandbox.settings import Settings

# Hypothesis times its examples: a deadline per example, and a health check that fails a test
# whose data takes "too long" to generate. On a busy machine both fail sound tests, so neither
# applies here (what the properties check does not depend on how fast they run).
hypothesis.settings.register_profile(
    "sandbox", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("sandbox")

_CLAIM_FOLDER = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """The controlling process makes the folder the session's claim runs are shared in."""
    if not hasattr(config, "workerinput"):
        from claim_runs import make_shared_folder

        config.stash[_CLAIM_FOLDER] = make_shared_folder()


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_CLAIM_FOLDER, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, in their own order, then the rest in theirs: a parallel run
    ends when its last worker does, and a worker that begins a long test just as the
    others run out of work leaves their cores idle until it is done."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the runs the selected lesson claims need, in a helper, while the rest run."""
    if not session.config.option.collectonly:
        from claim_runs import RUNS, keys_of

        RUNS.start(keys_of(session.items))


def pytest_sessionfinish(session: pytest.Session) -> None:
    from claim_runs import RUNS

    RUNS.stop()


@pytest.fixture(autouse=True)
def _private_progress(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Learner progress goes to a fresh folder per test, never the user's own."""
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path_factory.mktemp("progress")))


@pytest.fixture
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real PBKDF2 capped at 1,000 iterations, for tests of what a run measures.

    A login's cost in a run is simulated from the iterations its hash states
    (`HASH_MS_PER_ITERATION`), so a run's numbers do not depend on the real hashing; stored
    hashes still state, and are checked with, their full count. A run with 200,000-iteration
    hashes otherwise computes ~0.1 s of real PBKDF2 per login.
    """
    from claim_runs import CHEAP_HASHLIB

    from sandbox.mechanisms import auth

    monkeypatch.setattr(auth, "hashlib", CHEAP_HASHLIB)


# A real Redis server for the Redis-backed tests; `python3 dev.py test` starts one when
# redis-server is installed, and CI always does.
REAL_REDIS_URL = os.environ.get("SANDBOX_TEST_REDIS_URL", "")
REDIS_BACKENDS = ["fakeredis", "redis"]


def redis_url_for(backend: str) -> str:
    """The `redis.url` for a backend name; skips the real one where no server was started."""
    if backend == "fakeredis":
        return ""
    if not REAL_REDIS_URL:
        pytest.skip("no real Redis server here (set SANDBOX_TEST_REDIS_URL; CI starts one)")
    return REAL_REDIS_URL


@pytest.fixture(params=REDIS_BACKENDS)
def any_redis_url(request: pytest.FixtureRequest) -> str:
    """Each Redis backend in turn: fakeredis, then the real server when there is one."""
    return redis_url_for(request.param)


@pytest.fixture
def redis_url() -> str:
    """Empty (fakeredis). Modules that test Redis-backed mechanisms override this fixture
    with one parametrized over both backends."""
    return ""


@pytest.fixture
def sandbox(redis_url: str) -> Iterator[Sandbox]:
    """A fresh sandbox with default settings (and `redis_url`) and seed 7."""
    sb = Sandbox(Settings().replace({"redis.url": redis_url}), seed=7)
    yield sb
    sb.close()


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An ordinary httpx client whose requests cross the sandbox's simulated network."""
    async with sandbox.client() as c:
        yield c


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": "sandbox123"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def grace(client: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers for Grace, seeded user 2, a customer."""
    return await _login(client, "grace@shop.test")


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers for Ada, seeded user 1, the admin."""
    return await _login(client, "ada@shop.test")
