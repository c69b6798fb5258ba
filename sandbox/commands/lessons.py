"""`sandbox lessons`: list, check, show and reset the course's lessons."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.course.folders import lessons_dir
from sandbox.errors import (
    EXIT_FAILED,
    EXIT_OK,
    SettingsError,
)
from sandbox.safe_text import escape

if TYPE_CHECKING:
    from rich.console import Console

# -- lessons --------------------------------------------------------------------------------


def cmd_lessons(args: argparse.Namespace, out: Console, err: Console) -> int:
    from sandbox.course.lessons import load_lessons

    folder = Path(args.dir) if args.dir else lessons_dir()
    if args.dir and not folder.is_dir():
        raise SettingsError(f"no lessons folder {folder}: --dir takes a folder of lesson .md "
                            "files")
    if args.lessons_command == "check":
        return cmd_check(Path(args.path) if args.path else folder, args.run_claims, out, err)
    lessons, errors = load_lessons(folder)
    if args.lessons_command == "reset":
        from sandbox.course.progress import ProgressStore

        if args.lesson_id and args.lesson_id not in {lesson.id for lesson in lessons}:
            raise SettingsError(f"no lesson '{args.lesson_id}'. Lessons: "
                                + ", ".join(lesson.id for lesson in lessons))
        store = ProgressStore()
        removed = store.reset(args.lesson_id)
        store.close()
        out.print(f"reset {args.lesson_id or 'every lesson'}: {removed} saved record(s) removed")
        return EXIT_OK
    if args.lessons_command == "list":
        from rich.table import Table
        from rich.text import Text

        from sandbox.course.progress import ProgressStore

        store = ProgressStore()
        table = Table(title="lessons", title_justify="left")
        for column in ("topic", "id", "title", "progress"):
            table.add_column(column)
        for lesson in lessons:
            done = len(store.lesson(lesson.id).steps_done)
            total = len(lesson.steps)
            mark = Text(f"{done}/{total}", style="green" if done == total else "")
            table.add_row(Text(f"{lesson.topic:>2} {lesson.topic_name}"), Text(lesson.id),
                          Text(lesson.title), mark)
        store.close()
        out.print(table)
        for error in errors:
            err.print(f"[yellow]broken:[/] {escape(str(error))}", highlight=False,
                      soft_wrap=True)
        return EXIT_OK
    found = next((lesson for lesson in lessons if lesson.id == args.lesson_id), None)
    if found is None:
        ids = ", ".join(lesson.id for lesson in lessons) or "(none)"
        raise SettingsError(f"no lesson '{args.lesson_id}'. Lessons: {ids}")
    from sandbox import render

    out.print(render.lesson_view(found))
    return EXIT_OK


def cmd_check(target: Path, run_claims: bool, out: Console, err: Console) -> int:
    """Validate lesson files; every metric must be one a scenario reports; with `run_claims`,
    run the experiments and check every claim against the live sandbox."""
    from sandbox.course.lessons import load_lessons, read_lesson_file

    if not target.exists():
        raise SettingsError(f"no such file or folder: {target}")
    if target.is_dir():
        lessons, errors = load_lessons(target)
        count = len(lessons) + len({e.path for e in errors})
    else:
        lesson, errors = read_lesson_file(target)
        lessons, count = ([lesson] if lesson else []), 1
    from sandbox.course.claims import run_claims as run_all
    from sandbox.course.claims import unknown_metrics

    errors = [*errors, *unknown_metrics(lessons)]
    claims = 0
    if run_claims and not errors:
        with err.status("running every experiment and claim…", spinner="dots"):
            claims, false = run_all(lessons)
        errors.extend(false)
    for error in sorted(errors, key=lambda e: (e.path, e.line)):
        err.print(escape(str(error)), highlight=False, soft_wrap=True)
    if errors:
        err.print(f"[red]{len(errors)} problem(s)[/] in {count} lesson file(s)")
        return EXIT_FAILED
    checked = f", {claims} claim(s) true" if run_claims else ""
    out.print(f"[green]ok[/]: {count} lesson file(s), no problems{checked}")
    return EXIT_OK
