"""Turn any exception a request handler raises into a response: the right status, one error
body shape for every error, and nothing about the server's insides.

Every error the shop sends has the same body, so a client needs one piece of code to read any
of them:

    {"error": {"code": "not_found", "message": "There is no product 999999.",
               "request_id": "req-000042"}}

with a "details" list between "message" and "request_id" when there are field problems:

    "details": [{"field": "items[0].quantity", "message": "must be from 1 to 100"}]

The client gets the request id and a safe message; the server's log gets everything else,
under the same request id, so the two can be matched when someone reports a problem.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from sandbox.errors import ApiError

# log(level, message, **fields): the sandbox's server-side log, e.g.
#     log("error", "unhandled exception", request_id="req-000042", detail="...")
Log = Callable[..., None]

MESSAGE_500 = "Something went wrong on our side. Quote the request id to find it in the log."
MESSAGE_503 = "A service we depend on is not answering. Try again shortly."


def describe(error: BaseException) -> str:
    """Everything about an exception, traceback included: for the log, never for a client."""
    return "".join(traceback.format_exception(error)).strip()


def envelope(code: str, message: str, request_id: str,
             details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The one error body: {"error": {"code", "message", "details"?, "request_id"?}}.

    "details" is there only when the list is not empty, "request_id" only when it is not "".
    """
    # BEGIN SOLUTION
    # TODO: build the dict; leave out "details" and "request_id" when they are empty
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    if request_id:
        body["request_id"] = request_id
    return {"error": body}
    # END SOLUTION


def render_error(error: Exception, request_id: str, log: Log) -> tuple[int, dict[str, Any]]:
    """The (status, body) for an exception raised while handling request `request_id`.

    - An ApiError was raised on purpose (NotFound, Conflict, ValidationFailed, ...): it
      carries its `status`, `code`, a `message` safe to show and maybe `details` (a list of
      FieldError, each with `.field` and `.message`). Answer with exactly those.
    - ConnectionError or TimeoutError (and their subclasses) mean a service we depend on
      did not answer: 503, code "service_unavailable", MESSAGE_503.
    - Anything else is a bug: 500, code "internal_error", MESSAGE_500.
    Only an ApiError's message is written for clients: the text of any other exception
    never reaches the response (it can hold SQL, host names, file paths, even data).

    Every 5xx answer is logged with `log`, with the request id and the full detail
    (`describe(error)`): someone has to look at it. A 4xx is the client's mistake; no need.
    """
    # BEGIN SOLUTION
    # TODO: choose the status, code and safe message for the three kinds of error above;
    # TODO: log every 5xx with the request id and the detail; answer with envelope(...)
    kind = "api" if isinstance(error, ApiError) else "unexpected"
    if isinstance(error, ApiError):
        status, code, message = error.status, error.code, error.message
        details = [{"field": d.field, "message": d.message} for d in error.details]
    elif isinstance(error, ConnectionError | TimeoutError):
        status, code, message, details = 503, "service_unavailable", MESSAGE_503, []
    else:
        status, code, message, details = 500, "internal_error", MESSAGE_500, []
    if status >= 500:
        log("error" if status == 500 else "warning", f"{kind} error answered with {status}",
            request_id=request_id, detail=describe(error))
    return status, envelope(code, message, request_id, details)
    # STUB: kind = "api" if isinstance(error, ApiError) else "unexpected"
    # STUB: raise NotImplementedError(f"not written yet (an {kind} error): see the TODO above")
    # END SOLUTION
