"""The shop as a real ASGI application: routes -> controllers -> services -> repositories.

`create_app` builds one app instance. The sandbox runs several over the same database, behind
the simulated load balancer; `sandbox serve` puts one behind a real socket.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route, Router

from sandbox.backend.context import AppContext
from sandbox.backend.controllers import ShopController, not_found
from sandbox.backend.services import Services

# path -> {method: handler name}: the shop's whole HTTP surface. The router tries paths in
# this order, so the busiest come first.
ROUTES: dict[str, dict[str, str]] = {
    "/products/{product_id:int}": {"GET": "get_product", "PATCH": "patch_product"},
    "/products": {"GET": "list_products"},
    "/products/{product_id:int}/reviews": {"GET": "get_reviews", "POST": "post_review"},
    "/auth/login": {"POST": "login"},
    "/orders": {"POST": "post_order"},
    "/users/me/orders": {"GET": "my_orders"},
    "/orders/{order_id:int}": {"GET": "get_order"},
    "/users/{user_id:int}/orders": {"GET": "user_orders"},
    "/auth/register": {"POST": "register"},
    "/health": {"GET": "health"},
    "/ready": {"GET": "ready"},
    "/openapi.json": {"GET": "openapi"},
    "/oauth/token": {"POST": "oauth_token"},
    "/oauth/clients/{client_id}/revoke": {"POST": "revoke_client"},
    "/partner/orders": {"GET": "partner_orders"},
    "/graphql": {"POST": "graphql"},
}


def create_app(ctx: AppContext) -> Router:
    """One app instance serving the shop from `ctx` (Starlette's router, our endpoints)."""
    controller = ShopController(ctx, Services(ctx))
    routes: list[BaseRoute] = [
        Route(path, controller.endpoint(path, handlers)) for path, handlers in ROUTES.items()
    ]
    # No slash redirects: Starlette would answer `/products/1/` with a redirect built from
    # the request's Host, which inside the sandbox is the simulated `shop.sandbox`; a 404 that
    # names the right path helps a client more.
    return Router(routes=routes, default=not_found, redirect_slashes=False)
