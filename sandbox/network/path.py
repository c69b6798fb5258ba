"""The path of one request: client -> DNS -> load balancer -> gateway -> app instance -> back.

`Network.deliver` carries a request along that path, opening one span per hop in the
request's trace and moving the simulated clock by each hop's modelled latency. The app
instance at the end is a real ASGI app, called with a real ASGI scope.
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
from sandbox.network.balancer import Balancer, make_balancer
from sandbox.network.deploy import (
    ROLLOUT_START_MS,
    InstanceStatus,
    ReadinessCheck,
    RollingRestart,
    check_readiness,
)
from sandbox.network.dns import LOOKUP_HOPS, DnsResolver
from sandbox.network.gateway import GATEWAY_CPU_MS, Gateway
from sandbox.network.instance import AppInstance
from sandbox.network.latency import LatencyModel
from sandbox.network.routing import ReadRouter, ReadYourWritesRouter
from sandbox.request_context import RequestContext, current_request
from sandbox.settings import Settings
from sandbox.tracing import Trace
from sandbox.turns import current_turns

LB_CPU_MS = 0.02
APP_SERVER_MS = 1.0  # the app server's own work per request: parse, route, serialize
_ASGI = {"version": "3.0", "spec_version": "2.3"}  # the same in every scope; nobody changes it


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
    """

    def __init__(
        self,
        clock: SimClock,
        settings: Callable[[], Settings],
        make_app: Callable[[], Any],
        rng: random.Random,
        log_event: Callable[..., None],
        background: Callable[[], None] | None = None,
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
        self.balancer: Balancer = make_balancer(current.lb.algorithm)
        self.instances: list[AppInstance] = []
        self._requests = 0
        self._next_health_check = 0.0
        # With `deploy.readiness_check=on` the health check asks this whether each running
        # instance is ready; `ping_database` is its trivial query (set by the sandbox).
        self.readiness: ReadinessCheck = check_readiness
        self.ping_database: Callable[[], bool] = lambda: True
        self._rollout: RollingRestart | None = None
        self.rng = rng
        # When a list, every trace logs its SQL here (the bench replays it to time it alone).
        self.sql_log: list[tuple[str, tuple[Any, ...]]] | None = None
        # Called with each request's finished trace, as a monitoring agent sees every answer.
        self.observers: list[Callable[[Trace], None]] = []
        # With a read replica: decides per request where its reads go (None: the replica).
        self.read_router: ReadRouter | None = None
        self.configure(current)

    def configure(self, settings: Settings) -> None:
        """Apply network-related settings: instance count and capacity, balancer, DNS."""
        self.latency.settings = settings.network
        self.dns.settings = settings.dns
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
        deploy = settings.deploy
        self._rollout = RollingRestart(
            self.clock.now_ms + ROLLOUT_START_MS, deploy.drain_s * 1000.0,
            deploy.warmup_s * 1000.0) if deploy.rolling_restart else None
        self._deaths_change = bool(settings.faults.instance_down) or self._rollout is not None
        self._apply_deaths(self.clock.now_ms)

    def _apply_deaths(self, now_ms: float) -> None:
        """Bring each instance's process state up to `now_ms`: faults and rolling restarts."""
        down = self._settings_now.faults.instance_down
        rollout = self._rollout
        for number, instance in enumerate(self.instances, start=1):
            up = True
            instance.draining = False
            if rollout is not None:
                phase, instance.started_ms = rollout.phase(number - 1, now_ms)
                instance.warmup_ms = rollout.warmup_ms
                instance.draining = phase == "draining"
                up = phase != "stopped"
            instance.up = up and not (number == down and now_ms >= self._dies_at)

    def health_check(self, now_ms: float, span: Any = None) -> None:
        """Every `lb.health_check_s` the balancer asks each instance whether it is alive, and
        with `deploy.readiness_check=on` whether it is ready to serve."""
        if now_ms < self._next_health_check:
            return
        self._check_health(now_ms, span)

    def _check_health(self, now_ms: float, span: Any) -> None:
        ask_ready = self._settings_now.deploy.readiness_check
        not_ready: list[str] = []
        for instance in self.instances:
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
        try:
            if not self.dns.cached(request.host, clock.now_ms):
                with trace.span("dns.lookup", "dns") as span:
                    span.attrs["dns.host"] = request.host
                    clock.now_ms += latency.hop(LOOKUP_HOPS)
                    if self._settings_now.faults.hop == "dns":
                        clock.now_ms += self._settings_now.faults.hop_latency_ms
                    self.dns.resolve(request.host, clock.now_ms)
            status, headers, body = await self._through_balancer(request, trace, context)
            with trace.span("network.response", "client"):
                clock.now_ms += latency.hop(3)  # back through instance, gateway, balancer
            trace.finish(status)
            for observe in self.observers:
                observe(trace)
        finally:
            current_request.reset(context_token)
            tracing.current_trace.reset(token)
        return SimResponse(status, headers, body, trace)

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
            chosen = self.balancer.choose(self.instances, request.client, clock.now_ms)
            span.attrs["lb.algorithm"] = self.balancer.name
            if chosen is None:
                span.attrs["lb.result"] = "no live instance"
                return _envelope_response(
                    ServiceUnavailable("No app instance is available. Try again shortly."),
                    trace.request_id,
                )
            instance = self.instances[chosen]
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
        trace.instance = instance.name
        with trace.span(instance.name, "instance") as span:
            clock.now_ms += latency.hop()
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
