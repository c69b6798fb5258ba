"""Take one student's files out of their submission (a folder or a .zip), safely.

Only the files the exercises name are taken, each copied as plain text into a private
folder laid out as `NN-name/FILE`; the grader never reads a submission in place. A
submission may hold them as `exercises/NN-name/FILE` (the released bundle), as `NN-name/FILE`
at its top, or either of those inside one folder (a zipped folder).

A hostile submission gets nothing past this module:

- a zip member whose path is absolute or climbs out (`../`), or that is a symlink, rejects
  the whole zip; nothing is ever extracted with `extractall`;
- the sizes a zip declares are capped before anything is read (a zip bomb), and every read
  is capped again, since a zip may lie about its sizes;
- in a folder, a symlink is never followed: a file reached through one is not taken.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sandbox.course.exercises import Exercise

MAX_FILE = 1024**2  # one student file: 1 MB
MAX_TOTAL = 64 * 1024**2  # everything a zip says it holds, uncompressed
MAX_MEMBERS = 5000
MAX_DEPTH = 4  # top/exercises/NN-name/FILE
NOT_STUDENTS = {"submissions.toml", "course.toml"}


@dataclass
class Collected:
    """What was taken from one submission."""

    student: str
    found: set[str] = field(default_factory=set)  # folder names of exercises handed in
    problem: str = ""  # why nothing at all could be taken
    notes: list[str] = field(default_factory=list)
    newest_mtime: float | None = None


def student_entries(folder: Path) -> list[Path]:
    """Every student's submission in `folder`: its folders and files, by name (dot files
    and the course's own .toml files left out)."""
    return sorted((p for p in folder.iterdir()
                   if not p.name.startswith(".") and p.name not in NOT_STUDENTS),
                  key=lambda p: p.name)


def student_name(entry: Path) -> str:
    return entry.name[:-4] if entry.name.lower().endswith(".zip") else entry.name


def _wanted(parts: tuple[str, ...], exercises: list[Exercise]) -> tuple[Exercise, str] | None:
    """The exercise and file a path inside a submission is, if it is one of theirs."""
    if len(parts) < 2 or len(parts) > MAX_DEPTH:
        return None
    for exercise in exercises:
        if parts[-2] == exercise.folder.name and parts[-1] in exercise.files:
            before = parts[:-2]
            if before in {(), ("exercises",)} or (len(before) == 1) or \
                    (len(before) == 2 and before[1] == "exercises"):
                return exercise, parts[-1]
    return None


def collect(entry: Path, exercises: list[Exercise], into: Path) -> Collected:
    """Copy the student's exercise files from `entry` into `into/NN-name/FILE`."""
    got = Collected(student_name(entry))
    try:
        if entry.is_symlink():
            got.problem = "the submission is a symlink; it was not followed"
        elif entry.is_dir():
            _from_folder(entry, exercises, into, got)
        elif zipfile.is_zipfile(entry):
            got.newest_mtime = entry.stat().st_mtime
            _from_zip(entry, exercises, into, got)
        else:
            got.problem = "not a folder or a zip file"
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, RuntimeError) as exc:
        got.problem = f"the submission could not be read ({type(exc).__name__}: {exc})"[:300]
    if got.problem:
        got.found.clear()
    return got


def _keep(into: Path, exercise: Exercise, file: str, data: bytes, got: Collected) -> None:
    if len(data) > MAX_FILE:
        got.notes.append(f"{exercise.folder.name}/{file} is over {MAX_FILE // 1024} KB; "
                         "not graded")
        return
    target = into / exercise.folder.name
    target.mkdir(parents=True, exist_ok=True)
    (target / file).write_bytes(data)
    if all((target / f).is_file() for f in exercise.files):
        got.found.add(exercise.folder.name)


def _from_folder(entry: Path, exercises: list[Exercise], into: Path, got: Collected) -> None:
    for top, dirs, files in os.walk(entry, followlinks=False):
        depth = len(Path(top).relative_to(entry).parts)
        if depth >= MAX_DEPTH:
            dirs.clear()
        for name in files:
            path = Path(top) / name
            parts = path.relative_to(entry).parts
            match = _wanted(parts, exercises)
            if match is None:
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                got.notes.append(f"{'/'.join(parts)} is a symlink; not followed, not graded")
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            got.newest_mtime = max(got.newest_mtime or 0.0, info.st_mtime)
            with open(path, "rb") as handle:
                _keep(into, *match, handle.read(MAX_FILE + 1), got)


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return not (path.is_absolute() or ".." in path.parts or ":" in name
                or name.startswith("/"))


def _from_zip(entry: Path, exercises: list[Exercise], into: Path, got: Collected) -> None:
    with zipfile.ZipFile(entry) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            got.problem = f"the zip holds {len(members)} files (at most {MAX_MEMBERS})"
            return
        for member in members:
            if not _safe_member(member.filename):
                got.problem = (f"the zip holds a path that leaves its folder "
                               f"({member.filename[:80]!r}); nothing was taken from it")
                return
            if stat.S_ISLNK(member.external_attr >> 16):
                got.problem = (f"the zip holds a symlink ({member.filename[:80]!r}); nothing "
                               "was taken from it")
                return
        declared = sum(m.file_size for m in members)
        if declared > MAX_TOTAL:
            got.problem = (f"the zip unpacks to {declared / 1024**2:.0f} MB (at most "
                           f"{MAX_TOTAL // 1024**2} MB); nothing was taken from it")
            return
        for member in members:
            if member.is_dir():
                continue
            match = _wanted(PurePosixPath(member.filename).parts, exercises)
            if match is None:
                continue
            with archive.open(member) as handle:  # checks its CRC and declared size
                _keep(into, *match, handle.read(MAX_FILE + 1), got)
