"""The switches: one typed settings tree, addressed by dotted keys such as `cache.strategy`.

The CLI (`--set key=value`), lesson files, the terminal app and the tests all change the
sandbox through these keys, so this module is the product's public vocabulary. A bad key or
value raises SettingsError with the valid keys or choices in its message.

Example:
    >>> s = apply_assignments(Settings(), ["cache.strategy=cache_aside", "topology.instances=4"])
    >>> s.get("topology.instances")
    4
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_type_hints

from sandbox.errors import SettingsError

# The secondary indexes the shop can have. `db.indexes` picks a subset of these.
INDEX_CANDIDATES: tuple[str, ...] = (
    "orders.customer_id",
    "order_items.order_id",
    "reviews.product_id",
    "users.email",
    "products.category",
)
DEFAULT_INDEXES: tuple[str, ...] = (
    "orders.customer_id",
    "order_items.order_id",
    "reviews.product_id",
    "users.email",
)

_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


def _spec(help: str, *, lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    return {"help": help, "lo": lo, "hi": hi}


@dataclass(frozen=True)
class CacheSettings:
    strategy: Literal["off", "cache_aside", "read_through", "write_through", "write_behind"] = (
        field(default="off", metadata=_spec("How the service uses the cache in front of the DB."))
    )
    ttl_s: float = field(
        default=30.0, metadata=_spec("Seconds a cached entry lives (simulated time).", lo=0, hi=86400)
    )
    max_entries: int = field(
        default=1000, metadata=_spec("Most entries the cache holds before it evicts.", lo=1, hi=1_000_000)
    )
    eviction: Literal["lru", "lfu", "fifo"] = field(
        default="lru", metadata=_spec("Which entry leaves when the cache is full.")
    )
    invalidate_on_write: bool = field(
        default=True, metadata=_spec("Update or drop a cached entry when its row changes.")
    )
    write_behind_delay_s: float = field(
        default=1.0,
        metadata=_spec("With write_behind: seconds before a write reaches the database.", lo=0, hi=3600),
    )
    stampede_protection: Literal["off", "lock", "early_refresh"] = field(
        default="off",
        metadata=_spec("When a hot entry expires: every miss loads (off), one loader holds a "
                       "lock, or a reader refreshes it early."),
    )
    early_refresh_beta: float = field(
        default=1.0,
        metadata=_spec("With early_refresh: how far ahead of expiry readers start refreshing "
                       "(higher: earlier).", lo=0, hi=100),
    )


@dataclass(frozen=True)
class DbSettings:
    indexes: tuple[str, ...] = field(
        default=DEFAULT_INDEXES,
        metadata=_spec("Secondary indexes that exist: comma list of table.column, or none."),
    )
    n_plus_one: bool = field(
        default=False, metadata=_spec("Load order items one query per order instead of a join.")
    )
    pool_size: int = field(
        default=8, metadata=_spec("Database connections each instance may use at once.", lo=1, hi=256)
    )
    read_replica: bool = field(
        default=False, metadata=_spec("Send reads that tolerate lag to a read replica.")
    )
    replica_lag_ms: float = field(
        default=200.0,
        metadata=_spec("How far behind the primary the replica runs.", lo=0, hi=600_000),
    )
    read_your_writes: bool = field(
        default=False,
        metadata=_spec("With a replica: a client who wrote less than replica_lag_ms ago reads "
                       "from the primary."),
    )
    rating: Literal["stored", "computed"] = field(
        default="stored",
        metadata=_spec("A product's rating: totals kept on its row by each review (stored), "
                       "or counted from its reviews on every read (computed)."),
    )
    shards: Literal["1", "2", "4"] = field(
        default="1",
        metadata=_spec("Database files the orders are split across, by a hash of the customer."),
    )
    cores: int = field(
        default=0,
        metadata=_spec("Statements each database file (the main one, each shard) runs at once; "
                       "more wait their turn. 0: no limit.", lo=0, hi=64),
    )
    stock_update: Literal["conditional", "naive"] = field(
        default="conditional",
        metadata=_spec("How an order takes stock: one guarded UPDATE, or read the stock and "
                       "then write it back less the order (a race between concurrent orders)."),
    )


@dataclass(frozen=True)
class RateLimitSettings:
    algorithm: Literal["off", "fixed_window", "sliding_window", "token_bucket"] = field(
        default="off", metadata=_spec("How the gateway limits each client's requests.")
    )
    limit: int = field(
        default=20, metadata=_spec("Requests a client may make per window.", lo=1, hi=1_000_000)
    )
    window_s: float = field(
        default=1.0, metadata=_spec("Length of the rate-limit window in seconds.", lo=0.001, hi=3600)
    )
    burst: int = field(
        default=0, metadata=_spec("Extra tokens a token bucket may hold above the limit.", lo=0, hi=1_000_000)
    )


@dataclass(frozen=True)
class AuthSettings:
    mode: Literal["off", "api_key", "jwt"] = field(
        default="jwt", metadata=_spec("How callers prove who they are.")
    )
    hash_iterations: int = field(
        default=200,
        metadata=_spec("PBKDF2 iterations per password hash; real systems use 600,000.",
                       lo=1, hi=5_000_000),
    )
    token_ttl_s: int = field(
        default=900, metadata=_spec("Seconds an access token stays valid.", lo=1, hi=86400 * 30)
    )
    hash: Literal["pbkdf2", "bcrypt", "argon2id"] = field(
        default="pbkdf2",
        metadata=_spec("Password hash for new and upgraded hashes (older ones upgrade at login)."),
    )
    bcrypt_cost: int = field(
        default=10, metadata=_spec("bcrypt work factor: 2**cost rounds per hash.", lo=4, hi=20)
    )
    argon2_time_cost: int = field(
        default=2, metadata=_spec("argon2id passes over its memory per hash.", lo=1, hi=20)
    )
    argon2_memory_kib: int = field(
        default=19_456, metadata=_spec("argon2id memory per hash, in KiB.", lo=8, hi=1_048_576)
    )
    revocation_check: bool = field(
        default=False,
        metadata=_spec("The gateway asks Redis, per request with a token, whether its client was "
                       "revoked (else a token works until it expires)."),
    )
    login_limit: Literal["off", "per_ip", "per_account"] = field(
        default="off", metadata=_spec("Limit login attempts per client address or per account.")
    )
    login_limit_max: int = field(
        default=5, metadata=_spec("Login attempts allowed per window (per address or account).",
                                  lo=1, hi=1_000_000)
    )
    login_limit_window_s: float = field(
        default=60.0, metadata=_spec("Length of the login-limit window in seconds.", lo=1, hi=86400)
    )


@dataclass(frozen=True)
class QueueSettings:
    mode: Literal["sync", "async"] = field(
        default="sync", metadata=_spec("Do follow-up work in the request, or queue it for workers.")
    )
    workers: int = field(default=2, metadata=_spec("Queue consumers running.", lo=1, hi=64))
    max_attempts: int = field(
        default=5, metadata=_spec("Attempts before a job goes to the dead-letter stream.", lo=1, hi=100)
    )
    backoff_ms: float = field(
        default=200.0,
        metadata=_spec("First retry delay; each further retry waits twice as long.", lo=0, hi=600_000),
    )
    visibility_timeout_s: float = field(
        default=5.0,
        metadata=_spec("Seconds before another worker may claim a job its worker never acked.",
                       lo=0.001, hi=3600),
    )
    delivery: Literal["pubsub", "stream"] = field(
        default="pubsub",
        metadata=_spec("How order events reach their subscribers: Redis PUBLISH/SUBSCRIBE "
                       "(kept nowhere) or a Redis Stream with a consumer group per subscriber."),
    )
    partitions: int = field(
        default=1,
        metadata=_spec("Channels or streams the order events are split over; each subscriber "
                       "reads each one with a consumer of its own.", lo=1, hi=64),
    )
    partition_key: Literal["none", "customer"] = field(
        default="none",
        metadata=_spec("How an event picks its partition: none (round robin) or by the "
                       "order's customer, so one customer's events stay in order."),
    )


@dataclass(frozen=True)
class TopologySettings:
    instances: int = field(default=2, metadata=_spec("App instances behind the balancer.", lo=1, hi=32))
    concurrency: int = field(
        default=4, metadata=_spec("Requests one instance works on at once.", lo=1, hi=256)
    )


@dataclass(frozen=True)
class LbSettings:
    algorithm: Literal["round_robin", "least_connections", "hash"] = field(
        default="round_robin", metadata=_spec("How the load balancer picks an instance.")
    )
    health_check_s: float = field(
        default=2.0,
        metadata=_spec("Seconds between the balancer's health checks of each instance.",
                       lo=0.01, hi=3600),
    )


@dataclass(frozen=True)
class DeploySettings:
    rolling_restart: bool = field(
        default=False,
        metadata=_spec("Restart every app instance in turn, deploy.start_s into a run (the "
                       "same as deploy.release=on)."),
    )
    readiness_check: bool = field(
        default=False,
        metadata=_spec("The balancer's health check asks each instance whether it is ready, "
                       "not only alive."),
    )
    drain_s: float = field(
        default=3.0,
        metadata=_spec("Seconds a stopping instance keeps serving before its process exits.",
                       lo=0, hi=3600),
    )
    warmup_s: float = field(
        default=1.5,
        metadata=_spec("Seconds a restarted instance needs (caches, migrations) before it can "
                       "serve.", lo=0, hi=3600),
    )
    release: bool = field(
        default=False,
        metadata=_spec("Deploy a new version (v2) deploy.start_s into a run, by deploy.strategy. "
                       "deploy.rolling_restart=on does the same (its older name)."),
    )
    start_s: float = field(
        default=1.0,
        metadata=_spec("When (simulated seconds into a run) a deploy begins.", lo=0, hi=86_400),
    )
    strategy: Literal["rolling", "blue_green", "canary"] = field(
        default="rolling",
        metadata=_spec("rolling: restart instances in turn; blue_green: start a second set, "
                       "switch all traffic once it is ready; canary: send canary_percent first."),
    )
    canary_percent: float = field(
        default=10.0,
        metadata=_spec("With canary: the share of traffic (%) the new version gets first.",
                       lo=0, hi=100),
    )
    canary_s: float = field(
        default=3.0,
        metadata=_spec("With canary: seconds the canary serves its share before the rest moves.",
                       lo=0, hi=86_400),
    )
    bad_release: Literal["off", "errors", "slow"] = field(
        default="off",
        metadata=_spec("The new version is broken: errors fails bad_error_rate of its requests "
                       "with 500; slow adds bad_latency_ms to each."),
    )
    bad_error_rate: float = field(
        default=0.5,
        metadata=_spec("With bad_release=errors: the share of requests v2 fails.", lo=0, hi=1),
    )
    bad_latency_ms: float = field(
        default=300.0,
        metadata=_spec("With bad_release=slow: extra time v2 takes per request.", lo=0,
                       hi=600_000),
    )
    auto_rollback: bool = field(
        default=False,
        metadata=_spec("When an alert fires during a deploy, traffic goes back to the old "
                       "version."),
    )


@dataclass(frozen=True)
class DnsSettings:
    cache: bool = field(default=True, metadata=_spec("Clients remember DNS answers for ttl_s."))
    ttl_s: float = field(
        default=60.0, metadata=_spec("Seconds a client may reuse a DNS answer.", lo=0, hi=86400)
    )


@dataclass(frozen=True)
class NetworkSettings:
    latency_ms: float = field(
        default=1.0, metadata=_spec("Typical one-way latency of one network hop.", lo=0, hi=10_000)
    )
    jitter: float = field(
        default=0.2, metadata=_spec("Random spread of hop latency, as a fraction of it.", lo=0, hi=1)
    )
    keep_alive: bool = field(
        default=True,
        metadata=_spec("A client reuses its open connection; off: every request opens (and "
                       "pays for) a new one: DNS, TCP and TLS handshakes."),
    )
    tls: bool = field(
        default=False,
        metadata=_spec("HTTPS: each new connection also pays a TLS 1.3 handshake (1 round trip)."),
    )
    idle_timeout_s: float = field(
        default=75.0,
        metadata=_spec("Seconds an unused keep-alive connection stays open before the server "
                       "closes it.", lo=0, hi=86400),
    )


@dataclass(frozen=True)
class FaultsSettings:
    worker_crash_rate: float = field(
        default=0.0, metadata=_spec("Chance a queue worker dies mid-job.", lo=0, hi=1)
    )
    poison_rate: float = field(
        default=0.0, metadata=_spec("Share of queued jobs that can never succeed.", lo=0, hi=1)
    )
    cache_down: bool = field(
        default=False, metadata=_spec("The cache server is unreachable.")
    )
    db_down: bool = field(default=False, metadata=_spec("The database is unreachable."))
    instance_down: int = field(
        default=0, metadata=_spec("This app instance (1, 2, ...) is dead; 0: none.", lo=0, hi=32)
    )
    instance_down_at_s: float = field(
        default=0.0,
        metadata=_spec("When (simulated seconds into a run) faults.instance_down dies.", lo=0,
                       hi=86_400),
    )
    hop: Literal["none", "dns", "lb", "gateway", "app", "db", "email"] = field(
        default="none", metadata=_spec("Where hop_latency_ms and hop_error_rate strike.")
    )
    hop_latency_ms: float = field(
        default=0.0, metadata=_spec("Extra latency at faults.hop.", lo=0, hi=600_000)
    )
    hop_error_rate: float = field(
        default=0.0, metadata=_spec("Share of calls that fail at faults.hop.", lo=0, hi=1)
    )
    subscriber_offline_s: float = field(
        default=0.0,
        metadata=_spec("Seconds the analytics subscriber is away (0: never).", lo=0, hi=86_400),
    )
    subscriber_offline_at_s: float = field(
        default=0.0,
        metadata=_spec("When (simulated seconds into a run) the analytics subscriber goes away.",
                       lo=0, hi=86_400),
    )
    cache_down_at_s: float = field(
        default=0.0,
        metadata=_spec("When (simulated seconds into a run) the cache server crashes and loses "
                       "what it held; it stays down. 0: never.", lo=0, hi=86_400),
    )


@dataclass(frozen=True)
class ResilienceSettings:
    timeout_ms: float = field(
        default=1000.0,
        metadata=_spec("How long one call to the database or e-mail provider may take.",
                       lo=1, hi=600_000),
    )
    retries: int = field(
        default=0, metadata=_spec("Extra attempts after a failed or timed-out call.", lo=0, hi=10)
    )
    retry_backoff_ms: float = field(
        default=50.0, metadata=_spec("Wait before the first retry; doubles each time.", lo=0,
                                     hi=60_000)
    )
    breaker: bool = field(
        default=False, metadata=_spec("A circuit breaker around each dependency.")
    )
    breaker_threshold: int = field(
        default=5, metadata=_spec("Failures in a row that open the breaker.", lo=1, hi=1000)
    )
    breaker_reset_s: float = field(
        default=5.0, metadata=_spec("Seconds an open breaker waits before a trial call.",
                                    lo=0.001, hi=3600)
    )


@dataclass(frozen=True)
class RedisSettings:
    url: str = field(
        default="",
        metadata=_spec("A real Redis server (redis://HOST:PORT/DB); empty: in-process fakeredis."),
    )


@dataclass(frozen=True)
class CdnSettings:
    enabled: bool = field(
        default=False,
        metadata=_spec("An edge cache (CDN) near the clients answers anonymous GETs of public "
                       "pages (products, listings, reviews) without asking the shop."),
    )
    ttl_s: float = field(
        default=60.0,
        metadata=_spec("Seconds the edge keeps a page (less if the shop's Cache-Control says "
                       "so).", lo=0, hi=86400),
    )


@dataclass(frozen=True)
class AlertSettings:
    error_rate: float = field(
        default=0.02,
        metadata=_spec("Alert when more than this share of requests get a 5xx over window_s "
                       "(0: no such rule).", lo=0, hi=1),
    )
    p95_ms: float = field(
        default=250.0,
        metadata=_spec("Alert when the p95 latency over window_s is above this (0: no such "
                       "rule).", lo=0, hi=600_000),
    )
    window_s: float = field(
        default=1.0,
        metadata=_spec("The sliding window (simulated seconds) an alert rule looks at.",
                       lo=0.1, hi=3600),
    )
    for_s: float = field(
        default=1.0,
        metadata=_spec("How long a rule's condition must hold before the alert fires.", lo=0,
                       hi=3600),
    )


@dataclass(frozen=True)
class GraphQLSettings:
    loader: Literal["naive", "batched"] = field(
        default="naive",
        metadata=_spec("How POST /graphql loads nested reviews and products: one query per "
                       "parent (naive) or one query per list (batched)."),
    )
    max_depth: int = field(
        default=8,
        metadata=_spec("The deepest field nesting a GraphQL query may have (introspection "
                       "gets twice this).", lo=2, hi=32),
    )


@dataclass(frozen=True)
class Settings:
    """Every switch of the sandbox. Frozen: change it with `apply_assignments` or `replace`."""

    cache: CacheSettings = field(default_factory=CacheSettings)
    db: DbSettings = field(default_factory=DbSettings)
    ratelimit: RateLimitSettings = field(default_factory=RateLimitSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    topology: TopologySettings = field(default_factory=TopologySettings)
    lb: LbSettings = field(default_factory=LbSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    dns: DnsSettings = field(default_factory=DnsSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    faults: FaultsSettings = field(default_factory=FaultsSettings)
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    cdn: CdnSettings = field(default_factory=CdnSettings)
    alert: AlertSettings = field(default_factory=AlertSettings)
    graphql: GraphQLSettings = field(default_factory=GraphQLSettings)

    def get(self, key: str) -> Any:
        """The value of a dotted key."""
        spec = key_spec(key)
        return getattr(getattr(self, spec.section), spec.name)

    def replace(self, changes: Mapping[str, Any]) -> Settings:
        """A copy with typed values set; each value is validated like text from the CLI."""
        return apply_assignments(self, (f"{k}={format_value(v)}" for k, v in changes.items()))

    def as_dict(self) -> dict[str, Any]:
        """Every dotted key and its value, in the order of `all_keys()`."""
        return {spec.key: self.get(spec.key) for spec in all_keys()}

    def diff(self, other: Settings) -> dict[str, tuple[Any, Any]]:
        """The keys whose values differ, as key -> (self's, other's)."""
        out: dict[str, tuple[Any, Any]] = {}
        for spec in all_keys():
            a, b = self.get(spec.key), other.get(spec.key)
            if a != b:
                out[spec.key] = (a, b)
        return out


@dataclass(frozen=True)
class KeySpec:
    """What one dotted key accepts, for validation, help text and the terminal app's widgets."""

    key: str
    section: str
    name: str
    kind: Literal["bool", "int", "float", "choice", "indexes", "text"]
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None

    def describe(self) -> str:
        """One line: what the key accepts."""
        if self.kind == "choice":
            return " | ".join(self.choices)
        if self.kind == "bool":
            return "on | off"
        if self.kind == "indexes":
            return "comma list of " + ", ".join(INDEX_CANDIDATES) + "; or none"
        if self.kind == "text":
            return "redis://HOST:PORT[/DB], or empty"
        bounds = f" from {_num(self.lo)} to {_num(self.hi)}" if self.lo is not None else ""
        return ("a whole number" if self.kind == "int" else "a number") + bounds


def _num(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _build_specs() -> dict[str, KeySpec]:
    specs: dict[str, KeySpec] = {}
    defaults = Settings()
    for section in dataclasses.fields(Settings):
        cls = type(getattr(defaults, section.name))
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            meta = f.metadata
            default = getattr(getattr(defaults, section.name), f.name)
            choices: tuple[str, ...] = ()
            kind: Literal["bool", "int", "float", "choice", "indexes", "text"]
            if hint is bool:
                kind = "bool"
            elif hint is int:
                kind = "int"
            elif hint is float:
                kind = "float"
            elif hint is str:
                kind = "text"
            elif getattr(hint, "__origin__", None) is Literal:
                kind, choices = "choice", tuple(get_args(hint))
            else:
                kind = "indexes"
            key = f"{section.name}.{f.name}"
            specs[key] = KeySpec(
                key, section.name, f.name, kind, default, meta["help"], choices, meta["lo"], meta["hi"]
            )
    return specs


_SPECS = _build_specs()


def all_keys() -> list[KeySpec]:
    """Every settings key, in a stable order (section, then field)."""
    return list(_SPECS.values())


def key_spec(key: str) -> KeySpec:
    """The spec of one key; SettingsError naming the valid keys if it does not exist."""
    try:
        return _SPECS[key]
    except KeyError:
        close = difflib.get_close_matches(key, _SPECS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise SettingsError(
            f"unknown setting '{key}'.{hint} Valid keys: {', '.join(_SPECS)}"
        ) from None


def parse_value(spec: KeySpec, text: str) -> Any:
    """Turn the text of a value into the key's type, or raise SettingsError saying what fits."""
    raw = text.strip()
    low = raw.lower()
    bad = f"bad value '{text}' for {spec.key}: expected {spec.describe()}"
    if spec.kind == "bool":
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(bad)
    if spec.kind == "choice":
        if low in spec.choices:
            return low
        close = difflib.get_close_matches(low, spec.choices, n=1)
        raise SettingsError(bad + (f" (did you mean '{close[0]}'?)" if close else ""))
    if spec.kind == "indexes":
        return _parse_indexes(spec, raw)
    if spec.kind == "text":
        return _parse_redis_url(spec, raw)
    try:
        number: float = int(raw) if spec.kind == "int" else float(raw)
    except ValueError:
        raise SettingsError(bad) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SettingsError(bad)
    if (spec.lo is not None and number < spec.lo) or (spec.hi is not None and number > spec.hi):
        raise SettingsError(bad)
    return number


def _parse_indexes(spec: KeySpec, raw: str) -> tuple[str, ...]:
    if raw.lower() in ("none", ""):
        return ()
    if raw.lower() == "default":
        return DEFAULT_INDEXES
    chosen: list[str] = []
    for part in raw.split(","):
        name = part.strip().lower()
        if name not in INDEX_CANDIDATES:
            raise SettingsError(
                f"bad value '{raw}' for {spec.key}: unknown index '{name}'; "
                f"expected {spec.describe()}"
            )
        if name not in chosen:
            chosen.append(name)
    return tuple(sorted(chosen, key=INDEX_CANDIDATES.index))


def _parse_redis_url(spec: KeySpec, raw: str) -> str:
    if raw == "":
        return ""
    scheme, sep, rest = raw.partition("://")
    if scheme not in ("redis", "rediss", "unix") or not sep or not rest:
        raise SettingsError(
            f"bad value '{raw}' for {spec.key}: expected {spec.describe()}, "
            "for example redis://127.0.0.1:6379/0"
        )
    return raw


def format_value(value: Any) -> str:
    """The text form of a value, the inverse of `parse_value`."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(value) if value else "none"
    if isinstance(value, float):
        # repr round-trips exactly; whole numbers print without a trailing ".0".
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split `key=value` and validate both."""
    key, sep, value = text.partition("=")
    if not sep:
        raise SettingsError(f"'{text}' is not key=value, for example cache.strategy=cache_aside")
    spec = key_spec(key.strip())
    return spec.key, parse_value(spec, value)


def apply_assignments(settings: Settings, assignments: Iterable[str]) -> Settings:
    """A copy of `settings` with each `key=value` applied, in order."""
    sections: dict[str, dict[str, Any]] = {}
    for text in assignments:
        key, value = parse_assignment(text)
        spec = _SPECS[key]
        sections.setdefault(spec.section, {})[spec.name] = value
    updates = {
        section: dataclasses.replace(getattr(settings, section), **values)
        for section, values in sections.items()
    }
    return dataclasses.replace(settings, **updates)
