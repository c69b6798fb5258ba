"""Hidden tests: label values an attacker would choose, HELP escaping, and a run with 429s and
5xx compared sample for sample."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_exporter.py")


@pytest.mark.points(2)
def test_hostile_label_values_cannot_forge_a_sample(student: ModuleType) -> None:
    """A label value holding quotes, backslashes and a line break reads back exactly, and adds
    no sample of its own."""
    nasty = ['x"} 999\nshop_admin_total 1', "C:\\path\\", 'end\\', "naïve ✓", ""]
    snapshot = {"metrics": [visible.counter(
        "shop_hits", [{"labels": {"route": v}, "value": i + 1} for i, v in enumerate(nasty)])]}
    found = visible.parse(student.render(snapshot), "your render()")
    assert list(found) == ["shop_hits"], f"only shop_hits may come back; the parser saw {list(found)}"
    got = {dict(labels)["route"]: value for _, labels, value in found["shop_hits"][1]}
    assert got == {v: float(i + 1) for i, v in enumerate(nasty)}, (
        f"each label value must read back as it was; read back: {got}")


@pytest.mark.points(2)
def test_help_is_escaped_and_bad_label_names_refused(student: ModuleType) -> None:
    """A HELP text with a backslash and a line break stays one line; a label name with a dash is
    a ValueError."""
    text = str(student.render({"metrics": [visible.counter(
        "shop_x", [{"labels": {}, "value": 1}], help_text="one\\two\nthree")]}))
    assert "# HELP shop_x_total one\\\\two\\nthree" in text.splitlines(), (
        f"the HELP text is escaped (backslash and line break), on one line:\n{text}")
    with pytest.raises(ValueError):
        student.render({"metrics": [visible.counter(
            "shop_x", [{"labels": {"bad-name": "v"}, "value": 1}])]})
        pytest.fail("a label name with a dash must raise ValueError")


@pytest.mark.points(3)
def test_a_rough_run_matches_the_sandbox(student: ModuleType) -> None:
    """A rate-limited run with failing requests: 429s, 5xx and slow requests, every sample as the
    sandbox's /metrics has it."""
    switches = {"ratelimit.algorithm": "token_bucket", "ratelimit.limit": 2,
                "faults.hop": "db", "faults.hop_error_rate": 0.1}
    metrics = visible.run_shop(switches, 250, seed=3)
    assert metrics.rejected and any(s >= 500 for _, _, s in metrics.requests)
    visible.compare_with_the_shop(student, metrics)
