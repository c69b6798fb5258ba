"""Due dates and the late policy of a course, from its `course.toml`, and what they make of
one submission time.

    [grading]
    due = "2026-12-19T23:59:00Z"
    late_policy = "penalty"      # "none" (only flagged), "penalty", or "refuse"
    penalty_per_day = 10         # percent of the points, per started day late
    late_until = "2026-12-22T23:59:00Z"   # after this, refused whatever the policy
    [grading.due_by_exercise]
    token-bucket = "2026-12-12T23:59:00Z"  # an exercise due on another day

The file is looked for in the exercises folder, then in the folder above it (a course folder
that holds `exercises/` and `lessons/`).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError

COURSE_FILE = "course.toml"
POLICIES = ("none", "penalty", "refuse")


class ScheduleError(SandboxError):
    """course.toml or submissions.toml is wrong; the message says where and what to write."""


@dataclass(frozen=True)
class Lateness:
    """What the schedule makes of one exercise handed in at one time."""

    days_late: int = 0  # started days after the due date (0: on time)
    penalty_percent: float = 0.0  # of the exercise's points
    refused: bool = False

    @property
    def late(self) -> bool:
        return self.days_late > 0


@dataclass(frozen=True)
class Schedule:
    due: dt.datetime | None = None
    late_policy: str = "none"
    penalty_per_day: float = 0.0
    late_until: dt.datetime | None = None
    due_by_exercise: dict[str, dt.datetime] = field(default_factory=dict)
    source: Path | None = None

    @property
    def has_due_date(self) -> bool:
        return self.due is not None or bool(self.due_by_exercise)

    def due_for(self, names: tuple[str, ...]) -> dt.datetime | None:
        """The due date of the exercise known by any of `names` (short or folder name)."""
        return next((self.due_by_exercise[n] for n in names if n in self.due_by_exercise),
                    self.due)

    def judge(self, names: tuple[str, ...], submitted: dt.datetime | None) -> Lateness:
        due = self.due_for(names)
        if due is None or submitted is None or submitted <= due:
            return Lateness()
        days = math.ceil((submitted - due) / dt.timedelta(days=1))
        if self.late_policy == "refuse" or (self.late_until is not None
                                            and submitted > self.late_until):
            return Lateness(days, 100.0, refused=True)
        if self.late_policy == "penalty":
            return Lateness(days, min(100.0, days * self.penalty_per_day))
        return Lateness(days)


def when(value: Any, where: str) -> dt.datetime:
    """A TOML date-time (or an ISO 8601 string) as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ScheduleError(f"{where}: '{value}' is not a date and time; write it like "
                                "2026-12-19T23:59:00Z") from None
    if not isinstance(value, dt.datetime):
        raise ScheduleError(f"{where}: expected a date and time like 2026-12-19T23:59:00Z, "
                            f"got {value!r}")
    if value.tzinfo is None:
        raise ScheduleError(f"{where}: give a time zone (end it with Z for UTC, or +01:00)")
    return value.astimezone(dt.UTC)


def find_course_file(exercises_root: Path) -> Path | None:
    for folder in (exercises_root, exercises_root.parent):
        if (folder / COURSE_FILE).is_file():
            return folder / COURSE_FILE
    return None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{path}: not valid TOML ({exc})") from None


def load_schedule(exercises_root: Path) -> Schedule:
    """The course's schedule; an empty one (no due date) when there is no course.toml."""
    path = find_course_file(exercises_root)
    if path is None:
        return Schedule()
    grading = read_toml(path).get("grading", {})
    if not isinstance(grading, dict):
        raise ScheduleError(f"{path}: [grading] must be a table")
    known = {"due", "late_policy", "penalty_per_day", "late_until", "due_by_exercise"}
    unknown = sorted(set(grading) - known)
    if unknown:
        raise ScheduleError(f"{path}: unknown key(s) in [grading]: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")
    policy = grading.get("late_policy", "none")
    if policy not in POLICIES:
        raise ScheduleError(f"{path}: late_policy = {policy!r}; use one of "
                            f"{', '.join(POLICIES)}")
    per_day = grading.get("penalty_per_day", 0)
    if isinstance(per_day, bool) or not isinstance(per_day, int | float) or per_day < 0:
        raise ScheduleError(f"{path}: penalty_per_day must be a number of percent, like 10")
    by_exercise = grading.get("due_by_exercise", {})
    if not isinstance(by_exercise, dict):
        raise ScheduleError(f"{path}: [grading.due_by_exercise] must be a table of "
                            "exercise = date")
    return Schedule(
        due=when(grading["due"], f"{path}: due") if "due" in grading else None,
        late_policy=policy, penalty_per_day=float(per_day),
        late_until=(when(grading["late_until"], f"{path}: late_until")
                    if "late_until" in grading else None),
        due_by_exercise={str(k): when(v, f"{path}: due_by_exercise.{k}")
                         for k, v in by_exercise.items()},
        source=path)
