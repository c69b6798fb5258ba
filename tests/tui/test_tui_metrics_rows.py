"""The metrics panel's rows for shards and computed ratings appear only when switched on (#16)."""

from __future__ import annotations

import copy

from rich.console import Console

from sandbox.scenarios.runner import run_scenario
from sandbox.settings import Settings
from sandbox.tui.widgets.metrics_panel import headline_table


def rendered(metrics: dict[str, object]) -> str:
    console = Console(width=80, record=True)
    console.print(headline_table(metrics))
    return console.export_text()


def test_shard_and_rating_rows_only_when_switched_on() -> None:
    settings = Settings().replace({"db.shards": "2", "db.rating": "computed"})
    metrics = run_scenario("hot_customer", settings, requests=40, warmup=0).metrics
    text = rendered(metrics)
    assert "shard 0" in text and "shard 1" in text
    assert "rows / product load" in text and "writes / review" in text
    plain = copy.deepcopy(metrics)
    del plain["shards"]
    plain["settings"] = {}
    text = rendered(plain)
    assert "shard 0" not in text and "rows / product load" not in text
