"""The edge cache's rules: what it may key, what it may keep, and for how long."""

from __future__ import annotations

import pytest

from sandbox.network.edge import EdgeCache, edge_key, storable_for_ms
from sandbox.settings import CdnSettings

JSON = [(b"content-type", b"application/json")]


@pytest.mark.parametrize("path", ["/products", "/products/7", "/products/7/reviews"])
def test_public_pages_are_keyed_with_their_query(path: str) -> None:
    key = edge_key("GET", "shop.sandbox", path, b"limit=10", JSON)
    assert key == f"shop.sandbox{path}?limit=10"


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/products/7/reviews"), ("PATCH", "/products/7"), ("HEAD", "/products/7"),
    ("GET", "/users/me/orders"), ("GET", "/orders/3"), ("GET", "/products/7/../../users/me/orders"),
    ("GET", "/Products/7"), ("GET", "/products/7/"), ("GET", "/health"),
])
def test_private_or_unsafe_requests_are_never_keyed(method: str, path: str) -> None:
    assert edge_key(method, "shop.sandbox", path, b"", JSON) is None


@pytest.mark.parametrize("header", [b"authorization", b"Authorization", b"cookie", b"x-api-key",
                                    b"x-user-id"])
def test_a_request_that_names_its_caller_is_never_keyed(header: bytes) -> None:
    assert edge_key("GET", "shop.sandbox", "/products/1", b"", [*JSON, (header, b"x")]) is None


def test_no_query_no_question_mark() -> None:
    assert edge_key("GET", "Shop.Sandbox", "/products/1", b"", []) == "shop.sandbox/products/1"


def test_query_variants_are_different_keys() -> None:
    plain = edge_key("GET", "shop.sandbox", "/products", b"category=toys", [])
    variant = edge_key("GET", "shop.sandbox", "/products", b"category=toys&x=1", [])
    other = edge_key("GET", "shop.sandbox", "/products", b"category=books", [])
    assert len({plain, variant, other}) == 3


@pytest.mark.parametrize(("headers", "kept_ms"), [
    ([], 60_000.0),
    ([(b"cache-control", b"public, max-age=10")], 10_000.0),
    ([(b"Cache-Control", b"s-maxage=5")], 5_000.0),
    ([(b"cache-control", b"max-age=600")], 60_000.0),  # never longer than cdn.ttl_s
    ([(b"cache-control", b"private")], 0.0),
    ([(b"cache-control", b"no-store")], 0.0),
    ([(b"cache-control", b"max-age=30, no-cache")], 0.0),
    ([(b"set-cookie", b"session=abc")], 0.0),
    ([(b"vary", b"Authorization")], 0.0),
    ([(b"vary", b"Accept-Encoding")], 60_000.0),
])
def test_what_the_shop_says_about_caching_is_obeyed(headers: list[tuple[bytes, bytes]],
                                                    kept_ms: float) -> None:
    assert storable_for_ms(200, headers, 60_000.0) == kept_ms


@pytest.mark.parametrize("status", [201, 301, 404, 429, 500, 503])
def test_only_a_200_is_kept(status: int) -> None:
    assert storable_for_ms(status, [], 60_000.0) == 0.0


def test_a_copy_leaves_out_per_request_headers_and_expires() -> None:
    edge = EdgeCache(CdnSettings(enabled=True, ttl_s=2))
    headers = [*JSON, (b"x-request-id", b"req-000001"), (b"ratelimit-remaining", b"3")]
    assert edge.store("k", "/products/1", 200, headers, b"{}", 1_000.0)
    entry = edge.get("k", 2_999.0)
    assert entry is not None and entry.headers == JSON
    assert edge.get("k", 3_000.0) is None and len(edge) == 0


def test_query_variants_cannot_grow_the_edge_without_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sandbox.network.edge.MAX_ENTRIES", 3)
    edge = EdgeCache(CdnSettings(enabled=True))
    for n in range(5):
        edge.store(f"k{n}", "/products", 200, [], b"[]", float(n))
    assert len(edge) == 3
    assert edge.get("k0", 5.0) is None and edge.get("k4", 5.0) is not None


def test_stale_is_judged_by_the_oracle() -> None:
    data = {"/products/1": ("stock", 5)}
    edge = EdgeCache(CdnSettings(enabled=True), fingerprint=data.get)
    edge.store("k", "/products/1", 200, [], b"{}", 0.0)
    entry = edge.get("k", 1.0)
    assert entry is not None and not edge.is_stale(entry, "/products/1")
    data["/products/1"] = ("stock", 4)
    assert edge.is_stale(entry, "/products/1")
