"""Graded tests for the error renderer: each kind of error on its own, then real requests to
the shop with your renderer answering for every endpoint."""

from __future__ import annotations

import sqlite3
from types import ModuleType
from typing import Any

import pytest

from sandbox.errors import (
    ApiError,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from sandbox.grading.harness import make_sandbox, send

RID = "req-000042"
# What an unexpected exception may carry, none of which a client may see.
SECRET_SQL = "SELECT password_hash FROM users WHERE email = 'grace@shop.test'"
LEAKS = ("password_hash", "SELECT", "grace@shop.test", "Traceback", "OperationalError",
         "KeyError", ".py", "db-primary", "5432", "10.0.3.7", "Errno")


class Log:
    """Stands in for the server's log: keeps every call."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def __call__(self, level: str, message: str, **fields: Any) -> None:
        self.entries.append({"level": level, "message": message, **fields})

    def about(self, request_id: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("request_id") == request_id]


def holds(entry: dict[str, Any], text: str) -> bool:
    """Whether a log entry mentions `text` in any of its fields."""
    return any(text in str(value) for value in entry.values())


def render(student: ModuleType, error: Exception, log: Log | None = None,
           request_id: str = RID) -> tuple[int, dict[str, Any]]:
    answer = student.render_error(error, request_id, log if log is not None else Log())
    assert isinstance(answer, tuple) and len(answer) == 2, (
        f"render_error must return a pair (status, body); it returned {answer!r}")
    return answer


def assert_no_leak(text: str, what: str) -> None:
    found = [leak for leak in LEAKS if leak in text]
    assert not found, (f"{what}: the response shows the client internal details {found}: "
                       f"{text[:300]}")


@pytest.mark.points(2)
def test_the_envelope_has_one_shape(student: ModuleType) -> None:
    """envelope() builds {"error": {code, message, details?, request_id?}}, leaving out empty parts."""
    got = student.envelope("not_found", "There is no product 9.", RID)
    want = {"error": {"code": "not_found", "message": "There is no product 9.", "request_id": RID}}
    assert got == want, f"envelope('not_found', ..., {RID!r}) must be {want}; got {got}"
    details = [{"field": "rating", "message": "must be from 1 to 5"}]
    got = student.envelope("validation_failed", "Some fields are not valid.", "", details)
    want = {"error": {"code": "validation_failed", "message": "Some fields are not valid.",
                      "details": details}}
    assert got == want, f"with details and no request id the body must be {want}; got {got}"
    assert "details" not in student.envelope("conflict", "Taken.", RID, [])["error"], (
        "an empty details list is left out")


ON_PURPOSE: list[ApiError] = [
    NotFound("There is no product 999999."),
    Conflict("An account with this e-mail already exists."),
    ValidationFailed("Some fields are not valid.", details=[
        FieldError("items[0].quantity", "must be from 1 to 100"),
        FieldError("coupon", "is not a known field")]),
    Unauthorized("Log in first."),
    Forbidden("Only an admin may change products."),
    PayloadTooLarge("The body is larger than 65536 bytes."),
    TooManyRequests("Slow down.", headers={"Retry-After": "2"}),
    ServiceUnavailable("The database is unavailable. Try again shortly."),
]


@pytest.mark.points(3)
def test_errors_raised_on_purpose_keep_their_status_and_message(student: ModuleType) -> None:
    """ApiErrors (404, 409, 422, 401, 403, 413, 429, 503) keep their status, code, message, details."""
    for error in ON_PURPOSE:
        status, body = render(student, error)
        assert status == error.status, (
            f"{type(error).__name__} must be answered with {error.status}; you answered {status}")
        assert body == error.envelope(RID), (
            f"{type(error).__name__}: the body must be\n  {error.envelope(RID)}\nyou sent\n  {body}")


UNEXPECTED: list[Exception] = [
    sqlite3.OperationalError(f"no such column: password_hash in {SECRET_SQL}"),
    KeyError("password_hash"),
    ZeroDivisionError("division by zero"),
    AttributeError("'NoneType' object has no attribute 'email' (grace@shop.test)"),
]


@pytest.mark.points(3)
def test_an_unexpected_error_is_a_generic_500(student: ModuleType) -> None:
    """A bug becomes a generic 500 envelope with the request id and no exception text."""
    for error in UNEXPECTED:
        status, body = render(student, error)
        what = f"{type(error).__name__}({error})"
        assert status == 500, f"{what} is a bug on our side: 500 expected, you answered {status}"
        inner = body.get("error", {}) if isinstance(body, dict) else {}
        assert set(inner) == {"code", "message", "request_id"} and \
            inner["code"] == "internal_error" and inner["request_id"] == RID, (
            f"{what}: the body must be the envelope with code 'internal_error', a message and "
            f"the request id; you sent {body}")
        assert_no_leak(str(body), what)


@pytest.mark.points(2)
def test_a_dependency_that_does_not_answer_is_a_503(student: ModuleType) -> None:
    """ConnectionError and TimeoutError become 503 service_unavailable, not 500, showing nothing."""
    for error in (ConnectionRefusedError(111, "connect to db-primary:5432 refused"),
                  TimeoutError("no answer from 10.0.3.7 after 30 s")):
        status, body = render(student, error)
        what = f"{type(error).__name__}({error})"
        assert status == 503, f"{what}: a dependency is down, 503 expected; you answered {status}"
        assert body.get("error", {}).get("code") == "service_unavailable", (
            f"{what}: the code must be 'service_unavailable'; you sent {body}")
        assert_no_leak(str(body), what)


@pytest.mark.points(2)
def test_the_detail_goes_to_the_log(student: ModuleType) -> None:
    """A 500 is logged with the request id and the exception's full text."""
    log = Log()
    error = UNEXPECTED[0]
    render(student, error, log, "req-000777")
    entries = log.about("req-000777")
    assert entries, (f"a 500 must be logged with log(level, message, request_id=...) so it "
                     f"can be found by its id; the log got {log.entries}")
    assert any(holds(entry, SECRET_SQL) for entry in entries), (
        f"the log entry must hold the exception's detail (its text: {error}); it holds "
        f"{entries}")


def shop(student: ModuleType, switches: dict[str, Any] | None = None) -> Any:
    return make_sandbox(switches, plug=("errors", student))


def check_response(response: Any, status: int, code: str, what: str) -> dict[str, Any]:
    """The status, the code, and the request id in the body matching the header."""
    assert response.status_code == status, (
        f"{what}: {status} expected, the shop answered {response.status_code}: "
        f"{response.text[:300]}")
    error = response.json().get("error", {})
    assert error.get("code") == code, f"{what}: code {code!r} expected; the body is {response.text}"
    assert error.get("request_id") == response.headers["x-request-id"], (
        f"{what}: the body's request_id must be this request's id "
        f"({response.headers['x-request-id']}); the body is {response.text}")
    return dict(error)


def break_product_reads(sb: Any, error: Exception) -> None:
    """From now on, reading a product raises `error`, as a bug or a dead database would."""

    def broken(product_id: int) -> Any:
        raise error

    sb.ctx.repos.products.by_id = broken


@pytest.mark.points(4)
def test_the_shop_answers_every_error_with_your_renderer(student: ModuleType) -> None:
    """Through the shop: 404, 422, 409, and a forced bug as a clean 500 whose detail is in ctx.log."""
    sb = shop(student)
    check_response(send(sb, "GET", "/products/999999"), 404, "not_found", "a missing product")
    error = check_response(send(sb, "POST", "/orders", json={"items": [{"product_id": 0}]}),
                           422, "validation_failed", "an order with bad fields")
    assert [d["field"] for d in error.get("details", [])] == [
        "items[0].product_id", "items[0].quantity"], f"the 422 must list the fields: {error}"
    taken = {"email": "grace@shop.test", "name": "Grace", "password": "long enough"}
    check_response(send(sb, "POST", "/auth/register", json=taken), 409, "conflict",
                   "registering an e-mail that is taken")
    break_product_reads(sb, sqlite3.OperationalError(f"disk I/O error in {SECRET_SQL}"))
    response = send(sb, "GET", "/products/1")
    check_response(response, 500, "internal_error", "a product read that fails with a bug")
    assert_no_leak(response.text, "the forced 500")
    rid = response.headers["x-request-id"]
    logged = [e for e in sb.ctx.log if e.get("request_id") == rid]
    assert any(holds(e, SECRET_SQL) for e in logged), (
        f"the shop's log (ctx.log) must hold the failure's detail under {rid}; it holds "
        f"{logged or sb.ctx.log[-3:]}")
