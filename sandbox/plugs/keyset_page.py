"""The product listing's keyset page, replaced by the student's `products_page`."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.plugs import PlugPoint, need
from sandbox.plugs.connection import TracedConnection

if TYPE_CHECKING:
    from sandbox.backend.database import Database
    from sandbox.runtime import Sandbox


class StudentPageLoader:
    """Adapts a student's `products_page(conn, category, limit, after) -> (products,
    next_after)` to the repository's page loader. The listing service works out its own
    `next_after` from the page, so only the products are passed on."""

    def __init__(self, impl: Any) -> None:
        self.impl = impl

    def __call__(self, db: Database, category: str | None, limit: int,
                 after_id: int) -> list[dict[str, Any]]:
        products, _next_after = self.impl(TracedConnection(db), category, limit, after_id)
        return list(products)


def _build_page(sb: Sandbox, module: ModuleType) -> Any:
    return StudentPageLoader(need(module, "products_page", "keyset_page"))


def _attach_page(sb: Sandbox, part: Any) -> None:
    for repos in (sb.ctx.repos, sb.ctx.replica_repos):
        if repos is not None:
            repos.products.page_loader = part


POINT = PlugPoint("keyset_page", "a function products_page(conn, category, limit, after) -> "
                  "(products, next_after)", _build_page, _attach_page,
                  lambda sb, make: StudentPageLoader(make()))
