from __future__ import annotations

import pytest

from sandbox.network.dns import SHOP_HOSTS, DnsResolver, UnknownHost
from sandbox.settings import DnsSettings


def test_resolve_known_hosts() -> None:
    resolver = DnsResolver(DnsSettings())
    for host in SHOP_HOSTS:
        assert resolver.resolve(host, 0.0) == "lb.shop.sandbox"
    assert resolver.resolve("Shop.Sandbox", 0.0) == "lb.shop.sandbox"


def test_answer_cached_for_ttl() -> None:
    resolver = DnsResolver(DnsSettings(cache=True, ttl_s=60.0))
    assert resolver.cached("shop.sandbox", 0.0) is False
    resolver.resolve("shop.sandbox", 1000.0)
    assert resolver.cached("shop.sandbox", 1000.0) is True
    assert resolver.cached("shop.sandbox", 60_999.9) is True
    assert resolver.cached("shop.sandbox", 61_000.0) is False
    # Other hosts have their own entries.
    assert resolver.cached("localhost", 1000.0) is False


def test_resolving_again_refreshes_expiry() -> None:
    resolver = DnsResolver(DnsSettings(cache=True, ttl_s=1.0))
    resolver.resolve("shop.sandbox", 0.0)
    resolver.resolve("shop.sandbox", 900.0)
    assert resolver.cached("shop.sandbox", 1500.0) is True
    assert resolver.cached("shop.sandbox", 1900.0) is False


def test_cache_off() -> None:
    resolver = DnsResolver(DnsSettings(cache=False, ttl_s=60.0))
    assert resolver.resolve("shop.sandbox", 0.0) == "lb.shop.sandbox"
    assert resolver.cached("shop.sandbox", 0.0) is False
    assert resolver.cached("shop.sandbox", 1.0) is False


def test_turning_cache_off_hides_existing_entries() -> None:
    resolver = DnsResolver(DnsSettings(cache=True, ttl_s=60.0))
    resolver.resolve("shop.sandbox", 0.0)
    resolver.settings = DnsSettings(cache=False, ttl_s=60.0)
    assert resolver.cached("shop.sandbox", 1.0) is False


def test_ttl_zero_never_caches() -> None:
    resolver = DnsResolver(DnsSettings(cache=True, ttl_s=0.0))
    assert resolver.resolve("shop.sandbox", 5.0) == "lb.shop.sandbox"
    assert resolver.cached("shop.sandbox", 5.0) is False


def test_unknown_host() -> None:
    resolver = DnsResolver(DnsSettings())
    with pytest.raises(UnknownHost, match=r"evil\.example"):
        resolver.resolve("evil.example", 0.0)
    assert resolver.cached("evil.example", 0.0) is False
