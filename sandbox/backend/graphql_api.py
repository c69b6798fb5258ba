"""GraphQL beside REST: `POST /graphql`, one endpoint over the same services.

A REST route answers with the resource the server chose; a GraphQL query names the fields it
wants, and the schema below documents itself (introspection), with no OpenAPI document. The
types resolve through the same services as the REST controllers (CatalogService,
OrderService, AccountService.identify), so the rules, the cache and the traces are the same.

Built on graphql-core, the Python port of the reference implementation (GraphQL.js): its
parser, validator and executor, with our resolvers, and no framework between them and the
request. Three guards run before anything executes, because one request can ask for a lot:
the query's length (and the parser's token cap), the nesting depth (`graphql.max_depth`), and
an estimate of how many objects it could return (the product of the list sizes it asks for).

Nested lists are where N+1 hides: `products { reviews }` asks for each product's reviews.
`graphql.loader=naive` resolves each product's reviews on its own (one service call each, as
a REST client would); `batched` gathers every product of the list first and loads all their
reviews in one query (the DataLoader idea: collect the keys, then one call per batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    execute,
    parse,
    validate,
)

from sandbox import tracing
from sandbox.backend.openapi import GRAPHQL_MAX_QUERY_CHARS
from sandbox.backend.schemas import (
    HISTORY_QUERY,
    IDEMPOTENCY_KEY,
    ORDER,
    ORDER_ITEM,
    PRODUCTS_QUERY,
    REVIEWS_QUERY,
)
from sandbox.backend.seams import BatchLoading, LoaderFactory
from sandbox.backend.services import Services, require_user
from sandbox.backend.validation import Field, problems
from sandbox.errors import ApiError, FieldError, NotFound, ValidationFailed
from sandbox.mechanisms.auth import Identity
from sandbox.settings import Settings

GRAPHQL_CPU_MS = 0.1  # parse, validate and plan a document
MAX_QUERY_CHARS = GRAPHQL_MAX_QUERY_CHARS  # the standard introspection query is about 1,500
MAX_TOKENS = 2_000  # the parser stops here: a long document of tiny tokens costs too
MAX_COST = 2_000  # objects a query may ask for, counted as the product of its list sizes
MAX_INTROSPECTION_ROOTS = 2  # `__schema` / `__type` fields per document (aliases repeat them)
ORDER_ITEMS_FANOUT = 20  # an order holds at most this many lines (MAX_ITEMS_PER_ORDER)

# The list fields, with the argument that sizes them and where its bounds are published.
LIMITS: dict[str, tuple[Field, int]] = {
    "products": (PRODUCTS_QUERY["limit"], 20),
    "reviews": (REVIEWS_QUERY["limit"], 10),
    "orders": (HISTORY_QUERY["limit"], 10),
}


@dataclass
class Loader:
    """Loads values by key for one execution, in batches: keys announced by `expect` are
    fetched together by the first `load` that needs one of them (one call for the lot)."""

    fetch: Callable[[list[int]], dict[int, Any]]
    waiting: list[int] = field(default_factory=list)
    loaded: dict[int, Any] = field(default_factory=dict)

    def expect(self, keys: list[int]) -> None:
        self.waiting.extend(k for k in keys if k not in self.loaded)

    def load(self, key: int) -> Any:
        if key not in self.loaded:
            batch = list(dict.fromkeys([*self.waiting, key]))  # in order, each once
            self.waiting.clear()
            found = self.fetch(batch)
            for k in batch:
                self.loaded[k] = found.get(k)
        return self.loaded[key]


@dataclass
class Execution:
    """What resolvers share during one request: the services, the caller (looked up only
    when a field needs it, as REST does) and this execution's loaders."""

    services: Services
    identify: Callable[[], Identity | None]
    batched: bool
    make_loader: LoaderFactory | None = None  # a plugged-in loader class (None: `Loader`)
    loaders: dict[tuple[str, int], BatchLoading] = field(default_factory=dict)
    product_ids: list[int] = field(default_factory=list)  # every product listed so far

    def listed(self, product_ids: list[int]) -> None:
        """Products a list resolved: their reviews, if asked for, load in one batch."""
        self.product_ids.extend(product_ids)
        for (kind, _), loader in self.loaders.items():
            if kind == "reviews":
                loader.expect(product_ids)

    def _loader(self, kind: str, fetch: Callable[[list[int]], dict[int, Any]]) -> BatchLoading:
        return Loader(fetch) if self.make_loader is None else self.make_loader(kind, fetch)

    def reviews(self, limit: int) -> BatchLoading:
        found = self.loaders.get(("reviews", limit))
        if found is None:
            def fetch(ids: list[int]) -> dict[int, Any]:
                return dict(self.services.catalog.reviews_of(ids, limit))
            found = self.loaders[("reviews", limit)] = self._loader("reviews", fetch)
            found.expect(list(self.product_ids))
        return found

    def products(self) -> BatchLoading:
        found = self.loaders.get(("products", 0))
        if found is None:
            found = self.loaders[("products", 0)] = self._loader(
                "products", lambda ids: dict(self.services.catalog.products_by_id(ids)))
        return found


def _limit(name: str, value: int | None) -> int:
    """A list argument checked against the bounds REST publishes for the same list."""
    spec, default = LIMITS[name]
    if value is None:
        return default
    problem = spec.check(value)
    if problem is not None:
        raise ValidationFailed(f"limit {problem}.", details=[FieldError(f"{name}.limit", problem)])
    return value


# -- resolvers ------------------------------------------------------------------------------

Info = GraphQLResolveInfo[Execution]


def _run(info: Info) -> Execution:
    return info.context


def resolve_product(_: None, info: Info, id: int) -> dict[str, Any] | None:
    try:
        return _run(info).services.catalog.product(id)
    except NotFound:
        return None  # GraphQL's way to say "no such product": null, no error


def resolve_products(_: None, info: Info, category: str | None = None,
                     limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    size = _limit("products", limit)
    problem = PRODUCTS_QUERY["category"].check(category) if category is not None else None
    problem = problem or PRODUCTS_QUERY["offset"].check(offset)
    if problem is not None:
        raise ValidationFailed(f"An argument is not valid: {problem}.")
    run = _run(info)
    items: list[dict[str, Any]] = run.services.catalog.products(category or None, size, offset,
                                                                None)["items"]
    if run.batched:  # their reviews may be asked for next: announce the keys
        run.listed([p["id"] for p in items])
    return items


def resolve_reviews(product: dict[str, Any], info: Info,
                    limit: int | None = None) -> list[dict[str, Any]]:
    size = _limit("reviews", limit)
    run = _run(info)
    if run.batched:
        found: list[dict[str, Any]] | None = run.reviews(size).load(product["id"])
        return found or []
    # Naive: what a REST client does, one product at a time through the same service.
    items: list[dict[str, Any]] = run.services.catalog.reviews(product["id"], size)["items"]
    return items


def resolve_item_product(item: dict[str, Any], info: Info) -> Any:
    run = _run(info)
    if run.batched:
        return run.products().load(item["product_id"])
    return resolve_product(None, info, item["product_id"])


def resolve_review_product(review: dict[str, Any], info: Info) -> Any:
    run = _run(info)
    if run.batched:
        return run.products().load(review["product_id"])
    return resolve_product(None, info, review["product_id"])


def resolve_me(_: None, info: Info) -> Identity:
    return require_user(_run(info).identify())  # an error at `me`, never someone's data


def resolve_orders(me: Identity, info: Info,
                   limit: int | None = None) -> list[dict[str, Any]]:
    run = _run(info)
    orders: list[dict[str, Any]] = run.services.orders.history(
        me, me.user_id, _limit("orders", limit))["orders"]
    if run.batched:
        run.products().expect([i["product_id"] for o in orders for i in o["items"]])
    return orders


async def resolve_place_order(_: None, info: Info, items: list[dict[str, int]],
                              idempotency_key: str | None = None) -> dict[str, Any]:
    """The same checks and service call as POST /orders, with the same idempotency rule."""
    errors = problems({"items": items}, ORDER)
    for i, item in enumerate(items if not errors else ()):
        errors.extend(problems(item, ORDER_ITEM, f"items[{i}]"))
    if idempotency_key is not None and (problem := IDEMPOTENCY_KEY.check(idempotency_key)):
        errors.append(FieldError("idempotency_key", problem))
    if errors:
        raise ValidationFailed("Some fields are not valid.", details=errors)
    run = _run(info)
    order, replayed = await run.services.orders.place(run.identify(), items, idempotency_key)
    return {**order, "replayed": replayed}


# -- the schema -----------------------------------------------------------------------------

def _nn(kind: Any) -> GraphQLNonNull[Any]:
    return GraphQLNonNull(kind)


def _list_of(kind: Any) -> GraphQLNonNull[Any]:
    return _nn(GraphQLList(_nn(kind)))


def _limit_arg(name: str) -> GraphQLArgument:
    spec, default = LIMITS[name]
    return GraphQLArgument(GraphQLInt, default_value=default,
                           description=f"How many, {spec.lo} to {spec.hi}.")


RATING = GraphQLObjectType("Rating", {
    "count": GraphQLField(_nn(GraphQLInt)),
    "average": GraphQLField(GraphQLFloat, description="null until someone rates it"),
})

REVIEW: GraphQLObjectType = GraphQLObjectType("Review", lambda: {
    "id": GraphQLField(_nn(GraphQLInt)),
    "product_id": GraphQLField(_nn(GraphQLInt)),
    "user_id": GraphQLField(_nn(GraphQLInt)),
    "rating": GraphQLField(_nn(GraphQLInt), description="1 to 5"),
    "body": GraphQLField(_nn(GraphQLString)),
    "created_at": GraphQLField(_nn(GraphQLInt), description="Unix seconds"),
    "product": GraphQLField(PRODUCT, resolve=resolve_review_product),
}, description="A customer's review of a product.")

PRODUCT: GraphQLObjectType = GraphQLObjectType("Product", lambda: {
    "id": GraphQLField(_nn(GraphQLInt)),
    "sku": GraphQLField(_nn(GraphQLString)),
    "name": GraphQLField(_nn(GraphQLString)),
    "category": GraphQLField(_nn(GraphQLString)),
    "price_cents": GraphQLField(_nn(GraphQLInt)),
    "stock": GraphQLField(_nn(GraphQLInt)),
    "description": GraphQLField(GraphQLString),
    "updated_at": GraphQLField(GraphQLInt),
    "rating": GraphQLField(_nn(RATING)),
    "reviews": GraphQLField(_list_of(REVIEW), {"limit": _limit_arg("reviews")},
                            resolve=resolve_reviews, description="The newest first."),
}, description="A product of the catalogue: the same data as GET /products/{id}.")

ORDER_ITEM_TYPE = GraphQLObjectType("OrderItem", {
    "product_id": GraphQLField(_nn(GraphQLInt)),
    "quantity": GraphQLField(_nn(GraphQLInt)),
    "price_cents": GraphQLField(_nn(GraphQLInt), description="The unit price paid."),
    "product": GraphQLField(PRODUCT, resolve=resolve_item_product),
})

ORDER_TYPE = GraphQLObjectType("Order", {
    "id": GraphQLField(_nn(GraphQLInt)),
    "status": GraphQLField(_nn(GraphQLString)),
    "total_cents": GraphQLField(_nn(GraphQLInt)),
    "created_at": GraphQLField(_nn(GraphQLInt)),
    "items": GraphQLField(_list_of(ORDER_ITEM_TYPE)),
    "confirmation": GraphQLField(GraphQLString, description="sent or queued (new orders)"),
    "replayed": GraphQLField(GraphQLBoolean,
                             description="true when an idempotency key answered a retry"),
})

ME = GraphQLObjectType("Me", {
    "id": GraphQLField(_nn(GraphQLInt), resolve=lambda me, _: me.user_id),
    "role": GraphQLField(_nn(GraphQLString), resolve=lambda me, _: me.role),
    "orders": GraphQLField(_list_of(ORDER_TYPE), {"limit": _limit_arg("orders")},
                           resolve=resolve_orders, description="Newest first."),
}, description="The caller, as the access token (or API key) says.")

QUERY = GraphQLObjectType("Query", {
    # Every root field is nullable: one failing field leaves the others' data standing.
    "product": GraphQLField(PRODUCT, {"id": GraphQLArgument(_nn(GraphQLInt))},
                            resolve=resolve_product, description="null if there is none"),
    "products": GraphQLField(GraphQLList(_nn(PRODUCT)), {
        "category": GraphQLArgument(GraphQLString),
        "limit": _limit_arg("products"),
        "offset": GraphQLArgument(GraphQLInt, default_value=0),
    }, resolve=resolve_products, description="A page of the catalogue, by id."),
    "me": GraphQLField(ME, resolve=resolve_me, description="Needs a token or an API key."),
})

ORDER_LINE_INPUT = GraphQLInputObjectType("OrderLineInput", {
    "product_id": GraphQLInputField(_nn(GraphQLInt)),
    "quantity": GraphQLInputField(_nn(GraphQLInt)),
})

MUTATION = GraphQLObjectType("Mutation", {
    "place_order": GraphQLField(ORDER_TYPE, {
        "items": GraphQLArgument(_list_of(ORDER_LINE_INPUT)),
        "idempotency_key": GraphQLArgument(GraphQLString),
    }, resolve=resolve_place_order, description="The same as POST /orders."),
})

SCHEMA = GraphQLSchema(QUERY, MUTATION)


# -- the guards -----------------------------------------------------------------------------

def _value(node: Any, variables: dict[str, Any] | None) -> Any:
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, VariableNode):
        return (variables or {}).get(node.name.value)
    return None


@dataclass
class Plan:
    """What a document would cost, found by walking it before it runs."""

    max_depth: int
    variables: dict[str, Any] | None
    fragments: dict[str, FragmentDefinitionNode]
    depth: int = 0
    cost: int = 0
    introspection_roots: int = 0
    errors: list[GraphQLError] = field(default_factory=list)

    def walk(self, selections: SelectionSetNode, depth: int, fanout: int,
             introspecting: bool, seen: frozenset[str] = frozenset()) -> None:
        for sel in selections.selections:
            if self.errors:
                return
            if isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                found = self.fragments.get(name)
                if found is not None and name not in seen:  # validated: no cycles, but be sure
                    self.walk(found.selection_set, depth, fanout, introspecting, seen | {name})
                continue
            if isinstance(sel, InlineFragmentNode):
                self.walk(sel.selection_set, depth, fanout, introspecting, seen)
                continue
            assert isinstance(sel, FieldNode)
            name = sel.name.value
            inner = introspecting or name.startswith("__")
            if name in ("__schema", "__type"):
                self.introspection_roots += 1
                if self.introspection_roots > MAX_INTROSPECTION_ROOTS:
                    self.errors.append(GraphQLError(
                        f"At most {MAX_INTROSPECTION_ROOTS} introspection fields (__schema, "
                        "__type) per query.", sel))
                    return
            level = depth + 1
            allowed = self.max_depth * 2 if inner else self.max_depth
            if level > allowed:
                self.errors.append(GraphQLError(
                    f"The query nests deeper than {allowed} levels; ask for less at once "
                    "(graphql.max_depth).", sel))
                return
            self.depth = max(self.depth, level)
            self.cost += fanout
            if self.cost > MAX_COST:
                self.errors.append(GraphQLError(
                    f"The query could return more than {MAX_COST} objects; ask for smaller "
                    "lists or fewer fields.", sel))
                return
            if sel.selection_set is None:
                continue
            size = 1
            if name in LIMITS and not inner:
                spec, size = LIMITS[name]
                for arg in sel.arguments or ():
                    if arg.name.value == "limit":
                        value = _value(arg.value, self.variables)
                        if isinstance(value, int):
                            problem = spec.check(value)
                            if problem is not None:  # before anything runs: no partial data
                                self.errors.append(GraphQLError(
                                    f"{name}(limit: {value}) is out of range: it {problem}.",
                                    arg))
                                return
                            size = value
            elif name == "items" and not inner:
                size = ORDER_ITEMS_FANOUT
            self.walk(sel.selection_set, level, fanout * size, inner, seen)


def plan(document: Any, operation_name: str | None, variables: dict[str, Any] | None,
         max_depth: int) -> Plan:
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    found = Plan(max_depth, variables, fragments)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
                operation_name is None or (definition.name and
                                           definition.name.value == operation_name)):
            found.walk(definition.selection_set, 0, 1, False)
    return found


# -- one request ----------------------------------------------------------------------------

def read_request(body: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    """(query, variables, operationName) from a GraphQL-over-HTTP JSON body; 422 naming each
    field that is not what the protocol says. Unknown keys (`extensions`) are ignored."""
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object with a `query`.",
                               details=[FieldError("body", "must be an object")])
    errors: list[FieldError] = []
    query = body.get("query")
    if not isinstance(query, str) or not query:
        errors.append(FieldError("query", "must be a GraphQL document, as a string"))
    elif len(query) > MAX_QUERY_CHARS:
        errors.append(FieldError("query", f"must be at most {MAX_QUERY_CHARS} characters"))
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        errors.append(FieldError("variables", "must be an object or null"))
    name = body.get("operationName")
    if name is not None and not isinstance(name, str):
        errors.append(FieldError("operationName", "must be a string or null"))
    if errors:
        raise ValidationFailed("This is not a GraphQL request.", details=errors)
    assert isinstance(query, str)
    return query, variables, name


async def run(body: Any, services: Services, identify: Callable[[], Identity | None],
              settings: Settings, log: Callable[..., None]) -> dict[str, Any]:
    """Answer one GraphQL request: the response body (`data` and/or `errors`).

    Raises ValidationFailed when the body is not a GraphQL request at all; everything wrong
    with the document itself, or found while running it, is a GraphQL error in the body.
    """
    query, variables, operation_name = read_request(body)
    with tracing.span("graphql.execute", "controller") as span:
        tracing.work(GRAPHQL_CPU_MS)
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as exc:
            span.set("graphql.refused", "syntax")
            return {"errors": [exc.formatted]}
        problems = validate(SCHEMA, document)
        if problems:
            span.set("graphql.refused", "invalid")
            return {"errors": [e.formatted for e in problems[:20]]}
        cost = plan(document, operation_name, variables, settings.graphql.max_depth)
        span.set("graphql.depth", cost.depth)
        span.set("graphql.cost", cost.cost)
        if cost.errors:
            span.set("graphql.refused", "too_costly")
            return {"errors": [e.formatted for e in cost.errors]}
        batched = settings.graphql.loader == "batched"
        span.set("graphql.loader", settings.graphql.loader)
        # Reads resolve at once; placing an order awaits the order service (it may give way
        # to other requests, see sandbox/turns.py), so the executor may hand back an awaitable.
        result = execute(SCHEMA, document, context_value=Execution(
            services, identify, batched, services.catalog.ctx.seams.make_loader),
            variable_values=variables,
            operation_name=operation_name)
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        return _answer(result, log)


def _answer(result: ExecutionResult, log: Callable[..., None]) -> dict[str, Any]:
    """The response body. A rule a service enforces keeps its message and gets its code in
    `extensions`; anything else is logged here and shown as a generic error, as REST does."""
    out: dict[str, Any] = {}
    if result.errors:
        errors = []
        for error in result.errors:
            shown = error.formatted
            cause = error.original_error
            if isinstance(cause, ApiError):
                shown["extensions"] = {"code": cause.code}
                if cause.details:
                    shown["extensions"]["details"] = [d.as_dict() for d in cause.details]
            elif cause is not None:
                log("error", "unhandled exception in a GraphQL resolver", exception=repr(cause),
                    path=error.path)
                shown["message"] = "Internal error: the server failed to resolve this field."
                shown["extensions"] = {"code": "internal_error"}
            errors.append(shown)
        out["errors"] = errors
    out["data"] = result.data
    return out
