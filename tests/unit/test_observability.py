"""Prometheus metrics and JSON request logs (issue 17, items 1 and 2): counted from real
seeded runs, parsed back by prometheus-client's own parser and by a JSON parser."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import compile_path

from sandbox.backend.app import ROUTES
from sandbox.commands.cli import main
from sandbox.errors import EXIT_OK, EXIT_USAGE
from sandbox.network import SimRequest
from sandbox.observability import RequestLog, RouteTemplates, ShopMetrics
from sandbox.observability.routes import METHODS, OTHER_METHOD, UNMATCHED
from sandbox.runtime import Sandbox
from sandbox.safe_text import printable_json
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings

TEMPLATES = {compile_path(path)[1] for path in ROUTES}  # `/products/{product_id}`, ...


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample in Prometheus text, parsed by prometheus-client's own parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(parsed: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in parsed.items() if n == name and wanted <= ls)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(Settings())
    yield sb
    sb.close()


# -- route templates: the labels' fixed set ---------------------------------------------------


def test_every_route_has_its_template_and_ids_never_become_labels() -> None:
    routes = RouteTemplates()
    assert routes.template("/products/42") == "/products/{product_id}"
    assert routes.template("/products/42/reviews") == "/products/{product_id}/reviews"
    assert routes.template("/users/me/orders") == "/users/me/orders"
    assert routes.template("/users/7/orders") == "/users/{user_id}/orders"
    assert {routes.template(path.replace(":int}", "}").format(product_id=1, order_id=1,
                                                               user_id=1, client_id="partner"))
            for path in ROUTES} == TEMPLATES


def test_hostile_paths_cannot_make_new_label_values() -> None:
    """An attacker who sends a million made-up paths must not make a million time series."""
    routes = RouteTemplates()
    rng = random.Random(1)
    hostile = [f"/products/{rng.getrandbits(64)}x" for _ in range(300)]
    hostile += [f"/{rng.getrandbits(32)}" for _ in range(300)]
    hostile += ["/products/1\x1b[31m", "/products/1/../../admin", "/products/-1", "/%00",
                "/users/me/orders/", "/products/1?x=1", "/" + "a" * 10_000]
    seen = {routes.template(path) for path in hostile}
    assert seen <= TEMPLATES | {UNMATCHED}
    assert "unmatched" in seen and len(seen) <= 2


async def test_label_values_stay_few_whatever_arrives(sandbox: Sandbox) -> None:
    metrics = ShopMetrics()
    sandbox.network.observers.append(metrics.observe)
    rng = random.Random(2)
    for i in range(200):
        method = rng.choice(["GET", "POST", "BREW", "X" * 50, f"M{i}"])
        path = rng.choice([f"/products/{i}", f"/junk/{i}/\x07", f"/products/{i}/reviews"])
        await sandbox.deliver(SimRequest(method, path))
    parsed = samples(metrics.text().decode())
    series = [dict(labels) for name, labels in parsed if name == "sandbox_http_requests_total"]
    assert {s["route"] for s in series} <= TEMPLATES | {UNMATCHED}
    assert {s["method"] for s in series} <= METHODS | {OTHER_METHOD}
    assert len(series) <= 12  # 200 requests, 400 different paths and methods: a dozen series
    assert total(parsed, "sandbox_http_requests_total") == 200


# -- the metrics, counted from traces ---------------------------------------------------------


async def test_requests_latency_and_429s_are_counted_and_probes_left_out() -> None:
    settings = Settings().replace({"ratelimit.algorithm": "fixed_window",
                                   "ratelimit.limit": 5, "ratelimit.window_s": 3600.0})
    sb = Sandbox(settings)
    metrics = ShopMetrics(queue_depth=lambda: 4)
    sb.network.observers.append(metrics.observe)
    try:
        statuses = [(await sb.deliver(SimRequest("GET", f"/products/{i}"))).status
                    for i in range(1, 9)]
        for path in ("/health", "/ready", "/health"):
            assert (await sb.deliver(SimRequest("GET", path))).status == 200
    finally:
        sb.close()
    assert statuses.count(429) == 3
    parsed = samples(metrics.text().decode())
    route = "/products/{product_id}"
    assert total(parsed, "sandbox_http_requests_total", route=route, status="200") == 5
    assert total(parsed, "sandbox_http_requests_total", route=route, status="429") == 3
    assert total(parsed, "sandbox_ratelimit_rejected_total", route=route) == 3
    assert total(parsed, "sandbox_http_requests_total") == 8  # the probes are not the shop's
    assert not any(("route", p) in labels for _, labels in parsed for p in ("/health", "/ready"))
    assert total(parsed, "sandbox_http_request_duration_seconds_count", route=route) == 8
    inf = total(parsed, "sandbox_http_request_duration_seconds_bucket", route=route, le="+Inf")
    assert inf == 8
    assert total(parsed, "sandbox_queue_depth") == 4


def test_a_scenario_with_observers_measures_exactly_what_it_measured_without() -> None:
    """The metrics and the log only watch: switched on, the run's own figures are the same,
    and the Prometheus series agree with them."""
    settings = Settings().replace({"cache.strategy": "cache_aside",
                                   "ratelimit.algorithm": "token_bucket",
                                   "ratelimit.limit": 1})
    plain = run_scenario("spike", settings, requests=600, warmup=0)
    metrics = ShopMetrics()
    lines: list[str] = []
    watched = run_scenario("spike", settings, requests=600, warmup=0,
                           observers=[metrics.observe, RequestLog(lines.append).observe])
    assert watched.metrics == plain.metrics
    figures = plain.metrics
    parsed = samples(metrics.text().decode())
    assert total(parsed, "sandbox_http_requests_total") == figures["requests"] == len(lines)
    assert total(parsed, "sandbox_http_requests_total", status="429") == \
        figures["ratelimit"]["rejected"] > 0
    assert total(parsed, "sandbox_ratelimit_rejected_total") == figures["ratelimit"]["rejected"]
    assert total(parsed, "sandbox_cache_hits_total") == figures["cache"]["hits"] > 0
    assert total(parsed, "sandbox_cache_misses_total") == figures["cache"]["misses"] > 0
    assert total(parsed, "sandbox_db_queries_total") == figures["db"]["queries"]
    assert total(parsed, "sandbox_db_pool_waits_total") == figures["db"]["pool_waits"]
    for status, n in figures["status"].items():
        assert total(parsed, "sandbox_http_requests_total", status=status) == n
    latency_sum = total(parsed, "sandbox_http_request_duration_seconds_sum")
    assert latency_sum == pytest.approx(figures["latency_ms"]["mean"] * figures["requests"] / 1000,
                                        rel=1e-3)


def test_the_scenario_files_from_the_cli_parse_and_repeat_byte_for_byte(tmp_path: Path) -> None:
    files = []
    for run in ("a", "b"):
        prom, log = tmp_path / f"{run}.prom", tmp_path / f"{run}.jsonl"
        assert main(["scenario", "spike", "--requests", "300", "--warmup", "0", "--json",
                     "--set", "ratelimit.algorithm=token_bucket", "--set", "ratelimit.limit=1",
                     "--metrics-file", str(prom), "--log-file", str(log)]) == EXIT_OK
        files.append((prom.read_bytes(), log.read_bytes()))
    assert files[0] == files[1]  # same seed, same files: simulated time, no wall clock
    parsed = samples(files[0][0].decode())
    assert total(parsed, "sandbox_http_requests_total") == 300
    assert ("sandbox_queue_depth", frozenset()) in parsed
    lines = [json.loads(line) for line in files[0][1].decode().splitlines()]
    assert len(lines) == 300
    assert lines[0]["timestamp"].startswith("1970-01-01T00:00:")  # simulated, from 0
    assert {line["route"] for line in lines} <= TEMPLATES
    assert all(line["trace_id"] == line["request_id"] for line in lines)
    rejected = [line for line in lines if line["status"] == 429]
    assert rejected and all(line["level"] == "warning" for line in rejected)
    assert total(parsed, "sandbox_ratelimit_rejected_total") == len(rejected)


def test_a_file_that_cannot_be_written_is_a_usage_error_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-folder" / "out.prom"
    assert main(["scenario", "spike", "--metrics-file", str(missing)]) == EXIT_USAGE
    assert "cannot write --metrics-file" in " ".join(capsys.readouterr().err.split())


# -- the JSON request log ---------------------------------------------------------------------


async def test_a_log_line_names_the_user_but_never_their_password_or_token(
        sandbox: Sandbox) -> None:
    lines: list[str] = []
    sandbox.network.observers.append(RequestLog(lines.append).observe)
    password = "sandbox123"
    async with sandbox.client() as client:
        login = await client.post("/auth/login", json={"email": "grace@shop.test",
                                                       "password": password})
        token = login.json()["access_token"]
        mine = await client.get("/users/me/orders", headers={"Authorization": f"Bearer {token}",
                                                             "X-Api-Key": "sk_test_partner"})
        await client.get(f"/products/1?token={token}&password={password}")
        await client.post("/auth/register", json={"email": "new@shop.test", "name": "N",
                                                  "password": "hunter2-hunter2"})
    text = "\n".join(lines)
    for secret in (password, token, token.split(".")[2], "sk_test_partner", "hunter2",
                   "Bearer", "authorization"):
        assert secret.lower() not in text.lower()
    records = [json.loads(line) for line in lines]
    assert records[1]["user_id"] == 2 and records[1]["route"] == "/users/me/orders"
    assert records[1]["request_id"] == mine.headers["x-request-id"] == records[1]["trace_id"]
    assert records[0]["user_id"] is None  # a login proves who you are only to the next request
    assert records[2]["path"] == "/products/1"  # no query string: where careless tokens go


async def test_control_characters_in_a_path_reach_the_log_escaped_and_intact(
        sandbox: Sandbox) -> None:
    lines: list[str] = []
    sandbox.network.observers.append(RequestLog(lines.append).observe)
    hostile = "/products/1\x1b[31mRED\nGET /forged 200\x7f\u202e\U000e0041"
    await sandbox.deliver(SimRequest("GET", hostile))
    assert len(lines) == 1
    line = lines[0]
    assert line.isprintable()  # no ESC, newline, DEL, bidi override or tag character
    assert json.loads(line)["path"] == hostile  # and a JSON parser reads back the real path
    assert json.loads(line)["route"] == UNMATCHED


async def test_a_huge_path_or_method_is_cut_short_in_the_log(sandbox: Sandbox) -> None:
    lines: list[str] = []
    sandbox.network.observers.append(RequestLog(lines.append).observe)
    await sandbox.deliver(SimRequest("X" * 5000, "/" + "a" * 100_000))
    record = json.loads(lines[0])
    assert len(record["method"]) == 32 and len(record["path"]) == 512 + len("...")
    assert len(lines[0]) < 1000


def test_printable_json_escapes_only_what_json_lets_through() -> None:
    for value in ("plain é ✓", "\x1b[2J", "a\x7fb", "\u202egnp.exe", "\U000e0001", "\u2028"):
        text = printable_json(json.dumps({"v": value}, ensure_ascii=False))
        assert text.isprintable() and json.loads(text) == {"v": value}
    assert printable_json('{"v":"plain"}') == '{"v":"plain"}'


def test_a_made_up_accept_header_gets_the_plain_format_not_an_error() -> None:
    """prometheus-client raises on `version=abc`; the scrape must not become a 500."""
    metrics = ShopMetrics()
    for accept in ("text/plain; version=abc", "application/openmetrics-text; version=x.y",
                   ";;;,,,", "\x00" * 100):
        text, content_type = metrics.exposition(accept)
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        assert samples(text.decode())
    text, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text") and text.endswith(b"# EOF\n")


def test_metrics_registries_are_per_sandbox() -> None:
    """Two sandboxes in one process count apart (never prometheus-client's global registry)."""
    one, two = ShopMetrics(), ShopMetrics()
    sb = Sandbox(Settings())
    sb.network.observers.append(one.observe)
    try:
        asyncio.run(sb.deliver(SimRequest("GET", "/products/1")))
    finally:
        sb.close()
    assert total(samples(one.text().decode()), "sandbox_http_requests_total") == 1
    assert total(samples(two.text().decode()), "sandbox_http_requests_total") == 0
    assert one.registry is not two.registry
