"""The README documents every command, and its Quick start is the two commands CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.commands.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return list(sub.choices)  # type: ignore[attr-defined]


def test_every_command_is_in_the_readme() -> None:
    for name in commands():
        assert f"sandbox {name}" in README, name


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", section, re.S)
    assert block is not None
    lines = [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert lines[1].split("#")[0].strip() in ci


def test_every_settings_key_is_in_the_readme() -> None:
    from sandbox.settings import all_keys

    for spec in all_keys():
        assert spec.key in README, spec.key
