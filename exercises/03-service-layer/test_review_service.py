"""Graded tests for the review service: called directly with a fake repository (no HTTP at
all), then plugged into the shop so that POST /products/{id}/reviews uses it."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, send


class FakeRepository:
    """An in-memory repository: products are a set of ids, reviews a list of dicts."""

    def __init__(self, products: tuple[int, ...] = (1, 2, 3),
                 reviews: list[dict[str, Any]] | None = None) -> None:
        self.products = set(products)
        self.reviews: list[dict[str, Any]] = list(reviews or [])
        self.calls: list[str] = []

    def product_exists(self, product_id: int) -> bool:
        self.calls.append("product_exists")
        return product_id in self.products

    def has_review(self, user_id: int, product_id: int) -> bool:
        self.calls.append("has_review")
        return any(r["user_id"] == user_id and r["product_id"] == product_id
                   for r in self.reviews)

    def add_review(self, user_id: int, product_id: int, rating: int, body: str) -> int:
        self.calls.append("add_review")
        review_id = 100 + len(self.reviews)
        self.reviews.append({"id": review_id, "user_id": user_id, "product_id": product_id,
                             "rating": rating, "body": body})
        return review_id


def refused(student: ModuleType, repo: FakeRepository, error: str, *args: Any) -> Any:
    """post_review(*args) must raise the domain error named `error`; returns it."""
    cls = getattr(student, error)
    service = student.ReviewService(repo)
    try:
        answer = service.post_review(*args)
    except cls as exc:
        return exc
    except NotImplementedError:
        raise
    except Exception as exc:  # reported to the student
        raise AssertionError(f"post_review{args} must raise {error}; it raised "
                             f"{type(exc).__name__}: {exc}") from None
    raise AssertionError(f"post_review{args} must raise {error}; it returned {answer!r}")


@pytest.mark.points(2)
def test_a_good_review_is_stored_and_returned(student: ModuleType) -> None:
    """A valid review goes to the repository once, and post_review returns it with its id."""
    repo = FakeRepository()
    answer = student.ReviewService(repo).post_review(7, 2, 5, "Does what it says.")
    assert len(repo.reviews) == 1, (
        f"a valid review must be stored with repo.add_review exactly once; the repository "
        f"holds {len(repo.reviews)} reviews")
    stored = repo.reviews[0]
    assert (stored["user_id"], stored["product_id"], stored["rating"], stored["body"]) == (
        7, 2, 5, "Does what it says."), f"the stored review is not what was posted: {stored}"
    want = {"id": 100, "product_id": 2, "user_id": 7, "rating": 5, "body": "Does what it says."}
    assert answer == want, f"post_review must return {want}; it returned {answer!r}"


@pytest.mark.points(3)
def test_the_rating_is_a_whole_number_from_one_to_five(student: ModuleType) -> None:
    """Ratings 0, 6, -1, 4.5, "5", True, None raise InvalidReview('rating') and store nothing."""
    for rating in (0, 6, -1, 4.5, "5", True, None):
        repo = FakeRepository()
        exc = refused(student, repo, "InvalidReview", 7, 2, rating, "fine")
        assert exc.field == "rating", (
            f"a rating of {rating!r} is a problem with the field 'rating'; the error named "
            f"{exc.field!r}")
        assert repo.reviews == [], f"a review rated {rating!r} must not be stored"
    repo = FakeRepository()
    student.ReviewService(repo).post_review(7, 1, 1, "meh")
    student.ReviewService(repo).post_review(7, 2, 5, "great")
    assert [r["rating"] for r in repo.reviews] == [1, 5], "ratings 1 and 5 are both allowed"


@pytest.mark.points(3)
def test_the_text_is_trimmed_and_not_empty(student: ModuleType) -> None:
    """Empty, blank or over-long text raises InvalidReview('body'); stored text is trimmed."""
    for body in ("", "   \n\t ", "x" * 2001, None, 42):
        repo = FakeRepository()
        exc = refused(student, repo, "InvalidReview", 7, 2, 4, body)
        assert exc.field == "body", (
            f"the text {str(body)[:20]!r} is a problem with the field 'body'; the error named "
            f"{exc.field!r}")
        assert repo.reviews == [], "a review whose text is refused must not be stored"
    repo = FakeRepository()
    answer = student.ReviewService(repo).post_review(7, 2, 4, "  Solid.  \n")
    assert repo.reviews[0]["body"] == "Solid." and answer["body"] == "Solid.", (
        f"store and return the text without the spaces around it: stored "
        f"{repo.reviews[0]['body']!r}, returned {answer['body']!r}")


@pytest.mark.points(2)
def test_the_product_must_exist(student: ModuleType) -> None:
    """A review of a product the repository does not have raises ProductNotFound."""
    repo = FakeRepository(products=(1, 2, 3))
    refused(student, repo, "ProductNotFound", 7, 99, 4, "Where is it?")
    assert repo.reviews == [], "a review of a missing product must not be stored"


@pytest.mark.points(3)
def test_one_review_per_user_per_product(student: ModuleType) -> None:
    """A user's second review of a product raises AlreadyReviewed; other users and products are fine."""
    repo = FakeRepository()
    service = student.ReviewService(repo)
    service.post_review(7, 2, 4, "first")
    refused(student, repo, "AlreadyReviewed", 7, 2, 1, "changed my mind")
    service.post_review(8, 2, 3, "another customer")
    service.post_review(7, 3, 5, "another product")
    got = [(r["user_id"], r["product_id"]) for r in repo.reviews]
    assert got == [(7, 2), (8, 2), (7, 3)], f"stored reviews (user, product): {got}"


@pytest.mark.points(2)
def test_field_rules_come_before_the_repository(student: ModuleType) -> None:
    """A bad rating is refused before any repository call: checking it needs no database."""
    repo = FakeRepository()
    refused(student, repo, "InvalidReview", 7, 99, 9, "bad rating, missing product")
    assert repo.calls == [], (
        f"the rating and text can be checked without the repository; your service called "
        f"{repo.calls} first")


def review_count(sb: Any, product_id: int) -> int:
    return int(sb.db.query("SELECT count(*) FROM reviews WHERE product_id = ?",
                           (product_id,))[0][0])


def post(sb: Any, product_id: int, rating: Any, body: str, user: str | None) -> Any:
    return send(sb, "POST", f"/products/{product_id}/reviews",
                json={"rating": rating, "body": body}, user=user)


def status_is(response: Any, status: int, what: str) -> None:
    assert response.status_code == status, (
        f"{what}: expected {status}, the shop answered {response.status_code}: "
        f"{response.text[:300]}")


@pytest.mark.points(4)
def test_the_shop_posts_reviews_through_your_service(student: ModuleType) -> None:
    """POST /products/{id}/reviews through your service: 201, then 409, 404 and 422."""
    sb = make_sandbox(plug=("reviews", student))
    before = review_count(sb, 42)
    status_is(post(sb, 42, 5, "Lovely.", "grace@shop.test"), 201, "a first review")
    assert review_count(sb, 42) == before + 1, "the review must reach the shop's database"
    status_is(post(sb, 42, 2, "Again!", "grace@shop.test"), 409, "grace's second review of 42")
    assert review_count(sb, 42) == before + 1, "a refused review must not be stored"
    status_is(post(sb, 999_999, 4, "Ghost", "grace@shop.test"), 404, "a missing product")
    blank = post(sb, 42, 4, "    ", "ada@shop.test")
    status_is(blank, 422, "blank text (the controller lets it through; your rule catches it)")
    fields = [d["field"] for d in blank.json()["error"].get("details", [])]
    assert fields == ["body"], f"the 422 must name the field 'body'; it named {fields}"
