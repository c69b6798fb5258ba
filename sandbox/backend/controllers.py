"""Controllers: HTTP in, HTTP out. Read the request, validate it, call a service, answer.

A controller knows status codes, headers and JSON; it knows no business rule and no SQL.
Every error leaves as the one envelope `{"error": {"code", "message", "details"?,
"request_id"}}`; an unexpected exception is logged server-side with its detail and the client
sees only a generic 500 with the request id.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from sandbox import tracing
from sandbox.backend.context import AppContext
from sandbox.backend.oauth import OAuthService, read_token_request
from sandbox.backend.openapi import openapi_document
from sandbox.backend.schemas import (
    HISTORY_QUERY,
    IDEMPOTENCY_KEY,
    LOGIN,
    MAX_BODY_BYTES,
    MAX_ID,
    ORDER,
    ORDER_ITEM,
    PRODUCT_PATCH,
    PRODUCTS_QUERY,
    REGISTER,
    REVIEW,
    REVIEWS_QUERY,
)
from sandbox.backend.services import Services, require_person, require_scope, require_user
from sandbox.backend.validation import Field, conform, problems, query_int, validate
from sandbox.errors import (
    ApiError,
    BadRequest,
    FieldError,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    OAuthError,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from sandbox.mechanisms.auth import Identity

CONTROLLER_CPU_MS = 0.05
Handler = Callable[[Request], Awaitable[tuple[int, Any]]]


_JSON_TYPE = (b"content-type", b"application/json")


async def send_json(send: Send, status: int, content: Any, request_id: str = "",
                    headers: dict[str, str] | None = None) -> None:
    """Send one complete JSON response over ASGI: an `X-Request-Id` header when there is a
    request id, then `headers`."""
    body = orjson.dumps(content)
    raw = [_JSON_TYPE, (b"content-length", b"%d" % len(body))]
    if request_id:
        raw.append((b"x-request-id", request_id.encode("latin-1")))
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: ApiError, request_id: str) -> None:
    headers = {"X-Request-Id": request_id, **error.headers} if request_id else error.headers
    await send_json(send, error.status, error.envelope(request_id), headers=headers)


def query_number(params: dict[str, str], spec: dict[str, Field], name: str,
                 default: int) -> int:
    """The int query parameter `name`, checked against its published Field in `spec`."""
    field = spec[name]
    assert field.lo is not None and field.hi is not None, "query ints are bounded"
    return query_int(params, name, default, field.lo, field.hi)


def header_problems(request: Request, name: str, spec: Field) -> tuple[str | None, list[FieldError]]:
    """An optional header's value (None when absent) and its problems against `spec`.

    The spaces and tabs around a value are not part of it (RFC 9110 5.5), as every HTTP server
    reads it; a header sent twice is refused, as nobody can say which one was meant.
    """
    values = request.headers.getlist(name)
    if not values:
        return None, []
    if len(values) > 1:
        return None, [FieldError(name, "must be sent once")]
    value = values[0].strip(" \t")
    problem = spec.check(value)
    return value, [FieldError(name, problem)] if problem else []


def path_id(request: Request, name: str) -> int:
    """A numeric id from the path; ids out of range cannot exist, so they are 404."""
    value = int(request.path_params[name])
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"There is no {name.removesuffix('_id')} {value}.")
    return value


def is_json(content_type: str) -> bool:
    """Whether a Content-Type names JSON, the one body type the shop reads (any parameter,
    such as charset, is ignored: JSON is UTF-8)."""
    return content_type.partition(";")[0].strip().lower() == "application/json"


async def read_json(request: Request) -> Any:
    """The body as JSON: 415 when declared as anything else, 413 when too large, 400 when it
    is not JSON. A body without a Content-Type is read as JSON."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise UnsupportedMediaType(
            f"The body must be JSON, sent with 'Content-Type: application/json', not "
            f"{content_type[:100]!r}.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    if not body:
        raise BadRequest("This endpoint needs a JSON body.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The body is not valid JSON.") from None


class Endpoint:
    """The ASGI app behind one path: a controller span, method dispatch, the error envelope.

    An unexpected exception is the one thing caught broadly here: its detail is logged with
    the request id, and the client gets a generic 500 envelope.
    """

    def __init__(self, controller: ShopController, path: str,
                 handlers: dict[str, tuple[str, Handler]]) -> None:
        self.controller = controller
        self.path = path
        self.handlers = handlers
        self.allow = ", ".join(sorted(handlers))
        self._span_names = {name: f"controller.{name}" for name, _ in handlers.values()}
        # A token endpoint's answers must never be cached (RFC 6749 5.1).
        self._headers = ({"Cache-Control": "no-store", "Pragma": "no-cache"}
                         if path == "/oauth/token" else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace = tracing.current_trace.get()
        request_id = trace.request_id if trace is not None else ""
        found = self.handlers.get(scope["method"])
        if found is None:
            error = MethodNotAllowed(f"{scope['method']} is not allowed on {scope['path']}.",
                                     headers={"Allow": self.allow})
            await send_error(send, error, request_id)
            return
        name, handler = found
        with tracing.span(self._span_names[name], "controller") as span:
            if trace is not None:
                trace.clock.now_ms += CONTROLLER_CPU_MS
            try:
                status, body = await handler(Request(scope, receive))
            except Exception as exc:
                span.set("error.code", exc.code if isinstance(exc, ApiError) else "internal_error")
                render = self.controller.ctx.seams.render_error
                if render is not None:  # a student's renderer (sandbox/plugs/errors.py)
                    status, body, headers = render(exc, request_id)
                    if request_id:
                        headers = {"X-Request-Id": request_id, **headers}
                    await send_json(send, status, body, headers=headers)
                elif isinstance(exc, ApiError):
                    await send_error(send, exc, request_id)
                else:
                    self.controller.ctx.log_event(
                        "error", "unhandled exception", request_id=request_id, route=name,
                        exception=repr(exc), traceback=traceback.format_exc(limit=8),
                    )
                    await send_error(send, InternalError(), request_id)
                return
        await send_json(send, status, body, request_id, self._headers)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """No route matched: the same envelope as every other error."""
    trace = tracing.current_trace.get()
    path: str = scope["path"]
    message = f"There is no route {scope['method']} {path}."
    if len(path) > 1 and path.endswith("/"):
        message += f" Paths here end without a slash: try {path.rstrip('/') or '/'}."
    error = NotFound(message)
    await send_error(send, error, trace.request_id if trace is not None else "")


class ShopController:
    """The shop's HTTP endpoints. Each handler returns (status, JSON body)."""

    def __init__(self, ctx: AppContext, services: Services) -> None:
        self.ctx = ctx
        self.services = services

    def endpoint(self, path: str, handlers: dict[str, str]) -> Endpoint:
        """One ASGI endpoint for `path`, dispatching each method to its handler."""
        return Endpoint(self, path, {m: (n, getattr(self, n)) for m, n in handlers.items()})

    def identity(self, request: Request, scope: str = "") -> Identity | None:
        """Who is calling. A client's token must carry `scope`; on a route with no scope
        (one that acts as a person: reviews, admin changes, "my" orders) it is refused."""
        wanted = {b"authorization": "", b"x-api-key": "", b"x-user-id": ""}
        for key, value in request.scope["headers"]:
            if key in wanted:
                wanted[key] = value.decode("latin-1")
        identity = self.services.accounts.identify(
            wanted[b"authorization"] or None, wanted[b"x-api-key"] or None,
            wanted[b"x-user-id"] or None,
        )
        trace = tracing.current_trace.get()
        if identity is not None and trace is not None:
            # Who the request was for, on the trace's root as OpenTelemetry names it: the JSON
            # request log shows it (the user id, never the credential that proved it).
            trace.root.attrs["enduser.id"] = identity.user_id
        if scope:
            require_scope(identity, scope)
        else:
            require_person(identity, "This route")
        return identity

    def reader_scope(self, request: Request) -> None:
        """Public reads: anyone may call them. A bearer token sent along must still be valid,
        and a client's must carry `products:read` (a token is never silently ignored)."""
        for key, _ in request.scope["headers"]:  # the mix's browsing sends no headers at all
            if key == b"authorization":
                if self.ctx.settings.auth.mode == "jwt":
                    self.identity(request, "products:read")
                return

    # -- handlers ---------------------------------------------------------------------------

    async def health(self, request: Request) -> tuple[int, Any]:
        """Liveness: the process answers. It checks nothing else on purpose: a liveness
        probe that fails when the database is down would get healthy processes restarted."""
        return 200, {"status": "ok"}

    async def ready(self, request: Request) -> tuple[int, Any]:
        """Readiness: can this instance serve traffic now? Not while its database is down."""
        database = self.ctx.repos.db
        if not database.available:
            raise ServiceUnavailable("Not ready: the database is unavailable.")
        return 200, {"status": "ready"}

    async def openapi(self, request: Request) -> tuple[int, Any]:
        return 200, openapi_document()

    async def register(self, request: Request) -> tuple[int, Any]:
        body = validate(await read_json(request), REGISTER)
        return 201, self.services.accounts.register(body["email"], body["name"], body["password"])

    async def login(self, request: Request) -> tuple[int, Any]:
        body = validate(await read_json(request), LOGIN)
        peer = request.client.host if request.client else ""
        address = self.ctx.client_address(request.scope["headers"], peer)
        return 200, self.services.accounts.login(body["email"], body["password"], address)

    async def oauth_token(self, request: Request) -> tuple[int, Any]:
        """The OAuth2 token endpoint: form in, token out (client credentials grant)."""
        authorizations = request.headers.getlist("authorization")
        if len(authorizations) > 1:
            raise OAuthError("invalid_request", "Send one Authorization header, not several.")
        token_request = read_token_request(
            request.headers.get("content-type"), await request.body(),
            authorizations[0] if authorizations else None)
        return 200, OAuthService(self.ctx).grant(token_request)

    async def revoke_client(self, request: Request) -> tuple[int, Any]:
        client_id = str(request.path_params["client_id"])
        return 200, OAuthService(self.ctx).revoke(self.identity(request), client_id)

    async def partner_orders(self, request: Request) -> tuple[int, Any]:
        """A partner client's own orders: the orders on the account it orders for. Only a
        client's token opens it; a user has GET /users/me/orders."""
        identity = require_user(self.identity(request, "orders:read"))
        if identity.scopes is None:
            raise Forbidden("This route is for OAuth2 clients: send a client's token (POST "
                            "/oauth/token) with the scope 'orders:read'.",
                            headers={"WWW-Authenticate":
                                     'Bearer error="insufficient_scope", scope="orders:read"'})
        limit = query_number(dict(request.query_params), HISTORY_QUERY, "limit", 10)
        return 200, self.services.orders.history(identity, identity.user_id, limit)

    async def list_products(self, request: Request) -> tuple[int, Any]:
        params = dict(request.query_params)
        limit = query_number(params, PRODUCTS_QUERY, "limit", 20)
        after = query_number(params, PRODUCTS_QUERY, "after", -1) if "after" in params else None
        offset = query_number(params, PRODUCTS_QUERY, "offset", 0)
        category = params.get("category") or None
        self.reader_scope(request)
        problem = PRODUCTS_QUERY["category"].check(category) if category is not None else None
        if problem is not None:
            raise ValidationFailed("Some query parameters are not valid.",
                                   details=[FieldError("query.category", problem)])
        return 200, self.services.catalog.products(category, limit, offset, after)

    async def get_product(self, request: Request) -> tuple[int, Any]:
        self.reader_scope(request)
        return 200, self.services.catalog.product(path_id(request, "product_id"))

    async def patch_product(self, request: Request) -> tuple[int, Any]:
        product_id = path_id(request, "product_id")
        body = validate(await read_json(request), PRODUCT_PATCH)
        if not body:
            raise ValidationFailed("Send at least one field to change.",
                                   details=[FieldError("body", "is empty")])
        identity = self.identity(request)
        return 200, self.services.catalog.update_product(identity, product_id, body)

    async def get_reviews(self, request: Request) -> tuple[int, Any]:
        limit = query_number(dict(request.query_params), REVIEWS_QUERY, "limit", 10)
        self.reader_scope(request)
        return 200, self.services.catalog.reviews(path_id(request, "product_id"), limit)

    async def post_review(self, request: Request) -> tuple[int, Any]:
        product_id = path_id(request, "product_id")
        body = validate(await read_json(request), REVIEW)
        identity = self.identity(request)
        # A student's review service stands in here when plugged (sandbox/plugs/reviews.py).
        add_review = self.ctx.seams.add_review or self.services.catalog.add_review
        return 201, add_review(identity, product_id, body["rating"], body["body"])

    def order_problems(self, body: Any) -> list[FieldError]:
        """Every problem with an order body: the plugged validator's list (a student's, see
        sandbox/plugs/validation.py), or the schema's: top-level fields first, then each item."""
        plugged = self.ctx.seams.order_problems
        if plugged is not None:
            return plugged(body)
        errors = problems(body, ORDER)
        if not errors:
            for i, item in enumerate(body["items"]):
                errors.extend(problems(item, ORDER_ITEM, f"items[{i}]"))
        return errors

    async def post_order(self, request: Request) -> tuple[int, Any]:
        body = await read_json(request)
        errors = self.order_problems(body)
        key, key_errors = header_problems(request, "Idempotency-Key", IDEMPOTENCY_KEY)
        if errors or key_errors:  # one 422 lists the body's problems and the header's
            raise ValidationFailed(
                "Some fields are not valid." if errors else "Some headers are not valid.",
                details=errors + key_errors)
        identity = self.identity(request, "orders:write")
        items = [conform(item, ORDER_ITEM) for item in body["items"]]  # 3.0 is 3 from here
        order, replayed = await self.services.orders.place(identity, items, key)
        if replayed:
            order = {**order, "replayed": True}
        return 201, order

    async def get_order(self, request: Request) -> tuple[int, Any]:
        order_id = path_id(request, "order_id")
        return 200, self.services.orders.order(self.identity(request, "orders:read"), order_id)

    async def user_orders(self, request: Request) -> tuple[int, Any]:
        user_id = path_id(request, "user_id")
        limit = query_number(dict(request.query_params), HISTORY_QUERY, "limit", 10)
        return 200, self.services.orders.history(self.identity(request), user_id, limit)

    async def graphql(self, request: Request) -> tuple[int, Any]:
        """POST /graphql: GraphQL over the same services. Imported on first use, so the REST
        routes never pay for loading graphql-core."""
        from sandbox.backend import graphql_api

        body = await read_json(request)
        return 200, await graphql_api.run(body, self.services, lambda: self.identity(request),
                                          self.ctx.settings, self.ctx.log_event)

    async def my_orders(self, request: Request) -> tuple[int, Any]:
        identity = self.identity(request)
        identity = require_user(identity)
        limit = query_number(dict(request.query_params), HISTORY_QUERY, "limit", 10)
        return 200, self.services.orders.history(identity, identity.user_id, limit)
