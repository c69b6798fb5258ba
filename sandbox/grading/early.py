"""Start `sandbox exercises check NAME`'s tests before the rest of the command line loads.

The test process needs a few hundred milliseconds to import pytest and the sandbox; the
command line needs some to import rich, read the manifest and open the progress file. Started
first, the two overlap, and the verdict comes sooner. So this module reads the arguments by
hand and finds the exercise's folder with the standard library alone, then launches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.course.exercises import Exercise
    from sandbox.grading.runner import RunningExercise


class Early:
    """`check NAME`, already running."""

    def __init__(self, exercise: Exercise, fingerprint: str, running: RunningExercise) -> None:
        self.exercise, self.fingerprint, self.running = exercise, fingerprint, running


def _plain_check(argv: Sequence[str]) -> tuple[str | None, str] | None:
    """(--dir, NAME) for exactly `[--dir DIR] check NAME`; None for anything else."""
    args = list(argv)
    root: str | None = None
    if args[:1] == ["--dir"] and len(args) >= 2:
        root, args = args[1], args[2:]
    elif args and args[0].startswith("--dir="):
        root, args = args[0][len("--dir="):], args[1:]
    if len(args) == 2 and args[0] == "check" and not args[1].startswith("-"):
        return root, args[1]
    return None


def start_early(argv: Sequence[str]) -> Early | None:
    """`argv` after `exercises`. Anything but a plain `check NAME` (or an unknown name, or a
    broken folder) returns None, and the normal path handles and reports it."""
    plain = _plain_check(argv)
    if plain is None:
        return None
    from sandbox.course.folders import default_root, folder_named
    from sandbox.grading.launch import launch, visible_test_files

    root = Path(plain[0]) if plain[0] else default_root()
    try:
        folder = folder_named(root, plain[1])
        files = visible_test_files(folder, hidden=False) if folder else []
    except OSError:
        return None
    if folder is None or not files:
        return None
    launched = launch(folder, files, folder, folder.name)
    try:  # the tests come first: our own loading takes whatever CPU they leave
        import os

        os.nice(5)
    except (AttributeError, OSError):
        pass
    # The tests are starting; now the rest may load.
    from sandbox.course.exercises import ExerciseError, load_exercise
    from sandbox.grading.runner import RunningExercise

    try:
        exercise = load_exercise(folder, read_tests=False)
    except ExerciseError:
        if launched.proc is not None:
            launched.proc.kill()
            launched.proc.wait()
        launched.discard()
        return None
    # The files as checked: the test process reads them a few hundred milliseconds from now.
    fingerprint = exercise.fingerprint()
    running = RunningExercise(exercise, False, None, None, launched=launched)
    return Early(exercise, fingerprint, running)
