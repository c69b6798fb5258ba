"""`sandbox exercises grade --submissions DIR`: a whole course graded into a gradebook, with a
progress bar and an ETA on stderr (plain lines when stderr is not a terminal)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.course.exercises import Exercise
from sandbox.course.schedule import ScheduleError, load_schedule
from sandbox.errors import EXIT_OK, EXIT_USAGE
from sandbox.safe_text import escape

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from sandbox.grading.bulk import StudentGrade


def cmd_grade_all(root: Path, exercises: list[Exercise], args: argparse.Namespace,
                  out: Console, err: Console) -> int:
    from sandbox.grading.bulk import grade_all, write_gradebook
    from sandbox.grading.submissions import student_entries

    def usage(message: str) -> int:
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        return EXIT_USAGE

    if args.submission or args.gradescope or args.junit:
        return usage("--submissions writes each student's results.json and junit.xml under "
                     "--output; it does not take --submission, --gradescope or --junit")
    folder = Path(args.submissions)
    if not folder.is_dir():
        return usage(f"{folder}: no such folder of submissions (one folder or .zip per "
                     "student)")
    if args.jobs is not None and args.jobs < 1:
        return usage("--jobs must be 1 or more")
    output = Path(args.output) if args.output else folder.resolve().parent / "grades"
    gradebook = Path(args.gradebook) if args.gradebook else output / "gradebook.csv"
    try:
        schedule = load_schedule(root)
    except ScheduleError as exc:
        return usage(str(exc))
    students = sum(1 for e in student_entries(folder) if e.resolve() != output.resolve())
    if not students:
        return usage(f"{folder}: no submissions in it (one folder or .zip per student)")
    for exercise in exercises:  # read once, before the threads share them
        if exercise.tests_pending:
            exercise.read_tests()
    jobs = args.jobs or os.cpu_count() or 1
    try:
        with _Progress(err, students) as progress:
            grades = grade_all(folder, exercises, schedule, output, jobs, progress.advance)
    except ScheduleError as exc:
        return usage(str(exc))
    write_gradebook(gradebook, grades, exercises)
    full = sum(1 for g in grades if g.max_score and g.total >= g.max_score)
    late = sum(1 for g in grades if g.days_late)
    out.print(f"graded {len(grades)} students on {len(exercises)} exercises in "
              f"{progress.elapsed:.0f} s: {full} full marks, {late} late", highlight=False)
    if schedule.source is not None:
        out.print(f"due dates from {schedule.source}", highlight=False)
    out.print(f"wrote {gradebook} and each student's results.json and junit.xml in {output}",
              highlight=False)
    return EXIT_OK


class _Progress:
    """A rich progress bar on a terminal; elsewhere one plain line per student graded."""

    def __init__(self, err: Console, total: int) -> None:
        self.err, self.total, self.done = err, total, 0
        self.started = time.monotonic()
        self.bar: Progress | None = None
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("eta"), TimeRemainingColumn(), console=err,
                                transient=True)
            self.task = self.bar.add_task("grading", total=total)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, grade: StudentGrade) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.advance(self.task)
            return
        left = self.elapsed / self.done * (self.total - self.done)
        self.err.print(f"graded {self.done}/{self.total} ({escape(grade.student)}: "
                       f"{grade.total:g}/{grade.max_score:g}), eta {left:.0f} s",
                       highlight=False, soft_wrap=True)
