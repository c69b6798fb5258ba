"""The API gateway: the one door every request passes before an app instance.

Here it enforces the rate limit, keyed per client: a *valid* API key when one is sent,
otherwise the client's address. A made-up key counts as no key: if any key bought a fresh
allowance, one header would bypass the limit. The address is the connection's peer;
`X-Forwarded-For` is believed only from a proxy the operator trusts, because any client can
write that header. Health and readiness probes are never limited: a probe answered 429 looks
like a dead instance, and the orchestrator would kill a healthy one.

If the limiter's Redis is unreachable the gateway fails open (lets the request through and
says so in the trace): a broken limiter must not take the shop down.

With `auth.revocation_check=on` it also refuses a bearer token whose subject (an OAuth2
client) was revoked after the token was issued: one Redis read per request with a token.
The app still verifies every token in full; the gateway only ever refuses.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox import tracing
from sandbox.errors import TooManyRequests, Unauthorized
from sandbox.mechanisms.auth import token_subject
from sandbox.mechanisms.ratelimit import Decision, RateLimiter
from sandbox.mechanisms.redis_store import CacheUnavailable
from sandbox.mechanisms.revocation import RevocationList
from sandbox.tracing import Span

GATEWAY_CPU_MS = 0.05
PROBE_PATHS = frozenset({"/health", "/ready"})
MAX_API_KEY = 128


class Gateway:
    def __init__(self) -> None:
        self.limiter: RateLimiter | None = None
        # Is this an API key the shop issued? Set by the sandbox; a gateway keeps its own
        # copy of the keys, so asking costs no trip to the database.
        self.key_is_valid: Callable[[str], bool] = lambda key: False
        # Peers whose X-Forwarded-For is believed (`sandbox serve --trusted-proxy`).
        self.trusted_proxies: frozenset[str] = frozenset()
        # The revocation list, while `auth.revocation_check` is on.
        self.revocations: RevocationList | None = None

    def client_key(self, headers: list[tuple[bytes, bytes]], address: str) -> str:
        """Who the limit counts against: `key:<api key>`, or `addr:<address>`."""
        api_key, forwarded = "", []
        for key, value in headers:
            if key == b"x-api-key":
                api_key = value.decode("latin-1")
            elif key == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
        if api_key and len(api_key) <= MAX_API_KEY and self.key_is_valid(api_key):
            return "key:" + api_key
        return "addr:" + self._address(forwarded, address)

    def client_address(self, headers: list[tuple[bytes, bytes]], address: str) -> str:
        """The client's address as far as it can be trusted (for the login limit per address)."""
        forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
        return self._address(forwarded, address)

    def _address(self, forwarded: list[str], address: str) -> str:
        if forwarded and address in self.trusted_proxies:
            # Each proxy appends the address it saw, so only the last entry comes from our
            # trusted proxy; everything left of it is the client's own word.
            last = ",".join(forwarded).rsplit(",", 1)[-1].strip()
            if last:
                return last[:64]
        return address

    def admit(self, headers: list[tuple[bytes, bytes]], address: str, now_ms: float,
              span: Span, path: str = "") -> tuple[Decision | None, TooManyRequests | None]:
        """The limiter's decision (None when off or for a probe) and the error if refused."""
        limiter = self.limiter
        if limiter is None or path in PROBE_PATHS:
            return None, None
        client = self.client_key(headers, address)
        try:
            decision = limiter.check(client, now_ms)
        except CacheUnavailable:
            span.attrs["ratelimit.error"] = "limiter unavailable: failing open"
            return None, None
        span.attrs["ratelimit.algorithm"] = limiter.name
        span.attrs["ratelimit.remaining"] = decision.remaining
        if decision.allowed:
            return decision, None
        span.attrs["ratelimit.rejected"] = True
        error = TooManyRequests(
            f"Too many requests: the limit is {decision.limit} per "
            f"{limiter_window(limiter)}. Retry after {decision.headers()['Retry-After']} s.",
            headers=decision.headers(),
        )
        return decision, error


    def revoked(self, headers: list[tuple[bytes, bytes]], span: Span) -> Unauthorized | None:
        """The 401 for a bearer token whose subject was revoked after it was issued, or None.

        The token is read without checking its signature: a forged token can only make the
        gateway refuse, and the app refuses it anyway. If Redis cannot answer, the request
        goes on (failing open, as the limiter does): the token is then trusted until it
        expires, exactly as with the check off."""
        revocations = self.revocations
        if revocations is None:
            return None
        authorization = next((v for k, v in headers if k == b"authorization"), b"")
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        found = token_subject(token.strip())
        if found is None:
            return None
        subject, issued_s = found
        try:
            revoked_s = revocations.revoked_at(subject)
        except CacheUnavailable:
            span.attrs["auth.revocation_error"] = "revocation list unavailable: failing open"
            return None
        span.attrs["auth.revocation_checked"] = True
        tracing.count("auth.revocation_checks")
        if revoked_s is None or issued_s > revoked_s:
            return None
        span.attrs["auth.revoked"] = True
        tracing.count("auth.revoked_refused")
        return Unauthorized("This access token was revoked: its client no longer has access.",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def limiter_window(limiter: RateLimiter) -> str:
    window = getattr(getattr(limiter, "settings", None), "window_s", 1.0)
    return "second" if window == 1.0 else f"{window:g} seconds"
