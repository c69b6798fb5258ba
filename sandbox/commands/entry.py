"""The `sandbox` command's entry point, kept as light as it can be.

`sandbox exercises check NAME` starts the exercise's test process here, before the rest of the
command line is even imported: the two then load side by side, and the verdict comes sooner.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.grading.early import Early


def main() -> int:
    argv = sys.argv[1:]
    early = None
    if argv[:1] == ["exercises"]:
        from sandbox.grading.early import start_early

        early = start_early(argv[1:])
        if early is not None:  # nothing else to parse: straight to the verdict
            return _verdict(early)
    from sandbox.commands.cli import main as cli_main

    return cli_main(argv, early=early, early_tried=True)


def _verdict(early: Early) -> int:
    from rich.console import Console

    from sandbox.commands.exercises import run
    from sandbox.errors import EXIT_FAILED, EXIT_INTERRUPTED, SandboxError

    err = Console(stderr=True)
    try:
        return run(None, Console(), err, early)
    except SandboxError as exc:  # the progress file cannot be written, say
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
