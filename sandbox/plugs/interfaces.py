"""The contract of every plug point: what the sandbox calls on the part a student's code provides.

One `Protocol` per plug point, in the spirit of Starlette's `types.py`: the whole interface in
one place. Each describes the object the sandbox ends up calling: for the shipped exercises
that is the student's export (the class's instances or the function named in `EXPORTS`);
for an exercise with an adapter (`adapter = "plug_adapter.py"` in its manifest) it is what
the adapter's `adapt(sandbox, student_module)` returns. `missing_members` says what an object
lacks, so a wrong shape is reported by name instead of failing deep inside a request.

Times are the sandbox's simulated clock: `now_ms` in milliseconds, `now_s` in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

Row = dict[str, Any]


@runtime_checkable
class OrderValidator(Protocol):
    """`validation`: called once for every POST /orders body, before the order is placed.

    Args:
        body: the parsed JSON body, whatever the client sent (any JSON value).
    Returns:
        Every problem as a `(field, message)` pair, e.g. `("items[0].qty", "must be at least
        1")`; an empty list when the body is valid. Any problem makes the answer a 422.
    """

    def __call__(self, body: Any) -> Sequence[tuple[str, str]]: ...


@runtime_checkable
class Balancer(Protocol):
    """`balancer`: asked once per request, at the load balancer, which instance serves it.

    Args:
        instances: the instances, each with `name`, `alive` and `active(now_ms)` (requests
            it is working on or holding).
        client: who sent the request.
        now_ms: the simulated time.
    Returns:
        The index of the chosen instance in `instances`, or None when none can serve (503).
    """

    def choose(self, instances: Sequence[Any], client: str, now_ms: float) -> int | None: ...


@runtime_checkable
class ReviewService(Protocol):
    """`reviews`: made per POST /products/{id}/reviews as `ReviewService(repo)` and asked once.

    Returns the stored review as a mapping. Raises the module's `ProductNotFound` (404),
    `AlreadyReviewed` (409) or `InvalidReview` (422, with `field` and `message`).
    """

    def post_review(self, user_id: int, product_id: int, rating: Any,
                    body: Any) -> Mapping[str, Any]: ...


@runtime_checkable
class OrdersWithItems(Protocol):
    """`order_history`: called for every GET /customers/{id}/orders.

    Args:
        conn: a connection with `execute(sql, params)` (traced; each statement counts).
        customer_id: whose orders.
        limit: the most orders to return, newest first.
    Returns:
        The orders as dicts, each with an `items` list of its lines.
    """

    def __call__(self, conn: Any, customer_id: int, limit: int) -> list[Row]: ...


@runtime_checkable
class CacheAside(Protocol):
    """`cache_aside`: made as `CacheAside(redis, ttl_s, now)`; `get` on every cached read,
    `invalidate` after every write to a cached key (when `cache.invalidate_on_write`).

    `get(key, load)` returns the cached value, or calls `load()` (None: no such row) and
    caches what it returns for `ttl_s` seconds of `now()`. `invalidate(key)` returns nothing.
    """

    def get(self, key: str, load: Callable[[], Row | None]) -> Row | None: ...

    def invalidate(self, key: str) -> None: ...


@runtime_checkable
class VerifyToken(Protocol):
    """`jwt`: called for every request that carries a bearer token (`auth.mode=jwt`).

    Args:
        token: the compact JWT; key: the HMAC key (bytes); now_s: simulated seconds;
        issuer, audience: what the `iss` and `aud` claims must say.
    Returns:
        The token's claims. Raises the module's `InvalidToken` for any bad token (401).
    """

    def __call__(self, token: str, key: bytes, now_s: float, *, issuer: str,
                 audience: str) -> Mapping[str, Any]: ...


@runtime_checkable
class Limiter(Protocol):
    """`ratelimit`: asked once per request at the gateway (probes excepted) whether the
    client may pass; a refusal becomes a 429. Any algorithm fits: fixed window, sliding log,
    token bucket, GCRA.

    Attributes:
        capacity: the most requests a client may send at once; the `RateLimit-Limit` header.
    take(client, now_ms):
        client: the key requests are counted under (`key:<api key>` or `addr:<address>`).
        now_ms: the simulated time, milliseconds.
        Returns `(allowed, remaining)`: exactly True or False, and how many more requests
        the client could send right now (a number; floored for `RateLimit-Remaining`).
        Keep the state in the Redis client you were given, so that gateways share it.
    The window for the headers comes from the settings (`ratelimit.window_s`).
    """

    capacity: float

    def take(self, client: str, now_ms: float) -> tuple[bool, float]: ...


@runtime_checkable
class RenderError(Protocol):
    """`errors`: called whenever a handler raises, to write the error response.

    Args:
        error: the exception; request_id: the request's id for the body;
        log: `log(level, message, **fields)`, the server-side log.
    Returns:
        `(status, body)`: the HTTP status and the JSON body.
    """

    def __call__(self, error: Exception, request_id: str,
                 log: Callable[..., None]) -> tuple[int, Any]: ...


@runtime_checkable
class ProductsPage(Protocol):
    """`keyset_page`: called for every GET /products page.

    Returns `(products, next_after)`: up to `limit` products of `category` (None: all) with
    an id above `after`, by id, and the id to continue after (None on the last page).
    """

    def __call__(self, conn: Any, category: str | None, limit: int,
                 after: int) -> tuple[list[Row], int | None]: ...


@runtime_checkable
class ConfirmOrder(Protocol):
    """`order_consumer`: called by a queue worker for each "order placed" job, maybe more
    than once for the same job (a worker crashed before acknowledging it).

    Args:
        conn: the shop's database connection; job_id, job: the job and its fields;
        now_s: simulated seconds; send_email: sends the confirmation, raises JobFailed.
    Returns:
        True when the job is done (acknowledged), False to have it retried.
    """

    def __call__(self, conn: Any, job_id: str, job: dict[str, str], now_s: int,
                 send_email: Callable[[], None]) -> bool: ...


@runtime_checkable
class Metrics(Protocol):
    """`monitoring`: `record(status, latency_ms)` for every finished request; the module's
    `ErrorRateAlert(threshold, window_ms, min_requests)` is fed beside it with
    `record(status, now_ms)` and asked `firing(now_ms) -> bool` after each request.
    `requests`, `by_class`, `error_rate` and `percentile(p)` are read by tests and panels."""

    def record(self, status: int, latency_ms: float) -> None: ...

    def percentile(self, p: float) -> float: ...


@runtime_checkable
class CheckReadiness(Protocol):
    """`readiness`: called at every health check (`lb.health_check_s`) for every instance,
    with `deploy.readiness_check=on`.

    Returns `(ready, reason)`: exactly True or False, and a short reason for the trace.
    """

    def __call__(self, instance: Any, now_ms: float) -> tuple[bool, str]: ...


@runtime_checkable
class ReplicaRouter(Protocol):
    """`replica`: made as `ReplicaRouter(lag_ms)`; `choose` for every request while
    `db.read_replica` is on, `answered` after it was served.

    choose returns "primary" or "replica"; answered returns nothing.
    """

    def choose(self, client: str, method: str, now_ms: float) -> str: ...

    def answered(self, client: str, method: str, now_ms: float) -> None: ...


@runtime_checkable
class CircuitBreaker(Protocol):
    """`breaker`: made as `CircuitBreaker(threshold, reset_ms)` per guarded dependency;
    `allow(now_ms)` before each call (False: fail fast with 503), then `record_success` or
    `record_failure` with the time the call ended. `state` is shown in traces."""

    def allow(self, now_ms: float) -> bool: ...

    def record_success(self, now_ms: float) -> None: ...

    def record_failure(self, now_ms: float) -> None: ...


@runtime_checkable
class IdempotencyStore(Protocol):
    """`idempotency`: made as `IdempotencyStore(conn)`; `lookup` for every POST /orders with
    an Idempotency-Key, `save` after the order was placed.

    lookup returns the saved `(status, response)` or None, and raises the module's
    `KeyReused` when the key came with a different body (422).
    """

    def lookup(self, user_id: int, key: str, body: Any) -> tuple[int, Any] | None: ...

    def save(self, user_id: int, key: str, body: Any, status: int, response: Any) -> None: ...


# The plug points of exercises 17 to 24: each module's part is described the same way.

@runtime_checkable
class LruCachePlug(Protocol):
    """What the `lru_cache` plug point needs: a bounded in-process cache with a TTL.

    Made as `LruTtlCache(max_entries, ttl_s)`. Times are the sandbox's simulated seconds.

    - `get(key, now_s)` returns the value stored under `key` if it is still live (stored less
      than `ttl_s` seconds before `now_s`) and marks it as just used; otherwise None.
    - `put(key, value, now_s)` stores `value` (replacing an older one) as the most recently
      used entry, then evicts least recently used entries, never this one, while more than
      `max_entries` are held.
    - `delete(key)` forgets `key`; returns whether it was there.
    """

    def get(self, key: str, now_s: float) -> Any | None: ...

    def put(self, key: str, value: Any, now_s: float) -> None: ...

    def delete(self, key: str) -> bool: ...


@runtime_checkable
class RetryPlug(Protocol):
    """What the `retry` plug point needs: the student's `Retrier` (made with a `RetryBudget`).

    `Retrier(max_attempts, base_ms, cap_ms, budget, rng).run(attempt, idempotent, wait)`:

    Args:
        attempt: one try of the call; returns "ok", "failed", "timed_out" or "refused" (the
            circuit breaker said no: not worth retrying).
        idempotent: False when repeating the call could do it twice (a database write).
        wait: call it with the milliseconds to wait before the next try (simulated time).

    Returns:
        True once a try returned "ok"; False when it gave up.
    """

    def run(self, attempt: Callable[[], str], idempotent: bool,
            wait: Callable[[float], None]) -> bool: ...


@runtime_checkable
class StockPlug(Protocol):
    """What the `stock` plug point needs: a module with a generator function `take_order`.

    Args:
        lines: the order's [product_id, quantity] pairs, sorted by product id.

    Yields:
        (sql, params): one statement to run; the answer sent back is {"rows": [...],
        "rowcount": n} (rows changed by an UPDATE; -1 for a SELECT).

    Returns:
        {product_id: unit price in cents} once every line's stock is taken, or None when too
        little of some product was left, having given back whatever it took.
    """

    def take_order(self, lines: list[list[int]]) -> Generator[tuple[str, Any], dict[str, Any], Any]: ...


@runtime_checkable
class OutboxRelayPlug(Protocol):
    """What the student's module offers this plug point (functions over the shop's database
    connection, see sandbox/plugs/connection.py)."""

    def create_tables(self, conn: Any) -> None:
        """Make `event_outbox` and `processed_events` if they are missing."""
        ...

    def add_event(self, conn: Any, event_id: str, payload: dict[str, Any],
                  now_s: int) -> int:
        """Insert one event inside the caller's open transaction. Returns: its row id."""
        ...

    def relay(self, conn: Any, publish: Callable[[str, dict[str, Any]], None], now_s: int,
              batch_size: int = 100) -> int:
        """Publish up to `batch_size` waiting events, oldest first, marking each after its
        publish. Returns: how many it published. Raises: whatever `publish` raised."""
        ...


@runtime_checkable
class BatchLoaderPlug(Protocol):
    """What the student's module offers this plug point.

    `BatchLoader(fetch, max_batch)` is built once per request and kind of value; `fetch(keys)`
    answers several keys in one call as {key: value}, leaving out keys it has no value for.
    """

    def BatchLoader(self, fetch: Callable[[list[int]], dict[int, Any]], max_batch: int = 100) -> Any:
        """A loader for one request.

        Args:
            fetch: loads a batch of keys; the only way to the database.
            max_batch: the most keys one fetch may be given.
        Returns:
            an object with `expect(keys)`, `load(key)` (None for a missing key) and
            `load_many(keys)`.
        """
        ...

    def fetch_products(self, conn: Any, ids: list[int]) -> list[Any]:
        """Products by id in one SQL query: one row (`SELECT *`, id first) or None per id,
        in the order of `ids`."""
        ...


@runtime_checkable
class CanaryControllerPlug(Protocol):
    """What the student's `CanaryController(steps, step_ms, hold_ms)` is.

    `steps` are percentages ending at 100; times are the sandbox's simulated milliseconds.
    """

    verdict: str  # "watching", then "promoted" or "rolled_back"

    def observe(self, now_ms: float, version: str, status: int, latency_ms: float) -> None:
        """One answered request, served by `version` ("v1" the baseline, "v2" the canary)."""
        ...

    def share(self, now_ms: float) -> float:
        """The canary's share of traffic now (0.0 to 1.0). Raises: nothing it can avoid; an
        exception here fails the request being routed."""
        ...


INTERFACES: dict[str, type] = {
    "validation": OrderValidator,
    "balancer": Balancer,
    "reviews": ReviewService,
    "order_history": OrdersWithItems,
    "cache_aside": CacheAside,
    "jwt": VerifyToken,
    "ratelimit": Limiter,
    "errors": RenderError,
    "keyset_page": ProductsPage,
    "order_consumer": ConfirmOrder,
    "monitoring": Metrics,
    "readiness": CheckReadiness,
    "replica": ReplicaRouter,
    "breaker": CircuitBreaker,
    "idempotency": IdempotencyStore,
    "lru_cache": LruCachePlug,
    "retry": RetryPlug,
    "stock": StockPlug,
    "outbox": OutboxRelayPlug,
    "batch_loader": BatchLoaderPlug,
    "canary": CanaryControllerPlug,
}

# What the built-in plug takes from a student's module when the exercise has no adapter.
EXPORTS: dict[str, str] = {
    "validation": "validate_order", "balancer": "LeastConnections", "reviews": "ReviewService",
    "order_history": "orders_with_items", "cache_aside": "CacheAside", "jwt": "verify_token",
    "ratelimit": "TokenBucket", "errors": "render_error", "keyset_page": "products_page",
    "order_consumer": "confirm_order", "monitoring": "Metrics", "readiness": "check_readiness",
    "replica": "ReplicaRouter", "breaker": "CircuitBreaker", "idempotency": "IdempotencyStore",
    "lru_cache": "LruTtlCache", "retry": "Retrier", "canary": "CanaryController",
    # These three describe the student's module as a whole (several functions or classes).
    "stock": "", "outbox": "", "batch_loader": "",
}


def members(interface: type) -> dict[str, bool]:
    """The interface's members, each with whether it is a method (else a data attribute)."""
    found: dict[str, bool] = {}
    for klass in reversed(interface.__mro__):
        if klass in (object, Protocol) or not getattr(klass, "_is_protocol", False):
            continue
        for name in getattr(klass, "__annotations__", {}):
            found[name] = False
        for name, value in vars(klass).items():
            if callable(value) and (not name.startswith("_") or name == "__call__"):
                found[name] = True
    return found


def missing_members(obj: Any, interface: type) -> list[str]:
    """The members of `interface` that `obj` lacks. A class is checked for the methods only
    (its instances set their data attributes)."""
    missing = []
    for name, is_method in members(interface).items():
        if isinstance(obj, type) and not is_method:
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # a property that raises counts as missing
            missing.append(name)
            continue
        if is_method and not callable(value):
            missing.append(name)
    return missing
