"""Security over HTTP: forged and broken tokens, 401 against 403, SQL injection, login enumeration.

Every attack goes through the simulated network to the real app, exactly as a client would
send it. Each negative test has a positive twin (a correctly signed token, a real API key, a
real user id) so the suite proves the checks are specific, not that everything is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from sandbox.mechanisms.auth import verify_password
from sandbox.runtime import Sandbox

ISSUER = "backend-sandbox"
AUDIENCE = "shop-api"
ORDERS = "/users/me/orders"

# Text that must never reach a client: stack traces, exception classes, libraries, paths.
LEAKS = ("Traceback", 'File "', ".py", "Exception", "Error", "PyJWT", "jwt.", "sqlite",
         "site-packages", "/work/", "/tmp/", "/usr/", "pbkdf2")

# Each fits every field's length rules (8 to 50 characters), so it reaches the database code.
SQLI = [
    "' OR '1'='1",
    "' OR 1=1 --",
    "1; DROP TABLE users; --",
    "'); DELETE FROM orders; --",
    '" OR 1=1 --',
    "%' UNION SELECT password_hash FROM users --",
    "grace@shop.test' --",
    "admin'/*",
    "'; UPDATE users SET role='admin' WHERE id=2; --",
    "Robert'); DROP TABLE reviews; --",
]

# name -> query; each answers one row that changes when its table does. Each is cheap (counts
# and maxima come from the b-trees); `changes` below catches any row updated in place.
FINGERPRINT = {
    "schema": "SELECT count(*), group_concat(name, ',') FROM "
              "(SELECT name FROM sqlite_master ORDER BY name)",
    "users": "SELECT count(*) FROM users",
    "last_user": "SELECT max(id) FROM users",
    "admins": "SELECT group_concat(id) FROM users WHERE role = 'admin'",
    "passwords": "SELECT group_concat(password_hash) FROM users WHERE id <= 3",
    "first_users": "SELECT group_concat(email || ':' || name || ':' || role, '|') FROM users "
                   "WHERE id <= 3",
    "api_keys": "SELECT count(*), group_concat(key || ':' || user_id) FROM api_keys",
    "products": "SELECT count(*), sum(price_cents), sum(stock), sum(length(sku)), "
                "sum(length(category)) FROM products",
    "product_names": "SELECT sum(length(name)), max(updated_at) FROM products",
    "ratings": "SELECT sum(rating_count), sum(rating_sum) FROM products",
    "orders": "SELECT count(*) FROM orders",
    "last_order": "SELECT max(id) FROM orders",
    "first_orders": "SELECT sum(total_cents), sum(customer_id), group_concat(status) FROM orders "
                    "WHERE id <= 500",
    "order_items": "SELECT count(*) FROM order_items",
    "last_order_item": "SELECT max(id) FROM order_items",
    "reviews": "SELECT count(*) FROM reviews",
    "last_review": "SELECT max(id) FROM reviews",
}


def fingerprint(sandbox: Sandbox) -> dict[str, tuple[Any, ...]]:
    """A summary of every table a successful injection could touch, and the number of rows
    written since the database was opened (any INSERT, UPDATE or DELETE moves it)."""
    prints = {name: tuple(sandbox.db.query(sql)[0]) for name, sql in FINGERPRINT.items()}
    prints["changes"] = (sandbox.db.conn.total_changes,)
    return prints


def assert_same_except(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]],
                       *changed: str) -> None:
    assert set(after) == set(before)
    for name in before:
        if name not in changed:
            assert after[name] == before[name], f"{name} changed: {before[name]} -> {after[name]}"


def assert_writes(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]],
                  rows: int, *changed: str) -> None:
    """Exactly `rows` rows were written, and only the `changed` parts moved."""
    assert_same_except(before, after, "changes", *changed)
    assert after["changes"][0] == before["changes"][0] + rows


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The one error envelope, with a message that gives nothing internal away."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} leaked: {response.text}"
    return str(error["message"])


def assert_validation_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def assert_handled(response: httpx.Response) -> None:
    """Not a server error; and an error answer is the envelope."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}
        assert body["error"]["request_id"] == response.headers["x-request-id"]
        assert "Traceback" not in response.text and "sqlite" not in response.text


# -- token building ---------------------------------------------------------------------------


def signing_key(sandbox: Sandbox) -> bytes:
    """The sandbox's real key: random per sandbox, so a test can only take it from inside."""
    return sandbox.ctx.tokens.secret


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def claims_for(sandbox: Sandbox, **changes: Any) -> dict[str, Any]:
    """Valid claims for Grace (user 2) at the sandbox's current simulated time."""
    now = int(sandbox.ctx.now_s())
    claims: dict[str, Any] = {"sub": "2", "role": "customer", "iss": ISSUER, "aud": AUDIENCE,
                              "iat": now, "nbf": now, "exp": now + 900}
    claims.update(changes)
    return claims


def signed(sandbox: Sandbox, claims: dict[str, Any], key: bytes | None = None) -> str:
    """HS256 with the sandbox's real key (or `key`), by PyJWT."""
    return jwt.encode(claims, key or signing_key(sandbox), algorithm="HS256")


def hand_signed(header: dict[str, Any], claims: Any, key: bytes,
                digest: Callable[..., Any]) -> str:
    """An HMAC-signed JWT built byte by byte (PyJWT refuses some of these, on purpose)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(alg: str, claims: dict[str, Any]) -> str:
    return f"{b64url_json({'alg': alg, 'typ': 'JWT'})}.{b64url_json(claims)}."


def without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k != name}


def bearer(token: str) -> dict[str, Any]:
    # Bytes, so that non-ASCII tokens reach the server as they are.
    return {"Authorization": f"Bearer {token}".encode()}


TokenFactory = Callable[[Sandbox], str]


def missing(name: str) -> TokenFactory:
    """A correctly signed token without the claim `name`."""
    return lambda sb: signed(sb, without(claims_for(sb), name))


ATTACKS: dict[str, TokenFactory] = {
    "alg-none": lambda sb: unsigned("none", claims_for(sb)),
    "alg-None": lambda sb: unsigned("None", claims_for(sb)),
    "alg-NONE": lambda sb: unsigned("NONE", claims_for(sb)),
    "alg-none-as-admin": lambda sb: unsigned("none", claims_for(sb, sub="1", role="admin")),
    "alg-none-no-dot": lambda sb: unsigned("none", claims_for(sb)).rstrip("."),
    "alg-HS512-right-key": lambda sb: hand_signed(
        {"alg": "HS512", "typ": "JWT"}, claims_for(sb), signing_key(sb), hashlib.sha512),
    "alg-HS384-right-key": lambda sb: hand_signed(
        {"alg": "HS384", "typ": "JWT"}, claims_for(sb), signing_key(sb), hashlib.sha384),
    "header-says-HS256-signed-HS512": lambda sb: hand_signed(
        {"alg": "HS256", "typ": "JWT"}, claims_for(sb), signing_key(sb), hashlib.sha512),
    "not-yet-valid": lambda sb: signed(sb, claims_for(sb, nbf=int(sb.ctx.now_s()) + 60)),
    "wrong-key": lambda sb: signed(sb, claims_for(sb), hashlib.sha256(b"another-secret").digest()),
    "other-sandbox-key": lambda sb: signed(sb, claims_for(sb), Sandbox().ctx.tokens.secret),
    # The key this sandbox once derived from its seed, which anyone could compute.
    "seed-derived-key": lambda sb: signed(
        sb, claims_for(sb), hashlib.sha256(f"sandbox-signing-key-{sb.seed}".encode()).digest()),
    "unknown-user": lambda sb: signed(sb, claims_for(sb, sub="999999", role="admin")),
    "lives-for-ever": lambda sb: signed(sb, claims_for(sb, exp=10**30)),
    "lives-longer-than-policy": lambda sb: signed(
        sb, claims_for(sb, exp=int(sb.ctx.now_s()) + sb.settings.auth.token_ttl_s + 1)),
    "issued-in-the-future": lambda sb: signed(
        sb, claims_for(sb, iat=int(sb.ctx.now_s()) + 60, exp=int(sb.ctx.now_s()) + 120)),
    "wrong-audience": lambda sb: signed(sb, claims_for(sb, aud="admin-api")),
    "audience-list-without-ours": lambda sb: signed(sb, claims_for(sb, aud=["admin-api"])),
    "wrong-issuer": lambda sb: signed(sb, claims_for(sb, iss="evil-issuer")),
    **{f"missing-{name}": missing(name) for name in ("sub", "exp", "iat", "nbf", "iss", "aud", "role")},
    "sub-not-integer": lambda sb: signed(sb, claims_for(sb, sub="abc")),
    "sub-empty": lambda sb: signed(sb, claims_for(sb, sub="")),
    "role-superuser": lambda sb: signed(sb, claims_for(sb, role="superuser")),
    "role-Admin-capitalised": lambda sb: signed(sb, claims_for(sb, role="Admin")),
    "role-empty": lambda sb: signed(sb, claims_for(sb, role="")),
    "role-list": lambda sb: signed(sb, claims_for(sb, role=["admin"])),
    "garbage-abc.def.ghi": lambda sb: "abc.def.ghi",
    "garbage-not-a-token": lambda sb: "not-a-token",
    "garbage-a.b": lambda sb: "a.b",
    "garbage-dots": lambda sb: "....",
    "garbage-two-dots": lambda sb: "..",
    "garbage-non-ascii": lambda sb: "ünïcødé.tökén.✓",
    "garbage-bad-base64": lambda sb: "eyJhbGciOiJIUzI1NiJ9.%%%.###",
    "header-not-json": lambda sb: f"{b64url(b'{not json')}.{b64url_json(claims_for(sb))}.c2ln",
    "header-json-list": lambda sb: f"{b64url_json([1, 2])}.{b64url_json(claims_for(sb))}.c2ln",
    "signature-stripped": lambda sb: signed(sb, claims_for(sb)).rsplit(".", 1)[0] + ".",
    "two-segments-of-real-token": lambda sb: signed(sb, claims_for(sb)).rsplit(".", 1)[0],
    "extra-segment": lambda sb: signed(sb, claims_for(sb)) + ".c2ln",
    "payload-not-object": lambda sb: hand_signed(
        {"alg": "HS256", "typ": "JWT"}, [claims_for(sb)], signing_key(sb), hashlib.sha256),
}


# -- 1. JWT attacks ---------------------------------------------------------------------------


async def test_a_correctly_signed_token_works(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    """The control: the test's own signing matches the server's, so each refusal below is
    caused by the one thing that attack changes."""
    for token in (signed(sandbox, claims_for(sandbox)),
                  hand_signed({"alg": "HS256", "typ": "JWT"}, claims_for(sandbox),
                              signing_key(sandbox), hashlib.sha256)):
        response = await client.get(ORDERS, headers=bearer(token))
        assert response.status_code == 200, response.text
        assert response.json()["user_id"] == 2
    token = signed(sandbox, claims_for(sandbox))
    lower = await client.get(ORDERS, headers={"Authorization": f"bearer {token}"})
    assert lower.status_code == 200  # the scheme is case-insensitive (RFC 7235)


async def test_a_correctly_signed_admin_token_reads_other_orders(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    token = signed(sandbox, claims_for(sandbox, sub="1", role="admin"))
    response = await client.get("/users/5/orders", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == 5


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
async def test_bad_token_is_401(sandbox: Sandbox, client: httpx.AsyncClient, attack: str) -> None:
    token = ATTACKS[attack](sandbox)
    response = await client.get(ORDERS, headers=bearer(token))
    message = assert_error(response, 401, "unauthorized")
    assert signing_key(sandbox).hex() not in response.text
    # The same token must not work where an admin is needed either.
    assert_error(await client.get("/users/5/orders", headers=bearer(token)), 401, "unauthorized")
    if attack == "not-yet-valid":
        assert "yet" in message.lower()


@pytest.mark.parametrize("exp_offset", [0, -1, -3600], ids=["exp-now", "exp-1s-ago", "exp-1h-ago"])
async def test_expired_token_is_401(
    sandbox: Sandbox, client: httpx.AsyncClient, exp_offset: int
) -> None:
    now = int(sandbox.ctx.now_s())
    issued = now + exp_offset - 900  # a normal 15-minute token, issued long enough ago
    token = signed(sandbox, claims_for(sandbox, iat=issued, nbf=issued, exp=now + exp_offset))
    message = assert_error(await client.get(ORDERS, headers=bearer(token)), 401, "unauthorized")
    assert "expired" in message.lower()


async def test_token_expires_as_simulated_time_passes(
    sandbox: Sandbox, client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    ttl_s = sandbox.settings.auth.token_ttl_s
    assert (await client.get(ORDERS, headers=grace)).status_code == 200
    sandbox.clock.advance((ttl_s - 5) * 1000.0)
    assert (await client.get(ORDERS, headers=grace)).status_code == 200
    sandbox.clock.advance(5 * 1000.0)
    message = assert_error(await client.get(ORDERS, headers=grace), 401, "unauthorized")
    assert "expired" in message.lower()


@pytest.mark.parametrize("change", [{"role": "admin"}, {"sub": "1"}, {"sub": "1", "role": "admin"},
                                    {"exp": 4_102_444_800}],
                         ids=["role-admin", "sub-1", "sub-1-role-admin", "exp-extended"])
async def test_tampered_payload_is_401(
    client: httpx.AsyncClient, grace: dict[str, str], change: dict[str, Any]
) -> None:
    header, payload, signature = grace["Authorization"].removeprefix("Bearer ").split(".")
    claims = json.loads(unb64url(payload))
    assert claims["sub"] == "2" and claims["role"] == "customer"
    forged = f"{header}.{b64url_json({**claims, **change})}.{signature}"
    assert_error(await client.get(ORDERS, headers=bearer(forged)), 401, "unauthorized")
    assert_error(await client.get("/users/5/orders", headers=bearer(forged)), 401, "unauthorized")
    # The genuine token, unchanged, still works: only the tampering was refused.
    assert (await client.get(ORDERS, headers=grace)).status_code == 200


async def test_another_tokens_signature_does_not_fit(
    client: httpx.AsyncClient, grace: dict[str, str], ada: dict[str, str]
) -> None:
    g_header, g_payload, _ = grace["Authorization"].removeprefix("Bearer ").split(".")
    *_, a_signature = ada["Authorization"].removeprefix("Bearer ").split(".")
    spliced = f"{g_header}.{g_payload}.{a_signature}"
    assert_error(await client.get(ORDERS, headers=bearer(spliced)), 401, "unauthorized")


@pytest.mark.parametrize("length", [4097, 10_000, 1_000_000])
async def test_oversized_token_is_refused_before_parsing(
    sandbox: Sandbox, client: httpx.AsyncClient, length: int
) -> None:
    real = signed(sandbox, claims_for(sandbox))
    head, payload, signature = real.split(".")
    padded = f"{head}.{payload}{'A' * (length - len(real))}.{signature}"
    assert len(padded) == length
    message = assert_error(await client.get(ORDERS, headers=bearer(padded)), 401, "unauthorized")
    assert "too large" in message  # refused by size, without being decoded at all
    # A correctly signed token that is too large only for its size is refused as well.
    big = signed(sandbox, claims_for(sandbox, pad="x" * length))
    message = assert_error(await client.get(ORDERS, headers=bearer(big)), 401, "unauthorized")
    assert "too large" in message


async def test_token_at_the_size_limit_is_decoded(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    real = signed(sandbox, claims_for(sandbox))
    head, payload, signature = real.split(".")
    at_limit = f"{head}.{payload}{'A' * (4096 - len(real))}.{signature}"
    assert len(at_limit) == 4096
    message = assert_error(await client.get(ORDERS, headers=bearer(at_limit)), 401, "unauthorized")
    assert "too large" not in message  # within the limit: refused for its bad payload


@pytest.mark.parametrize("template", [
    "Basic xyz",
    "Basic Z3JhY2VAc2hvcC50ZXN0OnNhbmRib3gxMjM=",  # grace@shop.test:sandbox123
    "Bearer",
    "Bearer    ",
    "Token abc",
    "Token {token}",
    "JWT {token}",
    "Bearer:{token}",
    "{token}",
], ids=["basic", "basic-real-password", "bearer-alone", "bearer-spaces", "token-scheme",
        "token-scheme-valid-token", "jwt-scheme-valid-token", "bearer-colon", "no-scheme"])
async def test_wrong_scheme_is_401(sandbox: Sandbox, client: httpx.AsyncClient, template: str) -> None:
    value = template.format(token=signed(sandbox, claims_for(sandbox)))
    response = await client.get(ORDERS, headers={"Authorization": value})
    assert_error(response, 401, "unauthorized")


async def test_injection_text_as_a_token_is_401(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    before = fingerprint(sandbox)
    for payload in SQLI:
        response = await client.get(ORDERS, headers=bearer(payload))
        assert_error(response, 401, "unauthorized")
    assert fingerprint(sandbox) == before


@pytest.mark.parametrize(("claim", "raw"), [("sub", '"' + "9" * 30 + '"'), ("sub", '"-' + "9" * 30 + '"'),
                                           ("exp", "1e400"), ("nbf", "-1e400")],
                         ids=["sub-beyond-any-id", "sub-below-any-id", "exp-beyond-any-time",
                              "nbf-before-any-time"])
async def test_correctly_signed_token_with_absurd_numbers_is_401(
    sandbox: Sandbox, client: httpx.AsyncClient, claim: str, raw: str
) -> None:
    """Numbers the server could never have issued are refused like any bad claim, not a 500."""
    text = json.dumps(claims_for(sandbox, **{claim: "RAW"})).replace('"RAW"', raw)
    signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT'})}.{b64url(text.encode())}"
    signature = hmac.new(signing_key(sandbox), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url(signature)}"
    response = await client.get(ORDERS, headers=bearer(token))
    assert_handled(response)
    assert_error(response, 401, "unauthorized")


# -- 2. 401 against 403 -----------------------------------------------------------------------


async def test_forbidden_is_403_and_anonymous_is_401(
    sandbox: Sandbox, client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    assert_error(await client.get("/users/5/orders", headers=grace), 403, "forbidden")
    assert_error(await client.get("/users/5/orders"), 401, "unauthorized")
    assert_error(await client.get(ORDERS), 401, "unauthorized")
    # Bad credentials are 401 even where good ones would be 403.
    assert_error(await client.get("/users/5/orders", headers=bearer("abc.def.ghi")),
                 401, "unauthorized")
    own = await client.get("/users/2/orders", headers=grace)
    assert own.status_code == 200 and own.json()["user_id"] == 2
    (order_id,) = sandbox.db.query("SELECT id FROM orders WHERE customer_id = 5 LIMIT 1")[0]
    assert_error(await client.get(f"/orders/{order_id}", headers=grace), 403, "forbidden")
    assert_error(await client.get(f"/orders/{order_id}"), 401, "unauthorized")


# -- 3. SQL injection -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["email", "password"])
async def test_login_fields_are_data(
    sandbox: Sandbox, client: httpx.AsyncClient, field: str
) -> None:
    before = fingerprint(sandbox)
    for payload in SQLI:
        body = {"email": "grace@shop.test", "password": "sandbox123", field: payload}
        response = await client.post("/auth/login", json=body)
        assert_error(response, 401, "unauthorized")
    assert fingerprint(sandbox) == before


async def test_register_email_is_data(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    before = fingerprint(sandbox)
    stored = 0
    for i, payload in enumerate(SQLI):
        # As the whole address: refused for its shape (422), nothing written.
        refused = await client.post("/auth/register", json={
            "email": payload, "name": "Mallory", "password": "long-enough-1"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"][0]["field"] == "email"
        # Inside a well-formed address: stored exactly as sent, as data.
        address = payload.replace(" ", "") + f"{i}@evil.test"
        if "@" in payload:
            continue
        response = await client.post("/auth/register", json={
            "email": address, "name": "Mallory", "password": "long-enough-1"})
        assert response.status_code == 201, response.text
        stored += 1
        row = sandbox.db.query("SELECT email, name, role FROM users WHERE id = ?",
                               (response.json()["id"],))
        assert row == [(address.strip().lower(), "Mallory", "customer")]
    after = fingerprint(sandbox)
    assert stored > 0
    assert_writes(before, after, stored, "users", "last_user")  # one new row each, no more
    assert after["users"][0] == before["users"][0] + stored


async def test_register_name_is_data(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    before = fingerprint(sandbox)
    for i, payload in enumerate(SQLI):
        response = await client.post("/auth/register", json={
            "email": f"mallory{i}@evil.test", "name": payload, "password": "long-enough-1"})
        assert response.status_code == 201, response.text
        assert response.json()["name"] == payload
        row = sandbox.db.query("SELECT name, role FROM users WHERE id = ?", (response.json()["id"],))
        assert row == [(payload, "customer")]
    after = fingerprint(sandbox)
    assert_writes(before, after, len(SQLI), "users", "last_user")
    assert after["users"][0] == before["users"][0] + len(SQLI)


async def test_register_password_is_data(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    before = fingerprint(sandbox)
    for i, payload in enumerate(SQLI):
        email = f"mallory{i}@evil.test"
        response = await client.post("/auth/register", json={
            "email": email, "name": "Mallory", "password": payload})
        assert response.status_code == 201, response.text
        ((stored,),) = sandbox.db.query("SELECT password_hash FROM users WHERE id = ?",
                                        (response.json()["id"],))
        assert payload not in stored and verify_password(payload, stored)
        login = await client.post("/auth/login", json={"email": email, "password": payload})
        assert login.status_code == 200 and login.json()["user_id"] == response.json()["id"]
    after = fingerprint(sandbox)
    assert_writes(before, after, len(SQLI), "users", "last_user")
    assert after["users"][0] == before["users"][0] + len(SQLI)


@pytest.mark.parametrize("paging", ["", "&after=0", "&offset=5"], ids=["first-page", "keyset", "offset"])
async def test_category_is_data(sandbox: Sandbox, client: httpx.AsyncClient, paging: str) -> None:
    real = await client.get(f"/products?category=books{paging}")
    assert real.status_code == 200 and real.json()["items"]  # the filter does find things
    assert all(p["category"] == "books" for p in real.json()["items"])
    before = fingerprint(sandbox)
    for payload in SQLI:
        response = await client.get(f"/products?category={quote(payload, safe='')}{paging}")
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "next_after": None}, payload
        assert "pbkdf2" not in response.text
    assert fingerprint(sandbox) == before


async def test_review_body_is_stored_verbatim(
    sandbox: Sandbox, client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    before = fingerprint(sandbox)
    ratings = 0
    for i, payload in enumerate(SQLI):
        rating = 1 + i % 5
        ratings += rating
        response = await client.post("/products/42/reviews", headers=grace,
                                     json={"rating": rating, "body": payload})
        assert response.status_code == 201, response.text
        assert response.json()["body"] == payload
        row = sandbox.db.query("SELECT product_id, user_id, rating, body FROM reviews WHERE id = ?",
                               (response.json()["id"],))
        assert row == [(42, 2, rating, payload)]
    listed = (await client.get(f"/products/42/reviews?limit={len(SQLI)}")).json()["items"]
    assert [r["body"] for r in listed] == list(reversed(SQLI))
    after = fingerprint(sandbox)
    # One review row and one product's rating totals per request.
    assert_writes(before, after, 2 * len(SQLI), "reviews", "last_review", "ratings")
    assert after["reviews"][0] == before["reviews"][0] + len(SQLI)
    assert after["ratings"] == (before["ratings"][0] + len(SQLI), before["ratings"][1] + ratings)


async def test_product_name_is_data(
    sandbox: Sandbox, client: httpx.AsyncClient, ada: dict[str, str]
) -> None:
    others = "SELECT group_concat(name || ':' || updated_at, '|') FROM products WHERE id != 7"
    others_before = sandbox.db.query(others)
    before = fingerprint(sandbox)
    for payload in SQLI:
        response = await client.patch("/products/7", headers=ada, json={"name": payload})
        assert response.status_code == 200, response.text
        assert response.json()["name"] == payload
        assert sandbox.db.query("SELECT name FROM products WHERE id = 7") == [(payload,)]
    assert_writes(before, fingerprint(sandbox), len(SQLI), "product_names")
    assert sandbox.db.query(others) == others_before


async def test_product_field_names_are_not_sql(
    sandbox: Sandbox, client: httpx.AsyncClient, ada: dict[str, str]
) -> None:
    """The update builds its SET clause from field names, so names must be known ones."""
    before = fingerprint(sandbox)
    for name in ("price_cents = 1, stock", "stock = 0 --", "name = 'x' WHERE 1=1; --"):
        response = await client.patch("/products/7", headers=ada, json={name: 1})
        error = assert_validation_error(response)
        assert {"field": name, "message": "is not a known field"} in error["details"]
    assert fingerprint(sandbox) == before


@pytest.mark.parametrize("template", ["/products/{}", "/products/{}/reviews", "/orders/{}",
                                      "/users/{}/orders"])
async def test_path_segments_are_not_sql(
    sandbox: Sandbox, client: httpx.AsyncClient, grace: dict[str, str], template: str
) -> None:
    before = fingerprint(sandbox)
    for payload in ["1 OR 1=1", *(f"1{p}" for p in SQLI)]:
        path = template.format(quote(payload, safe=""))
        for method in ("GET", "POST", "PATCH"):
            response = await client.request(method, path, headers=grace, json={"rating": 5, "body": "x"})
            assert_error(response, 404, "not_found")
    assert fingerprint(sandbox) == before


async def test_api_key_header_is_data(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    sandbox.apply(sandbox.settings.replace({"auth.mode": "api_key"}))
    real = await client.get(ORDERS, headers={"X-API-Key": "sk_test_partner"})
    assert real.status_code == 200 and real.json()["user_id"] == 2
    before = fingerprint(sandbox)
    for payload in SQLI:
        key = {"X-API-Key": payload}
        assert_error(await client.get(ORDERS, headers=key), 401, "unauthorized")
        assert_error(await client.get("/users/2/orders", headers=key), 401, "unauthorized")
        review = await client.post("/products/42/reviews", headers=key, json={"rating": 5, "body": "x"})
        assert_error(review, 401, "unauthorized")
    assert fingerprint(sandbox) == before


async def test_user_id_header_is_data(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    sandbox.apply(sandbox.settings.replace({"auth.mode": "off"}))
    real = await client.get(ORDERS, headers={"X-User-Id": "5"})
    assert real.status_code == 200 and real.json()["user_id"] == 5
    before = fingerprint(sandbox)
    for payload in SQLI:
        who = {"X-User-Id": payload}
        assert_error(await client.get(ORDERS, headers=who), 401, "unauthorized")
        review = await client.post("/products/42/reviews", headers=who, json={"rating": 5, "body": "x"})
        assert_error(review, 401, "unauthorized")
    assert fingerprint(sandbox) == before


@pytest.mark.parametrize("user_id", ["9" * 30, "-" + "9" * 30, "1e400"])
async def test_user_id_header_out_of_range_is_not_a_500(
    sandbox: Sandbox, client: httpx.AsyncClient, user_id: str
) -> None:
    sandbox.apply(sandbox.settings.replace({"auth.mode": "off"}))
    response = await client.get(ORDERS, headers={"X-User-Id": user_id})
    assert_handled(response)
    assert_error(response, 401, "unauthorized")


# -- 4. login does not reveal which e-mails exist ---------------------------------------------


async def test_login_does_not_reveal_which_emails_exist(client: httpx.AsyncClient) -> None:
    attempts = [
        {"email": "grace@shop.test", "password": "wrong-password"},
        {"email": "GRACE@shop.test", "password": "wrong-password"},
        {"email": "nobody@shop.test", "password": "wrong-password"},
        {"email": "nobody@shop.test", "password": "sandbox123"},
    ]
    answers = []
    hashing = []
    for body in attempts:
        response = await client.post("/auth/login", json=body)
        message = assert_error(response, 401, "unauthorized")
        answers.append((response.status_code, message, response.headers.get("www-authenticate")))
        (span,) = [s for _, s in response.extensions["sandbox.trace"].spans()
                   if s.name == "auth.verify_password"]
        hashing.append((span.attrs["auth.hash_iterations"], round(span.duration_ms, 6)))
    assert len(set(answers)) == 1, answers
    assert "e-mail or password" in answers[0][1]
    # The same hashing work either way, so timing does not tell them apart either.
    assert len(set(hashing)) == 1, hashing
    assert hashing[0][0] > 0
    good = await client.post("/auth/login", json={"email": "grace@shop.test", "password": "sandbox123"})
    assert good.status_code == 200
