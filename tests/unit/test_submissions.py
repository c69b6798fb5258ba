"""Taking a student's files out of a folder or zip (issue #19): only what the exercises
name, never through a symlink, never more than the caps."""

from __future__ import annotations

import zipfile
from pathlib import Path

from sandbox.course.exercises import load_exercise
from sandbox.grading.submissions import MAX_FILE, collect

REPO = Path(__file__).resolve().parents[2]
BUCKET = load_exercise(REPO / "exercises" / "07-token-bucket")
MEMBER = "exercises/07-token-bucket/token_bucket.py"


def test_a_zip_that_lies_about_its_sizes_gives_nothing(tmp_path: Path) -> None:
    """A member that unpacks to more than it declares is caught, not read on and on."""
    entry = tmp_path / "liar.zip"
    with zipfile.ZipFile(entry, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MEMBER, "x" * (4 * MAX_FILE))
    data = bytearray(entry.read_bytes())
    size = (4 * MAX_FILE).to_bytes(4, "little")
    # Declare 100 bytes in both headers (the local one and the central directory's).
    for at in [i for i in range(len(data) - 3) if data[i:i + 4] == size]:
        data[at:at + 4] = (100).to_bytes(4, "little")
    entry.write_bytes(bytes(data))
    got = collect(entry, [BUCKET], tmp_path / "out")
    assert got.problem and not got.found
    assert not (tmp_path / "out" / "07-token-bucket" / "token_bucket.py").exists()


def test_only_the_named_files_are_taken_from_any_layout(tmp_path: Path) -> None:
    entry = tmp_path / "ada.zip"
    with zipfile.ZipFile(entry, "w") as archive:
        archive.writestr("ada/" + MEMBER, "ANSWER = 1\n")
        archive.writestr("ada/notes.txt", "not taken\n")
        archive.writestr("a/b/c/d/07-token-bucket/token_bucket.py", "too deep\n")
    got = collect(entry, [BUCKET], tmp_path / "out")
    assert got.student == "ada" and got.found == {"07-token-bucket"} and not got.problem
    assert (tmp_path / "out" / "07-token-bucket" / "token_bucket.py").read_text() == "ANSWER = 1\n"
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == ["token_bucket.py"]


def test_a_submission_that_is_a_symlink_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "mallory").symlink_to(REPO / "exercises")
    got = collect(tmp_path / "subs" / "mallory", [BUCKET], tmp_path / "out")
    assert "symlink" in got.problem and not got.found
