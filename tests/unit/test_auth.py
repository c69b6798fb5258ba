from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from sandbox.errors import Unauthorized
from sandbox.mechanisms.auth import (
    AUDIENCE,
    ISSUER,
    MAX_TOKEN_BYTES,
    Identity,
    TokenIssuer,
    hash_iterations,
    hash_password,
    verify_password,
)

SECRET = b"unit-test-signing-key-0123456789-unit-test-signing-key-0123456789"
OTHER_SECRET = b"a-completely-different-key-abcdefghijklmnopqrstuvwxyz-0123456789"
SALT = bytes(range(16))
NOW = 1_000.0
TTL = 900


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(SECRET)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "42", "role": "customer", "iss": ISSUER, "aud": AUDIENCE,
        "iat": int(NOW), "nbf": int(NOW), "exp": int(NOW) + TTL,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def reject(
    issuer: TokenIssuer, token: str, now_s: float = NOW, match: str | None = None
) -> str:
    with pytest.raises(Unauthorized, match=match) as info:
        issuer.verify(token, now_s)
    assert info.value.status == 401
    return info.value.message


# Passwords


def test_password_hash_round_trip() -> None:
    stored = hash_password("correct horse", SALT, 10)
    assert stored.startswith("pbkdf2_sha256$10$" + SALT.hex() + "$")
    assert "correct horse" not in stored
    assert verify_password("correct horse", stored) is True


def test_wrong_password_fails() -> None:
    stored = hash_password("correct horse", SALT, 10)
    assert verify_password("correct horsE", stored) is False
    assert verify_password("", stored) is False


def test_salt_and_iterations_change_the_hash() -> None:
    a = hash_password("pw", SALT, 10)
    assert hash_password("pw", SALT, 10) == a
    assert hash_password("pw", b"another salt....", 10).split("$")[3] != a.split("$")[3]
    assert hash_password("pw", SALT, 11).split("$")[3] != a.split("$")[3]


def test_verify_uses_stored_iterations() -> None:
    stored = hash_password("pw", SALT, 7)
    parts = stored.split("$")
    # Claiming a different cost makes the same digest fail.
    assert verify_password("pw", "$".join([parts[0], "8", parts[2], parts[3]])) is False


@pytest.mark.parametrize("stored", ["", "plain", "md5$10$00$00", "pbkdf2_sha256$ten$00$00",
                                    "pbkdf2_sha256$10$00"])
def test_malformed_stored_hash_fails(stored: str) -> None:
    assert verify_password("pw", stored) is False


def test_hash_iterations() -> None:
    assert hash_iterations(hash_password("pw", SALT, 25)) == 25
    assert hash_iterations("pbkdf2_sha256$600000$aa$bb") == 600000
    assert hash_iterations("garbage") == 0
    assert hash_iterations("pbkdf2_sha256$many$aa$bb") == 0
    assert hash_iterations("a$1$b") == 0


# Tokens


def test_issue_and_verify_round_trip(issuer: TokenIssuer) -> None:
    token = issuer.issue(42, "customer", NOW, TTL)
    identity = issuer.verify(token, NOW)
    assert identity == Identity(42, "customer", "jwt")
    assert isinstance(identity.user_id, int)
    admin = issuer.verify(issuer.issue(7, "admin", NOW, TTL), NOW + 1)
    assert admin == Identity(7, "admin", "jwt")


def test_issued_claims(issuer: TokenIssuer) -> None:
    token = issuer.issue(42, "customer", 1000.9, 60)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload == {
        "sub": "42", "role": "customer", "iss": ISSUER, "aud": AUDIENCE,
        "iat": 1000, "nbf": 1000, "exp": 1060,
    }


def test_expiry_uses_simulated_time(issuer: TokenIssuer) -> None:
    token = issuer.issue(42, "customer", NOW, TTL)
    assert issuer.verify(token, NOW + TTL - 0.001).user_id == 42
    message = reject(issuer, token, NOW + TTL, match="expired")
    assert "expired" in message
    reject(issuer, token, NOW + TTL + 3600, match="expired")


def test_not_yet_valid(issuer: TokenIssuer) -> None:
    token = issuer.issue(42, "customer", NOW, TTL)
    reject(issuer, token, NOW - 0.5, match="not valid yet")
    assert issuer.verify(token, NOW).user_id == 42


def test_tampered_payload(issuer: TokenIssuer) -> None:
    token = issuer.issue(42, "customer", NOW, TTL)
    header, _, signature = token.split(".")
    forged = ".".join([header, b64url_json(claims(role="admin", sub="1")), signature])
    reject(issuer, forged, match="not valid")


def test_tampered_signature(issuer: TokenIssuer) -> None:
    token = issuer.issue(42, "customer", NOW, TTL)
    head, payload, sig = token.split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    reject(issuer, ".".join([head, payload, flipped]))
    reject(issuer, f"{head}.{payload}.")


def test_wrong_key(issuer: TokenIssuer) -> None:
    token = TokenIssuer(OTHER_SECRET).issue(42, "customer", NOW, TTL)
    reject(issuer, token, match="not valid")
    # Sanity: the other issuer accepts its own token.
    assert TokenIssuer(OTHER_SECRET).verify(token, NOW).user_id == 42


def test_alg_none_rejected(issuer: TokenIssuer) -> None:
    unsigned = ".".join([b64url_json({"alg": "none", "typ": "JWT"}), b64url_json(claims()), ""])
    reject(issuer, unsigned, match="not valid")


def test_other_hmac_algorithm_rejected(issuer: TokenIssuer) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    reject(issuer, token, match="not valid")
    # The same claims signed the pinned way are accepted.
    assert issuer.verify(jwt.encode(claims(), SECRET, algorithm="HS256"), NOW).user_id == 42


@pytest.mark.parametrize(
    "bad",
    [
        {"aud": "admin-api"},
        {"aud": ["other-api"]},
        {"iss": "someone-else"},
        {"role": "superuser"},
        {"role": None},
        {"sub": "not-a-number"},
    ],
)
def test_wrong_claims_rejected(issuer: TokenIssuer, bad: dict[str, Any]) -> None:
    token = jwt.encode(claims(**bad), SECRET, algorithm="HS256")
    reject(issuer, token, match="not valid")


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "nbf", "iss", "aud"])
def test_missing_claims_rejected(issuer: TokenIssuer, missing: str) -> None:
    token = jwt.encode(claims(**{missing: None}), SECRET, algorithm="HS256")
    reject(issuer, token, match="not valid")


def signed_with_padding(pad: int) -> str:
    return jwt.encode(claims(pad="x" * pad), SECRET, algorithm="HS256")


def test_oversized_token_rejected(issuer: TokenIssuer) -> None:
    # Correctly signed tokens: exactly at the limit is accepted, the next size up is not.
    tokens = [signed_with_padding(pad) for pad in range(2_850, 2_950)]
    at_limit = next(t for t in tokens if len(t) == MAX_TOKEN_BYTES)
    over = next(t for t in tokens if len(t) > MAX_TOKEN_BYTES)
    assert issuer.verify(at_limit, NOW).user_id == 42
    reject(issuer, over, match="too large")
    reject(issuer, "a" * (MAX_TOKEN_BYTES + 1), match="too large")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "...", "Bearer x.y.z", "é.é.é"])
def test_garbage_rejected(issuer: TokenIssuer, token: str) -> None:
    reject(issuer, token, match="not valid")


def test_error_messages_leak_nothing(issuer: TokenIssuer) -> None:
    token = TokenIssuer(OTHER_SECRET).issue(42, "customer", NOW, TTL)
    message = reject(issuer, token)
    assert message == "The access token is not valid."
    assert "Signature" not in message


@pytest.mark.parametrize("stored", ["pbkdf2_sha256$100$zz$abcd", "pbkdf2_sha256$0$00$abcd"])
def test_corrupt_stored_hash_never_matches_and_never_raises(stored: str) -> None:
    assert verify_password("anything", stored) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7", 7), ("1", 1), (str(2**62), 2**62), ("0", None), ("-1", None), ("1_0", None),
     (" 7", None), ("7 ", None), ("٣", None), ("", None), ("9" * 30, None), (str(2**62 + 1), None)],
)
def test_parse_user_id_takes_plain_digits_in_range(text: str, expected: int | None) -> None:
    from sandbox.mechanisms.auth import parse_user_id

    assert parse_user_id(text) == expected
