"""Hidden test: a whole category, page by page, through the shop's API with your query."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_keyset.py")


@pytest.mark.points(3)
def test_a_category_page_by_page_through_the_api(student: ModuleType) -> None:
    """Follow next_after through all of 'garden': every product once, each page cheap."""
    sb = make_sandbox(plug=("keyset_page", student))
    want = visible.listing(sb.db, "garden")
    got: list[int] = []
    path = "/products?category=garden&limit=50"
    for _ in range(40):
        response = send(sb, "GET", path)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        body = response.json()
        got += visible.ids(body["items"])
        if "after=" in path:
            sent = visible.page_statements(response)
            assert len(sent) == 1, f"GET {path}: your page took {len(sent)} statements, not one"
            statement = sent[0]
            assert statement.attrs["db.rows_scanned"] <= 1_000, (
                f"GET {path} examined about {statement.attrs['db.rows_scanned']:,} rows for 50 "
                f"products of one category (plan: {statement.attrs['db.plan']})")
        if body["next_after"] is None:
            break
        path = f"/products?category=garden&limit=50&after={body['next_after']}"
    assert got == want, (
        f"following next_after through 'garden' gave {len(got)} products; the category has "
        f"{len(want)}, and each must come once, in id order")
