"""Due dates and late policies from course.toml (issue #19), and the process cap on a
student's worker."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.course.schedule import Lateness, Schedule, ScheduleError, load_schedule, when
from sandbox.grading import pids

DUE = when("2026-12-19T23:59:00Z", "test")


def at(text: str) -> dt.datetime:
    return when(text, "test")


def test_every_started_day_late_costs_the_penalty() -> None:
    """A minute late is a day late; on the dot is on time; the penalty stops at 100%."""
    schedule = Schedule(due=DUE, late_policy="penalty", penalty_per_day=40)
    names = ("token-bucket", "07-token-bucket")
    assert schedule.judge(names, at("2026-12-19T23:59:00Z")) == Lateness()
    assert schedule.judge(names, at("2026-12-20T00:00:00Z")) == Lateness(1, 40.0)
    assert schedule.judge(names, at("2026-12-21T23:59:00Z")) == Lateness(2, 80.0)
    assert schedule.judge(names, at("2026-12-22T00:00:00Z")) == Lateness(3, 100.0)
    assert schedule.judge(names, None) == Lateness()


def test_refuse_none_late_until_and_an_exercise_of_its_own() -> None:
    """'refuse' refuses any late work; 'none' only flags it; past late_until everything is
    refused; an exercise may have its own due date (by short or folder name)."""
    late = at("2026-12-20T10:00:00Z")
    assert Schedule(due=DUE, late_policy="refuse").judge(("x",), late).refused
    flagged = Schedule(due=DUE, late_policy="none").judge(("x",), late)
    assert flagged.late and not flagged.refused and flagged.penalty_percent == 0
    closed = Schedule(due=DUE, late_policy="penalty", penalty_per_day=10,
                      late_until=at("2026-12-20T00:00:00Z"))
    assert closed.judge(("x",), late).refused
    own = Schedule(due=DUE, late_policy="penalty", penalty_per_day=10,
                   due_by_exercise={"07-token-bucket": at("2026-12-21T00:00:00Z")})
    assert own.judge(("token-bucket", "07-token-bucket"), late) == Lateness()
    assert own.judge(("cache-aside", "05-cache-aside"), late) == Lateness(1, 10.0)


def test_course_toml_is_read_beside_or_above_the_exercises(tmp_path: Path) -> None:
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    assert load_schedule(exercises) == Schedule()  # none: no due date, nothing is late
    (tmp_path / "course.toml").write_text(
        '[grading]\ndue = 2026-12-19T23:59:00Z\nlate_policy = "penalty"\npenalty_per_day = 5\n'
        '[grading.due_by_exercise]\ntoken-bucket = "2026-12-12T23:59:00+01:00"\n')
    schedule = load_schedule(exercises)
    assert schedule.due == DUE and schedule.penalty_per_day == 5
    assert schedule.due_by_exercise["token-bucket"] == at("2026-12-12T22:59:00Z")
    (exercises / "course.toml").write_text('[grading]\nlate_policy = "refuse"\n')
    assert load_schedule(exercises).late_policy == "refuse"  # beside the exercises wins


@pytest.mark.parametrize(("text", "words"), [
    ('[grading]\nlate_policy = "sometimes"\n', "use one of none, penalty, refuse"),
    ('[grading]\ndue = "next friday"\n', "not a date and time"),
    ('[grading]\ndue = 2026-12-19T23:59:00\n', "give a time zone"),
    ('[grading]\npenalty_per_day = "ten"\n', "penalty_per_day must be a number"),
    ('[grading]\ndue_date = 2026-12-19T23:59:00Z\n', "unknown key(s) in [grading]: due_date"),
    ("[grading\n", "not valid TOML"),
])
def test_a_wrong_course_toml_says_what_to_write(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "course.toml").write_text(text)
    with pytest.raises(ScheduleError, match=r"course\.toml") as caught:
        load_schedule(tmp_path)
    assert words in str(caught.value)


FORKS = """
import os, time
made = 0
try:
    while made < 400:
        if os.fork() == 0:
            os.close(1)  # the test reads the output to its end: only the parent's count
            os.close(2)
            time.sleep(3)
            os._exit(0)
        made += 1
except OSError:
    pass
print(made, flush=True)
os._exit(0)
"""


def test_a_fork_bomb_stops_at_the_cap() -> None:
    """A child started inside the cap (as the grader starts a student's worker) cannot have
    more than PIDS_MAX processes, however it forks."""
    folder = pids.capped_cgroup(limit=20)
    if folder is None and os.geteuid() == 0:
        pytest.skip("no cgroup may be made here, and RLIMIT_NPROC does not bind root")
    try:
        made = subprocess.run([sys.executable, "-I", "-S", "-c", FORKS],
                              preexec_fn=pids.enter(folder, limit=20), capture_output=True,
                              text=True, timeout=60).stdout
    finally:
        pids.remove_cgroups(os.getpid())
    assert 0 < int(made) < 20, made
    if folder is not None:
        assert not os.path.exists(folder)  # removed once its processes were gone
