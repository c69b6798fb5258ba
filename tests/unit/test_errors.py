from __future__ import annotations

import pytest

from sandbox.errors import (
    ApiError,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SandboxError,
    SeedError,
    ServiceUnavailable,
    SettingsError,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (BadRequest, 400, "bad_request"),
        (Unauthorized, 401, "unauthorized"),
        (Forbidden, 403, "forbidden"),
        (NotFound, 404, "not_found"),
        (MethodNotAllowed, 405, "method_not_allowed"),
        (Conflict, 409, "conflict"),
        (PayloadTooLarge, 413, "payload_too_large"),
        (ValidationFailed, 422, "validation_failed"),
        (TooManyRequests, 429, "too_many_requests"),
        (ServiceUnavailable, 503, "service_unavailable"),
    ],
)
def test_status_and_code(cls: type[ApiError], status: int, code: str) -> None:
    err = cls("something")
    assert err.status == status
    assert err.code == code
    assert err.message == "something"
    assert str(err) == "something"
    assert isinstance(err, ApiError)
    assert isinstance(err, SandboxError)
    assert err.envelope() == {"error": {"code": code, "message": "something"}}


def test_internal_error_status() -> None:
    err = InternalError()
    assert err.status == 500
    assert err.code == "internal_error"


def test_hierarchy() -> None:
    assert issubclass(SettingsError, SandboxError)
    assert issubclass(SeedError, SandboxError)
    assert not issubclass(SettingsError, ApiError)
    assert issubclass(ApiError, Exception)


def test_envelope_with_details_and_request_id() -> None:
    err = ValidationFailed(
        "Some fields are not valid.",
        details=[FieldError("email", "is required"), FieldError("qty", "must be at least 1")],
    )
    assert err.envelope("req-000042") == {
        "error": {
            "code": "validation_failed",
            "message": "Some fields are not valid.",
            "details": [
                {"field": "email", "message": "is required"},
                {"field": "qty", "message": "must be at least 1"},
            ],
            "request_id": "req-000042",
        }
    }


def test_envelope_omits_empty_details_and_request_id() -> None:
    body = NotFound("No such product.").envelope("")["error"]
    assert "details" not in body
    assert "request_id" not in body


def test_details_and_headers_default_to_empty() -> None:
    err = TooManyRequests("slow down", headers={"Retry-After": "1"})
    assert err.headers == {"Retry-After": "1"}
    assert err.details == []
    other = TooManyRequests("slow down")
    assert other.headers == {}
    # Defaults are not shared between instances.
    other.headers["X"] = "y"
    assert TooManyRequests("again").headers == {}


def test_internal_error_leaks_nothing() -> None:
    err = InternalError()
    body = err.envelope("req-000001")
    assert body == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side. "
            "Quote the request id to find it in the log.",
            "request_id": "req-000001",
        }
    }
    assert err.details == []
    assert err.headers == {}
    with pytest.raises(TypeError):
        InternalError("sqlite3.OperationalError: no such table")  # type: ignore[call-arg]


def test_field_error_as_dict() -> None:
    assert FieldError("a.b", "is required").as_dict() == {"field": "a.b", "message": "is required"}
