"""Where exercises live, found cheaply (standard library only: `check` uses this before
anything else loads)."""

from __future__ import annotations

import os
import re
from pathlib import Path

MANIFEST = "exercise.toml"
FOLDER = re.compile(r"^(\d+)-([a-z0-9][a-z0-9-]*)$")


def course_dir() -> Path | None:
    """The course folder named by $SANDBOX_COURSE (set by `sandbox --course DIR`), or None.

    A course folder holds `lessons/` and `exercises/` side by side."""
    named = os.environ.get("SANDBOX_COURSE")
    return Path(named) if named else None


def course_problem(folder: Path) -> str | None:
    """Why `folder` cannot be a course folder (None when it can)."""
    if not folder.is_dir():
        return f"course folder {folder} does not exist (or is not a folder)"
    if not ((folder / "lessons").is_dir() or (folder / "exercises").is_dir()):
        return (f"{folder} has neither lessons/ nor exercises/: a course folder holds both "
                "(see exercises/README.md, \"Course folders\")")
    return None


def default_root() -> Path:
    """Where the exercises are: $SANDBOX_EXERCISES, the course folder's exercises/,
    ./exercises, a bundle in the current folder, or the ones that come with the sandbox."""
    override = os.environ.get("SANDBOX_EXERCISES")
    if override:
        return Path(override)
    course = course_dir()
    if course is not None:
        return course / "exercises"
    here = Path.cwd()
    if (here / "exercises").is_dir():
        return here / "exercises"
    if any((p / MANIFEST).is_file() for p in here.iterdir() if p.is_dir()):
        return here
    return Path(__file__).resolve().parents[2] / "exercises"


def folder_named(root: Path, name: str) -> Path | None:
    """The folder of exercise `name` ("token-bucket", "07-token-bucket" or "7"), or None."""
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        match = FOLDER.match(folder.name)
        if match and (folder / MANIFEST).is_file() and name in {
                match.group(2), folder.name, str(int(match.group(1)))}:
            return folder
    return None


def lessons_dir() -> Path:
    """The lessons folder: $SANDBOX_LESSONS_DIR, the course folder's lessons/, ./lessons
    (when the current folder is a course folder), else the lessons that come with the sandbox."""
    override = os.environ.get("SANDBOX_LESSONS_DIR")
    if override:
        return Path(override)
    course = course_dir()
    if course is not None:
        return course / "lessons"
    here = Path.cwd() / "lessons"
    if here.is_dir() and (Path.cwd() / "exercises").is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "lessons"


def shown_path(path: Path) -> str:
    """A path as short as it can be: relative to the current folder, or to home, if inside."""
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)
