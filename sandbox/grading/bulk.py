"""Grade a whole course: every student's submission, side by side, into one gradebook.

Each student's files are first copied out of their folder or zip (submissions.py); each
exercise is then graded exactly as `grade --submission` grades it (runner.py: its own test
process, the student's code in a confined worker, hidden tests included). Students are graded
`jobs` at a time. A submission that cannot be used, an exercise not handed in, or one refused
as too late still gets its row, with 0 points and a note saying why.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.course.exercises import Exercise
from sandbox.course.schedule import Lateness, Schedule, ScheduleError, read_toml, when
from sandbox.grading.reports import gradescope, junit, write_report
from sandbox.grading.runner import ExerciseResult, TestOutcome, run_exercise
from sandbox.grading.submissions import collect, student_entries, student_name

TIMES_FILE = "submissions.toml"


@dataclass
class StudentGrade:
    """One row of the gradebook."""

    student: str
    results: list[ExerciseResult]
    lateness: list[Lateness]
    submitted_at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)

    def points(self, index: int) -> float:
        return 0.0 if self.lateness[index].refused else self.results[index].score

    @property
    def penalty(self) -> float:
        return sum(self.points(i) * late.penalty_percent / 100
                   for i, late in enumerate(self.lateness) if not late.refused)

    @property
    def total(self) -> float:
        return sum(self.points(i) for i in range(len(self.results))) - self.penalty

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)

    @property
    def days_late(self) -> int:
        return max((late.days_late for late in self.lateness), default=0)


def submission_times(folder: Path) -> dict[str, dt.datetime]:
    """`[students.NAME] submitted_at = ...` from the folder's submissions.toml, if any."""
    path = folder / TIMES_FILE
    if not path.is_file():
        return {}
    students = read_toml(path).get("students", {})
    if not isinstance(students, dict):
        raise ScheduleError(f"{path}: [students.NAME] tables expected")
    times = {}
    for name, table in students.items():
        if not isinstance(table, dict) or "submitted_at" not in table:
            raise ScheduleError(f"{path}: [students.{name}] needs submitted_at = "
                                "2026-12-19T22:10:00Z")
        times[str(name)] = when(table["submitted_at"], f"{path}: students.{name}.submitted_at")
    return times


def not_run(exercise: Exercise, why: str) -> ExerciseResult:
    """A result for an exercise that was not run: every test failed, for `why`."""
    if exercise.tests_pending:
        exercise.read_tests()
    return ExerciseResult(exercise, [TestOutcome(t, False, why) for t in exercise.tests],
                          problem=why, hidden_included=True)


def grade_student(entry: Path, exercises: list[Exercise], schedule: Schedule,
                  times: dict[str, dt.datetime], output: Path) -> StudentGrade:
    """Grade one student and write their results.json and junit.xml under output/NAME/."""
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="submission-"))
    try:
        got = collect(entry, exercises, scratch / "files")
        notes = list(got.notes)
        submitted = times.get(got.student)
        if submitted is None and got.newest_mtime is not None:
            submitted = dt.datetime.fromtimestamp(got.newest_mtime, dt.UTC).replace(microsecond=0)
            if schedule.has_due_date:
                notes.append("submitted_at taken from the files' times")
        if got.problem:
            notes.append(got.problem)
        results: list[ExerciseResult] = []
        lateness: list[Lateness] = []
        for exercise in exercises:
            late = schedule.judge((exercise.name, exercise.folder.name), submitted)
            lateness.append(late)
            if got.problem:
                results.append(not_run(exercise, "the submission could not be used"))
            elif exercise.folder.name not in got.found:
                results.append(not_run(exercise, "not handed in"))
                notes.append(f"{exercise.name}: not handed in")
            elif late.refused:
                results.append(not_run(exercise, "refused: handed in too late"))
                notes.append(f"{exercise.name}: refused, {late.days_late} day(s) late")
            else:
                result = run_exercise(exercise, hidden=True,
                                      student_dir=scratch / "files" / exercise.folder.name)
                results.append(result)
                failure = result.first_failure
                if result.problem:
                    notes.append(f"{exercise.name}: {result.problem}")
                elif result.score == 0 and failure is not None:
                    notes.append(f"{exercise.name}: {failure.summary}")
                if late.penalty_percent:
                    notes.append(f"{exercise.name}: {late.days_late} day(s) late, "
                                 f"-{late.penalty_percent:g}%")
        grade = StudentGrade(got.student, results, lateness, submitted, notes)
        write_reports(grade, output / got.student, schedule, time.monotonic() - started)
        return grade
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_reports(grade: StudentGrade, folder: Path, schedule: Schedule,
                  elapsed: float) -> None:
    # Gradescope shows a hidden test "after_due_date" of the assignment; with no due date in
    # course.toml, the gradebook's hidden tests wait until the grades are published.
    visibility = "after_due_date" if schedule.has_due_date else "after_published"
    report = gradescope(grade.results, elapsed, hidden_visibility=visibility)
    report["score"] = round(grade.total, 3)
    if grade.notes:
        report["output"] = "\n".join([*grade.notes, report["output"]])
    write_report(folder / "results.json", report)
    write_report(folder / "junit.xml", junit(grade.results, elapsed))


def grade_all(folder: Path, exercises: list[Exercise], schedule: Schedule, output: Path,
              jobs: int, progress: Callable[[StudentGrade], None] | None = None
              ) -> list[StudentGrade]:
    """Grade every student under `folder`, `jobs` at a time; the rows sorted by student."""
    times = submission_times(folder)
    # The grades may be written inside the submissions folder: they are no student.
    entries = [e for e in student_entries(folder) if e.resolve() != output.resolve()]
    names = [student_name(e) for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ScheduleError(f"{folder}: more than one submission for {', '.join(twice)} "
                            "(a folder and a zip?); keep one each")
    grades: list[StudentGrade] = []
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [pool.submit(grade_student, e, exercises, schedule, times, output)
                   for e in entries]
        for future in as_completed(futures):
            grades.append(future.result())
            if progress is not None:
                progress(grades[-1])
    finally:  # ctrl-c: the students not started yet are not started; the running ones end
        pool.shutdown(wait=True, cancel_futures=True)
    return sorted(grades, key=lambda g: g.student)


def _cell(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (a student names their folder)."""
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def gradebook_rows(grades: list[StudentGrade], exercises: list[Exercise]) -> Iterator[list[str]]:
    yield ["student", *(e.folder.name for e in exercises), "total", "max", "late",
           "days_late", "penalty", "submitted_at", "notes"]
    for g in grades:
        yield [_cell(g.student), *(_points(g.points(i)) for i in range(len(exercises))),
               _points(g.total), _points(g.max_score), "yes" if g.days_late else "no",
               str(g.days_late), _points(g.penalty),
               g.submitted_at.isoformat().replace("+00:00", "Z") if g.submitted_at else "",
               _cell("; ".join(g.notes))]


def write_gradebook(path: Path, grades: list[StudentGrade], exercises: list[Exercise]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(gradebook_rows(grades, exercises))
    write_report(path, buffer.getvalue().encode("utf-8"))
