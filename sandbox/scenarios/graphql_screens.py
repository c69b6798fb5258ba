"""GraphQL beside REST, measured: bytes for one screen, and the N+1 of a nested query.

Two experiments, both from real requests through the whole simulated path (balancer,
gateway, app, database):

1. Over-fetching. A product page shows a name, a price and the three newest reviews' text.
   REST needs two calls (`GET /products/{id}`, `GET /products/{id}/reviews?limit=3`) and
   returns every field of both; one GraphQL query returns only the fields it names.
2. The N+1 again. `products(limit: 20) { reviews(limit: 3) { rating } }` with
   `graphql.loader=naive` asks the database once per product; `batched` once for all.

The `graphql` scenario sends the nested query over and over (`sandbox scenario graphql --set
graphql.loader=batched` shows the database queries drop); `compare` measures one screen both
ways; run this module to print both tables:

    .venv/bin/python -m sandbox.scenarios.graphql_screens --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from sandbox.network.path import SimRequest
from sandbox.runtime import Sandbox
from sandbox.scenarios.mix import CATEGORIES, Action, Shoppers
from sandbox.settings import Settings

NESTED_QUERY = "{ products(limit: 20, offset: %d) { name reviews(limit: 3) { rating } } }"
PAGE_QUERY = ("{ product(id: %d) { name price_cents reviews(limit: 3) { body } } }")
JSON = [(b"content-type", b"application/json")]


def graphql_request(query: str, client: str = "client-1") -> SimRequest:
    return SimRequest("POST", "/graphql", body=json.dumps({"query": query}).encode(),
                      headers=JSON, client=client)


class NestedQueryShoppers(Shoppers):
    """Shoppers who browse a category page of 20 products with their ratings, by GraphQL."""

    def action(self) -> str:
        return "graphql_products"

    def build(self, name: str, user_id: int) -> Action:
        query = NESTED_QUERY.replace("products(", f'products(category: "{self.rng.choice(CATEGORIES)}", ')
        body = json.dumps({"query": query % (self.rng.randrange(10) * 20)}).encode()
        return Action(name, "POST", "/graphql", body=body, headers=JSON)


async def _measure(sandbox: Sandbox, requests: list[SimRequest]) -> dict[str, int]:
    """Response bytes, database queries and requests for a screen made of `requests`."""
    total = {"requests": 0, "response_bytes": 0, "db_queries": 0}
    for request in requests:
        response = await sandbox.deliver(request)
        if response.status != 200:
            raise RuntimeError(f"{request.path} answered {response.status}: {response.body!r}")
        total["requests"] += 1
        total["response_bytes"] += len(response.body)
        total["db_queries"] += response.trace.counts.get("db.queries", 0)
    return total


async def acompare(seed: int = 7, product_id: int = 3) -> dict[str, Any]:
    """Both experiments, each both ways, on fresh sandboxes (nothing cached between them)."""
    out: dict[str, Any] = {"seed": seed, "product_id": product_id}
    sandbox = Sandbox(Settings(), seed=seed)
    try:
        out["screen_rest"] = await _measure(sandbox, [
            SimRequest("GET", f"/products/{product_id}"),
            SimRequest("GET", f"/products/{product_id}/reviews", query=b"limit=3"),
        ])
        out["screen_graphql"] = await _measure(sandbox, [graphql_request(PAGE_QUERY % product_id)])
    finally:
        sandbox.close()
    for loader in ("naive", "batched"):
        sandbox = Sandbox(Settings().replace({"graphql.loader": loader}), seed=seed)
        try:
            out[f"nested_{loader}"] = await _measure(sandbox, [graphql_request(NESTED_QUERY % 0)])
        finally:
            sandbox.close()
    return out


def compare(seed: int = 7, product_id: int = 3) -> dict[str, Any]:
    return asyncio.run(acompare(seed, product_id))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--product", type=int, default=3, help="the product page to compare")
    args = parser.parse_args(argv)
    found = compare(args.seed, args.product)
    rest, graph = found["screen_rest"], found["screen_graphql"]
    print(f"Product page {args.product} (name, price, 3 newest reviews), seed {args.seed}:")
    print(f"  REST     {rest['requests']} requests  {rest['response_bytes']:6,} bytes")
    print(f"  GraphQL  {graph['requests']} request   {graph['response_bytes']:6,} bytes")
    naive, batched = found["nested_naive"], found["nested_batched"]
    print("products(limit: 20) { reviews(limit: 3) { rating } }: database queries")
    print(f"  graphql.loader=naive    {naive['db_queries']:3}")
    print(f"  graphql.loader=batched  {batched['db_queries']:3}")


if __name__ == "__main__":
    main()
