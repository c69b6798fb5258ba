"""`sandbox serve` attacked: minted tokens, cross-site admin writes, limiter bypasses, log
injection, redirects off the host, oversized headers, and a clock that ran ahead.

Each test is one attack from the security issue, kept so that it stays fixed. Most go through
the real ASGI app in process (`ServedSandbox`, as uvicorn calls it); the ones about the HTTP
parser use a real server on a loopback socket.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from joserfc import jwe as jose_jwe
from joserfc import jws as jose_jws
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from sandbox.errors import SettingsError
from sandbox.mechanisms.auth import AUDIENCE, ISSUER, SECRET_ENV, load_signing_secret
from sandbox.runtime import Sandbox
from sandbox.safe_text import printable
from sandbox.scenarios import run_scenario
from sandbox.serving import MAX_HEADER_BYTES, ServedSandbox
from sandbox.settings import Settings

TOKEN = "admin-token-for-tests"
ADMIN = {"X-Sandbox-Token": TOKEN}


def served(sandbox: Sandbox, peer: str = "127.0.0.1", **options: Any) -> tuple[ServedSandbox,
                                                                              httpx.AsyncClient]:
    app = ServedSandbox(sandbox, admin_token=TOKEN, **options)
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    return app, httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(Settings())
    yield sb
    sb.close()


def claims(sandbox: Sandbox, **changes: Any) -> dict[str, Any]:
    now = int(sandbox.ctx.now_s())
    base: dict[str, Any] = {"sub": "2", "role": "customer", "iss": ISSUER, "aud": AUDIENCE,
                            "iat": now, "nbf": now, "exp": now + 600}
    return {**base, **changes}


SEED_KEY = hashlib.sha256(b"sandbox-signing-key-7").digest()  # what the old code derived


# -- 1. minted tokens -------------------------------------------------------------------------


async def test_a_token_minted_with_the_seed_derived_key_is_401(sandbox: Sandbox) -> None:
    """Before: 200 on PATCH /products/1 for user 999999 'admin', signed with sha256(seed)."""
    token = jwt.encode(claims(sandbox, sub="999999", role="admin", exp=10**30), SEED_KEY,
                       algorithm="HS256")
    _, client = served(sandbox)
    async with client:
        response = await client.patch("/products/1", json={"stock": 5},
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert sandbox.db.query("SELECT stock FROM products WHERE id = 1")[0][0] != 5


async def test_the_role_comes_from_the_database_not_the_token(sandbox: Sandbox) -> None:
    """Even with the real key, a token cannot raise its holder's role; a demoted admin's
    token loses its power at once; a deleted user's token stops working."""
    key = sandbox.ctx.tokens.secret
    _, client = served(sandbox)

    def bearer(**changes: Any) -> dict[str, str]:
        return {"Authorization": "Bearer " + jwt.encode(claims(sandbox, **changes), key,
                                                        algorithm="HS256")}

    async with client:
        lifted = await client.patch("/products/1", json={"stock": 5}, headers=bearer(role="admin"))
        assert lifted.status_code == 403
        admin = bearer(sub="1", role="admin")
        assert (await client.patch("/products/1", json={"stock": 5}, headers=admin)).status_code == 200
        sandbox.db.conn.execute("UPDATE users SET role = 'customer' WHERE id = 1")
        assert (await client.patch("/products/1", json={"stock": 6}, headers=admin)).status_code == 403
        assert (await client.get("/users/me/orders", headers=bearer(sub="7"))).status_code == 200
        sandbox.db.conn.execute("DELETE FROM api_keys WHERE user_id = 7")
        sandbox.db.conn.execute("PRAGMA foreign_keys = OFF")
        sandbox.db.conn.execute("DELETE FROM users WHERE id = 7")
        gone = await client.get("/users/me/orders", headers=bearer(sub="7"))
        assert gone.status_code == 401 and "no longer exists" in gone.json()["error"]["message"]


def test_the_signing_secret_is_random_private_kept_and_never_the_seed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    first = load_signing_secret(tmp_path / "a")
    assert first == load_signing_secret(tmp_path / "a")  # kept: tokens survive a restart
    assert first != load_signing_secret(tmp_path / "b") != SEED_KEY
    assert len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "a" / "signing-secret").stat().st_mode)
    assert mode == 0o600
    assert Sandbox().ctx.tokens.secret != Sandbox().ctx.tokens.secret
    monkeypatch.setenv(SECRET_ENV, "s" * 40)
    assert load_signing_secret(tmp_path / "a") == b"s" * 40
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(SettingsError, match="too short"):
        load_signing_secret(tmp_path / "a")


def test_processes_starting_at_once_agree_on_one_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    code = ("import sys; from pathlib import Path; "
            "from sandbox.mechanisms.auth import load_signing_secret as load; "
            "sys.stdout.write(load(Path(sys.argv[1])).hex())")
    folder = tmp_path / "shared"
    runs = [subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE)
            for _ in range(6)]
    keys = {run.communicate(timeout=60)[0] for run in runs}
    assert len(keys) == 1 and all(run.returncode == 0 for run in runs)
    assert sorted(p.name for p in folder.iterdir()) == ["signing-secret"]  # no leftovers


def test_scenario_numbers_do_not_depend_on_the_secret() -> None:
    results = []
    for secret in (b"a" * 32, b"b" * 32):
        sb = Sandbox(Settings(), seed=5, secret=secret)
        try:
            results.append(run_scenario("steady", sandbox=sb, seed=5, requests=300).metrics)
        finally:
            sb.close()
    assert results[0] == results[1]
    assert results[0]["requests"] == 300


# The same attacks with tokens built by a second JOSE library, so that the suite does not
# only test PyJWT against itself.
RSA = RSAKey.generate_key(2048)
EC = ECKey.generate_key("P-256")


def jose(header: dict[str, Any], payload: dict[str, Any], key: Any) -> str:
    return jose_jwt.encode(header, payload, key, algorithms=[header["alg"]])


FORGED: dict[str, Any] = {
    "HS256-seed-derived-key-admin": lambda sb: jose(
        {"alg": "HS256"}, claims(sb, sub="1", role="admin"), OctKey.import_key(SEED_KEY)),
    "HS256-empty-key": lambda sb: jose({"alg": "HS256"}, claims(sb),
                                       OctKey.import_key(b"\0" * 32)),
    "HS512-attacker-key": lambda sb: jose({"alg": "HS512"}, claims(sb),
                                          OctKey.generate_key(512)),
    "RS256-attacker-key": lambda sb: jose({"alg": "RS256"}, claims(sb), RSA),
    "RS256-attacker-key-with-jwk-header": lambda sb: jose(
        {"alg": "RS256", "jwk": RSA.as_dict(private=False)}, claims(sb), RSA),
    "RS256-attacker-key-with-jku-header": lambda sb: jose(
        {"alg": "RS256", "jku": "http://evil.example/keys.json"}, claims(sb), RSA),
    "ES256-attacker-key": lambda sb: jose({"alg": "ES256"}, claims(sb), EC),
    "HS256-kid-path-traversal": lambda sb: jose(  # as if the key were read from /dev/null
        {"alg": "HS256", "kid": "../../../../dev/null"}, claims(sb),
        OctKey.import_key(b"\0" * 32)),
    "HS256-real-key-unknown-user": lambda sb: jose(
        {"alg": "HS256"}, claims(sb, sub="424242", role="admin"),
        OctKey.import_key(sb.ctx.tokens.secret)),
    "HS256-real-key-lives-for-ever": lambda sb: jose(
        {"alg": "HS256"}, claims(sb, exp=10**30), OctKey.import_key(sb.ctx.tokens.secret)),
    "JWS-JSON-serialisation": lambda sb: orjson.dumps(jose_jws.serialize_json(
        {"protected": {"alg": "HS256"}}, orjson.dumps(claims(sb)),
        OctKey.import_key(sb.ctx.tokens.secret))).decode(),
    "JWE-encrypted-with-the-real-key": lambda sb: jose_jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256GCM"}, orjson.dumps(claims(sb, sub="1", role="admin")),
        OctKey.import_key(sb.ctx.tokens.secret)),
}


def test_the_second_library_signs_tokens_the_sandbox_accepts(sandbox: Sandbox) -> None:
    """The control: with the real key, joserfc's token is accepted, so each refusal below is
    the attack's doing, not a format difference between the libraries."""
    token = jose({"alg": "HS256"}, claims(sandbox), OctKey.import_key(sandbox.ctx.tokens.secret))
    identity = sandbox.ctx.tokens.verify(token, sandbox.ctx.now_s(), 900)
    assert identity.user_id == 2


@pytest.mark.parametrize("attack", list(FORGED), ids=list(FORGED))
async def test_tokens_forged_by_joserfc_are_401(sandbox: Sandbox, attack: str) -> None:
    token = FORGED[attack](sandbox)
    _, client = served(sandbox)
    async with client:
        mine = await client.get("/users/me/orders", headers={"Authorization": f"Bearer {token}"})
        patch = await client.patch("/products/1", json={"stock": 9},
                                   headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 401 and patch.status_code == 401
    assert mine.json()["error"]["code"] == "unauthorized"


# -- 2. the admin API -------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "headers", "status"), [
    ("cross-site text/plain form post", {"Content-Type": "text/plain",
                                         "Origin": "http://evil.example", **ADMIN}, 403),
    ("text/plain from the page itself", {"Content-Type": "text/plain", **ADMIN}, 415),
    ("DNS rebinding: Host is the attacker's name", {"Host": "evil.example", **ADMIN}, 403),
    ("rebinding with a port", {"Host": "evil.example:8000", **ADMIN}, 403),
    ("no admin token", {}, 401),
    ("wrong admin token", {"X-Sandbox-Token": TOKEN + "x"}, 401),
    ("another origin on loopback", {"Origin": "http://127.0.0.1:9999", **ADMIN}, 403),
], ids=lambda value: value if isinstance(value, str) else "")
async def test_admin_writes_from_anywhere_but_the_operator_are_refused(
        sandbox: Sandbox, case: str, headers: dict[str, str], status: int) -> None:
    _, client = served(sandbox)
    async with client:
        body = b'{"auth.mode": "off"}'
        response = await client.post("/_sandbox/settings", content=body,
                                     headers={"Content-Type": "application/json", **headers})
        assert response.status_code == status, response.text
        assert set(response.json()) == {"error"}
        assert sandbox.settings.auth.mode == "jwt"
        # So `X-User-Id: 1` stays nobody, not an admin.
        patch = await client.patch("/products/1", json={"stock": 6}, headers={"X-User-Id": "1"})
        assert patch.status_code == 401


async def test_the_operator_with_the_token_changes_settings(sandbox: Sandbox) -> None:
    _, client = served(sandbox)
    async with client:
        for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
            response = await client.post(
                "/_sandbox/settings", json={"cache.ttl_s": 7},
                headers={"Host": host, "Origin": f"http://{host}", **ADMIN})
            assert response.status_code == 200, (host, response.text)
        assert sandbox.settings.cache.ttl_s == 7
        assert (await client.get("/_sandbox/traces", headers=ADMIN)).status_code == 200
        assert (await client.get("/_sandbox/traces")).status_code == 401


async def test_admin_headers_sent_twice_and_odd_keys_are_refused(sandbox: Sandbox) -> None:
    lines: list[str] = []
    _, client = served(sandbox, log=lines.append)
    async with client:
        twice = await client.post("/_sandbox/settings", content=b'{"cache.ttl_s": 5}', headers=[
            ("Content-Type", "application/json"), ("Origin", "http://127.0.0.1:8000"),
            ("Origin", "http://evil.example"), ("X-Sandbox-Token", TOKEN)])
        assert twice.status_code == 400
        odd = await client.post("/_sandbox/settings", json={"cache.ttl_s=5,cache.strategy": "off"},
                                headers=ADMIN)
        assert odd.status_code == 422 and "unknown setting" in odd.json()["error"]["message"]
        assert (await client.get("/_sandbox/settings")).status_code == 401
    assert sandbox.settings.cache.ttl_s == 30
    # Every admin call is logged with its status; the token never is.
    assert [line.split()[2] for line in lines] == ["400", "422", "401"]
    assert all("admin API" in line and TOKEN not in line for line in lines)


async def test_bodies_over_the_limit_are_never_read_whole(sandbox: Sandbox) -> None:
    read: list[int] = []

    async def chunks() -> Any:
        for _ in range(1000):  # 64 MB if it were all read
            read.append(1)
            yield b" " * 65536

    _, client = served(sandbox)
    async with client:
        streamed = await client.post("/orders", content=chunks(),
                                     headers={"Content-Type": "application/json"})
        admin = await client.post("/_sandbox/settings", content=b" " * 20_000,
                                  headers={"Content-Type": "application/json", **ADMIN})
    assert streamed.status_code == 413 and admin.status_code == 413
    assert streamed.json()["error"]["code"] == "payload_too_large"
    assert len(read) < 1000


async def test_the_admin_api_answers_loopback_only(sandbox: Sandbox) -> None:
    _, client = served(sandbox, peer="192.0.2.7")
    async with client:
        response = await client.get("/_sandbox/settings", headers=ADMIN)
    assert response.status_code == 403


# -- 3 and 4. the rate limiter ----------------------------------------------------------------


def limited(**changes: Any) -> Sandbox:
    return Sandbox(Settings().replace({"ratelimit.algorithm": "token_bucket",
                                       "ratelimit.limit": 20, **changes}))


async def test_made_up_api_keys_do_not_buy_a_fresh_allowance() -> None:
    """Before: 120 of 120 passed a 20 req/s limit, each with a new made-up X-API-Key."""
    sb = limited()
    _, client = served(sb, wall=lambda: 0.0)  # all at one instant
    async with client:
        statuses = [(await client.get("/products/1", headers={"X-API-Key": f"made-up-{i}"}))
                    .status_code for i in range(120)]
        assert statuses.count(200) == 20
        # The shop's real key is its own principal, with its own allowance.
        partner = [(await client.get("/products/1", headers={"X-API-Key": "sk_test_partner"}))
                   .status_code for _ in range(30)]
        assert partner.count(200) == 20
    sb.close()


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    sb = limited()
    _, client = served(sb, wall=lambda: 0.0)
    async with client:  # a direct client writes the header itself: it counts for nothing
        spoofed = [(await client.get("/products/1", headers={"X-Forwarded-For": f"10.0.0.{i}"}))
                   .status_code for i in range(60)]
    assert spoofed.count(200) == 20
    sb.close()
    sb = limited()
    _, client = served(sb, peer="127.0.0.5", trusted_proxies=["127.0.0.5"], wall=lambda: 0.0)
    async with client:
        async def through_proxy(client_says: str, proxy_saw: str) -> int:
            response = await client.get(
                "/products/1", headers={"X-Forwarded-For": f"{client_says}, {proxy_saw}"})
            return response.status_code
        # Behind the proxy, each real client has its own allowance, whatever it writes.
        alice = [await through_proxy(f"1.1.1.{i}", "203.0.113.1") for i in range(30)]
        bob = [await through_proxy("1.1.1.1", "203.0.113.2") for _ in range(30)]
    assert alice.count(200) == 20 and bob.count(200) == 20
    sb.close()


async def test_probes_are_never_rate_limited() -> None:
    """Before: after a burst, GET /health answered 429 (a liveness probe would fail)."""
    sb = limited()
    _, client = served(sb, wall=lambda: 0.0)
    async with client:
        burst = [(await client.get("/products/1")).status_code for _ in range(40)]
        assert 429 in burst
        for path in ("/health", "/ready"):
            probes = [await client.get(path) for _ in range(50)]
            assert {r.status_code for r in probes} == {200}
            assert all("ratelimit-limit" not in r.headers for r in probes)
    sb.close()


# -- 10. the clock follows the wall clock -----------------------------------------------------


async def test_served_time_never_runs_ahead_of_the_wall_clock() -> None:
    """600 requests arrive 2 ms apart (500 req/s); each takes ~8 ms of simulated work. Before,
    the simulated clock ran ahead (4.8 s in 1.2 s), so a 20 req/s bucket let ~116 through."""
    sb = limited(**{"ratelimit.burst": 0})
    wall = {"s": 100.0}
    app, client = served(sb, wall=lambda: wall["s"])
    starts: list[tuple[float, float]] = []
    app.listeners.append(lambda trace: starts.append((trace.root.start_ms, wall["s"])))
    async with client:
        passed = 0
        for _ in range(600):
            wall["s"] += 0.002
            passed += (await client.get("/products/1")).status_code == 200
    elapsed_s = 600 * 0.002
    assert passed <= 20 + 20 * elapsed_s + 1
    assert passed >= 20 * elapsed_s  # and the limit still lets its rate through
    for start_ms, wall_s in starts:  # each request starts exactly when it arrived
        assert start_ms == pytest.approx((wall_s - 100.0) * 1000.0)
    sb.close()


# -- 5, 6, 7. logs, redirects, headers --------------------------------------------------------


async def test_control_characters_in_the_path_cannot_reach_the_log(sandbox: Sandbox) -> None:
    """Before: `%1b[31m` coloured the terminal and `%0a` forged a second log line."""
    lines: list[str] = []
    _, client = served(sandbox, log=lines.append)
    async with client:
        await client.get("/%1b[31mRED%0aGET%20/forged%20200%E2%80%AE")
    assert len(lines) == 1
    line = lines[0]
    assert "\x1b" not in line and "\n" not in line and "\u202e" not in line
    assert "\\x1b[31mRED" in line
    assert printable("a\x1bb\nc\x7f") == "a\\x1bb\\nc\\x7f"
    assert printable("plain é ✓") == "plain é ✓"


async def test_a_trailing_slash_is_a_helpful_404_not_a_redirect_off_the_host(
        sandbox: Sandbox) -> None:
    """Before: 307 to http://shop.sandbox/products/1, which no client can reach."""
    _, client = served(sandbox)
    async with client:
        response = await client.get("/products/1/")
    assert response.status_code == 404 and "location" not in response.headers
    assert "try /products/1" in response.json()["error"]["message"]


async def test_oversized_headers_get_431_in_the_envelope(sandbox: Sandbox) -> None:
    _, client = served(sandbox)
    async with client:
        ok = await client.get("/products/1", headers={"X-Pad": "a" * (MAX_HEADER_BYTES // 2)})
        big = await client.get("/products/1", headers={"X-Pad": "a" * MAX_HEADER_BYTES})
    assert ok.status_code == 200
    assert big.status_code == 431 and big.json()["error"]["code"] == "headers_too_large"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    port, folder = free_port(), tmp_path_factory.mktemp("serve-attacks")
    log = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_ADMIN_TOKEN"}
    env["SANDBOX_DATA_DIR"] = str(folder / "data")
    with log.open("wb") as sink:
        proc = start_serve(port, env, sink, "--set", "ratelimit.algorithm=fixed_window",
                           "--set", f"ratelimit.limit={SOCKET_LIMIT}",
                           "--set", "ratelimit.window_s=3600")
    try:
        wait_for(port, proc, log)
        yield port, folder
    finally:
        proc.terminate()
        proc.wait(timeout=30)


SOCKET_LIMIT = 12  # requests per address per hour on the real server below


def start_serve(port: int, env: dict[str, str], sink: Any, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--port", str(port), *extra],
                            stdout=sink, stderr=subprocess.STDOUT, env=env)


def wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(1200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
    raise AssertionError("the server did not start")


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_over_a_socket_big_headers_and_bad_http_get_the_envelope(
        real_server: tuple[int, Path]) -> None:
    """Before: a 200 KB header got uvicorn's bare text 400 and a reset."""
    port, _ = real_server
    response = httpx.get(f"http://127.0.0.1:{port}/products/1",
                         headers={"X-Pad": "a" * 200_000}, timeout=30)
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "headers_too_large"
    garbage = raw_exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    head, _, body = garbage.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert orjson.loads(body)["error"]["code"] == "bad_request"


def test_serve_prints_its_admin_token_and_keeps_the_secret_private(
        real_server: tuple[int, Path]) -> None:
    port, folder = real_server
    printed = (folder / "server.log").read_text()
    token = printed.split("Admin token (for /_sandbox/): ", 1)[1].split()[0]
    base = f"http://127.0.0.1:{port}/_sandbox/settings"
    assert httpx.get(base, timeout=30).status_code == 401
    assert httpx.get(base, headers={"X-Sandbox-Token": token}, timeout=30).status_code == 200
    secret = folder / "data" / "signing-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    # Neither the stored root nor the seed-derived key signs the served shop's tokens: each
    # start derives its own key from the root.
    login = httpx.post(f"http://127.0.0.1:{port}/auth/login", timeout=30,
                       json={"email": "grace@shop.test", "password": "sandbox123"})
    issued = login.json()["access_token"]
    times = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}  # simulated time
    for key in (secret.read_bytes(), SEED_KEY):
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(issued, key, algorithms=["HS256"], audience=AUDIENCE, options=times)


def test_a_spoofed_x_forwarded_for_over_the_socket_is_still_one_client(
        real_server: tuple[int, Path]) -> None:
    """Found by the attacker's pass: uvicorn itself believed X-Forwarded-For from loopback
    peers, so a fresh made-up address per request passed every limit."""
    port, _ = real_server
    statuses = [httpx.get(f"http://127.0.0.1:{port}/products/1", timeout=30,
                          headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(SOCKET_LIMIT + 5)]
    assert statuses.count(200) <= SOCKET_LIMIT and statuses.count(429) >= 5


def test_a_huge_declared_body_is_refused_before_it_is_sent(real_server: tuple[int, Path]) -> None:
    """Found by the attacker's pass: bodies were read whole (400 MB took minutes) and
    `Expect: 100-continue` was answered `100 Continue` whatever the length."""
    port, _ = real_server
    head = (b"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
    answer = raw_exchange(port, head)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"100 Continue" not in answer
    assert orjson.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "payload_too_large"


def test_a_token_from_an_earlier_run_is_refused(tmp_path: Path) -> None:
    """Found by the attacker's pass: the shop is rebuilt at every start, so an earlier run's
    token named a user id that a new registration now had, and revived once expired."""
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_ADMIN_TOKEN"}
    env["SANDBOX_DATA_DIR"] = str(tmp_path / "data")
    tokens: list[str] = []
    for run in range(2):
        port, log = free_port(), tmp_path / f"run{run}.log"
        with log.open("wb") as sink:
            proc = start_serve(port, env, sink)
        try:
            wait_for(port, proc, log)
            base = f"http://127.0.0.1:{port}"
            if tokens:
                old = {"Authorization": f"Bearer {tokens[0]}"}
                assert httpx.get(f"{base}/users/me/orders", headers=old, timeout=30).status_code == 401
            login = httpx.post(f"{base}/auth/login", timeout=30,
                               json={"email": "grace@shop.test", "password": "sandbox123"})
            tokens.append(login.json()["access_token"])
            mine = {"Authorization": f"Bearer {tokens[-1]}"}
            assert httpx.get(f"{base}/users/me/orders", headers=mine, timeout=30).status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_a_short_chosen_admin_token_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "SANDBOX_ADMIN_TOKEN": "letmein", "SANDBOX_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "sandbox", "serve", "--port", str(free_port())],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert "SANDBOX_ADMIN_TOKEN is too short" in " ".join(result.stderr.split())


def test_a_request_that_never_finishes_arriving_loses_its_connection() -> None:
    """Found by the attacker's pass: half-sent headers held a connection open for ever."""
    import asyncio

    import uvicorn

    from sandbox.serving import server_config

    sandbox = Sandbox(Settings())
    port = free_port()
    server = uvicorn.Server(server_config(ServedSandbox(sandbox), "127.0.0.1", port,
                                          read_timeout_s=0.3))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        for _ in range(1200):
            if server.started:
                break
            time.sleep(0.05)
        for partial in (b"GET /products/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
                        b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"):
            with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
                conn.sendall(partial)
                assert conn.recv(65536) == b""  # closed by the server, not by our timeout
        # A whole request on time is answered as always.
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sandbox.close()


def test_threads_sharing_one_folder_get_one_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    found: list[bytes] = []
    workers = [threading.Thread(target=lambda: found.append(load_signing_secret(tmp_path)))
               for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(found)) == 1 and len(found) == 8
