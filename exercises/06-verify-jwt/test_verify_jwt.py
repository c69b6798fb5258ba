"""Graded tests for the JWT check: a set of attacks against your function, then the same
attacks as real requests to the shop with your check plugged into its authentication."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.mechanisms.auth import AUDIENCE, ISSUER, TokenIssuer
from sandbox.plugs import install

KEY = b"graded-test-signing-key-do-not-reuse"
NOW = 1_700_000_000
DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def make_token(now: int = NOW, *, key: bytes = KEY, alg: str = "HS256",
               header: dict[str, Any] | None = None, sign_as: str | None = None,
               drop: tuple[str, ...] = (), payload: str | None = None, **claims: Any) -> str:
    """A JWT built by hand: good by default, broken in the way the arguments say."""
    body = {"sub": "2", "role": "customer", "iss": ISSUER, "aud": AUDIENCE,
            "iat": now - 10, "nbf": now - 10, "exp": now + 900}
    body.update(claims)
    for name in drop:
        body.pop(name)
    signing_input = f"{segment(header or {'alg': alg, 'typ': 'JWT'})}.{payload or segment(body)}"
    digest = DIGESTS.get(sign_as or alg)
    signature = b64(hmac.new(key, signing_input.encode(), digest).digest()) if digest else ""
    return f"{signing_input}.{signature}"


def swap_payload(token: str, **claims: Any) -> str:
    """The token with its payload rewritten (role: admin...) and the old signature kept."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(claims)
    return f"{header}.{segment(body)}.{signature}"


def attacks(now: int, key: bytes) -> dict[str, str]:
    """Tokens that must all be refused, by what is wrong with them."""
    good = make_token(now, key=key)
    header, payload, signature = good.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    return {
        "alg none, no signature": make_token(now, key=key, alg="none"),
        "alg none, with a valid HS256 signature": make_token(now, key=key, alg="none",
                                                             sign_as="HS256"),
        "alg HS512, correctly signed with the key": make_token(now, key=key, alg="HS512"),
        "alg hs256 (lower case)": make_token(now, key=key, alg="hs256", sign_as="HS256"),
        "no alg in the header": make_token(now, key=key, header={"typ": "JWT"}, sign_as="HS256"),
        "payload tampered (role: admin)": swap_payload(good, role="admin"),
        "payload tampered (sub: 1)": swap_payload(good, sub="1"),
        "signature changed": f"{header}.{payload}.{flipped}",
        "signature missing": f"{header}.{payload}.",
        "signature with '!*' slipped in": f"{header}.{payload}.{signature[:20]}!*{signature[20:]}",
        "signed with another key": make_token(now, key=b"someone-elses-key"),
        "expired a second ago": make_token(now, key=key, exp=now - 1),
        "expires right now": make_token(now, key=key, exp=now),
        "not valid for another minute": make_token(now, key=key, nbf=now + 60),
        "wrong audience": make_token(now, key=key, aud="admin-api"),
        "audience list without ours": make_token(now, key=key, aud=["admin-api", "billing"]),
        "wrong issuer": make_token(now, key=key, iss="evil.example"),
        "no exp claim": make_token(now, key=key, drop=("exp",)),
        "no sub claim": make_token(now, key=key, drop=("sub",)),
        "no aud claim": make_token(now, key=key, drop=("aud",)),
        "exp is a string": make_token(now, key=key, exp=str(now + 900)),
        "header is not base64url": "e30!." + payload + "." + signature,
        "payload is not JSON": make_token(now, key=key, payload=b64(b"{'sub': 2}")),
        "payload is a JSON list": make_token(now, key=key, payload=segment(["sub", "2"])),
        "two segments": f"{header}.{payload}",
        "four segments": f"{good}.{signature}",
        "empty": "",
        "oversized (5,000 characters, validly signed)": make_token(now, key=key, pad="x" * 5000),
    }


def verify(student: ModuleType, token: str, now: float = NOW, key: bytes = KEY) -> Any:
    return student.verify_token(token, key, now, issuer=ISSUER, audience=AUDIENCE)


def expect_refused(student: ModuleType, token: str, why: str, now: float = NOW,
                   key: bytes = KEY) -> None:
    """verify_token must raise InvalidToken: not return, and not crash with another error."""
    try:
        claims = verify(student, token, now, key)
    except student.InvalidToken:
        return
    except NotImplementedError:
        raise
    except Exception as exc:  # reported to the student
        raise AssertionError(
            f"{why}: verify_token must raise InvalidToken, but it crashed with "
            f"{type(exc).__name__}: {exc} (in the shop a crash is a 500, not a 401)") from None
    raise AssertionError(f"{why}: this token must be refused, but verify_token accepted it "
                         f"and returned {str(claims)[:200]}\ntoken: {token[:200]}")


def refuse_all(student: ModuleType, names: list[str]) -> None:
    every = attacks(NOW, KEY)
    for name in names:
        expect_refused(student, every[name], name)


@pytest.mark.points(2)
def test_a_good_token_gives_its_claims(student: ModuleType) -> None:
    """A correctly signed, current token returns its claims; an aud list holding ours is fine."""
    claims = verify(student, make_token())
    assert isinstance(claims, dict) and claims.get("sub") == "2" and \
        claims.get("role") == "customer", f"verify_token must return the claims; got {claims!r}"
    claims = verify(student, make_token(aud=["billing", AUDIENCE]))
    assert claims.get("sub") == "2", "an 'aud' list that contains our audience is accepted"


@pytest.mark.points(3)
def test_a_changed_token_is_refused(student: ModuleType) -> None:
    """A payload rewritten after signing, a changed or missing signature, another key."""
    refuse_all(student, ["payload tampered (role: admin)", "payload tampered (sub: 1)",
                         "signature changed", "signature missing", "signed with another key"])


@pytest.mark.points(3)
def test_the_algorithm_is_pinned_to_hs256(student: ModuleType) -> None:
    """alg none (with or without a signature), HS512, hs256 and no alg are all refused."""
    refuse_all(student, ["alg none, no signature", "alg none, with a valid HS256 signature",
                         "alg HS512, correctly signed with the key", "alg hs256 (lower case)",
                         "no alg in the header"])


@pytest.mark.points(3)
def test_time_is_read_from_now_s(student: ModuleType) -> None:
    """exp and nbf are compared with now_s, the time you are given (never the wall clock)."""
    refuse_all(student, ["expired a second ago", "expires right now",
                         "not valid for another minute", "exp is a string"])
    token = make_token(NOW)
    assert verify(student, token, now=NOW + 899)["sub"] == "2", (
        "a token is valid until the second before exp")
    expect_refused(student, token, "the same token 900 s later (now_s = exp)", now=NOW + 900)
    expect_refused(student, token, "the same token 20 s before its nbf", now=NOW - 20)


@pytest.mark.points(2)
def test_issuer_audience_and_required_claims(student: ModuleType) -> None:
    """Wrong iss, wrong aud, and a token missing exp, sub or aud are refused."""
    refuse_all(student, ["wrong audience", "audience list without ours", "wrong issuer",
                         "no exp claim", "no sub claim", "no aud claim"])


@pytest.mark.points(3)
def test_malformed_tokens_are_refused_not_crashed(student: ModuleType) -> None:
    """Bad base64, non-JSON, wrong segment count, oversized: InvalidToken, never another exception."""
    refuse_all(student, ["header is not base64url", "signature with '!*' slipped in",
                         "payload is not JSON",
                         "payload is a JSON list", "two segments", "four segments", "empty",
                         "oversized (5,000 characters, validly signed)"])


def shop_with_your_check(student: ModuleType) -> Any:
    """A sandbox that signs tokens with KEY, with your verify_token checking them."""
    sb = make_sandbox()
    sb.ctx.tokens = TokenIssuer(KEY)
    install(sb, "jwt", student)
    return sb


def my_orders(sb: Any, token: str) -> Any:
    return send(sb, "GET", "/users/me/orders", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.points(4)
def test_the_shop_answers_every_attack_with_401(student: ModuleType) -> None:
    """Through the shop: a real login's token works and every attack token gets 401."""
    sb = shop_with_your_check(student)
    login = send(sb, "POST", "/auth/login",
                 json={"email": "grace@shop.test", "password": "sandbox123"})
    response = my_orders(sb, login.json()["access_token"])
    assert response.status_code == 200, (
        f"the token from a real login must work; the shop answered {response.status_code}: "
        f"{response.text[:300]}")
    now = int(sb.ctx.now_s())
    for name, token in attacks(now, KEY).items():
        response = my_orders(sb, token)
        assert response.status_code == 401, (
            f"{name}: the shop must answer 401; it answered {response.status_code}: "
            f"{response.text[:200]}")
