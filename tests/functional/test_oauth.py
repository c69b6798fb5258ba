"""OAuth2 client credentials (issue #17, item 5): the token endpoint, scopes, and attacks on
both. In process, through the whole traced pipeline; over a real socket in test_serve_oauth.py."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import jwt
import pytest

from sandbox.backend.demo import DEMO_CLIENTS
from sandbox.mechanisms.auth import AUDIENCE, ISSUER
from sandbox.runtime import Sandbox
from sandbox.settings import Settings

PARTNER, WATCHER = "partner-shop", "price-watcher"
FORM = {"grant_type": "client_credentials"}
ORDER = {"items": [{"product_id": 3, "quantity": 1}]}


def secret(client_id: str) -> str:
    return DEMO_CLIENTS[client_id][0]


async def token_for(client: httpx.AsyncClient, client_id: str, scope: str | None = None) -> str:
    form = {**FORM, **({"scope": scope} if scope is not None else {})}
    response = await client.post("/oauth/token", data=form, auth=(client_id, secret(client_id)))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def oauth_error(response: httpx.Response, status: int, code: str) -> str:
    """RFC 6749 5.2's shape: `error` a code, `error_description` text; never cached."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and isinstance(body["error_description"], str)
    assert set(body) <= {"error", "error_description", "request_id"}
    assert response.headers["cache-control"] == "no-store"
    return str(body["error_description"])


def envelope_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


# -- the grant --------------------------------------------------------------------------------

async def test_basic_and_form_credentials_both_get_a_scoped_client_token(
    sandbox: Sandbox, client: httpx.AsyncClient,
) -> None:
    by_basic = await client.post("/oauth/token", data=FORM, auth=(PARTNER, secret(PARTNER)))
    by_form = await client.post("/oauth/token", data={
        **FORM, "client_id": PARTNER, "client_secret": secret(PARTNER), "scope": "orders:write"})
    for response in (by_basic, by_form):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["token_type"] == "Bearer"
        assert response.json()["expires_in"] == sandbox.settings.auth.token_ttl_s
    assert by_basic.json()["scope"] == "orders:read orders:write products:read"  # all it has
    assert by_form.json()["scope"] == "orders:write"  # what it asked for
    claims = jwt.decode(by_form.json()["access_token"], sandbox.ctx.tokens.secret,
                        algorithms=["HS256"], audience=AUDIENCE, options={"verify_exp": False})
    assert claims["client_id"] == PARTNER and claims["sub"] == f"client:{PARTNER}"
    assert claims["scope"] == "orders:write" and "role" not in claims
    assert claims["exp"] - claims["iat"] == sandbox.settings.auth.token_ttl_s
    trace = by_basic.extensions["sandbox.trace"]
    names = {span.name for _, span in trace.spans()}
    assert {"lb", "gateway", "controller.oauth_token", "service.oauth.token"} <= names


async def test_basic_credentials_are_form_encoded_before_base64(
    client: httpx.AsyncClient,
) -> None:
    """RFC 6749 2.3.1: id and secret are form-encoded, then joined by ':' and base64-encoded."""
    raw = base64.b64encode(f"{PARTNER}:{secret(PARTNER).replace('-', '%2D')}".encode()).decode()
    response = await client.post("/oauth/token", data=FORM,
                                 headers={"Authorization": f"Basic {raw}"})
    assert response.status_code == 200, response.text


async def test_a_client_token_opens_exactly_the_routes_its_scopes_name(
    client: httpx.AsyncClient,
) -> None:
    writer = bearer(await token_for(client, PARTNER, "orders:write"))
    placed = await client.post("/orders", json=ORDER, headers=writer)
    assert placed.status_code == 201 and placed.json()["customer_id"] == DEMO_CLIENTS[PARTNER][2]
    read = await client.get(f"/orders/{placed.json()['id']}", headers=writer)
    assert envelope_code(read, 403) == "insufficient_scope"
    assert read.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="orders:read"')
    message = read.json()["error"]["message"]
    assert "orders:read" in message and "orders:write" in message  # needed, and carried
    assert envelope_code(await client.get("/products/3", headers=writer), 403) == (
        "insufficient_scope")
    assert (await client.get("/products/3")).status_code == 200  # still public without one
    reader = bearer(await token_for(client, PARTNER, "orders:read products:read"))
    assert (await client.get(f"/orders/{placed.json()['id']}", headers=reader)).status_code == 200
    assert (await client.get("/products/3", headers=reader)).status_code == 200
    assert (await client.get("/products?limit=2", headers=reader)).status_code == 200
    assert (await client.get("/products/3/reviews", headers=reader)).status_code == 200
    mine = await client.get("/partner/orders", headers=reader)
    assert mine.status_code == 200 and mine.json()["user_id"] == DEMO_CLIENTS[PARTNER][2]


async def test_the_price_watcher_may_read_but_not_order(client: httpx.AsyncClient) -> None:
    watcher = bearer(await token_for(client, WATCHER))
    assert (await client.get("/products/3", headers=watcher)).status_code == 200
    refused = await client.post("/orders", json=ORDER, headers=watcher)
    assert envelope_code(refused, 403) == "insufficient_scope"
    assert "'orders:write'" in refused.json()["error"]["message"]


# -- token endpoint errors (RFC 6749 5.2) ----------------------------------------------------

@pytest.mark.parametrize(("form", "auth", "status", "code"), [
    ({**FORM}, (PARTNER, "wrong-secret"), 401, "invalid_client"),
    ({**FORM}, ("no-such-client", "whatever"), 401, "invalid_client"),
    ({**FORM}, (PARTNER, ""), 401, "invalid_client"),
    ({**FORM, "client_id": PARTNER}, None, 401, "invalid_client"),  # no secret at all
    ({**FORM}, None, 401, "invalid_client"),
    ({**FORM, "client_id": "PARTNER-SHOP", "client_secret": secret(PARTNER)}, None, 401,
     "invalid_client"),  # ids are exact
    ({"grant_type": "password", "username": "ada@shop.test", "password": "sandbox123"},
     (PARTNER, secret(PARTNER)), 400, "unsupported_grant_type"),
    ({"grant_type": "authorization_code", "code": "x"}, (PARTNER, secret(PARTNER)), 400,
     "unsupported_grant_type"),
    ({}, (PARTNER, secret(PARTNER)), 400, "invalid_request"),
    ({**FORM, "client_id": PARTNER, "client_secret": secret(PARTNER)},
     (PARTNER, secret(PARTNER)), 400, "invalid_request"),  # two ways at once
    ({**FORM, "scope": "admin"}, (PARTNER, secret(PARTNER)), 400, "invalid_scope"),
    ({**FORM, "scope": "products:write"}, (PARTNER, secret(PARTNER)), 400, "invalid_scope"),
    # Escalation: a client asks for a scope it was never given.
    ({**FORM, "scope": "products:read orders:write"}, (WATCHER, secret(WATCHER)), 400,
     "invalid_scope"),
    ({**FORM, "scope": " "}, (PARTNER, secret(PARTNER)), 400, "invalid_scope"),
])
async def test_token_endpoint_errors_have_the_rfc_shape(
    client: httpx.AsyncClient, form: dict[str, str], auth: tuple[str, str] | None, status: int,
    code: str,
) -> None:
    response = await client.post("/oauth/token", data=form, auth=auth)
    oauth_error(response, status, code)
    if code == "invalid_client" and auth is not None:
        assert response.headers["www-authenticate"] == 'Basic realm="shop"'


async def test_an_unknown_client_and_a_wrong_secret_are_one_answer_at_one_cost(
    client: httpx.AsyncClient,
) -> None:
    answers, costs = set(), set()
    for auth in ((PARTNER, "wrong-secret"), ("no-such-client", "wrong-secret")):
        response = await client.post("/oauth/token", data=FORM, auth=auth)
        answers.add(oauth_error(response, 401, "invalid_client"))
        (span,) = [s for _, s in response.extensions["sandbox.trace"].spans()
                   if s.name == "auth.verify_secret"]
        costs.add(round(span.duration_ms, 6))
    assert len(answers) == 1 and len(costs) == 1


@pytest.mark.parametrize(("headers", "body"), [
    ({"Content-Type": "application/json"}, b'{"grant_type": "client_credentials"}'),
    ({}, b"grant_type=client_credentials"),  # no content type
    ({"Content-Type": "application/x-www-form-urlencoded"},
     b"grant_type=client_credentials&grant_type=client_credentials"),  # sent twice
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"grant_type=\xff\xfe"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=" + b"x" * 5000),
    ({"Content-Type": "application/x-www-form-urlencoded",
      "Authorization": "Basic %%%notbase64"}, b"grant_type=client_credentials"),
    ({"Content-Type": "application/x-www-form-urlencoded",
      "Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
     b"grant_type=client_credentials"),
    ({"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Bearer abc"},
     b"grant_type=client_credentials"),
])
async def test_malformed_token_requests_are_refused_cleanly(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes,
) -> None:
    response = await client.post("/oauth/token", content=body, headers=headers)
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_request", "invalid_client")


# -- attacks with tokens ---------------------------------------------------------------------

def client_claims(sandbox: Sandbox, **changes: Any) -> dict[str, Any]:
    now = int(sandbox.ctx.now_s())
    claims: dict[str, Any] = {"sub": f"client:{WATCHER}", "client_id": WATCHER, "account": "3",
                              "scope": "products:read", "iss": ISSUER, "aud": AUDIENCE,
                              "iat": now, "nbf": now, "exp": now + 900}
    claims.update(changes)
    return claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def edited(token: str, **changes: Any) -> str:
    """The token with claims changed and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return ".".join([header, b64url(json.dumps(claims).encode()), signature])


async def test_a_token_with_its_scopes_edited_is_401(
    sandbox: Sandbox, client: httpx.AsyncClient,
) -> None:
    token = await token_for(client, WATCHER)
    forged = edited(token, scope="products:read orders:write")
    assert envelope_code(await client.post("/orders", json=ORDER, headers=bearer(forged)),
                         401) == "unauthorized"


@pytest.mark.parametrize("attack", [
    "alg-none", "wrong-key", "unknown-scope", "sub-mismatch", "scope-list", "client-with-role",
    "account-admin-id-text", "bad-client-id",
])
async def test_forged_client_tokens_are_401(
    sandbox: Sandbox, client: httpx.AsyncClient, attack: str,
) -> None:
    wide = {"scope": "products:read orders:write"}
    key = sandbox.ctx.tokens.secret
    tokens = {
        "alg-none": lambda: ".".join([b64url(b'{"alg":"none","typ":"JWT"}'), b64url(
            json.dumps(client_claims(sandbox, **wide)).encode()), ""]),
        "wrong-key": lambda: jwt.encode(client_claims(sandbox, **wide),
                                        hashlib.sha256(b"guess").digest(), algorithm="HS256"),
        "unknown-scope": lambda: jwt.encode(client_claims(sandbox, scope="orders:write admin"),
                                            key, algorithm="HS256"),
        "sub-mismatch": lambda: jwt.encode(client_claims(sandbox, sub="client:partner-shop", **wide),
                                           key, algorithm="HS256"),
        "scope-list": lambda: jwt.encode(client_claims(sandbox, scope=["orders:write"]), key,
                                         algorithm="HS256"),
        "client-with-role": lambda: jwt.encode(client_claims(sandbox, role="admin", **wide), key,
                                               algorithm="HS256"),
        "account-admin-id-text": lambda: jwt.encode(client_claims(sandbox, account="0x1", **wide),
                                                    key, algorithm="HS256"),
        "bad-client-id": lambda: jwt.encode(client_claims(sandbox, client_id="../x",
                                                          sub="client:../x", **wide),
                                            key, algorithm="HS256"),
    }
    response = await client.post("/orders", json=ORDER, headers=bearer(tokens[attack]()))
    assert envelope_code(response, 401) == "unauthorized"


async def test_a_user_token_is_not_a_client_token(client: httpx.AsyncClient,
                                                  grace: dict[str, str]) -> None:
    """A user's token carries no scopes: it cannot open a partner-only route."""
    refused = await client.get("/partner/orders", headers=grace)
    assert envelope_code(refused, 403) == "forbidden"
    assert "orders:read" in refused.json()["error"]["message"]
    assert (await client.post("/orders", json=ORDER, headers=grace)).status_code == 201


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/users/me/orders", None),
    ("GET", "/users/2/orders", None),
    ("POST", "/products/3/reviews", {"rating": 5, "body": "great"}),
    ("PATCH", "/products/3", {"stock": 0}),
    ("POST", "/oauth/clients/price-watcher/revoke", None),
])
async def test_a_client_token_cannot_act_as_a_person(
    client: httpx.AsyncClient, method: str, path: str, body: Any,
) -> None:
    partner = bearer(await token_for(client, PARTNER))
    response = await client.request(method, path, json=body, headers=partner)
    assert response.status_code == 403, response.text
    assert response.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')


async def test_only_an_admin_revokes_and_a_revoked_client_gets_no_token(
    client: httpx.AsyncClient, grace: dict[str, str], ada: dict[str, str],
) -> None:
    path = f"/oauth/clients/{WATCHER}/revoke"
    assert envelope_code(await client.post(path), 401) == "unauthorized"
    assert envelope_code(await client.post(path, headers=grace), 403) == "forbidden"
    assert envelope_code(await client.post("/oauth/clients/nobody/revoke", headers=ada),
                         404) == "not_found"
    done = await client.post(path, headers=ada)
    assert done.status_code == 200 and done.json()["revoked"] is True
    refused = await client.post("/oauth/token", data=FORM, auth=(WATCHER, secret(WATCHER)))
    assert "revoked" in oauth_error(refused, 401, "invalid_client")


@pytest.mark.parametrize("check", [False, True])
async def test_a_revoked_clients_token_lives_on_unless_the_gateway_checks(check: bool) -> None:
    """The mechanism itself: with the check off the held token keeps working after the
    revocation; with it on, the very next request is refused at the gateway."""
    sandbox = Sandbox(Settings().replace({"auth.revocation_check": check}))
    try:
        async with sandbox.client() as client:
            held = bearer(await token_for(client, WATCHER))
            ada = await client.post("/auth/login", json={"email": "ada@shop.test",
                                                          "password": "sandbox123"})
            admin = bearer(ada.json()["access_token"])
            sandbox.clock.advance(1500.0)
            before = await client.get("/products/3", headers=held)
            assert before.status_code == 200
            gateway = next(s for _, s in before.extensions["sandbox.trace"].spans()
                           if s.name == "gateway")
            assert gateway.attrs.get("auth.revocation_checked", False) is check
            await client.post(f"/oauth/clients/{WATCHER}/revoke", headers=admin)
            sandbox.clock.advance(1500.0)
            after = await client.get("/products/3", headers=held)
            if check:
                assert envelope_code(after, 401) == "unauthorized"
                assert after.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            else:
                assert after.status_code == 200
            # Tokens of other clients are untouched either way.
            other = bearer(await token_for(client, PARTNER))
            assert (await client.get("/products/3", headers=other)).status_code == 200
    finally:
        sandbox.close()


# -- the login limit ---------------------------------------------------------------------------

LIMITED = {"auth.login_limit": "per_ip", "auth.login_limit_max": 2}


async def attempts(sandbox: Sandbox, peer: str, email: str, n: int,
                   forwarded: str | None = None, password: str = "wrong") -> list[int]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    async with sandbox.client(peer) as client:
        return [(await client.post("/auth/login", json={"email": email, "password": password},
                                   headers=headers)).status_code for _ in range(n)]


@pytest.mark.parametrize("per", ["per_ip", "per_account"])
async def test_a_made_up_forwarded_for_does_not_escape_the_login_limit(per: str) -> None:
    sandbox = Sandbox(Settings().replace({**LIMITED, "auth.login_limit": per}))
    try:
        statuses = []
        for i in range(4):  # a new "address" in the header each time, same e-mail
            statuses += await attempts(sandbox, "client-66", "grace@shop.test", 1,
                                       forwarded=f"10.0.0.{i}")
        assert statuses == [401, 401, 429, 429]
        refused = await attempts(sandbox, "client-66", "grace@shop.test", 1,
                                 password="sandbox123")
        assert refused == [429]  # even the right password: the check comes before the hash
    finally:
        sandbox.close()


async def test_behind_a_trusted_proxy_each_client_has_its_own_login_allowance() -> None:
    sandbox = Sandbox(Settings().replace(LIMITED))
    sandbox.network.gateway.trusted_proxies = frozenset({"client-proxy"})
    try:
        one = await attempts(sandbox, "client-proxy", "grace@shop.test", 3, forwarded="10.0.0.1")
        two = await attempts(sandbox, "client-proxy", "grace@shop.test", 3, forwarded="10.0.0.2")
        assert one == two == [401, 401, 429]
        limited = await attempts(sandbox, "client-proxy", "grace@shop.test", 1,
                                 forwarded="10.0.0.1")
        assert limited == [429]
    finally:
        sandbox.close()


async def test_a_limited_login_says_when_to_retry(sandbox: Sandbox) -> None:
    sandbox.apply(sandbox.settings.replace({**LIMITED, "auth.login_limit": "per_account"}))
    async with sandbox.client() as client:
        for _ in range(2):
            await client.post("/auth/login", json={"email": "ada@shop.test", "password": "x"})
        refused = await client.post("/auth/login", json={"email": "ADA@shop.test ",
                                                         "password": "x"})
    assert envelope_code(refused, 429) == "too_many_requests"
    assert "this account" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1


async def test_two_authorization_headers_are_one_too_many(client: httpx.AsyncClient) -> None:
    basic = "Basic " + base64.b64encode(f"{PARTNER}:{secret(PARTNER)}".encode()).decode()
    response = await client.post(
        "/oauth/token", content=b"grant_type=client_credentials",
        headers=[("Content-Type", "application/x-www-form-urlencoded"),
                 ("Authorization", basic), ("Authorization", "Basic Zm9vOmJhcg==")])
    oauth_error(response, 400, "invalid_request")
