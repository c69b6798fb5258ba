"""The review service: the rules for posting a product review, with no HTTP in sight.

A controller's job is HTTP: read the request, call a service, turn the answer (or the error)
into a response. The rules (what a valid review is, who may post one) belong here, in plain
Python that takes plain values and raises plain exceptions. That is what lets the tests check
every rule by calling `post_review` directly, with an in-memory repository and no server.

The repository is any object with these three methods (the sandbox passes one over its
SQLite database; the tests pass a fake that keeps everything in a list):

    repo.product_exists(product_id) -> bool
    repo.has_review(user_id, product_id) -> bool      has this user reviewed this product?
    repo.add_review(user_id, product_id, rating, body) -> int     stores it, returns its id
"""

from __future__ import annotations

from typing import Any

MAX_BODY = 2000  # characters in a review's text


class ReviewError(Exception):
    """A review breaks one of the rules. Domain errors say what is wrong, not which HTTP
    status to send: choosing the status is the controller's job."""


class InvalidReview(ReviewError):
    """A field of the review is not acceptable; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


class ProductNotFound(ReviewError):
    """There is no such product to review."""

    def __init__(self, product_id: int) -> None:
        super().__init__(f"there is no product {product_id}")
        self.product_id = product_id


class AlreadyReviewed(ReviewError):
    """This user has already reviewed this product: one review per user per product."""

    def __init__(self, user_id: int, product_id: int) -> None:
        super().__init__(f"user {user_id} has already reviewed product {product_id}")
        self.user_id = user_id
        self.product_id = product_id


class ReviewService:
    """Posts reviews through a repository.

    Args:
        repo: where reviews and products live (see the module docstring for its methods).
    """

    def __init__(self, repo: Any) -> None:
        self.repo = repo

    def post_review(self, user_id: int, product_id: int, rating: Any, body: Any) -> dict[str, Any]:
        """Check the rules, store the review, and return it.

        The rules, checked in this order:
          1. `rating` is a whole number from 1 to 5 (not 4.5, not "5", not True);
          2. `body`, without the spaces around it, is a string of 1 to MAX_BODY characters;
             the review is stored with those spaces removed;
          3. the product exists;
          4. the user has not reviewed this product before.
        Nothing is stored unless every rule holds.

        Returns:
            {"id", "product_id", "user_id", "rating", "body"}: the review as stored.

        Raises:
            InvalidReview: rule 1 or 2 (with `field` "rating" or "body").
            ProductNotFound: rule 3.
            AlreadyReviewed: rule 4.
        """
        # TODO: check the two fields first (they need no repository), then ask the repository
        # TODO: about the product and earlier reviews; store only when every rule holds
        raise NotImplementedError("not written yet: see the TODO above")
