"""Lessons: plain Markdown files with a TOML header, read into steps, actions and checkpoints.

A lesson file looks like this (the authoring guide in lessons/README.md has a full example):

    +++
    id = "caching"
    title = "Caching: keep hot data close"
    topic = 5
    order = 1
    prerequisites = ["layers"]
    +++

    Text before the first step is the introduction.

    ## What a cache does
    Step text in Markdown.

    ```sandbox
    set = { "cache.strategy" = "cache_aside" }
    run = { scenario = "steady", requests = 2000 }
    highlight = ["cache", "db"]
    ```

    ```checkpoint
    kind = "choice"
    question = "Where did most product reads end?"
    choices = [
      { text = "In the cache", correct = true, explain = "Hot products stay cached." },
      { text = "In the database", explain = "Only misses reach it." },
    ]
    ```

Every problem is a LessonError with the file and line, and what to write instead. Parsing
never runs anything: lessons contain no code.
"""

from __future__ import annotations

import random
import re
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError, SettingsError
from sandbox.scenarios import PATTERNS
from sandbox.settings import parse_assignment

TOPICS = {
    1: "Clients and requests", 2: "The journey of a request", 3: "Layers",
    4: "Database design", 5: "Caching", 6: "Security", 7: "Rate limiting",
    8: "Error handling", 9: "Performance", 10: "Asynchronous processing",
    11: "Logging and monitoring", 12: "Deployment", 13: "Scalability", 14: "Reliability",
    15: "Testing a backend", 16: "API styles",
}
# Every scenario the runner knows may back a lesson's experiment.
SCENARIOS = tuple(PATTERNS)
HIGHLIGHTS = ("client", "dns", "lb", "gateway", "instance", "controller", "service", "cache",
              "repository", "db", "queue", "worker", "edge")
# Metric paths a checkpoint or claim may name: dotted paths into a scenario's metrics.
METRIC_ROOTS = ("requests", "throughput_rps", "latency_ms", "status", "cache", "db",
                "ratelimit", "queue", "instances", "endpoints", "connections", "cdn", "auth",
                "credential_stuffing", "revocation", "clients", "flash_sale", "rating", "shards",
                "alerts", "timeline", "duration_s", "deploy")
ACTION_KEYS = {"set", "run", "request", "highlight", "reset"}
HEADER_KEYS = {"id", "title", "topic", "order", "prerequisites", "summary"}
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,60}$")


class LessonError(SandboxError):
    """A problem in a lesson file, with where it is and what to write instead."""

    def __init__(self, path: str, line: int, message: str, key: str = "") -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message
        self.key = key  # the key the problem is about, to find its exact line in a block

    def at(self, line: int) -> LessonError:
        return LessonError(self.path, line, self.message, self.key)


@dataclass
class Run:
    scenario: str
    requests: int | None = None
    seed: int = 7


@dataclass
class Request:
    method: str
    path: str
    body: str | None = None
    user: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Choice:
    text: str
    correct: bool
    explain: str


@dataclass
class Checkpoint:
    """A question (kind "choice"), a prediction to check by running (kind "predict"), or a
    goal to reach in the live sandbox (kind "challenge").

    A predict without a run stands on a step that sends a request: the learner predicts
    what comes back, and the response is shown once they have."""

    kind: str
    question: str
    line: int
    # Where in its step's text the checkpoint stands. The prose after a question explains
    # its answer, so the lesson player shows that prose once the question is answered.
    at: int = 0
    choices: list[Choice] = field(default_factory=list)
    run: Run | None = None
    metric: str = ""
    below: float | None = None
    above: float | None = None
    keep: dict[str, Any] = field(default_factory=dict)
    # The choices are a scale ("none / about half / all"): shown in the order written.
    ordered: bool = False

    def display_order(self) -> list[int]:
        """The order the choices are shown in, as indexes into `choices`.

        Authors tend to write the right answer first; shown as written, "always press a" would
        score well. So unless they are a scale, the choices are shuffled: the same way for
        everyone and on every visit (the question's text seeds it), so that a letter in a
        screenshot or a discussion means the same choice to every learner."""
        order = list(range(len(self.choices)))
        if not self.ordered:
            random.Random(zlib.crc32(self.question.encode("utf-8"))).shuffle(order)
        return order


@dataclass
class Claim:
    """A number the lesson text states; a test runs the experiment and checks it."""

    line: int
    run: Run
    settings: dict[str, Any]
    metric: str
    below: float | None = None
    above: float | None = None
    compare_to: dict[str, Any] | None = None  # settings of a second run: metric / theirs
    ratio_above: float | None = None
    ratio_below: float | None = None


@dataclass
class Step:
    title: str
    line: int
    text: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    reset: bool = False
    run: Run | None = None
    request: Request | None = None
    highlight: list[str] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)


@dataclass
class Lesson:
    id: str
    title: str
    topic: int
    order: int
    path: str
    intro: str
    steps: list[Step]
    prerequisites: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def topic_name(self) -> str:
        return TOPICS.get(self.topic, "?")


_FENCE = re.compile(r"^```(\w+)\s*$")


def parse_lesson(text: str, path: str = "<lesson>") -> Lesson:
    """Read one lesson; raise LessonError for the first problem found."""
    lesson, errors = read_lesson(text, path)
    if errors:
        raise errors[0]
    assert lesson is not None
    return lesson


def check_lesson_text(text: str, path: str = "<lesson>") -> list[LessonError]:
    """Every problem in one lesson's text (empty when it is fine)."""
    return read_lesson(text, path)[1]


def read_lesson(text: str, path: str = "<lesson>") -> tuple[Lesson | None, list[LessonError]]:
    """One lesson and every problem in it, in one reading: (the lesson, []) when it is fine,
    (None, the problems) when it is not."""
    errors: list[LessonError] = []
    lesson = None
    try:
        lesson = _parse(text, path, errors)
    except LessonError as exc:  # a problem that stops further reading
        errors.append(exc)
    except RecursionError:
        errors.append(LessonError(path, 1, "the file is nested too deeply to read"))
    return (None if errors else lesson), errors


def _parse(text: str, path: str, errors: list[LessonError]) -> Lesson | None:
    if "\x00" in text:
        raise LessonError(path, 1, "the file contains a NUL byte; save it as plain UTF-8 text")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "+++":
        raise LessonError(path, 1, "a lesson starts with a TOML header between +++ lines, "
                                   'e.g. +++ / id = "caching" / title = "..." / +++')
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise LessonError(path, 1, "the header's closing +++ line is missing") from None
    header = _toml("\n".join(lines[1:end]), path, 2)
    _check_header(header, path, errors)
    intro: list[str] = []
    steps: list[Step] = []
    current: Step | None = None
    i = end + 1
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            current = Step(title=line[3:].strip(), line=i + 1)
            if not current.title:
                errors.append(LessonError(path, i + 1, "a step heading needs a title after ##"))
            steps.append(current)
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence and fence.group(1) in ("sandbox", "checkpoint", "claim"):
            kind, start = fence.group(1), i + 1
            i += 1
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != "```" and not _FENCE.match(lines[i]):
                body.append(lines[i])
                i += 1
            if i >= len(lines) or _FENCE.match(lines[i]):
                where = f"before line {i + 1}" if i < len(lines) else "at the end of the file"
                errors.append(LessonError(path, start, f"the ```{kind} block is never closed: "
                                                       f"end it with a line of ``` {where}"))
                continue
            i += 1
            if current is None:
                errors.append(LessonError(path, start, f"a ```{kind} block must be inside a step"
                                                       " (after a '## ' heading)"))
                continue
            try:
                data = _toml("\n".join(body), path, start + 1)
                if kind == "sandbox":
                    _apply_actions(current, data, path, start)
                elif kind == "checkpoint":
                    current.checkpoints.append(_checkpoint(data, path, start))
                    current.checkpoints[-1].at = len(current.text)
                else:
                    current.claims.append(_claim(data, path, start))
            except LessonError as exc:
                errors.append(_pinpoint(exc, body, start + 1))
            continue
        if current is None:
            intro.append(line)
        else:
            current.text += line + "\n"
        i += 1
    if not steps:
        errors.append(LessonError(path, len(lines), "a lesson needs at least one step: a line "
                                                    "starting with '## ' and a title"))
    for step in steps:
        for point in step.checkpoints:
            if point.kind == "predict" and point.run is None and step.request is None:
                errors.append(LessonError(path, point.line, "a predict needs run and metric: "
                                          'run = { scenario = "steady", requests = 2000 }, '
                                          'metric = "db.queries" (only on a step that sends '
                                          "a request may it have neither: the response is "
                                          "its answer)", "run"))
    if errors:
        return None
    return Lesson(
        id=header["id"], title=header["title"], topic=header["topic"], order=header["order"],
        path=path, intro="\n".join(intro).strip(), steps=steps,
        prerequisites=list(header.get("prerequisites", [])),
        summary=str(header.get("summary", "")),
    )


def _pinpoint(error: LessonError, body: list[str], first_line: int) -> LessonError:
    """Move an error from its block's fence to the line that holds the key it is about."""
    if not error.key or error.line >= first_line:
        return error
    pattern = re.compile(r'(^|[\s{,"])' + re.escape(error.key) + r'("|\s*=)')
    for offset, text in enumerate(body):
        if pattern.search(text):
            return error.at(first_line + offset)
    return error


def _toml(text: str, path: str, first_line: int) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        offset = int(match.group(1)) - 1 if match else 0
        reason = str(exc).split(" (at")[0]
        raise LessonError(path, first_line + offset,
                          f"this is not valid TOML ({reason}); write key = value, "
                          'strings in "quotes"') from None


def _check_header(header: dict[str, Any], path: str, errors: list[LessonError]) -> None:
    for key in header:
        if key not in HEADER_KEYS:
            errors.append(LessonError(path, 2, f"unknown header key '{key}'; the header takes "
                                               f"{', '.join(sorted(HEADER_KEYS))}"))
    for key, kind in (("id", str), ("title", str), ("topic", int), ("order", int)):
        if key not in header:
            errors.append(LessonError(path, 2, f"the header needs '{key}'"))
        elif not isinstance(header[key], kind) or isinstance(header[key], bool):
            errors.append(LessonError(path, 2, f"'{key}' must be a "
                                               f"{'string' if kind is str else 'whole number'}"))
    if isinstance(header.get("id"), str) and not ID_PATTERN.match(header["id"]):
        errors.append(LessonError(path, 2, f"id '{header['id']}' must be lowercase letters, "
                                           "digits and dashes, e.g. \"caching-basics\""))
    topic = header.get("topic")
    if isinstance(topic, int) and topic not in TOPICS:
        errors.append(LessonError(path, 2, f"topic {topic} is not in the curriculum; use 1 to "
                                           f"{len(TOPICS)}"))
    prereqs = header.get("prerequisites", [])
    if not isinstance(prereqs, list) or not all(isinstance(p, str) for p in prereqs):
        errors.append(LessonError(path, 2, 'prerequisites must be a list of lesson ids, '
                                           'e.g. ["layers"]'))


def _settings(raw: Any, path: str, line: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise LessonError(path, line, 'set must be a table, e.g. set = { "cache.strategy" = '
                                      '"cache_aside" }', "set")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            k, v = parse_assignment(f"{key}={text}")
        except SettingsError as exc:
            raise LessonError(path, line, str(exc), key) from None
        values[k] = v
    return values


def _run(raw: Any, path: str, line: int) -> Run:
    if not isinstance(raw, dict) or raw.get("scenario") not in SCENARIOS:
        raise LessonError(path, line, "run needs a scenario: run = { scenario = \"steady\", "
                                      f"requests = 2000 }}; scenarios: {', '.join(SCENARIOS)}",
                          "run")
    unknown = set(raw) - {"scenario", "requests", "seed"}
    if unknown:
        raise LessonError(path, line, f"run takes scenario, requests and seed, not "
                                      f"{', '.join(sorted(unknown))}", "run")
    requests, seed = raw.get("requests"), raw.get("seed", 7)
    if requests is not None and (not isinstance(requests, int) or not 1 <= requests <= 100_000):
        raise LessonError(path, line, "requests must be a whole number from 1 to 100000",
                          "requests")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise LessonError(path, line, "seed must be a whole number", "seed")
    return Run(raw["scenario"], requests, seed)


def _apply_actions(step: Step, data: dict[str, Any], path: str, line: int) -> None:
    unknown = set(data) - ACTION_KEYS
    if unknown:
        raise LessonError(path, line, f"unknown action {', '.join(sorted(unknown))}; a sandbox "
                                      f"block takes {', '.join(sorted(ACTION_KEYS))}",
                          sorted(unknown)[0])
    if "set" in data:
        step.settings.update(_settings(data["set"], path, line))
    if "reset" in data:
        if not isinstance(data["reset"], bool):
            raise LessonError(path, line, "reset must be true or false", "reset")
        step.reset = data["reset"]
    if "run" in data:
        step.run = _run(data["run"], path, line)
    if "highlight" in data:
        hops = data["highlight"]
        if not isinstance(hops, list) or any(h not in HIGHLIGHTS for h in hops):
            raise LessonError(path, line, f"highlight is a list of hops from: "
                                          f"{', '.join(HIGHLIGHTS)}", "highlight")
        step.highlight = list(hops)
    if "request" in data:
        raw = data["request"]
        if (not isinstance(raw, dict) or not isinstance(raw.get("method"), str)
                or not isinstance(raw.get("path"), str) or not raw["path"].startswith("/")):
            raise LessonError(path, line, 'request needs method and path, e.g. request = { '
                                          'method = "GET", path = "/products/1" }', "request")
        headers = raw.get("headers", {})
        if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise LessonError(path, line, 'headers must be a table of strings, e.g. headers = '
                                          '{ "Idempotency-Key" = "order-1" }', "headers")
        unknown = set(raw) - {"method", "path", "body", "user", "headers"}
        if unknown:
            raise LessonError(path, line, f"request takes method, path, body, user and headers, "
                                          f"not {', '.join(sorted(unknown))}", "request")
        step.request = Request(raw["method"].upper(), raw["path"], raw.get("body"),
                               raw.get("user"), dict(headers))


def _metric(name: Any, path: str, line: int) -> str:
    if not isinstance(name, str) or name.split(".")[0] not in METRIC_ROOTS:
        raise LessonError(path, line, f"metric must be a dotted path into a scenario's "
                                      f"metrics starting with one of {', '.join(METRIC_ROOTS)}, "
                                      "e.g. \"latency_ms.p95\" or \"cache.hit_rate\"", "metric")
    return name


def _bounds(data: dict[str, Any], path: str, line: int) -> tuple[float | None, float | None]:
    below, above = data.get("below"), data.get("above")
    for name, value in (("below", below), ("above", above)):
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise LessonError(path, line, f"{name} must be a number", name)
    return below, above


def _checkpoint(data: dict[str, Any], path: str, line: int) -> Checkpoint:
    kind, question = data.get("kind"), data.get("question")
    if kind not in ("choice", "predict", "challenge"):
        raise LessonError(path, line, 'kind must be "choice", "predict" or "challenge"', "kind")
    if not isinstance(question, str) or not question.strip():
        raise LessonError(path, line, "a checkpoint needs a question (or, for a challenge, "
                                      "the goal) as text", "question")
    point = Checkpoint(kind, question, line)
    if kind in ("choice", "predict"):
        raw = data.get("choices")
        if not isinstance(raw, list) or len(raw) < 2:
            raise LessonError(path, line, "choices needs at least two entries, e.g. "
                                          '{ text = "...", correct = true, explain = "..." }',
                              "choices")
        for entry in raw:
            if (not isinstance(entry, dict) or not isinstance(entry.get("text"), str)
                    or not isinstance(entry.get("explain"), str)):
                raise LessonError(path, line, "each choice needs text and explain", "choices")
            point.choices.append(Choice(entry["text"], entry.get("correct") is True,
                                        entry["explain"]))
        if sum(c.correct for c in point.choices) != 1:
            raise LessonError(path, line, "exactly one choice must have correct = true",
                              "choices")
        ordered = data.get("ordered", False)
        if not isinstance(ordered, bool):
            raise LessonError(path, line, "ordered must be true (the choices are a scale, "
                                          "shown as written) or false (shuffled)", "ordered")
        point.ordered = ordered
    # A predict with neither asks about its step's request (checked once the step is read).
    if kind == "challenge" or (kind == "predict" and ("run" in data or "metric" in data)):
        point.run = _run(data.get("run"), path, line)
        point.metric = _metric(data.get("metric"), path, line)
    if kind == "challenge":
        point.below, point.above = _bounds(data, path, line)
        if point.below is None and point.above is None:
            raise LessonError(path, line, "a challenge needs a target: below = ... or above = ...",
                              "metric")
        point.keep = _settings(data.get("keep", {}), path, line)
    return point


def _claim(data: dict[str, Any], path: str, line: int) -> Claim:
    claim = Claim(line, _run(data.get("run"), path, line), _settings(data.get("set", {}), path,
                                                                      line),
                  _metric(data.get("metric"), path, line))
    claim.below, claim.above = _bounds(data, path, line)
    if "compare_to" in data:
        claim.compare_to = _settings(data["compare_to"], path, line)
        above, below = data.get("ratio_above"), data.get("ratio_below")
        for value in (above, below):
            if value is not None and (not isinstance(value, int | float)
                                      or isinstance(value, bool)):
                raise LessonError(path, line, "ratio_above and ratio_below must be numbers")
        if above is None and below is None:
            raise LessonError(path, line, "compare_to needs ratio_above or ratio_below: this "
                                          "run's metric divided by the compared run's")
        claim.ratio_above = None if above is None else float(above)
        claim.ratio_below = None if below is None else float(below)
    elif claim.below is None and claim.above is None:
        raise LessonError(path, line, "a claim needs below = ..., above = ..., or compare_to "
                                      "with ratio_above")
    return claim


class UnknownMetric(KeyError):
    """A metric path a run did not report: says which, and the names near it."""

    def __init__(self, name: str, near: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.near = near

    def __str__(self) -> str:
        hint = f"; near it: {', '.join(self.near)}" if self.near else ""
        return f"no metric '{self.name}' in this run{hint}"


def metric_paths(metrics: dict[str, Any], prefix: str = "") -> set[str]:
    """Every dotted path to a number in a run's metrics."""
    found: set[str] = set()
    for key, value in metrics.items():
        if isinstance(value, dict):
            found |= metric_paths(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found.add(f"{prefix}{key}")
    return found


def near_metrics(name: str, known: set[str], count: int = 6) -> list[str]:
    """The known metric paths most like `name`: those it begins, then the closest spellings."""
    import difflib

    starting = sorted(path for path in known if path.startswith(name))
    close = difflib.get_close_matches(name, sorted(known), n=count, cutoff=0.6)
    return list(dict.fromkeys(starting + close))[:count]


def metric_value(metrics: dict[str, Any], name: str) -> float:
    """The number at a dotted path in a scenario's metrics, e.g. "latency_ms.p95";
    `UnknownMetric` (a KeyError) when the run has none there."""
    value: Any = metrics
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UnknownMetric(name, near_metrics(name, metric_paths(metrics)))
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnknownMetric(name, near_metrics(name, metric_paths(metrics)))
    return float(value)


def load_lessons(folder: Path) -> tuple[list[Lesson], list[LessonError]]:
    """Every lesson in `folder` (sorted by topic and order), and every problem found.

    A broken lesson never stops the others: it is reported, the rest load.
    """
    lessons: list[Lesson] = []
    errors: list[LessonError] = []
    for file in sorted(folder.glob("*.md")):
        if file.name.lower() == "readme.md":
            continue
        lesson, found = _read_file(file)
        errors.extend(found)
        if lesson is not None:
            lessons.append(lesson)
    ids: dict[str, str] = {}
    for lesson in lessons:
        if lesson.id in ids:
            errors.append(LessonError(lesson.path, 2, f"id '{lesson.id}' is already used by "
                                                      f"{ids[lesson.id]}"))
        ids[lesson.id] = lesson.path
    for lesson in lessons:
        for prereq in lesson.prerequisites:
            if prereq not in ids:
                errors.append(LessonError(lesson.path, 2, f"prerequisite '{prereq}' is not a "
                                                          "lesson id in this folder"))
    lessons.sort(key=lambda lesson: (lesson.topic, lesson.order, lesson.id))
    return lessons, errors


def check_file(file: Path) -> list[LessonError]:
    """Every problem in one lesson file (empty when it is fine)."""
    return _read_file(file)[1]


def read_lesson_file(file: Path) -> tuple[Lesson | None, list[LessonError]]:
    """One lesson file: the lesson (None if broken) and every problem in it."""
    return _read_file(file)


def _read_file(file: Path) -> tuple[Lesson | None, list[LessonError]]:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [LessonError(str(file), 1, "the file is not UTF-8 text")]
    except OSError as exc:
        return None, [LessonError(str(file), 1, f"cannot read it: {exc.strerror}")]
    return read_lesson(text, str(file))
