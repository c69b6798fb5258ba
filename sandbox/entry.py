"""The `sandbox` command's entry point, kept as light as it can be.

`sandbox exercises check NAME` starts the exercise's test process here, before the rest of the
command line is even imported: the two then load side by side, and the verdict comes sooner.
"""

from __future__ import annotations

import sys


def main() -> int:
    argv = sys.argv[1:]
    early = None
    if argv[:1] == ["exercises"]:
        from sandbox.grading.early import start_early

        early = start_early(argv[1:])
    from sandbox.cli import main as cli_main

    return cli_main(argv, early=early, early_tried=True)
