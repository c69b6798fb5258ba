"""GraphQL's batching loader, replaced by the student's `BatchLoader` and `fetch_products`.

With `graphql.loader=batched`, POST /graphql gives each request fresh loaders that gather
the keys a list announces and fetch them together. Plugged in, those loaders are the
student's class, and the products loader fetches through the student's own SQL (one
`SELECT ... WHERE id IN (...)` per batch), traced and counted like the shop's queries.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.backend.repositories import PRODUCT_COLUMNS
from sandbox.backend.seams import BatchLoading
from sandbox.backend.services import present_product
from sandbox.plugs import PlugError, PlugPoint, need
from sandbox.plugs.connection import TracedConnection

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

Fetch = Callable[[list[int]], dict[int, Any]]


class StudentLoaders:
    """Makes the student's loader for each kind; products come through the student's SQL."""

    def __init__(self, sb: Sandbox, module: ModuleType) -> None:
        self.sb = sb
        self.loader_class = need(module, "BatchLoader", "batch_loader")
        self.fetch_products = need(module, "fetch_products", "batch_loader")

    def products(self, ids: list[int]) -> dict[int, Any]:
        rows = self.fetch_products(TracedConnection(self.sb.ctx.reads.products.db), list(ids))
        if not isinstance(rows, list) or len(rows) != len(ids):
            raise PlugError(f"fetch_products(conn, ids) must return a list with one entry per id "
                            f"({len(ids)}); it returned {rows!r:.200}")
        found: dict[int, Any] = {}
        for key, row in zip(ids, rows, strict=True):
            if row is not None:
                found[key] = present_product(dict(zip(PRODUCT_COLUMNS, row, strict=True)))
        return found

    def __call__(self, kind: str, fetch: Fetch) -> BatchLoading:
        loader: BatchLoading = self.loader_class(self.products if kind == "products" else fetch)
        return loader


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentLoaders(sb, module)


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.seams.make_loader = part


POINT = PlugPoint("batch_loader", "a class BatchLoader(fetch, max_batch) with expect(keys), "
                  "load(key) and load_many(keys), and fetch_products(conn, ids)",
                  _build, _attach)
