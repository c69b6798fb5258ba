"""A learner's progress: steps done, checkpoint answers, challenges met, where to resume.

Kept in SQLite in the user's data directory ($XDG_DATA_HOME/backend-sandbox/progress.sqlite,
or $SANDBOX_DATA_DIR). Every change is one transaction (a step done and the resume position it
moves to are saved together), and the database runs in WAL mode with full syncs, so a crash or
a kill in the middle of a write loses nothing that was already saved and leaves nothing half
saved: the half-written transaction simply never happened.

Several processes may open the file at once, even a brand-new one: they wait their turn (up to
`BUSY_TIMEOUT`) instead of failing.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.errors import SandboxError

SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    lesson_id TEXT NOT NULL, step INTEGER NOT NULL, done_at REAL NOT NULL,
    PRIMARY KEY (lesson_id, step));
CREATE TABLE IF NOT EXISTS answers (
    lesson_id TEXT NOT NULL, step INTEGER NOT NULL, checkpoint INTEGER NOT NULL,
    answer TEXT NOT NULL, correct INTEGER NOT NULL, answered_at REAL NOT NULL,
    PRIMARY KEY (lesson_id, step, checkpoint));
CREATE TABLE IF NOT EXISTS challenges (
    lesson_id TEXT NOT NULL, step INTEGER NOT NULL, checkpoint INTEGER NOT NULL,
    value REAL NOT NULL, met_at REAL NOT NULL,
    PRIMARY KEY (lesson_id, step, checkpoint));
CREATE TABLE IF NOT EXISTS position (
    lesson_id TEXT PRIMARY KEY, step INTEGER NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS exercise_checks (
    name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, score REAL NOT NULL,
    max_score REAL NOT NULL, passed INTEGER NOT NULL, checked_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS exercise_hints (
    name TEXT PRIMARY KEY, shown INTEGER NOT NULL);
"""


BUSY_TIMEOUT = 10.0  # seconds an open or a write waits for another process's lock on the file


class ProgressError(SandboxError):
    """The progress file cannot be opened or written."""


def _pause(seconds: float) -> None:
    """Wait before trying a busy file again (tests replace it to see that an open waits)."""
    time.sleep(seconds)


def _busy(exc: sqlite3.Error) -> bool:
    """Whether `exc` says another connection holds the lock (SQLITE_BUSY or one of its kinds)."""
    return ((getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF) == sqlite3.SQLITE_BUSY


def data_dir() -> Path:
    override = os.environ.get("SANDBOX_DATA_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "backend-sandbox"


@dataclass
class LessonProgress:
    steps_done: set[int] = field(default_factory=set)
    answers: dict[tuple[int, int], tuple[str, bool]] = field(default_factory=dict)
    challenges_met: set[tuple[int, int]] = field(default_factory=set)
    position: int = 0


@dataclass(frozen=True)
class ExerciseCheck:
    """The outcome of the last `check` (or `grade`) of one exercise."""

    fingerprint: str  # of the student's files when checked; a later edit makes it stale
    score: float
    max_score: float
    passed: bool
    checked_at: float


class ProgressStore:
    """Progress on disk. Safe to open from several processes (SQLite locks for us).

    Args:
        path: the SQLite file; default `data_dir() / "progress.sqlite"`.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / "progress.sqlite"
        conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # No busy timeout while setting up: _set_up waits and retries itself, because
            # SQLite's own wait does not cover it (see there).
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
            self._set_up(conn)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        except (OSError, sqlite3.Error) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.Error) and _busy(exc):
                raise ProgressError(
                    f"the progress file {self.path} is busy: another program has kept it locked "
                    f"for over {BUSY_TIMEOUT:g} s. Close other copies of the sandbox, or try "
                    "again."
                ) from None
            raise ProgressError(
                f"cannot open the progress file {self.path}: {exc}. Set SANDBOX_DATA_DIR to a "
                "writable folder."
            ) from None
        self.conn = conn

    @staticmethod
    def _set_up(conn: sqlite3.Connection) -> None:
        """WAL mode, full syncs and the tables, however many processes open the file at once.

        Switching a new file to WAL fails with SQLITE_BUSY at once, without calling the busy
        handler, while another process is switching it (waiting there could deadlock, so SQLite
        will not), and the tables need the write lock too. Every step is idempotent, so on
        SQLITE_BUSY the whole setup is tried again, until `BUSY_TIMEOUT` has passed.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT
        tries = 0
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                with conn:  # all the tables, or none
                    conn.execute("BEGIN IMMEDIATE")
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                return
            except sqlite3.Error as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
            _pause(min(0.001 * 2 ** tries, 0.05))
            tries += 1

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        self._transaction((sql, params))

    def _transaction(self, *statements: tuple[str, tuple[object, ...]]) -> None:
        """Run `statements` as one transaction: all of them are saved, or none."""
        try:
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise ProgressError(f"cannot save progress to {self.path}: {exc}") from None

    def step_done(self, lesson_id: str, step: int) -> None:
        """The step is done and the lesson resumes at the next one: both saved, or neither."""
        now = time.time()
        self._transaction(
            ("INSERT OR REPLACE INTO steps VALUES (?, ?, ?)", (lesson_id, step, now)),
            ("INSERT OR REPLACE INTO position VALUES (?, ?, ?)", (lesson_id, step + 1, now)))

    def answered(self, lesson_id: str, step: int, checkpoint: int, answer: str,
                 correct: bool) -> None:
        self._write("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                    (lesson_id, step, checkpoint, answer, int(correct), time.time()))

    def challenge_met(self, lesson_id: str, step: int, checkpoint: int, value: float) -> None:
        self._write("INSERT OR REPLACE INTO challenges VALUES (?, ?, ?, ?, ?)",
                    (lesson_id, step, checkpoint, value, time.time()))

    def moved_to(self, lesson_id: str, step: int) -> None:
        self._write("INSERT OR REPLACE INTO position VALUES (?, ?, ?)",
                    (lesson_id, step, time.time()))

    def lesson(self, lesson_id: str) -> LessonProgress:
        found = LessonProgress()
        rows = self.conn.execute("SELECT step FROM steps WHERE lesson_id = ?", (lesson_id,))
        found.steps_done = {int(r[0]) for r in rows}
        for step, point, answer, correct in self.conn.execute(
                "SELECT step, checkpoint, answer, correct FROM answers WHERE lesson_id = ?",
                (lesson_id,)):
            found.answers[(int(step), int(point))] = (str(answer), bool(correct))
        found.challenges_met = {(int(s), int(c)) for s, c in self.conn.execute(
            "SELECT step, checkpoint FROM challenges WHERE lesson_id = ?", (lesson_id,))}
        row = self.conn.execute("SELECT step FROM position WHERE lesson_id = ?",
                                (lesson_id,)).fetchone()
        found.position = int(row[0]) if row else 0
        return found

    def last_lesson(self) -> str | None:
        """The lesson the learner touched last, to resume it."""
        row = self.conn.execute(
            "SELECT lesson_id FROM position ORDER BY updated_at DESC LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def last_lesson_at(self) -> float | None:
        """When the learner last moved in a lesson (a Unix time), to weigh it against the
        last exercise check when resuming."""
        row = self.conn.execute("SELECT MAX(updated_at) FROM position").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def exercise_checked(self, name: str, fingerprint: str, score: float, max_score: float,
                         passed: bool) -> None:
        self._write("INSERT OR REPLACE INTO exercise_checks VALUES (?, ?, ?, ?, ?, ?)",
                    (name, fingerprint, score, max_score, int(passed), time.time()))

    def exercise_checks(self) -> dict[str, ExerciseCheck]:
        """The last check of every exercise the learner has checked."""
        return {str(r[0]): ExerciseCheck(str(r[1]), float(r[2]), float(r[3]), bool(r[4]),
                                         float(r[5]))
                for r in self.conn.execute("SELECT * FROM exercise_checks")}

    def hints_shown(self, name: str) -> int:
        row = self.conn.execute("SELECT shown FROM exercise_hints WHERE name = ?",
                                (name,)).fetchone()
        return int(row[0]) if row else 0

    def hint_taken(self, name: str, shown: int) -> None:
        self._write("INSERT OR REPLACE INTO exercise_hints VALUES (?, ?)", (name, shown))

    def forget_exercise(self, name: str) -> None:
        self._write("DELETE FROM exercise_checks WHERE name = ?", (name,))

    def reset(self, lesson_id: str | None = None) -> int:
        """Forget one lesson's progress, or everything; how many records were removed."""
        removed = 0
        try:
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                for table in ("steps", "answers", "challenges", "position"):
                    if lesson_id is None:
                        cur = self.conn.execute(f"DELETE FROM {table}")
                    else:
                        cur = self.conn.execute(f"DELETE FROM {table} WHERE lesson_id = ?",
                                                (lesson_id,))
                    removed += cur.rowcount
        except sqlite3.Error as exc:
            raise ProgressError(f"cannot reset progress in {self.path}: {exc}") from None
        return removed

    def close(self) -> None:
        self.conn.close()
