"""Plug points have written contracts: a Protocol each (sandbox/plugs/interfaces.py), a row in
the exercises guide, and the shipped solutions fit them. Adapters from an exercise's folder are
loaded, checked against the contract and guarded (issue #19 item 4, issue #18)."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import fakeredis
import pytest

from sandbox.course.exercises import ExerciseError, load_exercise, load_exercises
from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.instructor import adapter_problems
from sandbox.grading.plugin import load_student_module
from sandbox.plugs import PlugError, install, plug_points
from sandbox.plugs.interfaces import EXPORTS, INTERFACES, Limiter, missing_members
from sandbox.plugs.ratelimit import GuardedLimiter
from sandbox.runtime import Sandbox
from sandbox.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EXERCISES, GUIDE = REPO / "exercises", REPO / "exercises" / "README.md"
SHIPPED = load_exercises(EXERCISES)[0]
PLUGGED = [e for e in SHIPPED if e.plug]
GCRA = EXERCISES / "25-gcra"


def guide_rows() -> dict[str, list[str]]:
    """The plug-point table of the exercises guide: name -> its cells."""
    rows = {}
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| `(\w+)` \|", line)
        if found:
            rows[found.group(1)] = [c.strip() for c in line.strip("|").split("|")]
    return rows


def solution_of(exercise: Any) -> ModuleType:
    path = exercise.solution_path(exercise.files[0])
    return load_student_module(path, f"solution_{exercise.folder.name.replace('-', '_')}")


def test_every_plug_point_in_use_has_a_protocol_and_a_documented_row() -> None:
    """A shipped exercise cannot plug into a point that has no written contract or no row."""
    rows = guide_rows()
    assert PLUGGED, "the shipped exercises plug into the sandbox"
    for exercise in PLUGGED:
        assert exercise.plug in INTERFACES, f"{exercise.folder.name}: no Protocol for its plug"
        assert exercise.plug in rows, f"exercises/README.md has no row for '{exercise.plug}'"
        protocol, exercises = rows[exercise.plug][1], rows[exercise.plug][3]
        assert protocol == f"`{INTERFACES[exercise.plug].__name__}`"
        assert exercise.folder.name in exercises, f"the '{exercise.plug}' row names its exercises"
        assert (INTERFACES[exercise.plug].__doc__ or "").strip(), "each Protocol says its contract"


def test_the_guides_adapter_column_says_which_points_take_one() -> None:
    points, rows = plug_points(), guide_rows()
    for name, cells in rows.items():
        assert cells[4] == ("yes" if points[name].wrap is not None else "not yet"), name


@pytest.mark.parametrize("exercise", [e for e in PLUGGED if not e.adapter],
                         ids=lambda e: e.folder.name)
def test_each_shipped_solution_exports_what_its_protocol_calls(exercise: Any) -> None:
    solution = solution_of(exercise)
    name = EXPORTS[exercise.plug]  # "" when the Protocol describes the whole module
    export = getattr(solution, name) if name else solution
    assert missing_members(export, INTERFACES[exercise.plug]) == []


def test_both_shipped_limiters_are_limiters() -> None:
    """The token bucket and the GCRA, built, are `Limiter`s; an object without them is not."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    by_name = {e.name: solution_of(e) for e in PLUGGED if e.plug == "ratelimit"}
    assert set(by_name) == {"token-bucket", "gcra"}
    for made in (by_name["token-bucket"].TokenBucket(redis, 4, 1.0, 0),
                 by_name["gcra"].GCRA(redis, 4, 1.0, 0)):
        assert isinstance(made, Limiter) and missing_members(made, Limiter) == []
    assert missing_members(object(), Limiter) == ["capacity", "take"]
    assert missing_members(by_name["gcra"].GCRA, Limiter) == [], "a class: methods only"


# -- adapters ----------------------------------------------------------------------------------


def write_adapter(folder: Path, body: str) -> Path:
    path = folder / "plug_adapter.py"
    path.write_text(body, encoding="utf-8")
    return path


class Always:
    """A limiter for the tests: answers `answer` to everything."""

    def __init__(self, answer: Any, capacity: Any = 3) -> None:
        self.answer, self.capacity = answer, capacity

    def take(self, client: str, now_ms: float) -> Any:
        return self.answer


def plug(tmp_path: Path, limiter: Any) -> Sandbox:
    module = ModuleType("student")
    module.limiter = limiter  # type: ignore[attr-defined]
    adapter = write_adapter(tmp_path, "def adapt(sandbox, student):\n    return student.limiter\n")
    return make_sandbox({"ratelimit.limit": 3}, plug=("ratelimit", module), adapter=adapter)


def test_an_adapted_limiter_decides_at_the_gateway(tmp_path: Path) -> None:
    sb = plug(tmp_path, Always((False, 0.0)))
    assert isinstance(sb.network.gateway.limiter, GuardedLimiter)
    refused = send(sb, "GET", "/products")
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Limit"] == "3" and refused.headers["Retry-After"] == "1"
    assert send(sb, "GET", "/health").status_code == 200, "probes are never limited"


class Truthy:
    """Claims to be true: an `if allowed:` would let the request through."""

    def __bool__(self) -> bool:
        return True


@pytest.mark.parametrize("answer", [
    (1, 2.0), ("yes", 1), True, (True,), (True, "2"), (True, float("nan")), None, (Truthy(), 1.0),
], ids=lambda a: repr(a).replace(repr(a[0]), "Truthy()") if isinstance(a, tuple) and a
    and isinstance(a[0], Truthy) else repr(a))
def test_a_wrong_answer_is_named_not_obeyed(tmp_path: Path, answer: Any) -> None:
    """An answer that only looks like a decision lets nobody through and says what came."""
    sb = plug(tmp_path, Always(answer))
    with pytest.raises(PlugError, match=r"must return a pair \(allowed, remaining\)"):
        send(sb, "GET", "/products")


@pytest.mark.parametrize("capacity", [0, "3", None, float("inf")])
def test_a_wrong_capacity_is_named(tmp_path: Path, capacity: Any) -> None:
    with pytest.raises(PlugError, match="capacity must be a number"):
        plug(tmp_path, Always((True, 1.0), capacity))


def test_what_the_adapter_returns_must_fit_the_protocol(tmp_path: Path) -> None:
    with pytest.raises(PlugError, match=r"lacks capacity, take of the 'ratelimit' interface "
                                        r"\(Limiter\)"):
        plug(tmp_path, object())


def test_a_broken_adapter_file_is_a_clear_error(tmp_path: Path) -> None:
    sb, module = Sandbox(Settings()), ModuleType("student")
    with pytest.raises(PlugError, match=r"the adapter file named in exercise\.toml is missing"):
        install(sb, "ratelimit", module, tmp_path / "nowhere.py")
    with pytest.raises(PlugError, match=r"defines `def adapt\(sandbox, student_module\)`"):
        install(sb, "ratelimit", module, write_adapter(tmp_path, "ADAPT = 1\n"))
    with pytest.raises(PlugError, match="the adapter failed to load: ZeroDivisionError"):
        install(sb, "ratelimit", module, write_adapter(tmp_path, "1 / 0\n"))
    with pytest.raises(PlugError, match="the 'breaker' plug point takes no adapter yet"):
        install(sb, "breaker", module, write_adapter(tmp_path, "def adapt(s, m): pass\n"))
    assert "ratelimit" not in sb.plugs


def test_an_adapted_limiter_is_made_afresh_when_a_switch_changes(tmp_path: Path) -> None:
    made: list[int] = []

    class Counting(Always):
        def __init__(self) -> None:
            super().__init__((True, 1.0))
            made.append(1)

    sb = Sandbox(Settings())
    module = ModuleType("student")
    module.Limiter = Counting  # type: ignore[attr-defined]
    adapter = write_adapter(tmp_path, "def adapt(sandbox, student):\n    return student.Limiter()\n")
    install(sb, "ratelimit", module, adapter)
    sb.apply(sb.settings.replace({"ratelimit.limit": 9}))
    assert send(sb, "GET", "/products").status_code == 200 and len(made) == 2
    assert isinstance(sb.network.gateway.limiter, GuardedLimiter), "re-attached after apply"


def test_the_manifest_names_an_adapter_only_beside_a_plug(tmp_path: Path) -> None:
    folder = tmp_path / "03-limit"
    folder.mkdir()
    base = ('title = "t"\ntopic = 7\nlesson = "rate-limiting"\nfiles = ["limit.py"]\n'
            'hints = ["a", "b"]\n')
    for extra in ('adapter = "plug_adapter.py"\n',  # no plug
                  'plug = "ratelimit"\nadapter = "limit.py"\n',  # the student's own file
                  'plug = "ratelimit"\nadapter = "../x.py"\n', 'plug = "ratelimit"\nadapter = 1\n'):
        (folder / "exercise.toml").write_text(base + extra, encoding="utf-8")
        with pytest.raises(ExerciseError, match="'adapter' names a Python file"):
            load_exercise(folder)
    (folder / "exercise.toml").write_text(base + 'plug = "ratelimit"\nadapter = "a.py"\n',
                                          encoding="utf-8")
    exercise = load_exercise(folder)
    assert adapter_problems(exercise) == ["adapter a.py is missing from the exercise folder"]
    (folder / "a.py").write_text("adapt = None\n", encoding="utf-8")
    assert "defines no `def adapt" in adapter_problems(exercise)[0]


def test_the_playground_plugs_in_through_the_exercises_adapter() -> None:
    """The terminal app's "run my code" uses the same adapter as the grader."""
    from sandbox.tui.exercising import PluggedCode

    exercise = load_exercise(GCRA)
    plugged = PluggedCode(exercise)
    plugged.path = exercise.solution_path("gcra.py")
    sb = plugged.build(Settings().replace({"ratelimit.limit": 2}), seed=1)
    limiter = sb.network.gateway.limiter
    assert isinstance(limiter, GuardedLimiter) and type(limiter.impl).__name__ == "GCRA"
    assert [send(sb, "GET", "/products").status_code for _ in range(3)] == [200, 200, 429]
    assert limiter.peek("addr:127.0.0.1", sb.clock.now_ms)[1] == 2.0
