"""The README's request-log example is what `sandbox scenario --log-file` really writes."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.commands.cli import main
from sandbox.errors import EXIT_OK

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
COMMAND = "sandbox scenario spike --metrics-file spike.prom --log-file spike.jsonl"


def shown_lines() -> list[str]:
    """The log lines the README shows after its `--log-file` command."""
    after = README.split(COMMAND, 1)[1]
    block = re.search(r"`spike\.jsonl` begins:\n\n```text\n(.*?)```", after, re.S)
    assert block is not None, "no log example after the --log-file command"
    return block.group(1).splitlines()


def test_the_readme_shows_the_first_lines_the_spike_command_writes(tmp_path: Path) -> None:
    shown = shown_lines()
    assert len(shown) >= 2
    log = tmp_path / "spike.jsonl"
    # The first requests do not depend on how many follow: a short run writes the same lines.
    assert main(["scenario", "spike", "--requests", str(len(shown)), "--log-file",
                 str(log)]) == EXIT_OK
    assert log.read_text().splitlines() == shown


def test_the_readme_gives_the_time_steady_logs_its_first_measured_request_at(
        tmp_path: Path) -> None:
    """Timestamps count the warm-up: steady's first logged request is not at zero."""
    log = tmp_path / "steady.jsonl"
    assert main(["scenario", "steady", "--requests", "1", "--log-file", str(log)]) == EXIT_OK
    first = log.read_text().splitlines()[0]
    found = re.search(r'"timestamp":"1970-01-01T(\d\d:\d\d:\d\d\.\d{3})Z".*'
                      r'"request_id":"(req-\d+)"', first)
    assert found is not None
    at, request_id = found.groups()
    assert at > "00:00:09"  # 3,000 warm-up requests at 300/s came first
    assert f"begins with `{request_id}` at `{at}`" in " ".join(README.split())
