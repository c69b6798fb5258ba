"""`sandbox exercises watch`: check the current exercise on every save, like rustlings.

The loop waits for one of two things: a student file changing on disk (checked by its
contents' hash a few times a second, which works on every file system and editor), or a key:
`h` next hint, `n` skip to the next exercise, `c` check again now, `q` quit. When an exercise
passes, the watch moves on to the next one that is not done.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console

from sandbox.course.exercises import Exercise, status
from sandbox.course.progress import ProgressStore


class Checked(Protocol):
    """What a check tells the watcher: did it pass."""

    @property
    def passed(self) -> bool: ...

POLL_S = 0.25
KEYS = "[dim]keys: h hint · n next exercise · c check now · q quit[/]"


@contextmanager
def _keys_unbuffered() -> Iterator[None]:
    """Single key presses without enter on a terminal; a pipe is read as it is."""
    if not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class _Keys:
    def __init__(self) -> None:
        self.open = True

    def read(self, timeout: float) -> str | None:
        """One key, or None after `timeout` seconds."""
        if not self.open:
            time.sleep(timeout)
            return None
        try:
            ready, _, _ = select.select([sys.stdin], [], [], timeout)
        except (OSError, ValueError):  # no usable stdin (closed, or not selectable)
            self.open = False
            return None
        if not ready:
            return None
        data = os.read(sys.stdin.fileno(), 1)
        if not data:
            self.open = False  # end of input: keep watching files, stop reading keys
            return None
        return data.decode("utf-8", "replace").lower()


def watch(exercises: list[Exercise], start: Exercise, store: ProgressStore, out: Console,
          check: Callable[[Exercise, ProgressStore, Console], Checked],
          hint: Callable[[Exercise, ProgressStore, Console], object]) -> int:
    """Check `start`, then again on every save, moving on when it passes. `check` and `hint`
    are the commands' own (handed in, so this module needs nothing from them)."""
    keys = _Keys()
    current: Exercise | None = start
    with _keys_unbuffered():
        while current is not None:
            out.rule(f"{current.order}. {current.title}")
            seen = current.fingerprint()  # before the check: a save during it is not missed
            result = check(current, store, out)
            if not result.passed:
                out.print(KEYS)
            out.file.flush()  # live even through a pipe (`watch | tee log`)
            moved = False
            while not moved:
                if result.passed:
                    current = _next_not_done(exercises, current, store)
                    if current is None:
                        out.print("[bold green]Every exercise passes. Well done![/] "
                                  "`sandbox exercises grade` gives the full score.")
                        return 0
                    out.print(f"[green]passed: on to {current.name}[/]")
                    break
                out.file.flush()
                key = keys.read(POLL_S)
                if key == "q":
                    out.print("stopped watching; your progress is saved")
                    return 0
                if key == "h":
                    hint(current, store, out)
                elif key == "n":
                    following = _next_after(exercises, current)
                    if following is None:
                        out.print("this is the last exercise")
                    else:
                        current = following
                        moved = True
                elif key == "c" or current.fingerprint() != seen:
                    moved = True  # re-check the same exercise (it changed, or was asked)
    return 0


def _next_after(exercises: list[Exercise], current: Exercise) -> Exercise | None:
    index = exercises.index(current)
    return exercises[index + 1] if index + 1 < len(exercises) else None


def _next_not_done(exercises: list[Exercise], current: Exercise,
                   store: ProgressStore) -> Exercise | None:
    index = exercises.index(current)
    for exercise in exercises[index + 1:] + exercises[:index]:
        if status(exercise, store)[0] != "done":
            return exercise
    return None
