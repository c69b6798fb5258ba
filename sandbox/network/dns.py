"""DNS: turn the shop's name into the load balancer's address, with a cache.

An uncached lookup crosses several servers (resolver, root, top-level domain, the domain's own
name server) and takes tens of milliseconds. The resolver clients share keeps each answer for
its TTL, so most requests skip the lookup entirely; with the cache off, every request pays.
"""

from __future__ import annotations

from sandbox.errors import SandboxError
from sandbox.settings import DnsSettings

SHOP_HOSTS = {"shop.sandbox": "lb.shop.sandbox", "localhost": "lb.shop.sandbox",
              "testserver": "lb.shop.sandbox"}
LOOKUP_HOPS = 20.0  # an uncached lookup costs about this many ordinary hops


class UnknownHost(SandboxError):
    """The name does not resolve (NXDOMAIN)."""


class DnsResolver:
    """The resolver clients use, with its cache of answers."""

    def __init__(self, settings: DnsSettings) -> None:
        self.settings = settings
        self._cache: dict[str, float] = {}  # host -> the answer's expiry, in simulated ms

    def cached(self, host: str, now_ms: float) -> bool:
        """Whether a fresh answer for `host` is cached."""
        if not self.settings.cache:
            return False
        expires = self._cache.get(host)
        return expires is not None and now_ms < expires

    def resolve(self, host: str, now_ms: float) -> str:
        """The address for `host`; cached for `dns.ttl_s` when caching is on."""
        address = SHOP_HOSTS.get(host.lower())
        if address is None:
            raise UnknownHost(host)
        if self.settings.cache and self.settings.ttl_s > 0:
            self._cache[host] = now_ms + self.settings.ttl_s * 1000.0
        return address
