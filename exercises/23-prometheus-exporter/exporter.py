"""The shop's metrics in the Prometheus text format, written by hand.

A Prometheus server scrapes `GET /metrics` every few seconds and reads plain text, one sample a
line, each metric introduced by two comment lines:

    # HELP sandbox_cache_hits_total Cache lookups that found the value.
    # TYPE sandbox_cache_hits_total counter
    sandbox_cache_hits_total 1523
    sandbox_http_requests_total{method="GET",route="/products/{id}",status="200"} 911

A histogram is several series under one name: one `_bucket` line per upper bound `le`, each
counting the observations *at or below* it (so the counts only grow), a last bucket
`le="+Inf"` holding everything, then `_sum` (all observed values added up) and `_count` (how
many there were, the same number as the +Inf bucket).

The sandbox hands you its figures as a plain dict (the `snapshot` below); you write the text.
"""

from __future__ import annotations

# TODO: the math module has isnan, isinf and inf, which you will want
import re
from typing import Any

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")  # what a metric name may look like
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # a label name (no colons)


def check_name(name: str, pattern: re.Pattern[str] = NAME) -> str:
    """`name` itself if it is a valid metric name (or label name, with LABEL_NAME); otherwise
    ValueError saying which name is wrong. A bad name would break the whole scrape."""
    # TODO: the whole name must match the pattern (fullmatch), not only its start
    raise NotImplementedError("not written yet: see the TODO above")


def escape_label_value(value: str) -> str:
    """A label value as it goes between the double quotes: backslash, double quote and line
    break each written with a backslash (`a"b` becomes `a\\"b`, a line break becomes `\\n`)."""
    # TODO: escape the backslash first (or you would escape your own escapes), then " and \n
    raise NotImplementedError("not written yet: see the TODO above")


def escape_help(text: str) -> str:
    """A HELP text: only backslash and line break are escaped (a quote is fine there)."""
    # TODO: backslash first, then line break
    raise NotImplementedError("not written yet: see the TODO above")


def format_number(value: float) -> str:
    """A sample value or a bucket bound: whole numbers without a decimal point ("3"), others as
    Python writes them ("0.0025"), infinity as "+Inf" (minus infinity "-Inf", NaN "NaN")."""
    # TODO: the special values first; then a whole float as an int; else repr()
    raise NotImplementedError("not written yet: see the TODO above")


def format_labels(labels: dict[str, str]) -> str:
    """`{method="GET",route="/x"}` in the order given; an empty dict gives "" (no braces)."""
    # TODO: name="escaped value" pairs joined by commas, inside braces
    raise NotImplementedError("not written yet: see the TODO above")


def render(snapshot: dict[str, Any]) -> str:
    """The whole exposition: every metric in the snapshot's order, ending with a line break.

    `snapshot["metrics"]` is a list of dicts, each with "name" (without any suffix), "help",
    "type" ("counter", "gauge" or "histogram") and "series", a list of dicts:
      - counter and gauge series: {"labels": {...}, "value": 12}. A counter's sample is
        called name + "_total", and so are its HELP and TYPE lines; a gauge keeps its name.
      - histogram series: {"labels": {...}, "counts": [...], "sum": 1.25}, with the metric's
        "bounds" (upper bounds, rising). "counts" has one number per bound plus one for values
        above the last bound, and each counts only its own bucket: NOT yet cumulative.
    """
    lines: list[str] = []
    # TODO: for each metric: the HELP and TYPE lines, then one line per sample
    raise NotImplementedError("not written yet: see the TODO above")
    return "\n".join(lines) + "\n"
