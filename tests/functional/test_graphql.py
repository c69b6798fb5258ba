"""POST /graphql: queries over the shop's services, its guards against abusive documents, and
the two experiments (bytes for one screen, database queries for a nested list)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from sandbox.backend import graphql_api
from sandbox.backend.openapi import openapi_document
from sandbox.runtime import Sandbox
from sandbox.scenarios.graphql_screens import NESTED_QUERY, acompare, graphql_request
from sandbox.scenarios.runner import run_scenario
from sandbox.settings import Settings

from test_serve import free_port, start_server  # isort: skip

GRACE = {"email": "grace@shop.test", "password": "sandbox123"}


async def ask(client: httpx.AsyncClient, query: str,
              variables: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, "variables": variables})


async def test_a_product_a_page_and_my_orders_through_the_same_services(
    client: httpx.AsyncClient,
) -> None:
    one = (await ask(client, "{ product(id: 3) { id sku name price_cents category "
                             "rating { count average } reviews(limit: 2) { rating body } } }"))
    rest = (await client.get("/products/3")).json()
    product = one.json()["data"]["product"]
    assert one.status_code == 200 and "errors" not in one.json()
    assert {k: product[k] for k in ("sku", "name", "price_cents", "rating")} == {
        k: rest[k] for k in ("sku", "name", "price_cents", "rating")}
    assert len(product["reviews"]) == 2
    page = (await ask(client, '{ products(category: "books", limit: 5, offset: 5) { id } }'))
    rest_page = (await client.get("/products?category=books&limit=5&offset=5")).json()
    assert [p["id"] for p in page.json()["data"]["products"]] == [
        p["id"] for p in rest_page["items"]]
    assert (await ask(client, "{ product(id: 999999) { name } }")).json() == {
        "data": {"product": None}}  # GraphQL says "none" with null, not an error

    token = (await client.post("/auth/login", json=GRACE)).json()["access_token"]
    mine = await client.post("/graphql", headers={"Authorization": f"Bearer {token}"}, json={
        "query": "{ me { id orders(limit: 2) { id items { quantity product { name } } } } }"})
    me = mine.json()["data"]["me"]
    rest_orders = (await client.get("/users/me/orders?limit=2",
                                    headers={"Authorization": f"Bearer {token}"})).json()
    assert me["id"] == 2 and [o["id"] for o in me["orders"]] == [
        o["id"] for o in rest_orders["orders"]]
    assert all(item["product"]["name"] for o in me["orders"] for item in o["items"])


async def test_me_without_a_token_is_a_graphql_error_not_data(client: httpx.AsyncClient) -> None:
    answer = (await ask(client, "{ me { id orders { id } } }")).json()
    assert answer["data"] == {"me": None}
    [error] = answer["errors"]
    assert error["path"] == ["me"] and error["locations"] == [{"line": 1, "column": 3}]
    assert error["extensions"]["code"] == "unauthorized"
    forged = await client.post("/graphql", json={"query": "{ me { id } }"},
                               headers={"Authorization": "Bearer not.a.token"})
    assert forged.json()["data"] == {"me": None}
    assert forged.json()["errors"][0]["extensions"]["code"] == "unauthorized"


async def test_place_order_keeps_the_idempotency_rule(client: httpx.AsyncClient) -> None:
    token = (await client.post("/auth/login", json=GRACE)).json()["access_token"]
    mutation = ('mutation { place_order(items: [{product_id: 5, quantity: 1}], '
                'idempotency_key: "gql-1") { id total_cents replayed } }')
    auth = {"Authorization": f"Bearer {token}"}
    first = (await client.post("/graphql", json={"query": mutation}, headers=auth)).json()
    again = (await client.post("/graphql", json={"query": mutation}, headers=auth)).json()
    assert first["data"]["place_order"]["replayed"] is False
    assert again["data"]["place_order"] == {**first["data"]["place_order"], "replayed": True}
    anonymous = (await ask(client, mutation)).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "unauthorized"
    too_many = mutation.replace("quantity: 1", "quantity: 1000")
    refused = (await client.post("/graphql", json={"query": too_many}, headers=auth)).json()
    assert refused["data"] == {"place_order": None}
    assert refused["errors"][0]["extensions"]["details"][0]["field"] == "items[0].quantity"


DEEP = "{ product(id: 1) { " + "reviews(limit: 1) { product { " * 5 + "name" + " } }" * 5 + " } }"
BOMB = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
WIDE = "{ products(limit: 100) { reviews(limit: 100) { product { reviews(limit: 100) { id } } } } }"


@pytest.mark.parametrize(("query", "says"), [
    (DEEP, "nests deeper than 8 levels"),
    ("{ products(limit: 100000) { name } }", "must be at most 100"),
    ("{ products(limit: 0) { name } }", "out of range"),
    (WIDE, "more than 2000 objects"),
    (BOMB, "introspection"),
    ("{ a: __schema { types { name } } b: __schema { types { name } } "
     "c: __schema { types { name } } }", "At most 2 introspection fields"),
    ("{ products(limit: 3 { name }", "Syntax Error"),
    ("{ products { " + "a " * 2500 + "} }", "more than 2000 tokens"),
    ("{ products { password_hash } }", "Cannot query field 'password_hash'"),
], ids=["deep", "huge_limit", "zero_limit", "costly", "introspection_bomb", "alias_bomb",
        "syntax", "token_bomb", "unknown_field"])
async def test_an_abusive_or_broken_document_is_a_graphql_error_and_never_runs(
    client: httpx.AsyncClient, query: str, says: str,
) -> None:
    response = await ask(client, query)
    body = response.json()
    assert response.status_code == 200  # GraphQL over HTTP, application/json: errors in a 200
    assert "data" not in body  # it never ran
    assert says in body["errors"][0]["message"]
    assert "Traceback" not in response.text


async def test_a_huge_limit_in_a_variable_is_refused_too(client: httpx.AsyncClient) -> None:
    query = "query Page($n: Int) { products(limit: $n) { name } }"
    body = (await ask(client, query, variables={"n": 5000})).json()
    assert "data" not in body and "at most 100" in body["errors"][0]["message"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"query": "{ products { name } }" + " " * 8000}, 422, "validation_failed"),
    ({"query": ""}, 422, "validation_failed"),
    ({"query": "{ products { name } }", "variables": "n=1"}, 422, "validation_failed"),
    ({"query": 3}, 422, "validation_failed"),
    (["{ products { name } }"], 422, "validation_failed"),
], ids=["too_long", "empty", "variables_not_an_object", "query_not_a_string", "not_an_object"])
async def test_a_request_that_is_not_graphql_gets_the_shops_envelope(
    client: httpx.AsyncClient, body: Any, status: int, code: str,
) -> None:
    response = await client.post("/graphql", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_the_other_http_failures_are_the_envelope(client: httpx.AsyncClient) -> None:
    not_json = await client.post("/graphql", content=b"{ products { name } }")
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "bad_request"
    typed = await client.post("/graphql", content=b"{ products { name } }",
                              headers={"Content-Type": "application/graphql"})
    assert typed.status_code == 415
    get = await client.get("/graphql?query={products{name}}")
    assert get.status_code == 405 and get.headers["Allow"] == "POST"


async def test_a_failing_resolver_shows_no_internals(
    sandbox: Sandbox, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("sqlite3.OperationalError at /work/secret.py")

    monkeypatch.setattr("sandbox.backend.services.CatalogService.reviews", broken)
    response = await ask(client, "{ product(id: 1) { name reviews { id } } }")
    body = response.json()
    assert response.status_code == 200 and body["data"] == {"product": None}
    assert body["errors"][0]["extensions"] == {"code": "internal_error"}
    assert "sqlite3" not in response.text and "secret" not in response.text
    assert "sqlite3.OperationalError" in str(sandbox.ctx.log[-1]["exception"])  # logged


async def test_graphql_is_traced_and_rate_limited_like_any_route() -> None:
    settings = Settings().replace({"ratelimit.algorithm": "fixed_window", "ratelimit.limit": 2})
    sandbox = Sandbox(settings)
    try:
        async with sandbox.client() as client:
            statuses = [(await ask(client, "{ product(id: 1) { name } }")).status_code
                        for _ in range(3)]
            limited = await ask(client, "{ product(id: 1) { name } }")
    finally:
        sandbox.close()
    assert statuses == [200, 200, 429]
    assert limited.json()["error"]["code"] == "too_many_requests"
    doc = openapi_document()
    assert "post" in doc["paths"]["/graphql"]


def test_introspection_documents_the_schema() -> None:
    types = {t.name for t in graphql_api.SCHEMA.type_map.values()}
    assert {"Product", "Review", "Order", "OrderItem", "Me", "Query", "Mutation"} <= types
    assert len(get_introspection_query()) < graphql_api.MAX_QUERY_CHARS


# -- the experiments -------------------------------------------------------------------------

def test_loader_batches_what_was_announced_in_one_fetch() -> None:
    calls: list[list[int]] = []

    def fetch(ids: list[int]) -> dict[int, Any]:
        calls.append(ids)
        return {i: i * 10 for i in ids}

    loader = graphql_api.Loader(fetch)
    loader.expect([1, 2, 3])
    assert [loader.load(k) for k in (1, 2, 3, 4)] == [10, 20, 30, 40]
    assert calls == [[1, 2, 3], [4]]


async def test_over_fetching_and_the_n_plus_one_both_ways() -> None:
    found = await acompare(seed=7, product_id=3)
    rest, graph = found["screen_rest"], found["screen_graphql"]
    assert (rest["requests"], graph["requests"]) == (2, 1)
    assert rest["response_bytes"] > 2.5 * graph["response_bytes"]  # 536 vs 152 at seed 7
    naive, batched = found["nested_naive"]["db_queries"], found["nested_batched"]["db_queries"]
    # Naive: the page, then per product an existence check and its reviews (1 + 20 x 2).
    assert naive == 41
    assert batched == 2  # the page, then every product's reviews at once


async def test_the_batched_loader_reads_all_reviews_in_one_statement(sandbox: Sandbox) -> None:
    """Fails if the batching loader is taken away: then each product reads its own."""
    sandbox.apply(sandbox.settings.replace({"graphql.loader": "batched"}))
    trace = (await sandbox.deliver(graphql_request(NESTED_QUERY % 40))).trace
    names = [span.name for _, span in trace.spans()]
    assert names.count("repository.reviews.for_products") == 1
    assert "repository.reviews.for_product" not in names
    assert trace.counts["db.queries"] == 2


def test_the_graphql_scenario_both_ways() -> None:
    queries = {}
    for loader in ("naive", "batched"):
        result = run_scenario("graphql", Settings().replace({"graphql.loader": loader}),
                              seed=7, requests=40, warmup=0)
        assert result.metrics["status"] == {"200": 40}
        queries[loader] = result.metrics["db"]["queries"] / 40
    assert queries == {"naive": 41.0, "batched": 2.0}


# -- over a real socket ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    proc = start_server(port, tmp_path_factory.mktemp("gql") / "server.log")
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait(timeout=10)


def test_a_query_and_introspection_over_serve(served: str) -> None:
    with httpx.Client(base_url=served, timeout=30) as c:
        answer = c.post("/graphql", json={"query": "{ product(id: 3) { name price_cents } }"})
        assert answer.status_code == 200
        assert answer.json()["data"]["product"]["price_cents"] > 0
        schema = c.post("/graphql", json={"query": get_introspection_query()}).json()
        assert "errors" not in schema
        names = {t["name"] for t in schema["data"]["__schema"]["types"]}
        assert {"Product", "Review", "Order", "Me"} <= names
        traces = c.get("/_sandbox/traces",
                       headers={"X-Sandbox-Token": "test-admin-token-" + "x" * 16}).json()
        assert traces[-1]["path"] == "/graphql"  # traced like any route
        kinds = {s["kind"] for s in traces[-1]["root"]["children"]}
        assert {"lb", "gateway", "instance"} <= kinds
        assert c.get("/openapi.json").json()["paths"]["/graphql"]["post"]
