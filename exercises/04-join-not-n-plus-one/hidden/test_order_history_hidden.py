"""Hidden tests: your query and your indexes together, serving histories in the sandbox."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.backend.repositories import Repositories
from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_order_history.py")


@pytest.mark.points(4)
def test_histories_with_only_your_indexes(student: ModuleType) -> None:
    """Only your indexes and your query in the sandbox: right histories, one fast statement each."""
    sb = make_sandbox({"auth.mode": "off", "db.indexes": "none"}, plug=("order_history", student))
    visible.create_indexes(student, sb.db.conn)
    own = Repositories(sb.db).orders  # the sandbox's own query, outside any request
    for customer, limit in ((visible.BUSY, 50), (visible.BUSY, 3), (visible.GRACE, 1), (7, 10)):
        path = f"/users/{customer}/orders?limit={limit}"
        response = send(sb, "GET", path, headers={"X-User-Id": "1"})  # user 1 is an admin
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        visible.check_same(response.json()["orders"], own.with_items_by_customer(customer, limit),
                           f"GET {path}")
        sent = visible.statements_in(visible.history_span(visible.trace_of(response)))
        assert len(sent) == 1, f"GET {path} sent {len(sent)} statements for the history, not 1"
        scanned = sent[0].attrs["db.rows_scanned"]
        assert scanned < 2_000, (
            f"GET {path}: your history query examined about {scanned:,} rows with only your "
            f"indexes in place (plan: {sent[0].attrs['db.plan']}); with the right indexes it "
            "needs a few dozen")
