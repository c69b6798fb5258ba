"""What every `sandbox` subcommand shares: printing an error, the switches from `--set`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sandbox.safe_text import escape

if TYPE_CHECKING:
    from rich.console import Console

    from sandbox.settings import Settings



def print_error(err: Console, exc: Exception) -> None:
    # escape(): messages quote user input, and text like "[/DB]" must not be read as markup.
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)


def settings_from(args: argparse.Namespace) -> Settings:
    from sandbox.settings import Settings, apply_assignments
    assignments = list(args.assignments)
    if getattr(args, "redis_url", None):
        assignments.append(f"redis.url={args.redis_url}")
    return apply_assignments(Settings(), assignments)


def announce_seed_build(err: Console) -> None:
    from sandbox.backend.seed import seed_path
    from sandbox.runtime import DATA_SEED

    if not seed_path(DATA_SEED).exists():
        err.print("[dim]Building the seeded shop database (once; about five seconds)...[/]")
