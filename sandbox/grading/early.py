"""Start `sandbox exercises check NAME`'s tests before the rest of the command line loads.

The test process needs a few hundred milliseconds to import pytest and the sandbox; the
command line needs some to import rich and open the progress file. Started first, the two
overlap, and the verdict comes sooner. Only the exercise's own folder is read here.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from sandbox.course.exercises import (
    Exercise,
    ExerciseError,
    default_root,
    find_folder,
    load_exercise,
)
from sandbox.grading.runner import RunningExercise, start_exercise


class Early:
    """`check NAME`, already running."""

    def __init__(self, exercise: Exercise, fingerprint: str, running: RunningExercise) -> None:
        self.exercise, self.fingerprint, self.running = exercise, fingerprint, running


def start_early(argv: Sequence[str]) -> Early | None:
    """`argv` after `exercises`. Anything but a plain `check NAME` (or an unknown name, or a
    broken folder) returns None, and the normal path handles and reports it."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--dir")
    parser.add_argument("action")
    parser.add_argument("name", nargs="?")
    try:
        args, rest = parser.parse_known_args(list(argv))
    except SystemExit:  # not ours to report; the full parser will
        return None
    if args.action != "check" or not args.name or rest:
        return None
    root = Path(args.dir) if args.dir else default_root()
    try:
        exercise = load_exercise(find_folder(root, args.name))
    except (ExerciseError, OSError):
        return None
    return Early(exercise, exercise.fingerprint(), start_exercise(exercise))
