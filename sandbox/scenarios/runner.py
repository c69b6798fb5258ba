"""The scenario runner: drive a traffic pattern through a sandbox and measure what happens.

Requests are sent one after another in arrival order, each at its simulated arrival time;
overlap between them is modelled by the app instances' capacity, so running this on a slow or
busy machine changes how long it takes, never what it measures.

A pattern may ask for a warm-up: that many requests of the same traffic go first and are left
out of the metrics, as load tests leave out their first minutes. A shop that has been open a
while has warm caches; `steady` measures that shop, not the first seconds after a restart.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sandbox.errors import SandboxError
from sandbox.network import SimRequest, SimResponse
from sandbox.runtime import Sandbox
from sandbox.scenarios.alerts import evaluate_alerts
from sandbox.scenarios.live_state import LiveState, snapshot
from sandbox.scenarios.metrics import MetricsRecorder
from sandbox.scenarios.mix import CLIENTS, Shoppers
from sandbox.scenarios.patterns import PATTERNS, Pattern
from sandbox.settings import Settings
from sandbox.tracing import Trace
from sandbox.turns import Turns, current_turns

PARTNER_KEY = b"sk_test_partner"
KEEP_TRACES = 1000  # the newest traces kept for inspection; metrics use every request

Progress = Callable[[int, int], None]
Watch = Callable[[LiveState], None]
WATCH_EVERY = 50  # requests between two looks at the mechanisms, when someone watches


class ScenarioCancelled(SandboxError):
    """The run was stopped before it finished."""


@dataclass
class ScenarioResult:
    """What a run measured, and the newest traces for a closer look."""

    name: str
    seed: int
    settings: Settings
    metrics: dict[str, Any]
    traces: deque[tuple[str, Trace]] = field(default_factory=deque)

    def to_json(self) -> str:
        return json.dumps(self.metrics, indent=2)


def get_pattern(name: str) -> Pattern:
    from sandbox.errors import SettingsError

    try:
        return PATTERNS[name]
    except KeyError:
        raise SettingsError(
            f"unknown scenario '{name}'. Valid scenarios: {', '.join(PATTERNS)}"
        ) from None


def run_scenario(
    name: str,
    settings: Settings | None = None,
    *,
    seed: int = 7,
    requests: int | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    sandbox: Sandbox | None = None,
    keep_traces: int = KEEP_TRACES,
    warmup: int | None = None,
    watch: Watch | None = None,
    observers: Sequence[Callable[[Trace], None]] = (),
) -> ScenarioResult:
    """Run scenario `name` on a fresh sandbox (or the one given) and return its metrics.

    `warmup` requests (the pattern's own number unless given) go first, unmeasured. The newest
    `keep_traces` traces are returned for a closer look; metrics use every measured request.
    `watch`, when given, is shown the mechanisms' state (`LiveState`) every `WATCH_EVERY`
    measured requests and at the end, with the rate limit of the busiest client so far.
    Each of `observers` is called with every measured request's trace (a metrics file, a log).
    """
    return asyncio.run(
        arun_scenario(name, settings, seed=seed, requests=requests, progress=progress,
                      cancelled=cancelled, sandbox=sandbox, keep_traces=keep_traces,
                      warmup=warmup, watch=watch, observers=observers)
    )


async def arun_scenario(
    name: str,
    settings: Settings | None = None,
    *,
    seed: int = 7,
    requests: int | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    sandbox: Sandbox | None = None,
    keep_traces: int = KEEP_TRACES,
    warmup: int | None = None,
    watch: Watch | None = None,
    observers: Sequence[Callable[[Trace], None]] = (),
) -> ScenarioResult:
    """The same as `run_scenario`, for callers already inside an event loop."""
    pattern = get_pattern(name)
    settings = with_pattern_settings(pattern, settings or (sandbox.settings if sandbox else
                                                           Settings()))
    owned = sandbox is None
    sb = sandbox or Sandbox(settings, seed=seed)
    if not owned:
        sb.apply(settings)
    total = requests or pattern.requests
    warmup = pattern.warmup if warmup is None else warmup
    shoppers = shoppers_for(pattern)(random.Random(seed * 1_000_003 + 1))
    observe = shoppers.observe if shoppers.observes else None
    needs_login = shoppers.needs_login
    recorder = MetricsRecorder()
    classify = shoppers.client_class if shoppers.has_classes else None
    kept: deque[tuple[str, Trace]] = deque(maxlen=keep_traces)
    mode = settings.auth.mode
    clock = sb.clock
    deliver = sb.network.deliver  # what `sb.deliver` calls, one call less per request
    start_ms = clock.now_ms
    # The shop is already running: shoppers logged in earlier and hold tokens, which expire
    # during long runs (then the shopper logs in again, through the pipeline).
    tokens = _warm_sessions(sb, shoppers_count=CLIENTS) if mode == "jwt" else {}
    # ... and their browsers hold open connections to it (kept while used: network.keep_alive).
    sb.network.open_warm_connections([f"client-{n}" for n in range(2, CLIENTS + 2)])
    queue_start = sb.queue_metrics()
    sb.reset_shard_stats()
    # Only the newest traces are kept, so only the last requests' are held at all: a trace
    # let go at once is cheap to free, one held for a thousand requests is not.
    first_kept = warmup + total - keep_traces
    busiest: Counter[str] = Counter()  # requests per client, kept only when watched
    measured_from = start_ms  # when the measured part began (after any warm-up)

    def answered(i: int, action: str, user_id: int, now: float, client: str,
                 response: SimResponse) -> None:
        nonlocal measured_from
        if shoppers.on_response is not None:
            shoppers.on_response(action, response.status, response.body, now, i >= warmup)
        if action == "login" and response.status == 200:
            body = json.loads(response.body)
            expires = now + body["expires_in"] * 1000.0
            tokens[user_id] = Session(expires, b"Bearer " + body["access_token"].encode())
        if observe is not None:
            observe(action, response.trace)
        if i >= warmup:
            recorder.record(action, response.trace)
            if classify is not None:
                recorder.record_class(classify(user_id), response.trace)
            for observer in observers:
                observer(response.trace)
            if i >= first_kept:
                kept.append((action, response.trace))
            if watch is not None:
                if i == warmup:
                    measured_from = now
                busiest[client] += 1
                if (i + 1 - warmup) % WATCH_EVERY == 0:
                    watch(snapshot(sb, busiest.most_common(1)[0][0], recorder.counts,
                                   (now - measured_from) / 1000.0, i + 1 - warmup, total))

    # A pattern whose requests overlap for real (a race) runs each as its own task, taking
    # turns in simulated-time order (see sandbox/turns.py); the others one after another.
    turns = Turns(clock) if pattern.overlap else None
    turns_set = current_turns.set(turns)
    if warmup:  # no deploy in the warm-up: it begins deploy.start_s into the measured part
        sb.network.configure(sb.settings, deploy=False)
    try:
        shoppers.begin(sb)
        arrivals = pattern.arrivals(random.Random(seed), warmup + total)
        for i, arrival in enumerate(arrivals):
            if cancelled is not None and cancelled():
                raise ScenarioCancelled(f"stopped after {i} of {warmup + total} requests")
            now = start_ms + arrival
            if turns is not None:  # the requests under way that are earlier go first
                await turns.run_until(now)
            clock.jump_to(now)
            if i == warmup and warmup:  # measuring starts here, as this request arrives
                # Timed events (an instance dying `faults.instance_down_at_s` into the run, a
                # deploy) count from here, so they happen in the measured part.
                sb.network.configure(sb.settings)
                sb.time_faults()
                if sb.ctx.events is not None:  # the warm-up's events reach subscribers first
                    sb.ctx.events.deliver(wait_s=0.05 if sb.redis.url else 0.0)
                    sb.ctx.events.anchor(sb.settings)  # an offline window counts from here
                queue_start = sb.queue_metrics()
                sb.reset_shard_stats()
            user_id = shoppers.client() + 2  # seeded customers 2..2001
            action = shoppers.action()
            if action in needs_login and mode == "jwt":
                held = tokens.get(user_id)
                if held is None or held.expires_ms <= now:
                    action = "login"
            act = shoppers.build(action, user_id)
            headers = act.headers
            if action in needs_login:
                if mode == "jwt":
                    headers = [*headers, (b"authorization", tokens[user_id].header())]
                elif mode == "api_key":
                    headers = [*headers, (b"x-api-key", PARTNER_KEY)]
                else:
                    headers = [*headers, (b"x-user-id", str(user_id).encode())]
            request = SimRequest(act.method, act.path, act.query, headers, act.body,
                                 client=f"client-{user_id}")
            # Who the rate limit counts (read only when someone watches the mechanisms).
            client = (sb.network.gateway.client_key(headers, request.client)
                      if watch is not None else "")
            if turns is None:
                answered(i, action, user_id, now, client, await deliver(request))
            else:
                await turns.start(_deliver_then(deliver(request),
                                                partial(answered, i, action, user_id, now,
                                                        client)))
            if progress is not None and (i + 1) % 250 == 0:
                progress(i + 1, warmup + total)
        if turns is not None:
            await turns.finish()
        if progress is not None:
            progress(warmup + total, warmup + total)
        sb.drain()  # let the workers finish, so queue figures count every job
        if watch is not None and busiest:
            watch(snapshot(sb, busiest.most_common(1)[0][0], recorder.counts,
                           (clock.now_ms - measured_from) / 1000.0, total, total))
        queue = queue_since(queue_start, sb.queue_metrics())
        _consumer_lag(sb, recorder)
        shards = sb.shard_metrics()
        if shards:  # `db.shards` above 1: each shard's figures, and the reads that asked them all
            shards["fanout_reads"] = recorder.counts["db.fanouts"]
        own = shoppers.report(sb)  # a scenario's own figures (none for the ordinary mix)
        watched = {"alerts": evaluate_alerts(recorder, settings, sb.network.origin_ms)}
        deploy = sb.network.deploy_report(clock.now_ms)
        if deploy is not None:
            watched["deploy"] = deploy
    finally:
        current_turns.reset(turns_set)
        if turns is not None:
            turns.cancel()
        if owned:
            sb.close()
    extra = {"scenario": name, "seed": seed, "warmup_requests": warmup,
             "settings": {k: v[0] for k, v in _changed(settings).items()}}
    metrics = {**extra, **recorder.summary({"queue": queue, **({"shards": shards} if shards else {}),
                                            **shoppers.figures(), **watched})}
    for section, figures in own.items():  # a mix's own figures join their section
        metrics[section] = {**metrics.get(section, {}), **figures}
    return ScenarioResult(name, seed, settings, metrics, kept)


async def _deliver_then(delivering: Awaitable[SimResponse],
                        then: Callable[[SimResponse], None]) -> None:
    then(await delivering)


def shoppers_for(pattern: Pattern) -> type[Shoppers]:
    """The Shoppers class a pattern's `mix` names ("module:Class"), or the shop's own."""
    if not pattern.mix:
        return Shoppers
    module, _, name = pattern.mix.partition(":")
    found = getattr(importlib.import_module(module), name)
    if not (isinstance(found, type) and issubclass(found, Shoppers)):
        raise TypeError(f"pattern {pattern.name}: {pattern.mix} is not a Shoppers class")
    return found


def with_pattern_settings(pattern: Pattern, settings: Settings) -> Settings:
    """`settings` with the switches `pattern` needs, where they still hold their defaults."""
    if not pattern.settings:
        return settings
    from sandbox.settings import apply_assignments

    defaults = Settings()
    return apply_assignments(settings, [f"{key}={value}" for key, value in pattern.settings
                                        if settings.get(key) == defaults.get(key)])


def queue_since(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """The queue's figures for the measured part of a run: counts (the jobs found lost among
    them) as differences, `pending` as the run ended."""
    if "pending" not in end:
        return end
    out: dict[str, Any] = {k: v - start.get(k, 0) for k, v in end.items()
                           if isinstance(v, int) and k != "pending"}
    out["pending"] = end["pending"]
    if "pubsub" in end:
        was = start.get("pubsub", {"published": 0, "received": {}})
        out["pubsub"] = {
            "published": end["pubsub"]["published"] - was["published"],
            "received": {k: n - was["received"].get(k, 0)
                         for k, n in end["pubsub"]["received"].items()},
        }
    if "events" in end:
        out["events"] = _events_since(start.get("events", {}), end["events"])
    return {k: out[k] for k in end}  # in the queue's own order


def _events_since(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """The event figures of the measured part: counts as differences, `pending` (and the
    switches) as the run ended."""
    out: dict[str, Any] = {}
    for key, value in end.items():
        if isinstance(value, dict):
            out[key] = _events_since(start.get(key, {}), value)
        elif isinstance(value, int) and key not in ("pending", "partitions"):
            out[key] = value - start.get(key, 0)
        else:
            out[key] = value
    return out


def _consumer_lag(sb: Sandbox, recorder: MetricsRecorder) -> None:
    """Consumer lag as series beside the traffic: jobs published and not yet done
    (`queue_lag`), and order events not yet processed, summed over subscribers (`events_lag`)."""
    if sb.ctx.jobs is not None:
        recorder.add_level("queue_lag", sb.ctx.jobs.published_ms, sb.ctx.jobs.finished_ms)
    if sb.ctx.events is not None:
        recorder.add_level("events_lag", *sb.ctx.events.lag_curve())


@dataclass(slots=True)
class Session:
    """A shopper's login: when its token expires (simulated ms), and the token itself, as an
    Authorization header value. A session from before the run signs its token when first
    used: most shoppers only browse, and signing a thousand up front costs a hundred requests."""

    expires_ms: float
    _header: bytes = b""
    _sign: Callable[[], str] | None = None

    def header(self) -> bytes:
        if not self._header and self._sign is not None:
            self._header = b"Bearer " + self._sign().encode()
        return self._header


def _warm_sessions(sb: Sandbox, shoppers_count: int) -> dict[int, Session]:
    """user id -> their session, logged in before the run."""
    ttl = sb.settings.auth.token_ttl_s
    rng = random.Random(sb.seed * 31 + 5)
    sessions: dict[int, Session] = {}
    for user_id in range(2, shoppers_count + 2):
        age_s = rng.uniform(0, ttl)  # logged in some time within the last token lifetime
        issued_s = sb.ctx.now_s() - age_s
        sign = partial(sb.ctx.tokens.issue, user_id, "customer", issued_s, ttl)
        sessions[user_id] = Session(sb.clock.now_ms + (ttl - age_s) * 1000, _sign=sign)
    return sessions


def _changed(settings: Settings) -> dict[str, tuple[Any, Any]]:
    from sandbox.settings import format_value

    return {k: (format_value(a), format_value(b)) for k, (a, b) in
            settings.diff(Settings()).items()}
