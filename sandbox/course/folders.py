"""Where exercises live, found cheaply (standard library only: `check` uses this before
anything else loads)."""

from __future__ import annotations

import os
import re
from pathlib import Path

MANIFEST = "exercise.toml"
FOLDER = re.compile(r"^(\d+)-([a-z0-9][a-z0-9-]*)$")


def default_root() -> Path:
    """Where the exercises are: $SANDBOX_EXERCISES, ./exercises, a bundle in the current
    folder, or the ones that come with the sandbox."""
    override = os.environ.get("SANDBOX_EXERCISES")
    if override:
        return Path(override)
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
    """The lessons folder: $SANDBOX_LESSONS_DIR, else lessons/ beside the package."""
    override = os.environ.get("SANDBOX_LESSONS_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "lessons"


def shown_path(path: Path) -> str:
    """A path as short as it can be: relative to the current folder, or to home, if inside."""
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)
