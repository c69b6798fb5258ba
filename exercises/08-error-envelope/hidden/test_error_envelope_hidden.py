"""Hidden tests: a database that is down, and a dependency that refuses connections, through
the shop."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.harness import send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_error_envelope.py")


@pytest.mark.points(2)
def test_the_database_down_is_a_logged_503(student: ModuleType) -> None:
    """faults.db_down through the shop: 503 service_unavailable, logged under the request id."""
    sb = visible.shop(student, {"faults.db_down": True})
    response = send(sb, "GET", "/products/1")
    visible.check_response(response, 503, "service_unavailable", "the database is down")
    rid = response.headers["x-request-id"]
    assert any(e.get("request_id") == rid for e in sb.ctx.log), (
        f"every 5xx is logged with its request id; nothing in ctx.log names {rid}")


@pytest.mark.points(2)
def test_a_refused_connection_is_a_503_that_shows_nothing(student: ModuleType) -> None:
    """A refused connection through the shop: 503 with no host or port shown, the detail logged."""
    sb = visible.shop(student)
    visible.break_product_reads(sb, ConnectionRefusedError(111, "connect to db-primary:5432"))
    response = send(sb, "GET", "/products/7")
    visible.check_response(response, 503, "service_unavailable", "a refused connection")
    visible.assert_no_leak(response.text, "the 503 for a refused connection")
    rid = response.headers["x-request-id"]
    assert any(visible.holds(e, "db-primary") for e in sb.ctx.log if e.get("request_id") == rid), (
        "the refused connection's detail must be in the log under the request id")
