"""The shop's OpenAPI 3.1 document, built from the same route table and validation schemas
the app uses, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any

from sandbox import __version__
from sandbox.backend import schemas
from sandbox.backend.validation import Field
from sandbox.mechanisms.auth import SCOPES

GRAPHQL_MAX_QUERY_CHARS = 8_000  # graphql_api.MAX_QUERY_CHARS, kept here so the document
# does not import graphql-core


def _field(spec: Field) -> dict[str, Any]:
    if spec.kind == "int":
        out: dict[str, Any] = {"type": "integer"}
        if spec.lo is not None:
            out["minimum"] = spec.lo
        if spec.hi is not None:
            out["maximum"] = spec.hi
        return out
    if spec.kind == "str":
        out = {"type": "string"}
        if spec.lo is not None:
            out["minLength"] = spec.lo
        if spec.hi is not None:
            out["maxLength"] = spec.hi
        if spec.pattern is not None:  # the Field matches the whole string, so: ^...$
            out["pattern"] = (f"^(?:{spec.pattern})$" if "|" in spec.pattern
                              else f"^{spec.pattern}$")
        return out
    out = {"type": "array"}
    if spec.lo is not None:
        out["minItems"] = spec.lo
    if spec.hi is not None:
        out["maxItems"] = spec.hi
    return out


def _object(fields: dict[str, Field]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _field(spec) for name, spec in fields.items()},
        "required": [name for name, spec in fields.items() if spec.required],
        "additionalProperties": False,  # unknown fields are reported, not ignored
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


INT = {"type": "integer"}
STR = {"type": "string"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": STR, "message": STR, "request_id": STR,
                "details": {"type": "array", "items": {
                    "type": "object", "required": ["field", "message"],
                    "properties": {"field": STR, "message": STR}}},
            },
        }},
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": STR}},
    "User": {"type": "object", "required": ["id", "email", "name", "role"],
             "properties": {"id": INT, "email": STR, "name": STR,
                            "role": {"type": "string", "enum": ["customer", "admin"]}}},
    "Token": {"type": "object", "required": ["access_token", "token_type", "expires_in"],
              "properties": {"access_token": STR,
                             "token_type": {"type": "string", "enum": ["Bearer"]},
                             "expires_in": INT, "user_id": INT}},
    "Product": {
        "type": "object",
        "required": ["id", "sku", "name", "category", "price_cents", "stock", "rating"],
        "properties": {
            "id": INT, "sku": STR, "name": STR, "category": STR, "price_cents": INT,
            "stock": INT, "description": {"type": ["string", "null"]},
            "updated_at": {"type": ["integer", "null"]},
            "rating": {"type": "object", "required": ["count", "average"],
                       "properties": {"count": INT, "average": {"type": ["number", "null"]}}},
        },
    },
    "ProductPage": {"type": "object", "required": ["items", "next_after"],
                    "properties": {"items": {"type": "array", "items": _ref("Product")},
                                   "next_after": {"type": ["integer", "null"]}}},
    "Review": {"type": "object",
               "required": ["id", "product_id", "user_id", "rating", "body", "created_at"],
               "properties": {"id": INT, "product_id": INT, "user_id": INT, "rating": INT,
                              "body": STR, "created_at": INT}},
    "ReviewPage": {"type": "object", "required": ["items"],
                   "properties": {"items": {"type": "array", "items": _ref("Review")}}},
    "OrderItem": {"type": "object",
                  "required": ["order_id", "product_id", "quantity", "price_cents"],
                  "properties": {"order_id": INT, "product_id": INT, "quantity": INT,
                                 "price_cents": INT}},
    "Order": {
        "type": "object",
        "required": ["id", "customer_id", "status", "total_cents", "created_at", "items"],
        "properties": {
            "id": INT, "customer_id": INT, "total_cents": INT,
            "status": {"type": "string", "enum": ["paid", "shipped", "delivered", "cancelled"]},
            "created_at": INT, "items": {"type": "array", "items": _ref("OrderItem")},
            "confirmation": {"type": "string", "enum": ["sent", "queued"]},
            "replayed": {"type": "boolean"},
        },
    },
    "OrderHistory": {"type": "object", "required": ["user_id", "orders"],
                     "properties": {"user_id": INT,
                                    "orders": {"type": "array", "items": _ref("Order")}}},
    # The e-mail's rule is its pattern. No `format: email`: the formats' RFC grammar refuses
    # addresses the shop takes (`o'neil;x@shop.test`) and takes ones it refuses (`a@localhost`).
    "Register": {**_object(schemas.REGISTER), "properties": {
        **_object(schemas.REGISTER)["properties"],
        "email": {**_field(schemas.REGISTER["email"]),
                  "description": "An e-mail address: no spaces or control characters, one @, "
                                 "a domain with a dot. Stored in lower case."}}},
    "Login": _object(schemas.LOGIN),
    "ClientCredentials": {
        "type": "object", "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {"type": "string", "description": "Space-separated scopes; leave it out "
                                                       "for all the client was given."},
            "client_id": {"type": "string", "description": "If not sent by HTTP Basic."},
            "client_secret": {"type": "string", "description": "If not sent by HTTP Basic."},
        },
    },
    "ClientToken": {"type": "object",
                    "required": ["access_token", "token_type", "expires_in", "scope"],
                    "properties": {"access_token": STR,
                                   "token_type": {"type": "string", "enum": ["Bearer"]},
                                   "expires_in": INT, "scope": STR}},
    # RFC 6749 5.2 fixes this shape for the token endpoint; OAuth client libraries read it.
    "OAuthError": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "enum": ["invalid_request", "invalid_client",
                                             "unsupported_grant_type", "invalid_scope"]},
        "error_description": STR, "request_id": STR}},
    "Revocation": {"type": "object", "required": ["client_id", "revoked", "revoked_at"],
                   "properties": {"client_id": STR, "revoked": {"type": "boolean"},
                                  "revoked_at": INT,
                                  "tokens_refused_at_once": {"type": "boolean"}}},
    "Review.create": _object(schemas.REVIEW),
    "Product.patch": {**_object(schemas.PRODUCT_PATCH), "minProperties": 1},
    "Order.create": {**_object(schemas.ORDER), "properties": {
        "items": {**_field(schemas.ORDER["items"]), "items": _object(schemas.ORDER_ITEM)}}},
    # GraphQL over HTTP: the document is a string the server parses; its schema is served
    # by the endpoint itself (introspection), not described here.
    "GraphQL.request": {
        "type": "object", "required": ["query"],
        "properties": {"query": {"type": "string", "minLength": 1,
                                 "maxLength": GRAPHQL_MAX_QUERY_CHARS},
                       "variables": {"type": ["object", "null"]},
                       "operationName": {"type": ["string", "null"]}},
    },
    "GraphQL.response": {
        "type": "object",
        "description": "`data` (null where a field failed), and `errors` when something "
                       "did; a document that cannot run has only `errors`.",
        "properties": {
            "data": {"type": ["object", "null"]},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["message"],
                "properties": {"message": STR, "locations": {"type": "array"},
                               "path": {"type": "array"}, "extensions": {"type": "object"}}}},
        },
    },
}

HEADERS: dict[str, Any] = {
    "RequestId": {"description": "This request's id, also in an error's `request_id`: quote "
                                 "it to find the request in the log.",
                  "schema": {"type": "string", "minLength": 1}},
    "RetryAfter": {"description": "Seconds to wait before trying again.", "required": True,
                   "schema": {"type": "integer", "minimum": 1}},
}

ERRORS = {
    "400": "The body cannot be read (not JSON).",
    "401": "Who are you? Missing, invalid or expired credentials.",
    "403": "Known caller, not allowed.",
    "404": "No such resource.",
    "409": "Conflicts with the current state (taken e-mail, out of stock, already reviewed).",
    "413": f"The body is larger than {schemas.MAX_BODY_BYTES} bytes.",
    "415": "The body is declared as something other than `application/json`.",
    "422": "Readable, but some fields are invalid; `details` names each.",
    "429": "Over the rate limit; see Retry-After.",
    "502": "The instance behind the balancer did not answer.",
    "503": "A dependency (database, instance) is unavailable.",
}


def _id_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}}


def _query(spec: dict[str, Field], name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": spec[name].required,
            "schema": _field(spec[name]), "description": description}


def _operation(summary: str, ok: str, schema: str, errors: tuple[str, ...], *,
               body: str | None = None, params: list[dict[str, Any]] | None = None,
               secured: bool = False, scope: str = "",
               anonymous: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {
        ok: {"description": "Success.",
             "content": {"application/json": {"schema": _ref(schema)}}},
    }
    for code in (*errors, "429", "502", "503"):
        responses[code] = {"description": ERRORS[code],
                           "content": {"application/json": {"schema": _ref("Error")}}}
    for code, response in responses.items():
        response["headers"] = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}
        if code == "429":
            response["headers"]["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(body)}}}
    if secured:
        op["security"] = [{"bearer": []}, {"apiKey": []}]
        if scope:  # an OAuth2 client's token opens it with this scope
            op["security"].append({"oauth2": [scope]})
        if anonymous:  # public: a token is optional, but checked when sent
            op["security"].insert(0, {})
    return op


def _token_operation() -> dict[str, Any]:
    """POST /oauth/token: a form in, and the RFC's own error shape out (400 and 401)."""
    no_store = {"Cache-Control": {"description": "Always `no-store`: tokens are not cached.",
                                  "schema": {"type": "string"}}}
    op = _operation("OAuth2 token endpoint: the client credentials grant. Authenticate the "
                    "client with HTTP Basic (id:secret) or the form fields client_id and "
                    "client_secret, not both.", "200", "ClientToken", ())
    op["responses"]["200"]["headers"].update(no_store)
    for code, text in (("400", "invalid_request, unsupported_grant_type or invalid_scope."),
                       ("401", "invalid_client: unknown client, wrong secret, or revoked.")):
        op["responses"][code] = {
            "description": text, "content": {"application/json": {"schema": _ref("OAuthError")}},
            "headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}, **no_store}}
    op["requestBody"] = {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": _ref("ClientCredentials")}}}
    return op


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    body_errors = ("400", "413", "415", "422")
    paging = [
        _query(schemas.PRODUCTS_QUERY, "category", "Only this category."),
        _query(schemas.PRODUCTS_QUERY, "limit", "Page size."),
        _query(schemas.PRODUCTS_QUERY, "offset", "Skip this many (offset paging)."),
        _query(schemas.PRODUCTS_QUERY, "after", "Start after this product id (keyset paging)."),
    ]
    history = [_query(schemas.HISTORY_QUERY, "limit", "Orders.")]
    paths: dict[str, Any] = {
        "/health": {"get": _operation("Liveness: the process answers.", "200", "Health", ())},
        "/ready": {"get": _operation("Readiness: the instance can serve traffic.", "200",
                                     "Health", ())},
        "/auth/register": {"post": _operation("Create a customer account.", "201", "User",
                                              (*body_errors, "409"), body="Register")},
        "/auth/login": {"post": _operation("Exchange e-mail and password for a token.",
                                           "200", "Token", (*body_errors, "401"),
                                           body="Login")},
        "/products": {"get": _operation("A page of products.", "200", "ProductPage",
                                        ("401", "403", "422"), params=paging,
                                        secured=True, scope="products:read", anonymous=True)},
        "/products/{product_id}": {
            "get": _operation("One product.", "200", "Product", ("401", "403", "404"),
                              params=[_id_param("product_id")], secured=True,
                              scope="products:read", anonymous=True),
            "patch": _operation("Change a product (admins).", "200", "Product",
                                (*body_errors, "401", "403", "404"), body="Product.patch",
                                params=[_id_param("product_id")], secured=True),
        },
        "/products/{product_id}/reviews": {
            "get": _operation("A product's newest reviews.", "200", "ReviewPage",
                              ("401", "403", "404", "422"), secured=True,
                              scope="products:read", anonymous=True, params=[
                                  _id_param("product_id"),
                                  _query(schemas.REVIEWS_QUERY, "limit", "Reviews.")]),
            "post": _operation("Review a product.", "201", "Review",
                               (*body_errors, "401", "403", "404", "409"), body="Review.create",
                               params=[_id_param("product_id")], secured=True),
        },
        "/orders": {"post": _operation(
            "Place an order; with an Idempotency-Key, retries place it only once.", "201",
            "Order", (*body_errors, "401", "403", "404", "409"), body="Order.create",
            secured=True, scope="orders:write",
            params=[{"name": "Idempotency-Key", "in": "header",
                     "required": schemas.IDEMPOTENCY_KEY.required, "schema": _field(schemas.IDEMPOTENCY_KEY),
                     "description": "Any unique string per order, e.g. a UUID."}])},
        "/orders/{order_id}": {"get": _operation("One order with its lines.", "200", "Order",
                                                 ("401", "403", "404"),
                                                 params=[_id_param("order_id")],
                                                 secured=True, scope="orders:read")},
        "/users/me/orders": {"get": _operation("Your newest orders.", "200", "OrderHistory",
                                               ("401", "403", "422"), params=history,
                                               secured=True)},
        "/graphql": {"post": _operation(
            "GraphQL: one query for exactly the fields you want (introspect for the schema). "
            "Errors in the query itself are GraphQL errors in a 200.", "200",
            "GraphQL.response", body_errors, body="GraphQL.request")},
        "/users/{user_id}/orders": {"get": _operation(
            "A user's newest orders (the user or an admin).", "200", "OrderHistory",
            ("401", "403", "404", "422"), params=[_id_param("user_id"), *history],
            secured=True)},
        "/oauth/token": {"post": _token_operation()},
        "/oauth/clients/{client_id}/revoke": {"post": _operation(
            "Revoke an OAuth2 client (admins): no new tokens; with auth.revocation_check on, "
            "its tokens stop working at once.", "200", "Revocation", ("401", "403", "404"),
            secured=True, params=[{"name": "client_id", "in": "path", "required": True,
                                   "schema": {"type": "string", "minLength": 1,
                                              "maxLength": 63}}])},
        "/partner/orders": {"get": _operation(
            "A partner client's own orders (a client's token only).", "200", "OrderHistory",
            ("401", "403", "422"), params=history, secured=True, scope="orders:read")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "The backend sandbox shop", "version": __version__,
                 "description": "A small online shop served by the backend sandbox. Every "
                                "error has the one envelope in `Error`. Bodies are JSON "
                                "(`Content-Type: application/json`). An integer may be "
                                "written 3 or 3.0 (JSON Schema's integers); above 2^53 write "
                                "it without a fraction or exponent, or it is refused: a "
                                "JSON parser cannot read it exactly."},
        "servers": [{"url": "http://127.0.0.1:8000"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "headers": HEADERS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": "/oauth/token", "scopes": SCOPES}}},
            },
        },
    }
