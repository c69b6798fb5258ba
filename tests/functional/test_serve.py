"""`sandbox serve`: the OpenAPI document, fuzzing, and a real server on a loopback socket."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.backend.app import ROUTES
from sandbox.backend.openapi import openapi_document
from sandbox.serving import curl_command

# -- the document ----------------------------------------------------------------------------


def test_every_route_is_documented_and_nothing_else() -> None:
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = {(path.replace(":int", ""), method) for path, methods in ROUTES.items()
              for method in methods if path != "/openapi.json"}
    assert documented == routed
    for path, ops in doc["paths"].items():
        for op in ops.values():
            errors = [code for code in op["responses"] if code[0] in "45"]
            assert errors, "every operation documents its error envelope"
            for code in errors:
                schema = op["responses"][code]["content"]["application/json"]["schema"]
                # The token endpoint's 400 and 401 have the shape RFC 6749 (5.2) requires.
                name = ("OAuthError" if path == "/oauth/token" and code in ("400", "401")
                        else "Error")
                assert schema == {"$ref": f"#/components/schemas/{name}"}


# -- fuzzing ---------------------------------------------------------------------------------
# In process, every schemathesis check runs over the whole document, with the envelope and
# leak checks below: tests/functional/test_validation_schema.py. Here: over a real socket.

CHECK_NAMES = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_schema_conformance"]


# -- a real server on a loopback port --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


ADMIN_TOKEN = "test-admin-token-" + "x" * 16
ADMIN_HEADERS = {"X-Sandbox-Token": ADMIN_TOKEN}


def start_server(port: int, log: Path, *extra: str,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # Output goes to a file: a pipe nobody reads fills up and blocks the server.
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "serve", "--port", str(port), *extra],
            stdout=sink, stderr=subprocess.STDOUT,
            env=env or {**os.environ, "SANDBOX_ADMIN_TOKEN": ADMIN_TOKEN},
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()}") from None
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    proc = start_server(port, log, "--set", "ratelimit.algorithm=fixed_window",
                        "--set", "ratelimit.limit=60")
    yield f"http://127.0.0.1:{port}", proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_over_tcp_login_authorised_call_and_every_error(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, _ = server
    with httpx.Client(base_url=base, timeout=10) as c:
        key = {"X-API-Key": "sk_test_partner"}  # the rate limit is counted per valid key
        login = c.post("/auth/login", json={"email": "grace@shop.test", "password": "sandbox123"},
                       headers=key)
        assert login.status_code == 200
        grace = {**key, "Authorization": f"Bearer {login.json()['access_token']}"}
        mine = c.get("/users/me/orders", headers=grace)
        assert mine.status_code == 200 and mine.json()["user_id"] == 2
        assert c.get("/users/me/orders", headers=key).status_code == 401
        assert c.get("/users/5/orders", headers=grace).status_code == 403
        bad = c.post("/orders", headers=grace, json={"items": []})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "items"
        burst = [c.get("/products/3") for _ in range(150)]  # counted per address
        assert {r.status_code for r in burst} <= {200, 429}
        assert_fixed_windows_of_60(burst)
        probes = [c.get("/health") for _ in range(100)]  # never limited, even now
        assert {r.status_code for r in probes} == {200}
        assert all("RateLimit-Limit" not in r.headers for r in probes)
        assert c.get("/openapi.json", headers=key).json()["openapi"] == "3.1.0"  # key's own limit
        assert c.get("/ready").json() == {"status": "ready"}


def test_over_tcp_a_partner_gets_a_client_token_and_is_held_to_its_scopes(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """OAuth2 client credentials (issue #17): the whole flow over a real socket."""
    from sandbox.backend.demo import DEMO_CLIENTS

    base, _ = server
    key = {"X-API-Key": "sk_test_partner"}  # its own rate-limit allowance, not the burst's
    secret = DEMO_CLIENTS["partner-shop"][0]
    with httpx.Client(base_url=base, timeout=10, headers=key) as c:
        assert "/oauth/token" in c.get("/openapi.json").json()["paths"]
        wrong = c.post("/oauth/token", data={"grant_type": "client_credentials"},
                       auth=("partner-shop", "not-the-secret"))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert wrong.headers["www-authenticate"] == 'Basic realm="shop"'
        assert wrong.headers["cache-control"] == "no-store"
        greedy = c.post("/oauth/token", data={"grant_type": "client_credentials",
                                              "scope": "orders:write products:write"},
                        auth=("partner-shop", secret))
        assert greedy.status_code == 400 and greedy.json()["error"] == "invalid_scope"
        granted = c.post("/oauth/token", data={"grant_type": "client_credentials",
                                               "scope": "orders:write"},
                         auth=("partner-shop", secret))
        assert granted.status_code == 200, granted.text
        assert granted.json()["scope"] == "orders:write"
        partner = {"Authorization": f"Bearer {granted.json()['access_token']}"}
        placed = c.post("/orders", json={"items": [{"product_id": 5, "quantity": 1}]},
                        headers=partner)
        assert placed.status_code == 201, placed.text
        denied = c.get(f"/orders/{placed.json()['id']}", headers=partner)
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
        assert c.get("/users/me/orders", headers=partner).status_code == 403


def assert_fixed_windows_of_60(responses: list[httpx.Response]) -> None:
    """Served time follows the wall clock, so a burst may straddle a window's end. Whatever
    the split, each window admits its first 60 requests, counting down, and refuses the rest."""
    used, windows = 0, 0
    for r in responses:
        assert r.headers["RateLimit-Limit"] == "60"
        remaining = int(r.headers["RateLimit-Remaining"])
        if r.status_code == 200 and remaining == 59:
            used, windows = 1, windows + 1
        elif r.status_code == 200:
            used += 1
            assert remaining == 60 - used
        else:
            assert used == 60 and remaining == 0 and int(r.headers["Retry-After"]) >= 1
    # 150 requests in at most two windows: at least 30 of them over the limit.
    assert windows > 2 or sum(r.status_code == 429 for r in responses) >= 30


def test_admin_api_changes_settings_live(server: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, _ = server
    with httpx.Client(base_url=base, timeout=10) as c:
        changed = c.post("/_sandbox/settings", json={"cache.strategy": "cache_aside"},
                         headers=ADMIN_HEADERS)
        assert changed.status_code == 200 and changed.json()["cache.strategy"] == "cache_aside"
        wrong = c.post("/_sandbox/settings", json={"cache.stratgy": "x"}, headers=ADMIN_HEADERS)
        assert wrong.status_code == 422 and "cache.strategy" in wrong.json()["error"]["message"]
        c.get("/products/77", headers={"X-API-Key": "sk_test_partner"})
        traces = c.get("/_sandbox/traces", headers=ADMIN_HEADERS).json()
        assert traces[-1]["path"] == "/products/77"
        kinds = {s["kind"] for s in traces[-1]["root"]["children"]}
        assert {"lb", "gateway", "instance"} <= kinds  # traced like in-process requests


def test_a_concurrent_burst_has_no_errors_but_the_configured_429s(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, _ = server

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as c:
            gate = asyncio.Semaphore(50)

            async def one(i: int) -> int:
                async with gate:
                    r = await c.get(f"/products/{1 + i % 500}", headers={"X-API-Key": "load"})
                    return r.status_code

            return await asyncio.gather(*(one(i) for i in range(1000)))

    # Served time follows the wall clock: with one-second windows, how many of the 1,000 land
    # in each window is the machine's speed. An hour-long window makes the count exact: 60 in
    # it (twice that at most, should the burst straddle a window's end), the rest refused.
    window = {"ratelimit.window_s": 3600}
    assert httpx.post(f"{base}/_sandbox/settings", json=window, headers=ADMIN_HEADERS,
                      timeout=30).status_code == 200
    try:
        statuses = asyncio.run(burst())
    finally:
        back = httpx.post(f"{base}/_sandbox/settings", json={"ratelimit.window_s": 1.0},
                          headers=ADMIN_HEADERS, timeout=30)
    assert back.status_code == 200
    assert len(statuses) == 1000
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) >= 1000 - 2 * 60


def test_fuzzing_the_served_socket(server: tuple[str, subprocess.Popen[bytes]],
                                   tmp_path: Path) -> None:
    base, _ = server
    # Every sandbox signs with its own secret: log in to this one.
    login = httpx.post(f"{base}/auth/login", timeout=10, headers={"X-API-Key": "sk_test_partner"},
                       json={"email": "ada@shop.test", "password": "sandbox123"})
    admin = f"Bearer {login.json()['access_token']}"
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(cli), "run", f"{base}/openapi.json", "--checks", ",".join(CHECK_NAMES),
         "--max-examples", "30", "--phases", "examples,coverage,fuzzing", "--seed", "1",
         "-H", "X-API-Key: sk_test_partner", "-H", f"Authorization: {admin}",
         "--report", "junit", "--report-dir", str(tmp_path), "--workers", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated is not None, result.stdout[-2000:]
    # Fewer cases than in process (test_validation_schema.py runs 1,700 with every check):
    # this run is about the socket, uvicorn and the admin token's absence.
    assert int(generated.group(1)) >= 300 and generated.group(1) == generated.group(2)


def test_sigterm_shuts_down_gracefully(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    proc = start_server(free_port(), log)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert proc.returncode == 0 and "stopped" in log.read_text()


def test_port_in_use_is_a_clear_error(server: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, _ = server
    port = base.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "sandbox", "serve", "--port", port],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in " ".join(result.stderr.split())


def test_curl_command_quotes_safely() -> None:
    command = curl_command("POST", "/orders", {"Content-Type": "application/json"},
                           '{"note": "it\'s"}')
    assert command == ("curl -i -X POST -H 'Content-Type: application/json' "
                       "--data '{\"note\": \"it'\\''s\"}' 'http://127.0.0.1:8000/orders'")


# -- /metrics and the JSON log over the socket (issue 17) ----------------------------------


def scrape(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics, parsed by prometheus-client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = httpx.get(f"{base}/metrics", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def moved(before: dict[tuple[str, frozenset[tuple[str, str]]], float],
          after: dict[tuple[str, frozenset[tuple[str, str]]], float],
          name: str, **labels: str) -> float:
    """How much `name`'s samples with `labels` grew between two scrapes."""
    wanted = set(labels.items())
    return sum(v - before.get((n, ls), 0.0) for (n, ls), v in after.items()
               if n == name and wanted <= ls)


def test_metrics_a_scraper_reads_count_routes_by_template_and_429s_not_probes(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, _ = server
    hour = {"ratelimit.window_s": 3600}  # 60 requests this hour, whatever the machine's speed
    assert httpx.post(f"{base}/_sandbox/settings", json=hour, headers=ADMIN_HEADERS,
                      timeout=30).status_code == 200
    before = scrape(base)
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            statuses = [c.get(f"/products/{1 + i}").status_code for i in range(65)]
            for _ in range(3):  # probes and the admin API: not the shop's traffic
                assert c.get("/health").status_code == 200
                assert c.get("/ready").status_code == 200
                assert c.get("/_sandbox/settings", headers=ADMIN_HEADERS).status_code == 200
            assert c.post("/metrics").status_code == 405  # nothing to write there
            hostile = [c.get(f"/no/such/{i}/\u202e").status_code for i in range(20)]
            odd = raw_request(base, b"BREW /products/1 HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n\r\n")
    finally:
        back = httpx.post(f"{base}/_sandbox/settings", json={"ratelimit.window_s": 1.0},
                          headers=ADMIN_HEADERS, timeout=30)
    assert back.status_code == 200
    after = scrape(base)
    route = "/products/{product_id}"
    assert statuses.count(429) >= 5
    for status in set(statuses):
        assert moved(before, after, "sandbox_http_requests_total", method="GET", route=route,
                     status=str(status)) == statuses.count(status)
    odd_status = int(odd.split()[1])  # BREW on a shop route: refused by the limiter too
    assert moved(before, after, "sandbox_ratelimit_rejected_total", route=route) == \
        statuses.count(429) + (odd_status == 429)
    assert moved(before, after, "sandbox_http_request_duration_seconds_count", route=route,
                 method="GET") == 65
    # Twenty made-up paths are one series, not twenty; an invented method is OTHER.
    assert moved(before, after, "sandbox_http_requests_total", route="unmatched") == len(hostile)
    assert moved(before, after, "sandbox_http_requests_total", method="OTHER") == 1
    assert moved(before, after, "sandbox_http_requests_total") == 65 + 20 + 1
    routes = {dict(ls)["route"] for n, ls in after if n == "sandbox_http_requests_total"}
    assert routes <= {compiled(p) for p in ROUTES} - {"/health", "/ready"} | {"unmatched"}


def compiled(path: str) -> str:
    from starlette.routing import compile_path

    return str(compile_path(path)[1])


def raw_request(base: str, request: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_serve_log_format_json_writes_only_parseable_lines_without_secrets(
        tmp_path: Path) -> None:
    port = free_port()
    out, err = tmp_path / "stdout.jsonl", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "serve", "--port", str(port), "--log-format", "json"],
            stdout=stdout, stderr=stderr, env={**os.environ, "SANDBOX_ADMIN_TOKEN": ADMIN_TOKEN})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
                time.sleep(0.05)
        with httpx.Client(base_url=base, timeout=30) as c:
            login = c.post("/auth/login", json={"email": "grace@shop.test",
                                                "password": "sandbox123"})
            token = login.json()["access_token"]
            mine = c.get("/users/me/orders", headers={"Authorization": f"Bearer {token}"})
            c.get("/users/me/orders", headers={"Authorization": "Bearer not.a.realtoken"})
            c.post("/auth/login", json={"email": "grace@shop.test", "password": "wrong-guess-1"})
            c.get("/_sandbox/settings", headers=ADMIN_HEADERS)
        raw_request(base, b"GET /products/1%1b[2J%0aforged%7f%e2%80%ae HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    text = out.read_text(encoding="utf-8")
    for secret in ("sandbox123", "wrong-guess-1", token, "not.a.realtoken", ADMIN_TOKEN,
                   "Bearer"):
        assert secret not in text
    assert "Serving the sandbox shop" in err.read_text()  # the banner is not on stdout
    assert text.isascii() or all(line.isprintable() for line in text.splitlines())
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    shop = [line for line in lines if line["event"] == "request"]
    assert [line["status"] for line in shop] == [200, 200, 401, 401, 404]
    assert shop[1]["user_id"] == 2 and shop[1]["route"] == "/users/me/orders"
    assert shop[1]["trace_id"] == shop[1]["request_id"] == mine.headers["x-request-id"]
    assert shop[2]["user_id"] is None and shop[3]["level"] == "warning"
    assert all(line["client"] == "127.0.0.1" and line["timestamp"].endswith("Z") for line in shop)
    assert shop[4]["path"] == "/products/1\x1b[2J\nforged\x7f\u202e"  # intact once parsed
    assert [line["status"] for line in lines if line["event"] == "admin"] == [200]
