"""What the shop accepts: each request body, header and query parameter as validation Fields.

The controllers check requests against these, and the OpenAPI document is built from them, so
what is published and what is enforced cannot drift apart.
"""

from __future__ import annotations

from sandbox.backend.validation import Field

MAX_BODY_BYTES = 64 * 1024
MAX_ID = 2**62

# What an e-mail address must look like: no spaces or control characters anywhere, one @, a
# domain of dot-separated labels. Written out character by character (no \s) so that Python
# and ECMA-262, which disagree on what \s means, read the published pattern alike.
_NOT_IN_EMAIL = r"@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMAIL_PATTERN = rf"[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}.]+(?:\.[^{_NOT_IN_EMAIL}.]+)+"
REGISTER = {"email": Field("str", lo=3, hi=254, pattern=EMAIL_PATTERN,
                           explain="must be an e-mail address"),
            "name": Field("str", lo=1, hi=100), "password": Field("str", lo=8, hi=128)}
LOGIN = {"email": Field("str", lo=1, hi=254), "password": Field("str", lo=1, hi=128)}
REVIEW = {"rating": Field("int", lo=1, hi=5), "body": Field("str", lo=1, hi=2000)}
PRODUCT_PATCH = {"name": Field("str", required=False, lo=1, hi=200),
                 "price_cents": Field("int", required=False, lo=1, hi=10_000_000),
                 "stock": Field("int", required=False, lo=0, hi=1_000_000)}
ORDER = {"items": Field("list", lo=1, hi=20)}
ORDER_ITEM = {"product_id": Field("int", lo=1, hi=MAX_ID), "quantity": Field("int", lo=1, hi=100)}
# Any unique string per order, e.g. a UUID: visible ASCII, so it survives every proxy and log.
IDEMPOTENCY_KEY = Field("str", required=False, lo=1, hi=100, pattern=r"[\x21-\x7e]+",
                        explain="must be visible ASCII characters only: no spaces, control "
                                "or non-ASCII characters")
# Query parameters (all optional). The OpenAPI document publishes these same Fields.
PRODUCTS_QUERY = {"category": Field("str", required=False, hi=50),
                  "limit": Field("int", required=False, lo=1, hi=100),
                  "offset": Field("int", required=False, lo=0, hi=1_000_000),
                  "after": Field("int", required=False, lo=0, hi=MAX_ID)}
REVIEWS_QUERY = {"limit": Field("int", required=False, lo=1, hi=100)}
HISTORY_QUERY = {"limit": Field("int", required=False, lo=1, hi=50)}
