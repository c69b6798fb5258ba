"""Hidden tests: a database that is down, and a dependency that refuses connections, through
the shop."""

from __future__ import annotations

import ast
from types import ModuleType

import pytest

from sandbox.errors import NotFound
from sandbox.grading.harness import send
from sandbox.grading.plugin import sibling, student_sources

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


@pytest.mark.points(1)
def test_the_body_is_built_by_your_envelope(student: ModuleType) -> None:
    """The sandbox's own ApiError has an envelope() method that builds this exercise's body:
    calling it would hand the exercise's answer to the sandbox. Your render_error builds
    every body with your own envelope()."""
    status, body = student.render_error(NotFound("There is no product 9."), "req-9",
                                        lambda *args, **fields: None)
    assert (status, body) == (404, student.envelope("not_found", "There is no product 9.",
                                                     "req-9"))
    (source,) = student_sources(__file__).values()
    for node in ast.walk(ast.parse(source)):
        named = (node.attr if isinstance(node, ast.Attribute) else
                 node.value if isinstance(node, ast.Constant) else None)
        assert named != "envelope", (
            f"line {getattr(node, 'lineno', '?')}: this reaches the sandbox's "
            "ApiError.envelope(); build the body with your own envelope() function")
