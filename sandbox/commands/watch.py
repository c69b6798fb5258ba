"""`sandbox exercises watch`: check the current exercise on every save, like rustlings.

The loop sleeps until one of two things happens: a student file changing on disk
(reported by the operating system through watchfiles, the library behind uvicorn's reload),
or a key: `h` next hint, `n` skip to the next exercise, `c` check again now, `q` quit. When an
exercise passes, the watch moves on to the next one that is not done.

Both arrive as events on one queue, from two small threads: one reads keys from stdin, one
waits on watchfiles. The loop itself only sees a stream of events, so the tests hand it a list.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from rich.console import Console

from sandbox.course.exercises import Exercise, status
from sandbox.course.progress import ProgressStore
from sandbox.safe_text import escape


class Checked(Protocol):
    """What a check tells the watcher: did it pass."""

    @property
    def passed(self) -> bool: ...


# A key pressed (one character), the student files a save changed, or why the file watcher
# stopped (saves are then no longer seen; keys still work).
Event = str | frozenset[Path] | Exception

# Editors save in several steps (write a temporary file, rename it over, touch it again):
# changes less than STEP_MS apart are grouped, for at most DEBOUNCE_MS, into one event. A
# group that still splits costs nothing: a change re-runs the check only if the files' hash
# moved since the last one.
DEBOUNCE_MS = 1600
STEP_MS = 50
KEYS = "[dim]keys: h hint · n next exercise · c check now · q quit[/]"


def watch(exercises: list[Exercise], start: Exercise, store: ProgressStore, out: Console,
          check: Callable[[Exercise, ProgressStore, Console], Checked],
          hint: Callable[[Exercise, ProgressStore, Console], object],
          events: Iterable[Event] | None = None) -> int:
    """Check `start`, then again on every save, moving on when it passes. `check` and `hint`
    are the commands' own (handed in, so this module needs nothing from them). `events`
    replaces the keyboard and the disk (tests); by default both are watched live."""
    if events is not None:
        return _loop(exercises, start, store, out, check, hint, iter(events))
    files = [e.student_path(f) for e in exercises for f in e.files]
    with _keys_unbuffered(), _live_events(files) as live:
        return _loop(exercises, start, store, out, check, hint, live)


def _loop(exercises: list[Exercise], start: Exercise, store: ProgressStore, out: Console,
          check: Callable[[Exercise, ProgressStore, Console], Checked],
          hint: Callable[[Exercise, ProgressStore, Console], object],
          events: Iterator[Event]) -> int:
    current = start
    while True:
        out.rule(f"{current.order}. {current.title}")
        seen = current.fingerprint()  # before the check: a save during it is not missed
        result = check(current, store, out)
        if result.passed:
            following = _next_not_done(exercises, current, store)
            if following is None:
                out.print("[bold green]Every exercise passes. Well done![/] "
                          "`sandbox exercises grade` gives the full score.")
                return 0
            out.print(f"[green]passed: on to {following.name}[/]")
            current = following
            continue
        out.print(KEYS)
        out.file.flush()  # live even through a pipe (`watch | tee log`)
        if current.fingerprint() != seen:
            continue  # saved while the check ran (or before the watcher was up): again
        chosen = _wait(exercises, current, seen, store, out, hint, events)
        if chosen is None:
            return 0
        current = chosen


def _wait(exercises: list[Exercise], current: Exercise, seen: str, store: ProgressStore,
          out: Console, hint: Callable[[Exercise, ProgressStore, Console], object],
          events: Iterator[Event]) -> Exercise | None:
    """The exercise to check next (`current` again after a save), or None to stop."""
    mine = {current.student_path(f) for f in current.files}
    for event in events:
        if isinstance(event, Exception):
            out.print(f"[yellow]can no longer see your saves ({escape(str(event) or repr(event))})"
                      "; press c to check[/]", highlight=False)
        elif isinstance(event, str):
            key = event.lower()
            if key == "q":
                out.print("stopped watching; your progress is saved")
                return None
            if key == "h":
                hint(current, store, out)
            elif key == "n":
                following = _next_after(exercises, current)
                if following is not None:
                    return following
                out.print("this is the last exercise")
            elif key == "c":
                return current
        elif event & mine and current.fingerprint() != seen:
            return current  # saved (an unchanged file, or another exercise's, is no reason)
        out.file.flush()
    out.print("stopped watching: neither keys nor saves can reach it any more")
    return None


@contextmanager
def _live_events(files: list[Path]) -> Iterator[Iterator[Event]]:
    """Keys from stdin and saves of `files`, as one stream; the threads end with the block."""
    inbox: queue.Queue[Event | None] = queue.Queue()  # None: one source has ended
    stop = threading.Event()
    saves = threading.Thread(target=_pass_on_saves, args=(files, stop, inbox),
                             name="watch-saves", daemon=True)
    saves.start()
    # Blocked in a read of stdin until a key comes, so it cannot be joined: a daemon.
    threading.Thread(target=_pass_on_keys, args=(inbox,), name="watch-keys", daemon=True).start()
    try:
        yield _drain(inbox, sources=2)
    finally:
        stop.set()  # watchfiles looks at it every STEP_MS
        saves.join(timeout=5)


def _drain(inbox: queue.Queue[Event | None], sources: int) -> Iterator[Event]:
    # Waiting on a lock is interrupted by Ctrl-C on POSIX, not on Windows: wake there now
    # and then so Ctrl-C still stops the watch.
    timeout = 0.5 if os.name == "nt" else None
    while sources:
        try:
            event = inbox.get(timeout=timeout)
        except queue.Empty:
            continue
        if event is None:
            sources -= 1
        else:
            yield event


def _pass_on_keys(inbox: queue.Queue[Event | None]) -> None:
    try:
        fd = sys.stdin.fileno()
        while data := os.read(fd, 1):  # b"" at end of input: keep watching files
            inbox.put(data.decode("utf-8", "replace"))
    except (AttributeError, OSError, ValueError):  # no usable stdin (None, closed, detached)
        pass
    finally:
        inbox.put(None)


def _pass_on_saves(files: list[Path], stop: threading.Event,
                   inbox: queue.Queue[Event | None]) -> None:
    problem: Exception | None = None
    try:
        # Where the system's file notifications fail (too many watches, odd file systems),
        # watchfiles can read the folders itself instead.
        for polling in (None, True):
            try:
                for changed in saves_of(files, stop, force_polling=polling):
                    inbox.put(changed)
                return  # stopped
            except Exception as exc:
                problem = exc
                if stop.is_set():
                    return
        if problem is not None:
            inbox.put(problem)
    finally:
        inbox.put(None)


def saves_of(files: list[Path], stop: threading.Event,
             force_polling: bool | None = None) -> Iterator[frozenset[Path]]:
    """The `files` that changed, one set per save, until `stop` is set.

    Their folders are watched rather than the files, so a save that writes a new file and
    renames it over the old one is seen too; changes to anything else are filtered out.
    """
    import watchfiles

    wanted = {file.parent.resolve() / file.name: file for file in files}
    folders = sorted({str(path.parent) for path in wanted})

    def is_student_file(_change: watchfiles.Change, path: str) -> bool:
        return Path(path) in wanted

    for changes in watchfiles.watch(*folders, watch_filter=is_student_file,
                                    debounce=DEBOUNCE_MS, step=STEP_MS, stop_event=stop,
                                    recursive=False, raise_interrupt=False,
                                    force_polling=force_polling):
        yield frozenset(wanted[Path(path)] for _, path in changes)


@contextmanager
def _keys_unbuffered() -> Iterator[None]:
    """Single key presses without enter on a terminal; a pipe is read as it is."""
    stdin = sys.stdin
    if stdin is None or stdin.closed or not stdin.isatty():
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
