"""The sandbox's one exception hierarchy.

    SandboxError                 anything the sandbox raises on purpose
    ├── SettingsError            a bad settings key or value (CLI exit code 2)
    ├── SeedError                the seeded database could not be built or opened
    ├── (beside their parts)     CacheUnavailable, DependencyFailed, JobFailed, UnknownHost,
    │                            ScenarioCancelled, PlugError, LessonError, ExerciseError,
    │                            ProgressError, StudentCodeStalled/Cancelled
    └── ApiError                 an error that becomes an HTTP response
        ├── BadRequest           400: the request cannot be read (malformed JSON)
        ├── Unauthorized         401: who are you? (missing, bad or expired credentials)
        ├── Forbidden            403: we know who you are, and you may not do this
        │   └── InsufficientScope 403: a client's token lacks the scope this route needs
        ├── NotFound             404: no such resource
        ├── Conflict             409: the request clashes with current state
        ├── PayloadTooLarge      413: the body is bigger than the server accepts
        ├── UnsupportedMediaType 415: the body is declared as something other than JSON
        ├── ValidationFailed     422: the request is readable but its fields are wrong
        ├── TooManyRequests      429: over the rate limit
        ├── BadGateway           502: the instance behind the balancer did not answer
        ├── ServiceUnavailable   503: a dependency is down; try again later
        └── OAuthError           400/401 from POST /oauth/token, in RFC 6749's own shape

An ApiError carries only what is safe to show a client: a status, a short machine code, a
message and optional field-level details. Internals go to the log, never into a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# How a command ends, for the shell: ok, failed, bad usage (also a bad setting), Ctrl-C.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class SandboxError(Exception):
    """Base class for every error the sandbox raises on purpose."""


class SettingsError(SandboxError):
    """A settings key or value is not valid; the message lists the valid choices."""


class SeedError(SandboxError):
    """The seeded shop database could not be built or opened."""


@dataclass
class FieldError:
    """One problem with one field of a request."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ApiError(SandboxError):
    """An error with an HTTP status and a message that is safe to show the client."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def envelope(self, request_id: str = "") -> dict[str, Any]:
        """The one error body every endpoint returns."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = [d.as_dict() for d in self.details]
        if request_id:
            body["request_id"] = request_id
        return {"error": body}


class BadRequest(ApiError):
    """The request cannot be read, for example its body is not valid JSON."""

    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    """Missing, malformed, expired or wrong credentials."""

    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    """The caller is known but not allowed to do this."""

    status, code = 403, "forbidden"


class InsufficientScope(Forbidden):
    """A client's token is valid but was not granted the scope this route needs (RFC 6750)."""

    code = "insufficient_scope"

    def __init__(self, needed: str, granted: frozenset[str] | None) -> None:
        have = ", ".join(sorted(granted)) if granted else "none"
        super().__init__(
            f"This needs the scope '{needed}'; your token carries: {have}. Ask the token "
            f"endpoint for it with scope={needed}, if your client is allowed it.",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
        )


class NotFound(ApiError):
    """No such resource, or no such route."""

    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    """The path exists but not with this method."""

    status, code = 405, "method_not_allowed"


class Conflict(ApiError):
    """The request clashes with the current state (taken e-mail, out of stock)."""

    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    """The request body is larger than the server accepts."""

    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    """The body's Content-Type is not one the endpoint reads (it reads JSON)."""

    status, code = 415, "unsupported_media_type"


class ValidationFailed(ApiError):
    """The request is readable but some fields are wrong; details name each field."""

    status, code = 422, "validation_failed"


class TooManyRequests(ApiError):
    """The client is over its rate limit."""

    status, code = 429, "too_many_requests"


class BadGateway(ApiError):
    """The load balancer sent the request to an instance that did not answer."""

    status, code = 502, "bad_gateway"


class ServiceUnavailable(ApiError):
    """A dependency (database, cache, instance) is unavailable."""

    status, code = 503, "service_unavailable"


class InternalError(ApiError):
    """An unexpected failure: the client sees only this; the detail goes to the log."""

    status, code = 500, "internal_error"

    def __init__(self) -> None:
        super().__init__(
            "Something went wrong on our side. Quote the request id to find it in the log."
        )


class OAuthError(ApiError):
    """An error from the OAuth2 token endpoint. RFC 6749 (5.2) fixes its body:
    `{"error": "<code>", "error_description": "..."}`, which OAuth client libraries read, so
    here the spec's shape stands in for the shop's envelope.

    Codes: invalid_request, invalid_client (401), unsupported_grant_type, invalid_scope.
    """

    def __init__(self, code: str, message: str, *, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        # A token endpoint's answers must never be cached (RFC 6749 5.1 and 5.2).
        super().__init__(message, headers={"Cache-Control": "no-store", "Pragma": "no-cache",
                                           **(headers or {})})
        self.code = code
        self.status = status

    def envelope(self, request_id: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "error_description": self.message}
        if request_id:
            body["request_id"] = request_id
        return body
