"""The shop's HTTP surface through the simulated network: statuses, the envelope, the rules."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sandbox.runtime import Sandbox


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error body: code, message, request id; nothing internal."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    text = response.text
    for leak in ("Traceback", "File \"", "sqlite3", ".py", "Exception"):
        assert leak not in text
    return error


async def test_product_read(client: httpx.AsyncClient) -> None:
    response = await client.get("/products/1")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == 1 and body["sku"] == "SKU-00001"
    assert body["rating"]["count"] > 0 and 1 <= body["rating"]["average"] <= 5


async def test_unknown_route_is_404_envelope(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/nope"), 404, "not_found")


async def test_missing_product_is_404(client: httpx.AsyncClient) -> None:
    error = assert_envelope(await client.get("/products/999999"), 404, "not_found")
    assert "999999" in error["message"]


async def test_huge_id_is_404_not_500(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/products/" + "9" * 40), 404, "not_found")


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/products/1")
    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, PATCH"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=b"{not json",
                                 headers={"content-type": "application/json"})
    assert_envelope(response, 400, "bad_request")


async def test_empty_body_is_400(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.post("/auth/login"), 400, "bad_request")


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = json.dumps({"email": "a@b.c", "password": "x" * 70_000})
    response = await client.post("/auth/login", content=body,
                                 headers={"content-type": "application/json"})
    assert_envelope(response, 413, "payload_too_large")


async def test_invalid_fields_are_422_with_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/register",
                                 json={"email": 5, "password": "short", "extra": True})
    error = assert_envelope(response, 422, "validation_failed")
    fields = {d["field"]: d["message"] for d in error["details"]}
    assert fields["email"] == "must be a string"
    assert fields["name"] == "is required"
    assert "at least 8" in fields["password"]
    assert fields["extra"] == "is not a known field"


async def test_invalid_order_items_name_their_index(
    client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    response = await client.post("/orders", headers=grace, json={
        "items": [{"product_id": 1, "quantity": 1}, {"product_id": "x", "quantity": 0}]
    })
    error = assert_envelope(response, 422, "validation_failed")
    assert {d["field"] for d in error["details"]} == {"items[1].product_id", "items[1].quantity"}


async def test_bad_query_parameter_is_422(client: httpx.AsyncClient) -> None:
    error = assert_envelope(await client.get("/products?limit=1000"), 422, "validation_failed")
    assert error["details"][0]["field"] == "query.limit"


async def test_wrong_password_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login",
                                 json={"email": "grace@shop.test", "password": "nope-nope"})
    assert_envelope(response, 401, "unauthorized")


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/users/me/orders"), 401, "unauthorized")


async def test_garbage_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/me/orders", headers={"Authorization": "Bearer abc.def"})
    assert_envelope(response, 401, "unauthorized")


async def test_other_users_orders_are_403(
    client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    assert_envelope(await client.get("/users/5/orders", headers=grace), 403, "forbidden")


async def test_admin_may_read_any_orders(client: httpx.AsyncClient, ada: dict[str, str]) -> None:
    response = await client.get("/users/5/orders", headers=ada)
    assert response.status_code == 200
    assert all(o["customer_id"] == 5 for o in response.json()["orders"])


async def test_customer_may_not_change_products(
    client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    response = await client.patch("/products/1", headers=grace, json={"price_cents": 1})
    assert_envelope(response, 403, "forbidden")
    assert (await client.get("/products/1")).json()["price_cents"] != 1


async def test_admin_changes_a_product(client: httpx.AsyncClient, ada: dict[str, str]) -> None:
    response = await client.patch("/products/1", headers=ada, json={"price_cents": 999})
    assert response.status_code == 200
    assert (await client.get("/products/1")).json()["price_cents"] == 999


async def test_register_then_login_then_duplicate_is_409(client: httpx.AsyncClient) -> None:
    new = {"email": "Newcomer@Shop.test", "name": "New Comer", "password": "long-enough-1"}
    created = await client.post("/auth/register", json=new)
    assert created.status_code == 201
    assert created.json()["email"] == "newcomer@shop.test"
    login = await client.post("/auth/login",
                              json={"email": "newcomer@shop.test", "password": "long-enough-1"})
    assert login.status_code == 200
    assert_envelope(await client.post("/auth/register", json=new), 409, "conflict")


async def test_order_takes_stock_and_shows_in_history(
    client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    before = (await client.get("/products/3")).json()["stock"]
    placed = await client.post("/orders", headers=grace,
                               json={"items": [{"product_id": 3, "quantity": 2}]})
    assert placed.status_code == 201
    order = placed.json()
    assert order["customer_id"] == 2 and order["items"][0]["quantity"] == 2
    assert (await client.get("/products/3")).json()["stock"] == before - 2
    history = (await client.get("/users/me/orders?limit=1", headers=grace)).json()
    assert history["orders"][0]["id"] == order["id"]
    fetched = await client.get(f"/orders/{order['id']}", headers=grace)
    assert fetched.json()["items"] == order["items"]


async def test_out_of_stock_is_409_and_changes_nothing(
    client: httpx.AsyncClient, grace: dict[str, str], ada: dict[str, str]
) -> None:
    assert (await client.patch("/products/4", headers=ada, json={"stock": 3})).status_code == 200
    stock = 3
    five_before = (await client.get("/products/5")).json()["stock"]
    response = await client.post("/orders", headers=grace, json={
        "items": [{"product_id": 5, "quantity": 1}, {"product_id": 4, "quantity": stock + 1}]
    })
    assert_envelope(response, 409, "conflict")
    assert (await client.get("/products/4")).json()["stock"] == stock
    five = (await client.get("/products/5")).json()["stock"]
    assert five == five_before  # the whole order rolled back, not just the failing line
    again = await client.post("/orders", headers=grace,
                              json={"items": [{"product_id": 5, "quantity": 1}]})
    assert again.status_code == 201
    assert (await client.get("/products/5")).json()["stock"] == five - 1


async def test_review_updates_the_rating(client: httpx.AsyncClient, grace: dict[str, str]) -> None:
    before = (await client.get("/products/42")).json()["rating"]
    response = await client.post("/products/42/reviews", headers=grace,
                                 json={"rating": 5, "body": "Lovely."})
    assert response.status_code == 201
    after = (await client.get("/products/42")).json()["rating"]
    assert after["count"] == before["count"] + 1
    newest = (await client.get("/products/42/reviews?limit=1")).json()["items"][0]
    assert newest["id"] == response.json()["id"]


async def test_keyset_and_offset_pages_agree(client: httpx.AsyncClient) -> None:
    first = (await client.get("/products?limit=5")).json()
    second_by_key = (await client.get(f"/products?limit=5&after={first['next_after']}")).json()
    second_by_offset = (await client.get("/products?limit=5&offset=5")).json()
    assert [p["id"] for p in second_by_key["items"]] == [p["id"] for p in
                                                         second_by_offset["items"]]


async def test_database_down_is_503(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    sandbox.db.available = False
    assert_envelope(await client.get("/products/1"), 503, "service_unavailable")


async def test_unexpected_failure_is_500_envelope_and_logged(
    sandbox: Sandbox, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("secret internal detail /srv/app.py")

    monkeypatch.setattr(sandbox.ctx.repos.products, "by_id", explode)
    response = await client.get("/products/1")
    assert_envelope(response, 500, "internal_error")
    assert "secret" not in response.text
    logged = sandbox.ctx.log[-1]
    assert logged["request_id"] == response.headers["x-request-id"]
    assert "secret internal detail" in str(logged["exception"])


async def test_auth_off_trusts_the_user_header(sandbox: Sandbox,
                                               client: httpx.AsyncClient) -> None:
    sandbox.apply(sandbox.settings.replace({"auth.mode": "off"}))
    response = await client.get("/users/me/orders", headers={"X-User-Id": "7"})
    assert response.status_code == 200 and response.json()["user_id"] == 7


async def test_api_key_mode(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    sandbox.apply(sandbox.settings.replace({"auth.mode": "api_key"}))
    ok = await client.get("/users/me/orders", headers={"X-API-Key": "sk_test_partner"})
    assert ok.status_code == 200 and ok.json()["user_id"] == 2
    assert_envelope(await client.get("/users/me/orders", headers={"X-API-Key": "sk_wrong"}),
                    401, "unauthorized")


async def test_unknown_host_fails_like_dns(sandbox: Sandbox) -> None:
    async with sandbox.client() as c:
        with pytest.raises(httpx.ConnectError, match="no such host"):
            await c.get("http://elsewhere.example/products/1")


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@shop.test", "sp ace@shop.test",
                                   "@shop.test"])
async def test_register_checks_the_email_shape(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/auth/register",
                                 json={"email": email, "name": "X", "password": "long-enough-1"})
    error = assert_envelope(response, 422, "validation_failed")
    assert error["details"] == [{"field": "email", "message": "must be an e-mail address"}]


async def test_an_idempotency_key_makes_a_retried_order_happen_once(
    sandbox: Sandbox, client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    stock = (await client.get("/products/6")).json()["stock"]
    body = {"items": [{"product_id": 6, "quantity": 1}]}
    keyed = {**grace, "Idempotency-Key": "order-abc-1"}
    first = await client.post("/orders", headers=keyed, json=body)
    retry = await client.post("/orders", headers=keyed, json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"] and retry.json()["replayed"] is True
    assert "replayed" not in first.json()
    assert (await client.get("/products/6")).json()["stock"] == stock - 1  # taken once
    other = await client.post("/orders", headers=keyed,
                              json={"items": [{"product_id": 7, "quantity": 1}]})
    error = assert_envelope(other, 422, "validation_failed")
    assert error["details"][0]["field"] == "Idempotency-Key"


async def test_without_a_key_a_retry_is_a_second_order(
    client: httpx.AsyncClient, grace: dict[str, str]
) -> None:
    body = {"items": [{"product_id": 6, "quantity": 1}]}
    first = await client.post("/orders", headers=grace, json=body)
    retry = await client.post("/orders", headers=grace, json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] != first.json()["id"]  # the duplicate a flaky network causes


async def test_keys_belong_to_their_user(client: httpx.AsyncClient, grace: dict[str, str],
                                         ada: dict[str, str]) -> None:
    body = {"items": [{"product_id": 8, "quantity": 1}]}
    a = await client.post("/orders", headers={**grace, "Idempotency-Key": "k"}, json=body)
    b = await client.post("/orders", headers={**ada, "Idempotency-Key": "k"}, json=body)
    assert a.json()["id"] != b.json()["id"] and "replayed" not in b.json()
