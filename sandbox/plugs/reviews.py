"""Posting a review, replaced by the student's `ReviewService`.

The student's service knows nothing of HTTP: it takes a repository and raises domain errors.
This module is the sandbox's side of that boundary: a repository over the shop's database,
and the controller's mapping of each domain error to its status (404, 409, 422).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox import tracing
from sandbox.backend.context import AppContext
from sandbox.backend.services import CatalogService, require_user
from sandbox.errors import Conflict, FieldError, NotFound, ValidationFailed
from sandbox.mechanisms.auth import Identity
from sandbox.plugs import PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class ShopReviewRepository:
    """The student's repository interface over the shop's database."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def product_exists(self, product_id: int) -> bool:
        return self.ctx.repos.products.by_id(product_id) is not None

    def has_review(self, user_id: int, product_id: int) -> bool:
        with tracing.span("repository.reviews.has_review", "repository"):
            row = self.ctx.repos.db.query_one(
                "SELECT 1 FROM reviews WHERE product_id = ? AND user_id = ? LIMIT 1",
                (product_id, user_id))
            return row is not None

    def add_review(self, user_id: int, product_id: int, rating: int, body: str) -> int:
        review = CatalogService(self.ctx).save_review(user_id, product_id, rating, body)
        return int(review["id"])


class StudentReviews:
    """Stands in for CatalogService.add_review: authenticates, calls the student's service,
    and maps its domain errors to the shop's HTTP errors."""

    def __init__(self, sb: Sandbox, module: ModuleType) -> None:
        self.service_class = need(module, "ReviewService", "reviews")
        self.not_found = need(module, "ProductNotFound", "reviews")
        self.already = need(module, "AlreadyReviewed", "reviews")
        self.invalid = need(module, "InvalidReview", "reviews")
        self.ctx = sb.ctx

    def __call__(self, identity: Identity | None, product_id: int, rating: int,
                 body: str) -> dict[str, Any]:
        who = require_user(identity)  # authentication stays the sandbox's job (401)
        with tracing.span("service.reviews.post_review", "service") as span:
            span.set("plugged", "student")
            service = self.service_class(ShopReviewRepository(self.ctx))
            try:
                return dict(service.post_review(who.user_id, product_id, rating, body))
            except self.not_found:
                raise NotFound(f"There is no product {product_id}.") from None
            except self.already:
                raise Conflict("You have already reviewed this product.") from None
            except self.invalid as exc:
                raise ValidationFailed("Some fields are not valid.", details=[
                    FieldError(str(getattr(exc, "field", "body")),
                               str(getattr(exc, "message", "is not valid")))]) from None


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentReviews(sb, module)


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.seams.add_review = part


POINT = PlugPoint("reviews", "a class ReviewService(repo) with post_review(user_id, product_id, "
                  "rating, body) raising ProductNotFound, AlreadyReviewed or InvalidReview",
                  _build, _attach)
