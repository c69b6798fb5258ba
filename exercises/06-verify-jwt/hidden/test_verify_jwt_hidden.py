"""Hidden tests: constant-time comparison, one-character changes, expiry on the shop's clock."""

from __future__ import annotations

import base64
import binascii
import random
from types import ModuleType

import pytest

from sandbox.grading.harness import send
from sandbox.grading.plugin import helper_in_worker, sibling

visible = sibling(__file__, "test_verify_jwt.py")


@pytest.mark.points(1)
def test_the_signature_is_compared_with_compare_digest(student: ModuleType) -> None:
    """The signature is compared with hmac.compare_digest, whose timing leaks nothing."""
    spy = helper_in_worker(SPY)  # the student's code runs in its worker: the spy goes there
    spy.install(student)
    assert visible.verify(student, visible.make_token())["sub"] == "2"
    visible.expect_refused(student, visible.make_token(key=b"other"), "signed with another key")
    assert spy.calls() > 0, (
        "compare the signature with hmac.compare_digest, not ==: == returns as soon as one "
        "byte differs, and that timing difference leaks the signature")


SPY = """
import hmac, secrets

real = hmac.compare_digest
count = [0]


def spy(a, b):
    count[0] += 1
    return real(a, b)


def install(student):
    hmac.compare_digest = spy
    secrets.compare_digest = spy
    for name, value in list(vars(student).items()):
        if value is real:  # `from hmac import compare_digest`
            setattr(student, name, spy)


def calls():
    return count[0]
"""


def decoded(token: str) -> list[bytes | None]:
    """Each segment's bytes, decoded strictly (None where it is not valid base64url)."""
    out: list[bytes | None] = []
    for part in token.split("."):
        try:
            out.append(base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_",
                                        validate=True))
        except (binascii.Error, ValueError):
            out.append(None)
    return out


@pytest.mark.points(2)
def test_any_one_character_change_is_refused(student: ModuleType) -> None:
    """200 seeded one-character changes to a good token are all refused."""
    good = visible.make_token()
    original = decoded(good)
    rng = random.Random(6)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
    for _ in range(200):
        i = rng.randrange(len(good))
        replacement = rng.choice([c for c in alphabet if c != good[i]])
        token = good[:i] + replacement + good[i + 1:]
        if decoded(token) == original:
            continue  # the same bytes: accepting it is as correct as refusing it
        visible.expect_refused(student, token, f"character {i} changed to {replacement!r}")


@pytest.mark.points(2)
def test_a_login_expires_on_the_shops_clock(student: ModuleType) -> None:
    """Through the shop: a login's token gets 401 once auth.token_ttl_s of simulated time has passed."""
    sb = visible.shop_with_your_check(student)

    def login() -> str:
        answer = send(sb, "POST", "/auth/login",
                      json={"email": "grace@shop.test", "password": "sandbox123"})
        return str(answer.json()["access_token"])

    token = login()
    ttl = sb.settings.auth.token_ttl_s
    sb.clock.advance((ttl - 5) * 1000.0)
    assert visible.my_orders(sb, token).status_code == 200, (
        "5 simulated seconds before it expires, the token must still work")
    sb.clock.advance(10 * 1000.0)
    response = visible.my_orders(sb, token)
    assert response.status_code == 401, (
        f"after auth.token_ttl_s ({ttl} s) of simulated time the token has expired: 401 "
        f"expected, the shop answered {response.status_code}")
    assert visible.my_orders(sb, login()).status_code == 200, "a fresh login works again"
