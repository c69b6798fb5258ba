"""The path of one request: client -> DNS -> load balancer -> gateway -> app instance -> back.

`Network.deliver` carries a request along that path, opening one span per hop in the
request's trace and moving the simulated clock by each hop's modelled latency. The app
instance at the end is a real ASGI app, called with a real ASGI scope.

A client without an open connection first opens one (DNS, TCP, maybe TLS: see
`connections`); with `cdn.enabled` the connection goes to an edge cache near the client, which
answers public pages it holds and forwards the rest to the balancer (see `edge`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox import tracing
from sandbox.clock import SimClock
from sandbox.errors import ApiError, BadGateway, InternalError, ServiceUnavailable
from sandbox.mechanisms.alerting import AlertEvaluator, AlertRule, LiveAlert
from sandbox.network.balancer import Balancer, make_balancer
from sandbox.network.connections import ConnectionTable
from sandbox.network.deploy import (
    NEW,
    OLD,
    DeployLog,
    InstanceStatus,
    ReadinessCheck,
    Rollout,
    TrafficController,
    check_readiness,
    state_code,
)
from sandbox.network.dns import LOOKUP_HOPS, DnsResolver
from sandbox.network.edge import EDGE_CPU_MS, EDGE_SCALE, EdgeCache, edge_key
from sandbox.network.gateway import GATEWAY_CPU_MS, Gateway
from sandbox.network.instance import AppInstance
from sandbox.network.latency import LatencyModel
from sandbox.network.release import BrokenRelease
from sandbox.network.routing import ReadRouter, ReadYourWritesRouter
from sandbox.request_context import RequestContext, current_request
from sandbox.settings import DeploySettings, Settings
from sandbox.tracing import Trace
from sandbox.turns import current_turns

LB_CPU_MS = 0.02
APP_SERVER_MS = 1.0  # the app server's own work per request: parse, route, serialize
_ASGI = {"version": "3.0", "spec_version": "2.3"}  # the same in every scope; nobody changes it


def alert_rules(settings: Settings) -> list[AlertRule]:
    """The alert rules switched on (`alert.error_rate`, `alert.p95_ms`; 0 leaves one out)."""
    alert = settings.alert
    rules = []
    if alert.error_rate > 0:
        rules.append(AlertRule("error_rate", alert.error_rate, alert.window_s, alert.for_s))
    if alert.p95_ms > 0:
        rules.append(AlertRule("p95_ms", alert.p95_ms, alert.window_s, alert.for_s))
    return rules


@dataclass(slots=True)
class SimRequest:
    """An HTTP request as the simulated network carries it."""

    method: str
    path: str
    query: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    client: str = "client-1"
    host: str = "shop.sandbox"


@dataclass(slots=True)
class SimResponse:
    """What came back, and the trace of how."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    trace: Trace

    def json(self) -> Any:
        return json.loads(self.body)


def _envelope_response(error: ApiError, request_id: str) -> tuple[int, list[tuple[bytes, bytes]],
                                                                   bytes]:
    body = json.dumps(error.envelope(request_id)).encode()
    headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    return error.status, headers, body


class Network:
    """The simulated network in front of the app instances.

    Args:
        clock: the sandbox's clock.
        settings: a callable returning the live settings.
        make_app: builds one ASGI app instance.
        rng: the seeded random source for jitter.
        log_event: where unexpected failures are logged.
        background: called before each request with nothing traced, for work that happens
            as simulated time passes (deferred cache writes, queue workers).
        release_seed: seeds which requests a broken release (`deploy.bad_release`) fails.
    """

    def __init__(
        self,
        clock: SimClock,
        settings: Callable[[], Settings],
        make_app: Callable[[], Any],
        rng: random.Random,
        log_event: Callable[..., None],
        background: Callable[[], None] | None = None,
        release_seed: int = 0,
    ) -> None:
        self.clock = clock
        self._settings = settings
        self._make_app = make_app
        self._log_event = log_event
        self._background = background
        self.gateway = Gateway()
        current = settings()
        self.latency = LatencyModel(rng, current.network)
        self.dns = DnsResolver(current.dns)
        self.connections = ConnectionTable(current.network)
        # The sandbox's oracle for the edge: what a page's data is now (see `edge`).
        self.edge_fingerprint: Callable[[str], object] | None = None
        self.edge: EdgeCache | None = None
        self.balancer: Balancer = make_balancer(current.lb.algorithm)
        self.instances: list[AppInstance] = []
        self._requests = 0
        self._next_health_check = 0.0
        # With `deploy.readiness_check=on` the health check asks this whether each running
        # instance is ready; `ping_database` is its trivial query (set by the sandbox).
        self.readiness: ReadinessCheck = check_readiness
        self.ping_database: Callable[[], bool] = lambda: True
        self._rollout: Rollout | None = None
        self._release_seed = release_seed
        # A blue_green or canary deploy's second set of instances, running v2.
        self.new_instances: list[AppInstance] = []
        self.deploy_log: DeployLog | None = None  # what a deploy did, while one is configured
        self._live_alerts: list[LiveAlert] = []  # with deploy.auto_rollback: watched live
        self._split = 0.0  # the router's running share owed to the new set
        # A plugged canary controller, made afresh for each canary deploy (None: the fixed
        # deploy.canary_percent for deploy.canary_s).
        self.make_canary_controller: Callable[[DeploySettings], TrafficController] | None = None
        self._served_version = OLD
        self.origin_ms = 0.0  # when the settings last applied: timed events count from here
        self.rng = rng
        # When a list, every trace logs its SQL here (the bench replays it to time it alone).
        self.sql_log: list[tuple[str, tuple[Any, ...]]] | None = None
        # Called with each request's finished trace, as a monitoring agent sees every answer.
        self.observers: list[Callable[[Trace], None]] = []
        # With a read replica: decides per request where its reads go (None: the replica).
        self.read_router: ReadRouter | None = None
        self.configure(current)

    def configure(self, settings: Settings, *, deploy: bool = True) -> None:
        """Apply network-related settings: instance count and capacity, balancer, DNS.

        Timed events (a deploy `deploy.start_s` in, an instance dying) count from now.
        `deploy=False` holds the deploy back: a run's warm-up is the shop before it, and the
        run configures again, with the deploy, when its measured part begins."""
        self.latency.settings = settings.network
        self.dns.settings = settings.dns
        self.connections.settings = settings.network
        if not settings.cdn.enabled:
            self.edge = None
        elif self.edge is None:
            self.edge = EdgeCache(settings.cdn, lambda path: self._fingerprint(path))
        else:
            self.edge.settings = settings.cdn
        if self.balancer.name != settings.lb.algorithm:
            self.balancer = make_balancer(settings.lb.algorithm)
        wanted = settings.topology.instances
        while len(self.instances) < wanted:
            name = f"app-{len(self.instances) + 1}"
            self.instances.append(
                AppInstance(name, self._make_app(), settings.topology.concurrency,
                            settings.db.pool_size)
            )
        del self.instances[wanted:]
        for instance in self.instances:
            instance.set_concurrency(settings.topology.concurrency)
            instance.pool.resize(settings.db.pool_size)
        wants_router = settings.db.read_replica and settings.db.read_your_writes
        lag = settings.db.replica_lag_ms
        if not wants_router:
            self.read_router = None
        elif not (isinstance(self.read_router, ReadYourWritesRouter)
                  and self.read_router.lag_ms == lag):
            self.read_router = ReadYourWritesRouter(lag)
        self._settings_now = settings
        # Read on every request, so looked up here once per settings change.
        self._fault_hop = settings.faults.hop
        # The instance dies at this simulated time; the balancer learns it at its next check.
        self._dies_at = self.clock.now_ms + settings.faults.instance_down_at_s * 1000.0
        self.origin_ms = self.clock.now_ms
        self._configure_deploy(settings, deploy)
        self._deaths_change = bool(settings.faults.instance_down) or self._rollout is not None
        self._apply_deaths(self.clock.now_ms)

    def _configure_deploy(self, settings: Settings, wanted: bool) -> None:
        """Schedule `deploy.release` (or its older name `deploy.rolling_restart`)."""
        deploy = settings.deploy
        self.new_instances = []
        self._live_alerts = []
        self._split = 0.0
        if not (wanted and (deploy.release or deploy.rolling_restart)):
            self._rollout = self.deploy_log = None
            return
        count = len(self.instances)
        start_ms = self.origin_ms + deploy.start_s * 1000.0
        self._rollout = Rollout(deploy.strategy, count, start_ms, deploy.drain_s * 1000.0,
                                deploy.warmup_s * 1000.0, deploy.canary_percent / 100.0,
                                deploy.canary_s * 1000.0)
        if deploy.strategy == "canary" and self.make_canary_controller is not None:
            self._rollout.controller = self.make_canary_controller(deploy)
        self.deploy_log = DeployLog(self.origin_ms, start_ms)
        rng = random.Random(self._release_seed)
        for instance in self.instances:
            instance.releases[NEW] = self._release(instance.releases[OLD], deploy, rng)
        for number in range(count + 1, count + self._rollout.new_set + 1):
            app = self._make_app()
            instance = AppInstance(f"app-{number}", app, settings.topology.concurrency,
                                   settings.db.pool_size)
            instance.alive = instance.up = False  # launched when the deploy begins
            instance.releases[NEW] = self._release(app, deploy, rng)
            instance.run_version(NEW)
            instance.warmup_ms = deploy.warmup_s * 1000.0
            self.new_instances.append(instance)
        if deploy.auto_rollback:
            self._live_alerts = [LiveAlert(AlertEvaluator(rule, self.origin_ms))
                                 for rule in alert_rules(settings)]

    def _release(self, app: Any, deploy: DeploySettings, rng: random.Random) -> Any:
        """The app v2 serves with: the same app, or a broken release of it."""
        if deploy.bad_release == "off":
            return app
        return BrokenRelease(app, deploy.bad_release, deploy.bad_error_rate,
                             deploy.bad_latency_ms, self.clock, rng)

    def _apply_deaths(self, now_ms: float) -> None:
        """Bring each instance's process state up to `now_ms`: faults and rolling restarts."""
        down = self._settings_now.faults.instance_down
        rollout = self._rollout
        for number, instance in enumerate(self.instances, start=1):
            up = True
            instance.draining = False
            if rollout is not None:
                phase, instance.started_ms, version = rollout.old_process(number - 1, now_ms)
                instance.warmup_ms = rollout.warmup_ms
                instance.draining = phase == "draining"
                up = version is not None
                if version is not None:
                    instance.run_version(version)
            else:
                instance.run_version(OLD)
            instance.up = up and not (number == down and now_ms >= self._dies_at)
        if rollout is not None and self.new_instances:
            _, started, version = rollout.new_process(now_ms)
            for instance in self.new_instances:
                instance.started_ms = started
                instance.up = version is not None

    def _route(self, now_ms: float) -> list[AppInstance]:
        """During a deploy: the set of instances this request goes to. With a second set, the
        router switches to it once every one of its instances is ready, and then sends it its
        share (a running total, so 10% is exactly every tenth request)."""
        rollout = self._rollout
        if rollout is None or not self.new_instances:
            return self.instances
        if rollout.switched_ms is None and rollout.rollback_ms is None and self._set_ready(now_ms):
            rollout.switched_ms = now_ms
        self._split += rollout.new_share(now_ms)
        if self._split >= 1.0 - 1e-9:
            self._split -= 1.0
            return self.new_instances
        return self.instances

    def _set_ready(self, now_ms: float) -> bool:
        """The deploy tool's own check before a switch: the balancer sees every new instance
        alive, and each answers its readiness check (whatever `deploy.readiness_check` says:
        switching everything to a set that is still warming would fail everyone at once)."""
        for instance in self.new_instances:
            if not (instance.up and instance.alive):  # a process not running answers nothing
                return False
            status = InstanceStatus(instance.name, instance.started_ms, instance.warmup_ms,
                                    instance.draining, self.ping_database)
            if not self.readiness(status, now_ms)[0]:
                return False
        return True

    def _watch_deploy(self, trace: Trace) -> None:
        """After each request during a deploy: count who served it, note each instance's
        state, and with `deploy.auto_rollback` feed the live alerts; one firing rolls back."""
        rollout, log = self._rollout, self.deploy_log
        assert rollout is not None and log is not None
        root = trace.root
        at = root.start_ms  # the states the balancer saw when this request arrived
        version, self._served_version = self._served_version, "none"
        log.served(version, trace.status, at)
        if rollout.controller is not None and version != "none":
            rollout.controller.observe(at, version, trace.status, root.duration_ms)
        log.snapshot(at, [(i.name, state_code(i.up, i.draining, i.warming_up(at), i.version))
                          for i in self.instances + self.new_instances])
        for alert in self._live_alerts:
            fired_ms = alert.observe(at, root.duration_ms, trace.status)
            if fired_ms is not None and fired_ms >= rollout.start_ms:  # not before the deploy
                if log.alert_fired_ms is None:
                    log.alert_fired_ms = fired_ms
                rollout.rollback(fired_ms)

    def deploy_report(self, end_ms: float) -> dict[str, Any] | None:
        """The deploy's figures for the run's metrics (None without a deploy)."""
        rollout, log = self._rollout, self.deploy_log
        if rollout is None or log is None:
            return None
        settings = self._settings_now.deploy

        def at_s(ms: float | None) -> float | None:
            return None if ms is None else round((ms - self.origin_ms) / 1000.0, 3)

        finished = rollout.finished_ms()
        rollback: dict[str, Any] | None = None
        if rollout.rollback_ms is not None:
            done: float | None = rollout.rolled_back_ms or rollout.rollback_ms
            if done is not None and done > end_ms:
                done = None  # still under way when the run ended: no time is reported yet
            fired = log.alert_fired_ms
            rollback = {
                "alert_fired_at_s": at_s(fired),
                "ordered_at_s": at_s(rollout.rollback_ms),
                "completed_at_s": at_s(done),
                "from_deploy_start_s": None if done is None
                else round((done - rollout.start_ms) / 1000.0, 3),
                "from_alert_s": None if fired is None or done is None
                else round((done - fired) / 1000.0, 3),
            }
        return {
            "strategy": rollout.strategy,
            "bad_release": settings.bad_release,
            "started_at_s": at_s(rollout.start_ms),
            "switched_at_s": at_s(rollout.switched_ms),
            "finished_at_s": at_s(finished) if finished is not None and finished <= end_ms
            else None,
            "requests_by_version": dict(sorted(log.requests.items())),
            "errors_by_version": dict(sorted(log.errors.items())),
            "errors": sum(log.errors.values()),
            "rollback": rollback,
            "timeline": log.timeline(),
        }

    def health_check(self, now_ms: float, span: Any = None) -> None:
        """Every `lb.health_check_s` the balancer asks each instance whether it is alive, and
        with `deploy.readiness_check=on` whether it is ready to serve."""
        if now_ms < self._next_health_check:
            return
        self._check_health(now_ms, span)

    def _check_health(self, now_ms: float, span: Any) -> None:
        ask_ready = self._settings_now.deploy.readiness_check
        not_ready: list[str] = []
        for instance in self.instances + self.new_instances:
            alive = instance.up  # a process that is gone answers nothing at all
            if alive and ask_ready:
                status = InstanceStatus(instance.name, instance.started_ms, instance.warmup_ms,
                                        instance.draining, self.ping_database)
                alive, reason = self.readiness(status, now_ms)
                if not alive:
                    not_ready.append(f"{instance.name}: {reason}")
            instance.alive = alive
        if span is not None and not_ready:
            span.attrs["lb.not_ready"] = "; ".join(not_ready)
        self._next_health_check = now_ms + self._settings_now.lb.health_check_s * 1000.0

    def _hop_fault(self, hop: str, span: Any) -> bool:
        """Apply `faults.hop` here: extra latency, and whether this hop fails."""
        if self._fault_hop != hop:
            return False
        faults = self._settings_now.faults
        self.clock.now_ms += faults.hop_latency_ms
        if faults.hop_error_rate and self.rng.random() < faults.hop_error_rate:
            span.attrs["fault"] = f"{hop} failed"
            return True
        return False

    def _fingerprint(self, path: str) -> object:
        found = self.edge_fingerprint
        return found(path) if found is not None else None

    def open_warm_connections(self, clients: list[str], host: str = "shop.sandbox") -> None:
        """Connections the clients opened before now, as a running shop's shoppers hold.

        Opening them took one DNS lookup, unless the resolver held a fresh answer; it is paid
        here, in no request's trace (no request is waiting on it)."""
        if not self.settings_now.network.keep_alive:
            return
        now = self.clock.now_ms
        if not self.dns.cached(host, now):
            self.latency.hop(LOOKUP_HOPS)
            self.dns.resolve(host, now)
        self.connections.open_warm([f"{client}|{host}" for client in clients], now)

    @property
    def settings_now(self) -> Settings:
        return self._settings_now

    def _connect(self, request: SimRequest, trace: Trace) -> None:
        """Open a new connection: resolve the name unless cached, then the TCP handshake and,
        with TLS, the TLS handshake, each one round trip to the front (the edge, or the
        balancer)."""
        clock = self.clock
        latency = self.latency
        trace.count("net.new_connections")
        if not self.dns.cached(request.host, clock.now_ms):
            with trace.span("dns.lookup", "dns") as span:
                span.attrs["dns.host"] = request.host
                trace.count("dns.lookups")
                clock.now_ms += latency.hop(LOOKUP_HOPS)
                if self._settings_now.faults.hop == "dns":
                    clock.now_ms += self._settings_now.faults.hop_latency_ms
                self.dns.resolve(request.host, clock.now_ms)
        # One round trip is a hop out and a hop back; to the edge, both are short.
        rtt_scale = 2.0 * (EDGE_SCALE if self.edge is not None else 1.0)
        started = clock.now_ms
        with trace.span("tcp.handshake", "client") as span:
            span.attrs["net.to"] = "edge" if self.edge is not None else "lb"
            clock.now_ms += latency.hop(rtt_scale)
        trace.count("net.handshakes")
        if self._settings_now.network.tls:
            with trace.span("tls.handshake", "client") as span:
                span.attrs["tls.version"] = "1.3"
                clock.now_ms += latency.hop(rtt_scale)
            trace.count("net.handshakes")
        trace.count("net.handshake_us", round((clock.now_ms - started) * 1000.0))

    def next_request_id(self) -> str:
        self._requests += 1
        return f"req-{self._requests:06d}"

    async def deliver(self, request: SimRequest) -> SimResponse:
        """Carry one request along the whole path and back; returns response and trace."""
        clock = self.clock
        latency = self.latency
        if self._background is not None:
            self._background()
        trace = Trace(clock, self.next_request_id(), request.method, request.path)
        trace.client = request.client
        token = tracing.current_trace.set(trace)
        context = RequestContext(sql_log=self.sql_log)
        context_token = current_request.set(context)
        connection = f"{request.client}|{request.host}"
        try:
            if not self.connections.reuse(connection, clock.now_ms):
                self._connect(request, trace)
            if self.edge is None:
                status, headers, body = await self._through_balancer(request, trace, context)
                with trace.span("network.response", "client"):
                    clock.now_ms += latency.hop(3)  # back through instance, gateway, balancer
            else:
                status, headers, body = await self._through_edge(self.edge, request, trace,
                                                                 context)
            self.connections.done(connection, clock.now_ms)
            trace.finish(status)
            if self._rollout is not None:
                self._watch_deploy(trace)
            for observe in self.observers:
                observe(trace)
        finally:
            current_request.reset(context_token)
            tracing.current_trace.reset(token)
        return SimResponse(status, headers, body, trace)

    async def _through_edge(
        self, edge: EdgeCache, request: SimRequest, trace: Trace, context: RequestContext
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The edge answers from its copy, or forwards to the balancer and keeps the answer."""
        clock = self.clock
        latency = self.latency
        with trace.span("edge", "edge") as span:
            clock.now_ms += latency.hop(EDGE_SCALE) + EDGE_CPU_MS
            key = edge_key(request.method, request.host, request.path, request.query,
                           request.headers)
            entry = edge.get(key, clock.now_ms) if key is not None else None
            if key is None:
                span.attrs["edge.result"] = "pass"  # not a public page: never a copy
                trace.count("edge.passed")
            elif entry is not None:
                span.attrs["edge.result"] = "hit"
                span.attrs["edge.key"] = key
                trace.count("edge.hits")
                if edge.is_stale(entry, request.path):
                    span.attrs["edge.stale"] = True
                    trace.count("edge.stale_hits")
            else:
                span.attrs["edge.result"] = "miss"
                span.attrs["edge.key"] = key
                trace.count("edge.misses")
        if entry is not None:
            age_s = int((clock.now_ms - entry.stored_ms) // 1000)
            headers = [*entry.headers, (b"x-request-id", trace.request_id.encode()),
                       (b"x-cache", b"HIT"), (b"age", str(age_s).encode())]
            with trace.span("network.response", "client"):
                clock.now_ms += latency.hop(EDGE_SCALE)  # edge to client: the short way
            return entry.status, headers, entry.body
        status, headers, body = await self._through_balancer(request, trace, context)
        with trace.span("network.response", "client"):
            # Back through instance, gateway, balancer to the edge, then the short way home.
            clock.now_ms += latency.hop(3) + latency.hop(EDGE_SCALE)
        if key is not None and edge.store(key, request.path, status, headers, body,
                                          clock.now_ms):
            span.attrs["edge.stored"] = True
        return status, [*headers, (b"x-cache", b"MISS" if key is not None else b"PASS")], body

    async def _through_balancer(
        self, request: SimRequest, trace: Trace, context: RequestContext
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        clock = self.clock
        latency = self.latency
        with trace.span("lb", "lb") as span:
            clock.now_ms += latency.hop() + LB_CPU_MS
            if self._fault_hop == "lb" and self._hop_fault("lb", span):
                return _envelope_response(BadGateway("The load balancer failed."),
                                          trace.request_id)
            if self._deaths_change:
                self._apply_deaths(clock.now_ms)
            if clock.now_ms >= self._next_health_check:
                self._check_health(clock.now_ms, span)
            pool = self.instances if self._rollout is None else self._route(clock.now_ms)
            chosen = self.balancer.choose(pool, request.client, clock.now_ms)
            span.attrs["lb.algorithm"] = self.balancer.name
            if chosen is None:
                span.attrs["lb.result"] = "no live instance"
                return _envelope_response(
                    ServiceUnavailable("No app instance is available. Try again shortly."),
                    trace.request_id,
                )
            instance = pool[chosen]
            span.attrs["lb.instance"] = instance.name
        with trace.span("gateway", "gateway") as span:
            clock.now_ms += latency.hop() + GATEWAY_CPU_MS
            if self._fault_hop == "gateway" and self._hop_fault("gateway", span):
                return _envelope_response(BadGateway("The gateway failed."), trace.request_id)
            decision = refusal = None
            if self.gateway.limiter is not None:  # nothing to ask when rate limiting is off
                decision, refusal = self.gateway.admit(request.headers, request.client,
                                                       clock.now_ms, span, request.path)
            if refusal is not None:
                return _envelope_response(refusal, trace.request_id)
            if self.gateway.revocations is not None:  # `auth.revocation_check=on`
                revoked = self.gateway.revoked(request.headers, span)
                if revoked is not None:
                    return _envelope_response(revoked, trace.request_id)
        trace.instance = instance.name
        with trace.span(instance.name, "instance") as span:
            clock.now_ms += latency.hop()
            if self._rollout is not None:  # a deploy: which release answers (if any does)
                span.attrs["instance.version"] = instance.version
                self._served_version = instance.version if instance.up else "none"
            if not instance.up:
                # Nothing listens there any more: the connection is refused, and the
                # balancer, which has not noticed yet, answers 502.
                span.attrs["instance.down"] = True
                return _envelope_response(
                    BadGateway(f"{instance.name} did not answer; it may be down."),
                    trace.request_id,
                )
            if instance.warming_up(clock.now_ms):
                # The process runs but cannot serve yet: it answers, with an error.
                span.attrs["instance.starting"] = True
                return _envelope_response(
                    ServiceUnavailable(f"{instance.name} is still starting up. Try again "
                                       "shortly."),
                    trace.request_id,
                )
            if self._fault_hop == "app" and self._hop_fault("app", span):
                return _envelope_response(BadGateway(f"{instance.name} failed mid-request."),
                                          trace.request_id)
            turns = current_turns.get()
            if turns is not None:  # requests really overlap: every worker may be taken
                await turns.wait_until(instance.admits)
            arrived = clock.now_ms
            started = instance.start(arrived)
            if started > arrived:
                span.attrs["instance.queue_wait_ms"] = round(started - arrived, 3)
                clock.now_ms = started
            clock.now_ms += APP_SERVER_MS
            context.pool = instance.pool
            router = self.read_router
            if router is not None:
                context.read_route = router.choose(request.client, request.method, clock.now_ms)
                span.attrs["db.route"] = context.read_route
            try:
                status, headers, body = await self._call_app(instance.app, request)
            finally:
                instance.finish(clock.now_ms)
                if context.connection:
                    instance.pool.release(clock.now_ms)
                    context.connection = False
            if router is not None:
                router.answered(request.client, request.method, clock.now_ms)
        if decision is not None:
            headers = headers + [(k.lower().encode(), v.encode())
                                 for k, v in decision.headers().items()]
        return status, headers, body

    async def _call_app(
        self, app: Any, request: SimRequest
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Call a real ASGI app with a real scope; collect what it sends."""
        headers = request.headers
        if not headers:
            headers = [(b"host", request.host.encode())]
        elif not any(k == b"host" for k, _ in headers):
            headers = [(b"host", request.host.encode()), *headers]
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": request.path,
            "raw_path": request.path.encode(),
            "query_string": request.query,
            "root_path": "",
            "headers": headers,
            "client": (request.client, 50000),
            "server": (request.host, 80),
            "state": {},
        }
        body_sent = False
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if body_sent:
                return {"type": "http.disconnect"}
            body_sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                start.update(message)
            elif kind == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await app(scope, receive, send)
        except Exception as exc:  # the app's own handler should have answered; be safe
            trace = tracing.current_trace.get()
            request_id = trace.request_id if trace else ""
            self._log_event("error", "app raised", request_id=request_id, exception=repr(exc))
            if not start:
                return _envelope_response(InternalError(), request_id)
        return int(start["status"]), list(start.get("headers", [])), b"".join(chunks)
