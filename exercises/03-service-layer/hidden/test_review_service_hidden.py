"""Hidden tests: reviews the service did not see being posted, and the longest text."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_review_service.py")


@pytest.mark.points(2)
def test_reviews_already_in_the_repository_count(student: ModuleType) -> None:
    """A review already in the repository blocks a second one: ask the repository, keep no list."""
    repo = visible.FakeRepository(reviews=[{"id": 1, "user_id": 5, "product_id": 3,
                                           "rating": 4, "body": "old"}])
    visible.refused(student, repo, "AlreadyReviewed", 5, 3, 2, "new")
    text = "  " + "x" * 2000 + "  "
    answer = student.ReviewService(repo).post_review(5, 2, 3, text)
    assert answer["body"] == "x" * 2000, "2000 characters of text (after trimming) are allowed"


@pytest.mark.points(2)
def test_the_shop_remembers_reviews_from_before(student: ModuleType) -> None:
    """Through the shop: Ada's seeded review of product 17 makes hers a 409; Grace's is a 201."""
    sb = make_sandbox(plug=("reviews", student))
    count = send(sb, "GET", "/products/17").json()["rating"]["count"]
    visible.status_is(visible.post(sb, 17, 3, "Again", "ada@shop.test"), 409,
                      "ada reviewed product 17 before (a seeded review)")
    visible.status_is(visible.post(sb, 17, 4, "Nice", "grace@shop.test"), 201,
                      "grace's first review of product 17")
    after = send(sb, "GET", "/products/17").json()["rating"]["count"]
    assert after == count + 1, f"product 17's rating count went from {count} to {after}, not +1"
