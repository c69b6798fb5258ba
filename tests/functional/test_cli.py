"""The `sandbox` command: output, exit codes, and helpful errors."""

from __future__ import annotations

import functools
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.commands.cli import build_parser, main
from sandbox.errors import EXIT_OK, EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_request_prints_response_and_waterfall(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "request", "GET", "/products/1")
    assert code == EXIT_OK
    assert "HTTP/1.1 200" in out and '"sku": "SKU-00001"' in out
    for span in ("dns.lookup", "lb", "gateway", "controller.get_product", "db.query"):
        assert span in out


def test_request_as_json_with_login_and_body(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "request", "POST", "/orders", "--user", "grace@shop.test",
                       "--json", '{"items": [{"product_id": 3, "quantity": 1}]}',
                       "--output", "json")
    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["status"] == 201 and doc["body"]["customer_id"] == 2
    assert doc["trace"]["status"] == 201


def test_request_with_broken_json_shows_the_400(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "request", "POST", "/auth/login", "--json", "{oops")
    assert code == EXIT_OK  # the request was made; the server answered 400
    assert "HTTP/1.1 400" in out and "bad_request" in out


def test_request_set_changes_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "request", "GET", "/products/1", "--set", "dns.cache=off",
                       "--output", "json")
    assert code == EXIT_OK
    assert json.loads(out)["trace"]["root"]["children"][0]["name"] == "dns.lookup"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["request", "GET", "/x", "--set", "cach.strategy=off"], "Did you mean 'cache.strategy'"),
        (["scenario", "steady", "--set", "cache.strategy=fast"], "cache_aside"),
        (["scenario", "steady", "--set", "topology.instances=99"], "from 1 to 32"),
        (["scenario", "steady", "--set", "novalue"], "is not key=value"),
        (["scenario", "nope"], "Valid scenarios: steady, spike, ramp"),
        (["scenario", "steady", "--requests", "0"], "--requests"),
        (["request", "GET", "products"], "a path starts with /"),
        (["request", "GET", "/x", "--header", "nocolon"], "Name:value"),
    ],
)
def test_usage_errors_exit_2_with_a_helpful_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code == EXIT_USAGE
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def test_scenario_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scenario", "steady", "--requests", "300", "--json")
    assert code == EXIT_OK
    metrics = json.loads(out)
    assert metrics["requests"] == 300 and metrics["scenario"] == "steady"
    code, out, _ = run(capsys, "scenario", "steady", "--requests", "300",
                       "--set", "topology.instances=3")
    assert code == EXIT_OK
    assert "p50 / p95 / p99" in out and "app-3" in out


def test_scenario_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scenario", "list")
    assert code == EXIT_OK and "steady" in out and "spike" in out and "ramp" in out


def test_settings_lists_every_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "settings", "--json", "--set", "cache.strategy=cache_aside")
    assert code == EXIT_OK
    values = json.loads(out)
    assert values["cache.strategy"] == "cache_aside"
    assert values["db.indexes"].startswith("orders.customer_id")


@pytest.mark.slow
def test_bench_json_rows_have_the_contract(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    """`bench --quick --json` end to end, every measurement really taken, but at a tiny size:
    this checks the rows' contract, never the speed (`sandbox bench` itself reports that)."""
    from sandbox.commands import bench
    from sandbox.grading import harness

    def capped(measure: Callable[..., Any], at: int, most: int) -> Callable[..., Any]:
        """`measure` with its size argument (position `at`) cut to `most`."""
        def small(*args: Any) -> Any:
            return measure(*args[:at], min(args[at], most), *args[at + 1:])
        return small

    monkeypatch.setattr(bench, "hello_world_seconds", capped(bench.hello_world_seconds, 0, 50))
    monkeypatch.setattr(bench, "starlette_direct_seconds",
                        capped(bench.starlette_direct_seconds, 0, 200))
    monkeypatch.setattr(bench, "scenario_seconds", capped(bench.scenario_seconds, 2, 100))
    monkeypatch.setattr(bench, "layer_tax", capped(bench.layer_tax, 1, 100))
    real_scenario = harness.scenario
    monkeypatch.setattr(harness, "scenario", lambda sb, name, *, requests=None, warmup=None:
                        real_scenario(sb, name, requests=min(requests or 100, 100), warmup=0))
    # Each program and command once: its repeats only make the medians steadier.
    monkeypatch.setattr(bench, "first_frame_seconds", functools.cache(bench.first_frame_seconds))
    real_timed = bench.timed
    timings: dict[str, float] = {}

    def timed_once(command: list[str], env: dict[str, str] | None = None,
                   ok: tuple[int, ...] = (0,)) -> float:
        key = json.dumps([command, env, ok])
        if key not in timings:
            timings[key] = real_timed(command, env, ok)
        return timings[key]

    monkeypatch.setattr(bench, "timed", timed_once)
    monkeypatch.setattr(bench, "APP_RUN_REQUESTS", 300)
    monkeypatch.setattr(bench, "KEY_PRESSES", 2)
    # `grade all shipped exercises` grades a course of one exercise, the worker row's.
    course = tmp_path / "course"
    shutil.copytree(REPO / "exercises" / "07-token-bucket", course / "07-token-bucket",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "exercises" / "pytest.ini", course / "pytest.ini")
    monkeypatch.setenv("SANDBOX_EXERCISES", str(course))

    code, out, _ = run(capsys, "bench", "--quick", "--json")
    assert code == EXIT_OK
    rows = json.loads(out)
    names = [row["name"] for row in rows]
    for expected in ("engine throughput (spike", "layer tax, default switches",
                     "layer tax, mechanisms on", "engine throughput, every mechanism on",
                     "index speedup, order lines", "index speedup, a customer's newest",
                     "terminal app cold start", "terminal app peak memory",
                     "key press to screen update", "10,000-request spike, wall time",
                     "exercise check verdict", "grade all 1 shipped exercises",
                     "plugged-in spike"):
        assert sum(name.startswith(expected) for name in names) == 1, (expected, names)
    assert len(rows) == 13
    for row in rows:
        assert {"name", "value", "unit", "baseline", "ratio", "target", "met", "note"} <= set(row)
        value, baseline, ratio = row["value"], row["baseline"], row["ratio"]
        assert value > 0 and baseline > 0, row
        # The ratio of the unrounded figures: each is rounded to 3 decimals, half a unit off
        # at most, which for the small figures of a tiny sample is more than 1%.
        half = 0.0005
        assert (value - half) / (baseline + half) - half <= ratio, row
        assert ratio <= (value + half) / max(baseline - half, half / 2) + half, row
        assert (row["met"] is None) == (row["target"] is None), row
    key_row = next(row for row in rows if row["name"].startswith("key press"))
    assert key_row["note"].startswith("2 presses")


def test_bench_table_says_what_each_baseline_is() -> None:
    from rich.console import Console

    from sandbox.render import bench_table

    rows = [{"name": "engine throughput", "value": 5000.0, "unit": "req/s", "baseline": 2500.0,
             "ratio": 2.0, "target": ">= 1.0x", "met": True, "note": "baseline: a hello-world"},
            {"name": "layer tax", "value": 90.0, "unit": "us/req", "baseline": 30.0,
             "ratio": 3.0, "target": "<= 2.0x", "met": False, "note": "baseline: its SQL alone"}]
    console = Console(width=120, file=io.StringIO(), color_system=None)
    console.print(bench_table(rows))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "2.00x" in text and "3.00x" in text and " no " in text
    assert " 1. baseline: a hello-world" in text and " 2. baseline: its SQL alone" in text


def test_a_body_is_coloured_json_indented_or_compact_and_cut_at_its_limit() -> None:
    from rich.console import Console

    from sandbox.render import body_view

    def shown(body: bytes, **options: Any) -> str:
        console = Console(width=60, file=io.StringIO(), color_system=None)
        console.print(body_view(body, **options))
        return console.file.getvalue()  # type: ignore[attr-defined]

    body = json.dumps({f"field{i}": i for i in range(10)}, separators=(",", ":")).encode()
    assert shown(body).splitlines() == ["{", *(f'  "field{i}": {i},' for i in range(9)),
                                        '  "field9": 9', "}"]
    # compact: spaces after the commas, so a narrow panel wraps between fields, not in them
    assert [line.rstrip() for line in shown(body, compact=True).splitlines()] == [
        '{"field0": 0, "field1": 1, "field2": 2, "field3": 3,',
        '"field4": 4, "field5": 5, "field6": 6, "field7": 7,',
        '"field8": 8, "field9": 9}']
    assert shown(body, compact=True, max_chars=26) == '{"field0": 0, "field1": 1, …\n'
    assert shown(b"not json <html>", max_chars=8) == "not json …\n"


def test_bench_takes_the_pair_with_the_median_ratio() -> None:
    from sandbox.commands.bench import median_pair

    # ratios 2.0, 1.2, 1.3, 9.0, 0.5: the middle one is 1.3, whatever the pairs' own sizes
    assert median_pair([(1.0, 2.0), (1.0, 1.2), (2.0, 2.6), (1.0, 9.0), (1.0, 0.5)]) == (2.0, 2.6)


def test_python_dash_m_works() -> None:
    result = subprocess.run([sys.executable, "-m", "sandbox", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("sandbox ")


def test_every_command_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[attr-defined]
        assert command.description, name
        assert command.format_help()


def test_unreachable_redis_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run(capsys, "request", "GET", "/health", "--redis-url",
                       f"redis://127.0.0.1:{port}/0")
    assert code == 1
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in " ".join(err.split())
    assert "Traceback" not in err


def test_bad_redis_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "request", "GET", "/health", "--redis-url", "http://x")
    assert code == EXIT_USAGE and "redis://" in err


def test_settings_table_prints_every_key(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough that no cell wraps
    code, out, _ = run(capsys, "settings")
    assert code == EXIT_OK
    text = " ".join(out.split())
    for key in ("cache.strategy", "redis.url", "faults.cache_down", "lb.algorithm"):
        assert key in text
    assert "redis://HOST:PORT[/DB]" in text  # printed as text, not taken for markup
