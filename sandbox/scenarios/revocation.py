"""The `token_revocation` scenario: a partner's access is revoked; how long does it go on?

A partner service (the OAuth2 client `partner-shop`) reads products and places orders with
a client credentials token. Ten seconds in, an admin revokes the client. The partner does not
know and carries on with the token it holds; when that stops working it asks for a new one,
and is refused.

A signed token is valid until it expires, so without a check on every request the revoked
partner is served for the rest of its token's life (`auth.token_ttl_s`). With
`auth.revocation_check=on` the gateway asks Redis on each request and refuses it at once, at
the price of a round trip per request. Counted in the metrics' `revocation` section.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any

from sandbox.backend.demo import DEMO_CLIENTS, DEMO_PASSWORD
from sandbox.scenarios.mix import Action, Shoppers

PARTNER = "partner-shop"
REVOKE_AT_S = 10.0  # simulated seconds into the run
ORDER_SHARE = 0.2  # of the partner's calls, orders; the rest read products
PARTNER_ADDRESS, ADMIN_ADDRESS = 900_200, -1  # the runner's client ids are these + 2


def _json(name: str, method: str, path: str, body: object, token: str = "") -> Action:
    headers = [(b"content-type", b"application/json")]
    if token:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    return Action(name, method, path, body=json.dumps(body).encode(), headers=headers)


class RevocationShoppers(Shoppers):
    """The partner's calls, and the admin who revokes it once, REVOKE_AT_S into the run."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._token = ""
        self._admin_token = ""
        self._start_ms: float | None = None
        self._now_ms = 0.0
        self.revoked_at_ms: float | None = None
        self.served = self.orders_served = self.refused = self.before = 0
        self.last_served_ms: float | None = None
        self.first_refused_ms: float | None = None

    def _admin_turn(self) -> bool:
        due = self._start_ms is not None and self._now_ms - self._start_ms >= REVOKE_AT_S * 1000
        return due and self.revoked_at_ms is None

    def client(self) -> int:
        return ADMIN_ADDRESS if self._admin_turn() else PARTNER_ADDRESS

    def action(self) -> str:
        if self._admin_turn():
            return "admin_revoke" if self._admin_token else "admin_login"
        if not self._token:
            return "partner_token"
        return "partner_order" if self.rng.random() < ORDER_SHARE else "partner_read"

    def build(self, name: str, user_id: int) -> Action:
        if name == "admin_login":
            return _json(name, "POST", "/auth/login",
                         {"email": "ada@shop.test", "password": DEMO_PASSWORD})
        if name == "admin_revoke":
            return _json(name, "POST", f"/oauth/clients/{PARTNER}/revoke", {},
                         self._admin_token)
        if name == "partner_token":
            secret = DEMO_CLIENTS[PARTNER][0]
            basic = base64.b64encode(f"{PARTNER}:{secret}".encode())
            return Action(name, "POST", "/oauth/token", body=b"grant_type=client_credentials",
                          headers=[(b"content-type", b"application/x-www-form-urlencoded"),
                                   (b"authorization", b"Basic " + basic)])
        if name == "partner_order":
            return _json(name, "POST", "/orders",
                         {"items": [{"product_id": self.rng.randrange(1, 5001), "quantity": 1}]}, self._token)
        return Action(name, "GET", f"/products/{self.product()}",
                      headers=[(b"authorization", b"Bearer " + self._token.encode())])

    def on_response(self, action: str, status: int, body: bytes, now_ms: float,
                measured: bool) -> None:
        if self._start_ms is None:
            self._start_ms = now_ms
        self._now_ms = now_ms
        if action == "admin_login" and status == 200:
            self._admin_token = json.loads(body)["access_token"]
        elif action == "admin_revoke" and status == 200:
            self.revoked_at_ms = now_ms
        elif action == "partner_token" and status == 200:
            self._token = json.loads(body)["access_token"]
        elif action in ("partner_read", "partner_order"):
            if status == 401:
                self._token = ""  # expired or refused: the partner asks for a new one
            # Served: the token was accepted (an order refused for stock was still served).
            accepted = status not in (401, 403)
            if self.revoked_at_ms is None:
                self.before += accepted
            elif accepted:
                self.served += 1
                self.orders_served += action == "partner_order"
                self.last_served_ms = now_ms
            else:
                self.refused += 1
                if self.first_refused_ms is None:
                    self.first_refused_ms = now_ms
        elif action == "partner_token" and self.revoked_at_ms is not None:
            self.refused += 1

    def figures(self) -> dict[str, Any]:
        revoked = self.revoked_at_ms

        def after(ms: float | None) -> float | None:
            return round((ms - revoked) / 1000, 3) if ms is not None and revoked else None

        return {"revocation": {
            "revoked_at_s": round((revoked - (self._start_ms or 0)) / 1000, 3) if revoked else None,
            "served_before_revocation": self.before,
            "served_after_revocation": self.served,
            "orders_after_revocation": self.orders_served,
            "refused_after_revocation": self.refused,
            "last_served_s_after_revocation": after(self.last_served_ms),
            "first_refused_s_after_revocation": after(self.first_refused_ms),
        }}
