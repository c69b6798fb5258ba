"""The edge cache (a CDN): copies of public pages kept close to the clients.

An edge server sits near the customers, in front of the shop. When it holds a fresh copy of
the page asked for, it answers at once: the request never crosses the long way to the load
balancer, and the shop never sees it. A shared copy is only safe for a page that is the same
for everyone, so the edge is strict about what it keeps:

- only `GET`, and only the shop's public pages (a product, a listing, a product's reviews);
- never a request that carries anything identifying its caller (Authorization, a cookie, an API
  key, the sandbox's `X-User-Id`): that answer may be someone's own, so it goes to the shop and
  is never stored;
- only a `200` answer without `Set-Cookie`, without `Vary` (other than Accept-Encoding) and
  without `Cache-Control: private`, `no-store` or `no-cache`; a `max-age` or `s-maxage` from
  the shop shortens the time a copy is kept below `cdn.ttl_s`, never lengthens it;
- what it keeps is the page, not the one answer: headers about that one request and its
  caller (`X-Request-Id`, the rate limiter's `RateLimit-*`) are left out of the copy;
- the key is the host, the path and the query string exactly as sent, so `?category=toys` and
  `?category=toys&x=1` are two entries: one variant can never answer for another.

The edge does not hear of writes. A product whose stock or rating changed is still served from
the old copy until it expires: that is the price of the saved trips, counted as stale hits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.settings import CdnSettings

# The pages the same for every caller. Anchored: `/products/1/../users/me/orders` is not one.
PUBLIC_PATHS = re.compile(r"^/products(?:/\d+(?:/reviews)?)?$")
# Headers that say who is calling: a request carrying one is private, whatever its path.
CREDENTIALS = frozenset({b"authorization", b"cookie", b"x-api-key", b"x-user-id"})
# Headers about one request or one caller, never part of a shared copy.
PER_REQUEST = frozenset({b"x-request-id", b"ratelimit-limit", b"ratelimit-remaining",
                         b"ratelimit-reset", b"retry-after", b"x-cache", b"age"})
# At most this many copies: every query variant is an entry, and a client choosing query
# strings must not be able to grow the edge without bound. The oldest copy goes first.
MAX_ENTRIES = 10_000
EDGE_SCALE = 0.25  # the client-to-edge hop, as a share of an ordinary hop: the edge is near
EDGE_CPU_MS = 0.05  # the edge's own work: parse, look up, copy out

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class EdgeEntry:
    """One stored page, when it was stored and until when it may be served."""

    status: int
    headers: Headers
    body: bytes
    stored_ms: float
    expires_ms: float
    fingerprint: object = None  # the sandbox's record of the data it was built from


def edge_key(method: str, host: str, path: str, query: bytes, headers: Headers) -> str | None:
    """The cache key for a request the edge may answer from a copy, or None: to the shop."""
    if method != "GET" or not PUBLIC_PATHS.match(path):
        return None
    for name, _ in headers:
        if name.lower() in CREDENTIALS:
            return None
    key = host.lower() + path
    return f"{key}?{query.decode('latin-1')}" if query else key


def storable_for_ms(status: int, headers: Headers, ttl_ms: float) -> float:
    """How long the edge may keep this answer (0: not at all), per the rules above."""
    if status != 200 or ttl_ms <= 0:
        return 0.0
    for name, value in headers:
        name = name.lower()
        if name == b"set-cookie":
            return 0.0
        if name == b"vary" and value.strip().lower() not in (b"accept-encoding", b""):
            return 0.0
        if name == b"cache-control":
            for directive in value.decode("latin-1").lower().split(","):
                word, _, arg = directive.strip().partition("=")
                if word in ("private", "no-store", "no-cache"):
                    return 0.0
                if word in ("max-age", "s-maxage") and arg.strip().isdigit():
                    ttl_ms = min(ttl_ms, int(arg) * 1000.0)
    return ttl_ms


class EdgeCache:
    """The edge's store of pages. `fingerprint(path)` is the sandbox's oracle, not part of a
    real CDN: what the page's data is now, so a hit can be judged stale (None: not judged)."""

    def __init__(self, settings: CdnSettings,
                 fingerprint: Callable[[str], object] | None = None) -> None:
        self.settings = settings
        self.fingerprint = fingerprint
        self._entries: dict[str, EdgeEntry] = {}

    def get(self, key: str, now_ms: float) -> EdgeEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now_ms >= entry.expires_ms:
            del self._entries[key]
            return None
        return entry

    def is_stale(self, entry: EdgeEntry, path: str) -> bool:
        """Whether the page's data changed after the copy was taken (the oracle's view)."""
        if self.fingerprint is None or entry.fingerprint is None:
            return False
        return self.fingerprint(path) != entry.fingerprint

    def store(self, key: str, path: str, status: int, headers: Headers, body: bytes,
              now_ms: float) -> bool:
        """Keep the shop's answer if the rules allow; whether it was kept."""
        keep_ms = storable_for_ms(status, headers, self.settings.ttl_s * 1000.0)
        if keep_ms <= 0:
            return False
        seen = self.fingerprint(path) if self.fingerprint is not None else None
        shared = [(k, v) for k, v in headers if k.lower() not in PER_REQUEST]
        self._entries.pop(key, None)  # a refreshed copy counts as the newest
        while len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = EdgeEntry(status, shared, body, now_ms, now_ms + keep_ms, seen)
        return True

    def __len__(self) -> int:
        return len(self._entries)
