"""`db.rating`: a stored (denormalised) rating against one counted from the reviews (#16)."""

from __future__ import annotations

import httpx

from sandbox.runtime import Sandbox
from sandbox.scenarios.runner import run_scenario
from sandbox.settings import Settings


def counted(sandbox: Sandbox, product_id: int) -> tuple[int, int]:
    row = sandbox.db.conn.execute("SELECT count(*), sum(rating) FROM reviews WHERE product_id = ?",
                                  (product_id,)).fetchone()
    return int(row[0]), int(row[1] or 0)


async def test_stored_totals_match_the_reviews_both_ways(sandbox: Sandbox,
                                                         client: httpx.AsyncClient,
                                                         grace: dict[str, str]) -> None:
    writes = {}
    for mode in ("stored", "computed"):
        sandbox.apply(sandbox.settings.replace({"db.rating": mode}))
        review = await client.post("/products/7/reviews", headers=grace,
                                   json={"rating": 1, "body": "Broke on day one."})
        assert review.status_code == 201
        writes[mode] = review.extensions["sandbox.trace"].counts["rating.review_statements"]
        shown = (await client.get("/products/7")).json()["rating"]
        count, total = counted(sandbox, 7)
        assert shown == {"count": count, "average": round(total / count, 2)}
    # Stored: the review and the product's totals; computed: the review alone.
    assert writes == {"stored": 2, "computed": 1}
    row = sandbox.db.conn.execute("SELECT rating_count, rating_sum FROM products WHERE id = 7")
    assert row.fetchone() != counted(sandbox, 7)  # computed mode left the row behind...
    sandbox.apply(sandbox.settings.replace({"db.rating": "stored"}))
    row = sandbox.db.conn.execute("SELECT rating_count, rating_sum FROM products WHERE id = 7")
    assert row.fetchone() == counted(sandbox, 7)  # ...and going back counted it again


def test_computed_ratings_read_many_rows_per_product_view() -> None:
    def run(mode: str) -> dict:
        return run_scenario("steady", Settings().replace({"db.rating": mode}),
                            requests=250, warmup=0).metrics

    stored, computed = run("stored"), run("computed")
    assert stored["rating"]["product_loads"] == computed["rating"]["product_loads"] > 150
    assert stored["rating"]["rows_read_per_product_load"] < 10  # one row, by key
    # Every review of the product, and the most viewed have thousands.
    assert computed["rating"]["rows_read_per_product_load"] > 1000
    assert computed["db"]["queries"] > stored["db"]["queries"]
    assert computed["latency_ms"]["p95"] > stored["latency_ms"]["p95"]
