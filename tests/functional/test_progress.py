"""Saved progress: what is written survives a killed process; reset forgets it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.cli import EXIT_OK, EXIT_USAGE, main
from sandbox.course.progress import ProgressError, ProgressStore

WRITER = """
import sys
from pathlib import Path
from sandbox.course.progress import ProgressStore
store = ProgressStore(Path(sys.argv[1]))
for i in range(1_000_000):
    store.answered("caching", i, 0, f"answer {i}", i % 2 == 0)
    print(i, flush=True)  # only after the record is committed
"""


def test_records_and_reads_back(tmp_path: Path) -> None:
    store = ProgressStore(tmp_path / "p.sqlite")
    store.step_done("caching", 0)
    store.answered("caching", 1, 0, "In the cache", True)
    store.challenge_met("caching", 3, 1, 0.0)
    again = ProgressStore(tmp_path / "p.sqlite")
    found = again.lesson("caching")
    assert found.steps_done == {0} and found.position == 1
    assert found.answers == {(1, 0): ("In the cache", True)}
    assert found.challenges_met == {(3, 1)}
    assert again.last_lesson() == "caching"
    assert again.reset("caching") == 4 and again.lesson("caching").steps_done == set()


def test_a_killed_writer_loses_nothing_it_saved(tmp_path: Path) -> None:
    path = tmp_path / "progress.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    assert proc.stdout is not None
    confirmed = -1
    deadline = time.monotonic() + 60
    while confirmed < 200 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            confirmed = int(line)
    proc.send_signal(signal.SIGKILL)  # mid-stream: it is writing its next record right now
    proc.wait(timeout=10)
    proc.stdout.close()
    store = ProgressStore(path)
    assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    saved = store.lesson("caching").answers
    assert all((i, 0) in saved for i in range(confirmed + 1))
    assert saved[(confirmed, 0)] == (f"answer {confirmed}", confirmed % 2 == 0)


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ProgressError, match="SANDBOX_DATA_DIR"):
        ProgressStore(blocker / "progress.sqlite")


def test_cli_reset_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    store = ProgressStore()
    store.step_done("caching", 0)
    store.close()
    assert main(["lessons", "list"]) == EXIT_OK
    assert "1/" in capsys.readouterr().out
    assert main(["lessons", "reset", "caching"]) == EXIT_OK
    assert "removed" in capsys.readouterr().out
    assert ProgressStore().lesson("caching").steps_done == set()
    assert main(["lessons", "reset", "nope"]) == EXIT_USAGE
