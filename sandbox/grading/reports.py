"""Results for people (rich tables, a plain-words verdict) and for autograders (Gradescope's
results.json, JUnit XML). The machine formats are always complete and valid, even when the
student's code crashed: every graded test appears, with 0 points and the reason."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from sandbox.grading.runner import ExerciseResult, TestOutcome

# Characters XML 1.0 cannot hold at all; student output may contain any of them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _points(value: float) -> str:
    return f"{value:g}"


def describe(outcome: TestOutcome) -> str:
    """One failure in plain words, with where it happened in the student's file."""
    text = outcome.summary
    if outcome.detail:
        text += f": {outcome.detail}"
    where = outcome.where
    if where:
        text += f"\n  at {where.get('file')}:{where.get('line')}"
        if where.get("code"):
            text += f"   {where['code']}"
    return text


def verdict(result: ExerciseResult) -> Group:
    """The short answer to `check`: passed or not, points, and the first failure explained."""
    ex = result.exercise
    passed = sum(1 for o in result.outcomes if o.passed)
    head = Text()
    if result.passed:
        head.append("✓ ", style="bold green")
        count = len(result.outcomes)
        head.append(f"{ex.name}: " + ("its one test passes" if count == 1
                                      else f"all {count} tests pass"), style="bold")
    else:
        head.append("✗ ", style="bold red")
        head.append(f"{ex.name}: {passed} of {len(result.outcomes)} tests pass", style="bold")
    head.append(f"  ({_points(result.score)}/{_points(result.max_score)} points)")
    parts: list[Any] = [head]
    failure = result.first_failure
    if failure is not None:
        title = failure.test.doc.splitlines()[0] if failure.test.doc else failure.test.name
        parts.append(Text.from_markup(f"\n[bold]First failure[/]: {escape(failure.test.name)}"))
        if title != failure.test.name:
            parts.append(Text(f"  what it checks: {title}", style="dim"))
        parts.append(Text("  " + describe(failure).replace("\n", "\n  ")))
        if result.problem and result.problem not in failure.detail:
            parts.append(Text(f"  ({result.problem})", style="yellow"))
    return Group(*parts)


def score_table(results: Sequence[ExerciseResult], title: str = "grade") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("#", "exercise", "tests", "points", "result", "time"):
        table.add_column(column, justify="right" if column in {"#", "points", "time"} else "left")
    for r in results:
        passed = sum(1 for o in r.outcomes if o.passed)
        status = ("[green]pass[/]" if r.passed else
                  f"[red]{escape(r.first_failure.summary if r.first_failure else 'no tests')}[/]")
        table.add_row(str(r.exercise.order), escape(r.exercise.name),
                      f"{passed}/{len(r.outcomes)}",
                      f"{_points(r.score)}/{_points(r.max_score)}", status, f"{r.duration_s:.1f} s")
    total, most = sum(r.score for r in results), sum(r.max_score for r in results)
    table.add_section()
    table.add_row("", "[bold]total[/]", "", f"[bold]{_points(total)}/{_points(most)}[/]",
                  f"{sum(1 for r in results if r.passed)}/{len(results)} exercises", "")
    return table


HIDDEN_NOTE = "(a hidden test: what it checks is shown after the due date)"


def _test_output(outcome: TestOutcome) -> str:
    """What a student is shown for one test. A hidden test says passed or failed and nothing
    more: its messages can quote what it checks, and a student's code chooses what its
    exceptions say."""
    if outcome.passed:
        return "passed"
    # The summary is a fixed phrase ("a check failed", "stopped while running"), never a message.
    return f"{outcome.summary} {HIDDEN_NOTE}" if outcome.test.hidden else describe(outcome)


def gradescope(results: Sequence[ExerciseResult], execution_time_s: float,
               hidden_visibility: str = "after_due_date") -> dict[str, Any]:
    """Gradescope's results.json: one entry per graded test, a total score, the run time.

    A hidden test's `visibility` is one of Gradescope's: "after_due_date" (shown once the
    assignment's due date has passed: Gradescope keeps the date, so a single submission
    graded there uses it) or "after_published" (once the grades are published)."""
    tests: list[dict[str, Any]] = []
    for r in results:
        for number, o in enumerate(r.outcomes, start=1):
            tests.append({
                "name": f"{r.exercise.name}: {o.test.name}" + (" (hidden)" if o.test.hidden else ""),
                "number": f"{r.exercise.order}.{number}",
                "score": o.score,
                "max_score": o.test.points,
                "status": "passed" if o.passed else "failed",
                "output": _test_output(o),
                "visibility": hidden_visibility if o.test.hidden else "visible",
            })
    problems = [f"{r.exercise.name}: {r.problem}" for r in results if r.problem]
    return {
        "score": sum(r.score for r in results),
        "execution_time": round(execution_time_s, 3),
        "output": "\n".join(problems) or "All exercises ran to the end.",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def junit(results: Sequence[ExerciseResult], execution_time_s: float) -> bytes:
    """JUnit XML: one testsuite per exercise, one testcase per graded test."""
    def clean(text: str) -> str:
        return _NOT_XML.sub("\ufffd", text)

    root = ET.Element("testsuites", name="sandbox exercises",
                      tests=str(sum(len(r.outcomes) for r in results)),
                      failures=str(sum(1 for r in results for o in r.outcomes if not o.passed)),
                      errors="0", time=f"{execution_time_s:.3f}")
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=r.exercise.name,
                              tests=str(len(r.outcomes)),
                              failures=str(sum(1 for o in r.outcomes if not o.passed)),
                              errors="0", skipped="0", time=f"{r.duration_s:.3f}")
        for o in r.outcomes:
            case = ET.SubElement(suite, "testcase", classname=f"exercises.{r.exercise.name}",
                                 name=o.test.name, time=f"{o.duration_s:.3f}")
            ET.SubElement(case, "properties")
            props = case.find("properties")
            assert props is not None
            ET.SubElement(props, "property", name="points", value=_points(o.test.points))
            ET.SubElement(props, "property", name="score", value=_points(o.score))
            if not o.passed:
                summary = o.summary
                failure = ET.SubElement(case, "failure", message=clean(summary)[:500],
                                        type=clean(summary.replace(" ", "_"))[:80])
                failure.text = clean(_test_output(o))
        if r.output:
            ET.SubElement(suite, "system-out").text = clean(r.output)
    written: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return written


def write_report(path: Path, data: bytes | dict[str, Any]) -> None:
    """Write a report atomically: a crash never leaves a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    payload = data if isinstance(data, bytes) else (json.dumps(data, indent=2) + "\n").encode()
    tmp.write_bytes(payload)
    tmp.replace(path)
