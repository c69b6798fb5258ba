"""`sandbox exercises ...`: the student's loop and the instructor's, on the command line.

Exit codes: 0 done (for `check` and `grade`: everything passed); 1 tests failed or the
exercises are broken; 2 a wrong name or argument.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.course.exercises import (
    Exercise,
    ExerciseError,
    UnknownExercise,
    current,
    default_root,
    find,
    load_exercises,
    status,
)
from sandbox.course.folders import shown_path
from sandbox.course.progress import ProgressStore
from sandbox.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from sandbox.safe_text import escape

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from sandbox.grading.early import Early
    from sandbox.grading.runner import ExerciseResult



def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ex = sub.add_parser(
        "exercises", help="write pieces of the backend yourself; check, hint, watch, grade",
        description="Exercises are folders in exercises/ (see exercises/README.md). You edit "
                    "the stub file named by each exercise; `check` runs its tests.",
    )
    ex.add_argument("--dir", metavar="DIR",
                    help="the exercises folder (default: ./exercises, or the sandbox's own)")
    s = ex.add_subparsers(dest="exercises_command", metavar="ACTION", required=True)
    s.add_parser("list", help="every exercise: order, status, points")
    check = s.add_parser("check", help="run one exercise's tests; explain the first failure")
    check.add_argument("name", metavar="NAME", nargs="?",
                       help="an exercise (default: the first one not done)")
    hint = s.add_parser("hint", help="show the next hint for an exercise")
    hint.add_argument("name", metavar="NAME", nargs="?")
    watch = s.add_parser("watch", help="re-check on every save; move on when it passes")
    watch.add_argument("name", metavar="NAME", nargs="?", help="start here (default: first "
                       "not done)")
    reset = s.add_parser("reset", help="put an exercise's stub back (asks first)")
    reset.add_argument("name", metavar="NAME")
    reset.add_argument("--yes", action="store_true", help="do not ask")
    grade = s.add_parser(
        "grade", help="grade exercises, hidden tests too: yours, one submission, or a "
                      "whole course's (--submissions)",
        description="Grades every exercise, hidden tests too. The tests and the verdict run in "
                    "a test process of their own; the student's code runs in a separate worker "
                    "that they call through proxies, so it can change a score only through "
                    "what its functions return and raise. On Linux the worker is shut in with "
                    "user, mount, PID and network namespaces and a file system holding only the "
                    "system, its Python and the sandbox package: it cannot see the course "
                    "folder, the hidden tests or any other file of yours, writes only to a "
                    "scratch /tmp, has no network, and "
                    "every process it starts is killed with it. Run by root, it is also the "
                    "user `nobody` to the rest of the machine, when Python's files are readable "
                    "by others (otherwise root without capabilities, and grade says so). "
                    "Where the machine allows no "
                    "namespaces (some containers), it runs only as a separate process with "
                    "memory, file and time limits: it can then read and write what the "
                    "grader's user can, so grade as a user who can read no more than the "
                    "course needs (the released bundle holds no hidden tests anyway); grade "
                    "says so when this happens.")
    grade.add_argument("names", metavar="NAME", nargs="*",
                       help="only these exercises (07-token-bucket or token-bucket; default: "
                            "all)")
    grade.add_argument("--gradescope", metavar="PATH", help="also write Gradescope results.json")
    grade.add_argument("--junit", metavar="PATH", help="also write JUnit XML")
    grade.add_argument("--submission", metavar="DIR",
                       help="take the student's files from DIR/NN-name/ instead of the exercise "
                            "folders (for autograders)")
    grade.add_argument("--submissions", metavar="DIR",
                       help="grade every student under DIR: one folder or .zip each, named by "
                            "the student (see exercises/README.md, 'Grading a whole course')")
    grade.add_argument("--gradebook", metavar="FILE.csv",
                       help="with --submissions: the gradebook (default OUTPUT/gradebook.csv)")
    grade.add_argument("--output", metavar="DIR",
                       help="with --submissions: where each student's results.json and junit.xml "
                            "go (default: a 'grades' folder beside DIR)")
    grade.add_argument("--jobs", type=int, default=None,
                       help="exercises (with --submissions: students) graded at once (default 2; "
                            "with --submissions: the number of processors)")
    verify = s.add_parser("verify", help="instructors: check every exercise is sound")
    verify.add_argument("names", metavar="NAME", nargs="*", help="only these (default: all)")
    verify.add_argument("--write-stubs", action="store_true",
                        help="first rewrite each student file from its solution")
    new = s.add_parser("new", help="instructors: scaffold a new exercise folder")
    new.add_argument("name", metavar="NAME", help="lower case with dashes, e.g. token-bucket")
    new.add_argument("--topic", type=int, default=1, help="curriculum topic 1-16 (default 1)")
    new.add_argument("--lesson", default="clients-and-requests", help="the lesson id it belongs to")
    release = s.add_parser("release", help="instructors: write the student bundle (no solutions, "
                                           "no hidden tests)")
    release.add_argument("target", metavar="DIR", nargs="?",
                         help="a new or empty folder for the student bundle")
    release.add_argument("--gradescope", metavar="FILE.zip",
                         help="write Gradescope's autograder zip instead (setup.sh, "
                              "run_autograder, the package, hidden tests; no solutions)")
    release.add_argument("--github-classroom", metavar="DIR",
                         help="write a GitHub Classroom template repository instead (the "
                              "student bundle and a workflow that grades each push)")
    release.add_argument("--only", metavar="NAME", nargs="+",
                         help="package only these exercises")


def run(args: argparse.Namespace | None, out: Console, err: Console,
        early: Early | None = None) -> int:
    if early is not None:  # `check NAME`, already running
        store = ProgressStore()
        try:
            return EXIT_OK if check(early.exercise, store, out, early).passed else EXIT_FAILED
        finally:
            store.close()
    assert args is not None
    try:
        return _run(args, out, err)
    except UnknownExercise as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return EXIT_USAGE


def _run(args: argparse.Namespace, out: Console, err: Console) -> int:
    root = Path(args.dir) if args.dir else default_root()
    command = args.exercises_command
    if command == "new":
        from sandbox.grading.instructor import scaffold

        folder = scaffold(root, args.name, args.topic, args.lesson)
        out.print(f"created {folder}: edit exercise.toml, README.md, the solution and the test, "
                  "then run `sandbox exercises verify`")
        return EXIT_OK
    exercises, errors = load_exercises(root)
    if command != "verify":  # verify reports broken folders as failures of their own
        for error in errors:
            err.print(f"[yellow]skipped:[/] {escape(str(error))}", highlight=False)
    if command == "verify":
        chosen = [find(exercises, name) for name in args.names] if args.names else None
        return cmd_verify(root, chosen or exercises, args.write_stubs, out,
                          only=None if chosen is None else {e.name for e in chosen})
    if command == "release":
        for name in args.only or []:
            find(exercises, name)  # an unknown name is a usage error, listing the real ones
        return cmd_release(root, args, out, err)
    if not exercises:
        err.print(f"[bold red]error:[/] no exercises in {escape(str(root))}", highlight=False)
        return EXIT_FAILED
    store = ProgressStore()
    try:
        if command == "list":
            out.print(list_table(exercises, store))
            return EXIT_OK
        if command == "grade":
            chosen = _chosen(exercises, args.names)
            if args.submissions:
                from sandbox.commands.gradebook import cmd_grade_all

                return cmd_grade_all(root, chosen, args, out, err)
            return cmd_grade(chosen, args, store, out)
        exercise = find(exercises, args.name) if args.name else current(exercises, store)
        if command == "check":
            return EXIT_OK if check(exercise, store, out).passed else EXIT_FAILED
        if command == "hint":
            return cmd_hint(exercise, store, out)
        if command == "reset":
            return cmd_reset(exercise, store, args.yes, out)
        if command == "watch":
            from sandbox.commands.watch import watch

            return watch(exercises, exercise, store, out, check, cmd_hint)
    finally:
        store.close()
    raise ExerciseError(f"unknown action {command}")


def cmd_release(root: Path, args: argparse.Namespace, out: Console, err: Console) -> int:
    from sandbox.grading.instructor import release
    from sandbox.grading.packages import classroom_template, gradescope_zip

    only = set(args.only) if args.only else None
    chosen = [bool(args.target), bool(args.gradescope), bool(args.github_classroom)]
    if sum(chosen) != 1:
        err.print("[bold red]error:[/] give one of: a folder for the student bundle, "
                  "--gradescope FILE.zip, or --github-classroom DIR", highlight=False)
        return EXIT_USAGE
    if args.gradescope:
        done = gradescope_zip(root, Path(args.gradescope), only)
        out.print(f"wrote {args.gradescope}: {len(done)} exercises with their hidden tests, "
                  "setup.sh and run_autograder; no solutions")
    elif args.github_classroom:
        done = classroom_template(root, Path(args.github_classroom), only)
        out.print(f"wrote {args.github_classroom}: {len(done)} exercises and "
                  ".github/workflows/classroom.yml; no solutions, no hidden tests")
    else:
        done = release(root, Path(args.target), only=only)
        out.print(f"wrote {len(done)} exercises to {args.target}: stubs, visible tests, hints; "
                  "no solutions, no hidden tests")
    return EXIT_OK


def _chosen(exercises: list[Exercise], names: list[str]) -> list[Exercise]:
    """The exercises named (all of them when none is), each once, in course order."""
    if not names:
        return exercises
    wanted: set[str] = set()
    for name in names:
        try:
            wanted.add(find(exercises, name).name)
        except UnknownExercise:
            valid = ", ".join(e.folder.name for e in exercises)
            raise UnknownExercise(f"no exercise called '{name}'; the exercises are: {valid} "
                                  "(the number may be left off)") from None
    return [e for e in exercises if e.name in wanted]


def list_table(exercises: list[Exercise], store: ProgressStore) -> Table:
    from rich.table import Table

    # Only the title and status wrap (at spaces): names and file names are never cut mid-word.
    # The student's file sits under the exercise's name (its folder is the # and name), so the
    # table fits 80 columns with the title narrow.
    table = Table(title="exercises", title_justify="left", pad_edge=False)
    for column in ("#", "name / your file", "title", "status", "points"):
        table.add_column(column, justify="right" if column in {"#", "points"} else "left",
                         no_wrap=column not in {"title", "status"},
                         min_width=8 if column == "title" else None,
                         overflow="fold" if column in {"title", "status"} else "ellipsis")
    styles = {"done": "green", "failing": "red", "changed": "yellow", "not started": "dim"}
    for exercise in exercises:
        state, points = status(exercise, store)
        table.add_row(str(exercise.order), f"{exercise.name}\n[dim]{escape(exercise.files[0])}[/]",
                      escape(exercise.title), f"[{styles[state]}]{state}[/]", points)
    return table


def check(exercise: Exercise, store: ProgressStore, out: Console,
          early: Early | None = None) -> ExerciseResult:
    from sandbox.grading.reports import verdict
    from sandbox.grading.runner import start_exercise

    if early is not None:
        fingerprint, running = early.fingerprint, early.running
    else:
        fingerprint, running = exercise.fingerprint(), start_exercise(exercise)
    with out.status(f"checking {exercise.name}…", spinner="dots"):
        result = running.wait()
    store.exercise_checked(exercise.name, fingerprint, result.score, result.max_score,
                           result.passed)
    out.print(verdict(result))
    if not result.passed:
        shown = store.hints_shown(exercise.name)
        more = (f"`sandbox exercises hint {exercise.name}` for a hint "
                f"({shown} of {len(exercise.hints)} seen)") if shown < len(exercise.hints) else ""
        out.print(f"\n[dim]edit {escape(shown_path(exercise.student_path(exercise.files[0])))}"
                  f"{'; ' + more if more else ''}[/]", highlight=False)
    return result


def cmd_hint(exercise: Exercise, store: ProgressStore, out: Console) -> int:
    shown = store.hints_shown(exercise.name)
    if shown >= len(exercise.hints):
        out.print(f"[bold]{exercise.name}[/]: no more hints; here they all are again:")
        for number, text in enumerate(exercise.hints, start=1):
            out.print(f"  {number}. {escape(text)}")
        return EXIT_OK
    store.hint_taken(exercise.name, shown + 1)
    out.print(f"[bold]hint {shown + 1} of {len(exercise.hints)}[/] for {exercise.name}:\n"
              f"  {escape(exercise.hints[shown])}")
    return EXIT_OK


def cmd_reset(exercise: Exercise, store: ProgressStore, yes: bool, out: Console) -> int:
    files = ", ".join(exercise.files)
    if not yes:
        if not sys.stdin.isatty():
            out.print(f"reset would overwrite {files} in {exercise.folder}; add --yes to confirm")
            return EXIT_USAGE
        answer = input(f"Overwrite {files} with the original stub? Your code there is lost. "
                       "[y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            out.print("left as it was")
            return EXIT_OK
    stubs = {file: exercise.pristine_stub(file) for file in exercise.files}  # all, or none
    for file, text in stubs.items():
        exercise.student_path(file).write_text(text, encoding="utf-8")
    store.forget_exercise(exercise.name)
    out.print(f"{exercise.name}: {files} restored to the stub")
    return EXIT_OK


def cmd_grade(exercises: list[Exercise], args: argparse.Namespace, store: ProgressStore,
              out: Console) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from sandbox.grading.reports import gradescope, junit, score_table, write_report
    from sandbox.grading.runner import run_exercise

    started = time.monotonic()
    submission = Path(args.submission) if args.submission else None

    def one(exercise: Exercise) -> ExerciseResult:
        where = submission / exercise.folder.name if submission else None
        if where is not None and not all((where / f).is_file() for f in exercise.files):
            where = _missing_submission(exercise, where)
        return run_exercise(exercise, hidden=True, student_dir=where)

    with out.status(f"grading {len(exercises)} exercises…", spinner="dots"), \
            ThreadPoolExecutor(max_workers=max(1, args.jobs or 2)) as pool:
        results = list(pool.map(one, exercises))
    elapsed = time.monotonic() - started
    if submission is None:
        for exercise, result in zip(exercises, results, strict=True):
            store.exercise_checked(exercise.name, exercise.fingerprint(), result.score,
                                   result.max_score, result.passed)
    out.print(score_table(results))
    loose = sorted({r.exercise.name for r in results if r.confinement == "process"})
    if loose:
        out.print(f"[yellow]note:[/] this machine allows no namespaces, so the student's code "
                  f"ran only in a process of its own ({', '.join(loose)}): it could read and "
                  "write what this user can. See `sandbox exercises grade --help`.",
                  highlight=False)
    as_root = sorted({r.exercise.name for r in results if r.confinement == "namespaces-root"})
    if as_root:
        out.print("[yellow]note:[/] this Python's files are readable by root alone, "
                  "so the student's code ran shut in but as root without capabilities "
                  f"({', '.join(as_root)}): in the few folders it sees (the system, Python, "
                  "the sandbox package) it could read, not write, files only root may read. "
                  "Install Python where others can read it to grade as `nobody`.",
                  highlight=False)
    if args.gradescope:
        write_report(Path(args.gradescope), gradescope(results, elapsed))
        out.print(f"wrote {args.gradescope}")
    if args.junit:
        write_report(Path(args.junit), junit(results, elapsed))
        out.print(f"wrote {args.junit}")
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def _missing_submission(exercise: Exercise, where: Path) -> Path:
    """A submission without the exercise's file is graded as its stub: every test fails,
    and the report still lists each one."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f"missing-{exercise.name}-"))
    for file in exercise.files:
        source = where / file
        if source.is_symlink():  # copied as the link it is: the grader refuses it, never reads
            (tmp / file).symlink_to(source.readlink())  # through it (a solution elsewhere)
            continue
        text = source.read_text(encoding="utf-8") if source.is_file() else \
            exercise.pristine_stub(file)
        (tmp / file).write_text(text, encoding="utf-8")
    return tmp


def cmd_verify(root: Path, exercises: list[Exercise], write: bool, out: Console,
               only: set[str] | None = None) -> int:
    from sandbox.grading.instructor import Verification, verify_all, write_stubs

    if write:
        for exercise in exercises:
            for path in write_stubs(exercise):
                out.print(f"wrote {path}")
    lessons_root = root.parent / "lessons"
    lesson_ids: set[str] | None = None
    if lessons_root.is_dir():
        from sandbox.course.lessons import load_lessons

        lesson_ids = {lesson.id for lesson in load_lessons(lessons_root)[0]}

    def report(found: Verification) -> None:
        mark = "[green]✓[/]" if found.ok else "[red]✗[/]"
        tests = f"({len(found.exercise.tests)} tests)" if found.exercise else "(cannot load)"
        out.print(f"{mark} {escape(found.name)} {tests}", highlight=False)
        for problem in found.problems:
            out.print(f"    {escape(problem)}", highlight=False, soft_wrap=True)

    results = verify_all(root, lesson_ids, progress=report, only=only)
    for found in results:
        if found.exercise is None:
            report(found)
    bad = [r for r in results if not r.ok]
    out.print(f"\n{len(results) - len(bad)} of {len(results)} exercises sound")
    return EXIT_FAILED if bad else EXIT_OK
