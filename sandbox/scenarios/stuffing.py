"""The `credential_stuffing` scenario: an attacker replays leaked passwords against many accounts.

Password lists leaked from other sites are tried against this shop's accounts, a few guesses
per account, from a handful of addresses. Every seeded account's password is the weak demo
password; the attacker's list holds it for the accounts whose owners reused it there (one in
four), beside wrong ones. Meanwhile real customers log in, most from their own address and
some from behind one shared address (an office or a carrier's NAT).

Counted from the answers (`credential_stuffing` in the metrics): guesses that reached the
password check, accounts taken over, and real customers' logins refused by the login limit
(`auth.login_limit = off | per_ip | per_account`).
"""

from __future__ import annotations

import json
import random
from typing import Any

from sandbox.backend.demo import DEMO_PASSWORD
from sandbox.backend.seed import seeded_email
from sandbox.scenarios.mix import Action, Shoppers

ATTACKER_ADDRESSES = 4
ATTACK_SHARE = 0.8  # of the requests, the attacker's
REUSED_SHARE = 0.25  # accounts whose leaked password is their password here
MAX_GUESSES = 6  # leaked candidates per account, 1 to this many
CUSTOMERS = 500  # real customers logging in: seeded users 2..501, the accounts attacked first
SHARED_SHARE = 0.2  # customers behind the one shared address
# Address numbers (the runner's client id is `client-<number + 2>`): far above any user id.
ATTACKER_BASE, SHARED_ADDRESS = 900_000, 900_100


class StuffingShoppers(Shoppers):
    """An attacker working through a leaked list, and customers logging in."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self._account = 2  # the attacker's current target
        self._guesses: list[str] = []
        self._next: tuple[str, int] = ("attack", 2)  # (who acts next, the account)
        self.guesses = self.let_through = self.refused = 0
        self.taken_over: set[int] = set()
        self.logins = self.logins_refused = self.logins_failed = 0
        self._target = 0

    def _leaked_guesses(self) -> list[str]:
        """The leaked candidates for the next account, in the order the attacker tries them."""
        rng = self.rng
        guesses = [f"leak-{rng.randrange(10**6):06d}" for _ in range(rng.randint(1, MAX_GUESSES))]
        if rng.random() < REUSED_SHARE:
            guesses[rng.randrange(len(guesses))] = DEMO_PASSWORD
        return guesses

    def client(self) -> int:
        """Who sends the next request, as an address number; remembers what they will do."""
        rng = self.rng
        if rng.random() < ATTACK_SHARE:
            if not self._guesses:
                self._account += 1
                self._guesses = self._leaked_guesses()
            self._next = ("attack", self._account)
            return ATTACKER_BASE + rng.randrange(ATTACKER_ADDRESSES)
        customer = rng.randrange(2, CUSTOMERS + 2)
        self._next = ("customer", customer)
        return SHARED_ADDRESS if rng.random() < SHARED_SHARE else customer - 2

    def action(self) -> str:
        return "stuffing_guess" if self._next[0] == "attack" else "login"

    def build(self, name: str, user_id: int) -> Action:
        who, account = self._next
        password = self._guesses.pop(0) if who == "attack" else DEMO_PASSWORD
        self._target = account
        body = json.dumps({"email": seeded_email(account), "password": password}).encode()
        return Action(name, "POST", "/auth/login", body=body,
                      headers=[(b"content-type", b"application/json")])

    def on_response(self, action: str, status: int, body: bytes, now_ms: float,
                measured: bool) -> None:
        if action == "stuffing_guess":
            if status == 200:
                self._guesses.clear()  # in: on to the next account
            if not measured:
                return
            self.guesses += 1
            if status == 429:
                self.refused += 1
            else:
                self.let_through += 1
            if status == 200:
                self.taken_over.add(self._target)
        elif measured:
            self.logins += 1
            if status == 429:
                self.logins_refused += 1
            elif status != 200:
                self.logins_failed += 1

    def figures(self) -> dict[str, Any]:
        return {"credential_stuffing": {
            "attacker_guesses": self.guesses,
            "guesses_let_through": self.let_through,
            "guesses_refused": self.refused,
            "accounts_taken_over": len(self.taken_over),
            "legit_logins": self.logins,
            "legit_logins_refused": self.logins_refused,
            "legit_logins_failed": self.logins_failed,
        }}
