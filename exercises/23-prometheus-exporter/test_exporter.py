"""Graded tests for the hand-written Prometheus exporter: the pieces of the format, then the
shop's own metrics after a run, read back with prometheus-client's parser and compared with
the sandbox's /metrics."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox.grading.harness import make_sandbox
from sandbox.observability import ShopMetrics
from sandbox.observability.prometheus import LATENCY_BUCKETS_S, PREFIX
from sandbox.scenarios.runner import run_scenario

Sample = tuple[str, tuple[tuple[str, str], ...], float]


def shop_snapshot(metrics: ShopMetrics) -> dict[str, Any]:
    """The sandbox's counters as the plain dict the student's `render` reads."""
    out: list[dict[str, Any]] = []
    for family in metrics.collect():
        if family.type == "histogram":
            series = [{"labels": {"method": m, "route": r}, "counts": counts[:-1],
                       "sum": counts[-1]} for (m, r), counts in sorted(metrics.latency.items())]
            out.append({"name": family.name, "help": family.documentation, "type": "histogram",
                        "bounds": list(LATENCY_BUCKETS_S), "series": series})
            continue
        out.append({"name": family.name, "help": family.documentation, "type": family.type,
                    "series": [{"labels": dict(s.labels), "value": s.value}
                               for s in family.samples]})
    return {"metrics": out}


def run_shop(switches: dict[str, Any], requests: int, seed: int = 7) -> ShopMetrics:
    """A short scenario through the sandbox, counted by the sandbox's own /metrics collector."""
    sb = make_sandbox(switches, seed=seed)
    metrics = ShopMetrics(queue_depth=lambda: 3)
    run_scenario("steady", sb.settings, seed=seed, requests=requests, sandbox=sb,
                 keep_traces=0, warmup=0, observers=[metrics.observe])
    return metrics


def parse(text: Any, who: str) -> dict[str, tuple[str, set[Sample]]]:
    """family name -> (type, samples), through prometheus-client's parser."""
    assert isinstance(text, str), f"{who} must return a str; it returned {type(text).__name__}"
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser's own complaint is the most useful message
        raise AssertionError(f"Prometheus's parser could not read {who}'s text: {e}\n"
                             f"--- the text ---\n{text[:1500]}") from None
    found: dict[str, tuple[str, set[Sample]]] = {}
    for family in families:
        # A bound is a number: "1" and "1.0" are the same bucket (Go writes one, Python the other).
        samples = {(s.name, tuple(sorted((k, str(float(v)) if k == "le" else v)
                                         for k, v in s.labels.items())), s.value)
                   for s in family.samples}
        found[family.name] = (family.type, samples)
    return found


def compare_with_the_shop(student: ModuleType, metrics: ShopMetrics) -> str:
    """Render the shop's figures with the student's code; every family and sample must be the
    sandbox's own. Returns the student's text."""
    text = student.render(shop_snapshot(metrics))
    mine = parse(text, "your render()")
    want = parse(metrics.text().decode(), "the sandbox")
    assert sorted(mine) == sorted(want), (
        f"the metric families differ: the sandbox has {sorted(want)}, yours {sorted(mine)} "
        "(an untyped family means its TYPE line is missing or names another metric)")
    for name, (kind, samples) in want.items():
        their_kind, theirs = mine[name]
        assert their_kind == kind, f"{name} is a {kind}; your TYPE line says {their_kind}"
        missing = sorted(samples - theirs)[:3]
        extra = sorted(theirs - samples)[:3]
        assert not missing and not extra, (
            f"{name}: samples that differ from the sandbox's /metrics.\n  expected (missing "
            f"from yours): {missing}\n  yours (not expected): {extra}")
    return str(text)


def counter(name: str, series: list[dict[str, Any]], help_text: str = "Things.") -> dict[str, Any]:
    return {"name": name, "help": help_text, "type": "counter", "series": series}


@pytest.mark.points(1)
def test_label_values_are_escaped(student: ModuleType) -> None:
    """Backslash, double quote and line break in a label value each get a backslash."""
    cases = {"plain": "plain", 'say "hi"': 'say \\"hi\\"', "a\\b": "a\\\\b",
             "two\nlines": "two\\nlines", '\\"': '\\\\\\"'}
    for raw, want in cases.items():
        got = student.escape_label_value(raw)
        assert got == want, f"escape_label_value({raw!r}) should be {want!r}; yours gave {got!r}"


@pytest.mark.points(1)
def test_numbers_are_written_the_way_prometheus_reads_them(student: ModuleType) -> None:
    """Whole numbers without a point, fractions as Python writes them, infinity as +Inf."""
    cases = [(3, "3"), (3.0, "3"), (0.0025, "0.0025"), (1.5, "1.5"), (0, "0"),
             (math.inf, "+Inf"), (-math.inf, "-Inf")]
    for value, want in cases:
        got = student.format_number(value)
        assert got == want, f"format_number({value!r}) should be {want!r}; yours gave {got!r}"
    assert student.format_number(math.nan) == "NaN", "format_number(nan) should be 'NaN'"


@pytest.mark.points(1)
def test_bad_metric_names_are_refused(student: ModuleType) -> None:
    """A metric name is letters, digits, _ and :, not starting with a digit; others: ValueError."""
    for good in ("sandbox_http_requests", "a:b_c", "_x9"):
        assert student.check_name(good) == good, f"check_name({good!r}) returns the name"
    for bad in ("9lives", "has space", "dash-name", "", "ok\nsandbox_fake 1"):
        with pytest.raises(ValueError):
            student.check_name(bad)
            pytest.fail(f"check_name({bad!r}) should raise ValueError: that name would break "
                        "the scrape")


@pytest.mark.points(2)
def test_a_counter_and_a_gauge(student: ModuleType) -> None:
    """A counter's lines say name_total and 'counter'; a gauge keeps its name; labels in braces."""
    snapshot = {"metrics": [
        counter("shop_orders", [{"labels": {"status": "paid"}, "value": 3},
                                {"labels": {"status": "failed"}, "value": 1}]),
        {"name": "shop_queue_depth", "help": "Jobs waiting.", "type": "gauge",
         "series": [{"labels": {}, "value": 7}]},
    ]}
    text = student.render(snapshot)
    lines = str(text).splitlines()
    for want in ("# TYPE shop_orders_total counter", 'shop_orders_total{status="paid"} 3',
                 'shop_orders_total{status="failed"} 1', "# TYPE shop_queue_depth gauge",
                 "shop_queue_depth 7", "# HELP shop_queue_depth Jobs waiting."):
        assert want in lines, f"expected the line {want!r} in your text:\n{text}"
    assert str(text).endswith("\n"), "the text ends with a line break"
    found = parse(text, "your render()")
    assert found["shop_orders"][0] == "counter" and found["shop_queue_depth"][0] == "gauge"


@pytest.mark.points(2)
def test_histogram_buckets_are_cumulative(student: ModuleType) -> None:
    """Bounds 0.1, 1 with counts [2, 3, 1]: buckets 2, 5, 6 (+Inf), _count 6 and the _sum."""
    snapshot = {"metrics": [{"name": "job_seconds", "help": "How long jobs took.",
                             "type": "histogram", "bounds": [0.1, 1.0],
                             "series": [{"labels": {"queue": "mail"}, "counts": [2, 3, 1],
                                         "sum": 4.25}]}]}
    text = student.render(snapshot)
    lines = str(text).splitlines()
    for want in ('job_seconds_bucket{queue="mail",le="0.1"} 2',
                 'job_seconds_bucket{queue="mail",le="1"} 5',
                 'job_seconds_bucket{queue="mail",le="+Inf"} 6',
                 'job_seconds_sum{queue="mail"} 4.25', 'job_seconds_count{queue="mail"} 6',
                 "# TYPE job_seconds histogram"):
        assert want in lines, (f"expected the line {want!r} in your text (each bucket counts "
                               f"everything at or below its bound):\n{text}")


@pytest.mark.points(5)
def test_the_shops_metrics_match_the_sandboxs_own(student: ModuleType) -> None:
    """After a run of the shop, your text has every family and sample of the sandbox's /metrics."""
    metrics = run_shop({}, 150)
    text = compare_with_the_shop(student, metrics)
    assert f"{PREFIX}http_request_duration_seconds_bucket" in text
