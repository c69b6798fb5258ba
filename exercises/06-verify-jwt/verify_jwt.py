"""Check an access token (a JWT signed with HMAC-SHA256) by hand, and trust nothing in it
until it has passed every check.

A JWT is three base64url segments joined by dots: header.payload.signature

    header     {"alg": "HS256", "typ": "JWT"}
    payload    the claims: {"sub": "2", "role": "customer", "iss": ..., "aud": ..., "exp": ...}
    signature  HMAC-SHA256(key, b"<header segment>.<payload segment>")

base64url is base64 with "-" and "_" in place of "+" and "/", and without the "=" padding.
"""

from __future__ import annotations

# TODO: import what you need from the standard library: base64, hashlib, hmac, json
from typing import Any

ALGORITHM = "HS256"  # the only algorithm this server signs with, so the only one it accepts
MAX_TOKEN_BYTES = 4096  # a real token is a few hundred bytes; refuse anything huge unread
REQUIRED_CLAIMS = ("sub", "iss", "aud", "iat", "nbf", "exp")


class InvalidToken(Exception):
    """The token must not be trusted. The message says why; it is for the server's log."""


def b64url_decode(segment: str) -> bytes:
    """The bytes of one base64url segment (no "=" padding, as JWTs write it).

    Raises:
        InvalidToken: a character outside A-Z a-z 0-9 - _, or a length no encoding can have.
    """
    # TODO: refuse characters outside the base64url alphabet, put back the "=" padding,
    # TODO: and decode (base64.urlsafe_b64decode); turn any failure into InvalidToken
    raise NotImplementedError("not written yet: see the TODO above")


def verify_token(token: str, key: bytes, now_s: float, *, issuer: str,
                 audience: str) -> dict[str, Any]:
    """The claims of a token that passes every check; InvalidToken otherwise.

    Args:
        token: the text after "Bearer " in the Authorization header (untrusted).
        key: the server's HMAC signing key.
        now_s: the time now, in Unix seconds (the sandbox's simulated clock).
        issuer: the "iss" the token must have.
        audience: the "aud" the token must have (or, if "aud" is a list, contain).

    The checks:
      - at most MAX_TOKEN_BYTES characters, and three segments separated by dots;
      - the header is a JSON object whose "alg" is exactly ALGORITHM. The header is written
        by whoever made the token, so never let it choose how to check the signature;
      - the signature is HMAC-SHA256 of "<header>.<payload>" with `key`, compared with
        hmac.compare_digest (an == stops at the first wrong byte, and its timing leaks how
        many bytes were right);
      - the payload is a JSON object with every claim in REQUIRED_CLAIMS;
      - "exp", "nbf" and "iat" are numbers, and nbf <= now_s < exp;
      - "iss" is `issuer` and "aud" is `audience` (or a list containing it).
    """
    # TODO: size and shape first, then the header's alg, then the signature; only a token
    # TODO: with a good signature gets its payload read: required claims, times, iss and aud
    raise NotImplementedError("not written yet: see the TODO above")

