"""Authentication: slow password hashes and signed, expiring access tokens (JWT).

Passwords are never stored, only a PBKDF2 hash with a per-user salt. The hash is slow on
purpose: a login pays it once, but an attacker with a stolen table pays it for every guess.
Tokens are JWTs signed with HMAC-SHA256; verification pins the algorithm, checks issuer,
audience, expiry and lifetime, and reads time from the simulated clock.

The signing key is a secret nobody can derive. Its root is random bytes made once per data
folder (a file only its owner may read) or given in an environment variable; each sandbox
derives its own key from that root (see `Sandbox`). A key computed from something public, such
as the seed, would let anyone mint an admin token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from sandbox.errors import SettingsError, Unauthorized

ALGORITHM = "HS256"
ISSUER = "backend-sandbox"
AUDIENCE = "shop-api"
MAX_TOKEN_BYTES = 4096
# Simulated cost of one PBKDF2 iteration; 600,000 iterations cost about 300 ms.
HASH_MS_PER_ITERATION = 0.0005
SECRET_ENV = "SANDBOX_SIGNING_SECRET"
SECRET_FILE = "signing-secret"
SECRET_BYTES = 32  # 256 bits: as long as the HMAC-SHA256 output


def load_signing_secret(folder: Path) -> bytes:
    """The root signing secret: $SANDBOX_SIGNING_SECRET, else `folder/signing-secret`, made on
    first use.

    The file is created readable by its owner only (0600), written whole under a temporary
    name and then linked into place, so two processes starting at once agree on one key.
    SettingsError with what to do when neither works.
    """
    given = os.environ.get(SECRET_ENV)
    if given is not None:
        if len(given) < SECRET_BYTES:
            raise SettingsError(f"{SECRET_ENV} is too short to be a secret: use at least "
                                f"{SECRET_BYTES} random characters (or unset it)")
        return given.encode()
    path = folder / SECRET_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            temporary = folder / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_bytes(SECRET_BYTES))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(temporary, path)  # fails if another process linked its key first
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        secret = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot keep the token signing key in {folder} ({exc.strerror}): "
                            f"set SANDBOX_DATA_DIR to a writable folder, or {SECRET_ENV}") from None
    if len(secret) < SECRET_BYTES:
        raise SettingsError(f"the signing key in {path} is damaged: delete the file and start "
                            "again (tokens issued with it stop working)")
    return secret


def hash_password(password: str, salt: bytes, iterations: int) -> str:
    """A PBKDF2-SHA256 hash in the form `pbkdf2_sha256$iterations$salt$hash`."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def hash_iterations(stored: str) -> int:
    """How many iterations a stored hash used (0 if it cannot be read)."""
    parts = stored.split("$")
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else 0


def verify_password(password: str, stored: str) -> bool:
    """Recompute the hash with the stored salt and cost; compare in constant time."""
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != "pbkdf2_sha256" or not parts[1].isdigit():
        return False
    try:
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(parts[2]),
                                     int(parts[1]))
    except ValueError:  # a corrupt stored hash (bad salt, zero iterations) never matches
        return False
    return hmac.compare_digest(digest.hex(), parts[3])


MAX_USER_ID = 2**62


def parse_user_id(text: str) -> int | None:
    """A user id from untrusted text: plain digits, 1 to 2**62; None for anything else.

    int() alone is too lenient here: it takes "1_0", " 7", "-3" and numbers SQLite cannot hold.
    """
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_USER_ID else None


@dataclass(frozen=True)
class Identity:
    """Who is calling: known after authentication, checked by services for authorization."""

    user_id: int
    role: str
    via: str  # "jwt", "api_key" or "header" (auth off: the caller's word is taken)


class TokenIssuer:
    """Issues and verifies access tokens.

    Args:
        secret: the signing key; in a real deployment it comes from a secret store.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        # When set, this replaces the whole check of a token (size, signature, algorithm,
        # claims, time): a student's verifier, plugged in by sandbox/plugs/jwt.py. It gets the
        # token, the signing key and the time, and returns the claims or raises Unauthorized.
        self.check_claims: Callable[[str, bytes, float], dict[str, Any]] | None = None

    def issue(self, user_id: int, role: str, now_s: float, ttl_s: int) -> str:
        issued = int(now_s)
        claims = {
            "sub": str(user_id), "role": role, "iss": ISSUER, "aud": AUDIENCE,
            "iat": issued, "nbf": issued, "exp": issued + ttl_s,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    @property
    def secret(self) -> bytes:
        """The signing key (for in-process tests and a student's plugged verifier)."""
        return self._secret

    def verify(self, token: str, now_s: float, max_lifetime_s: float | None = None) -> Identity:
        """The identity inside a valid token; Unauthorized with a safe message otherwise.

        `max_lifetime_s` caps `exp - iat`: a token made to last for ever is refused even if
        its signature is right (the policy today, not the token, says how long one may live).
        """
        if self.check_claims is not None:
            return identity_from_claims(self.check_claims(token, self._secret, now_s))
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("The access token is too large.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # pinned: never trust the token's own "alg"
                audience=AUDIENCE,
                issuer=ISSUER,
                options={
                    "require": ["sub", "exp", "iat", "nbf", "iss", "aud"],
                    # Time claims are checked below against the simulated clock.
                    "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthorized("The access token is not valid.") from None
        try:
            # 1e400 is inf: OverflowError
            exp, nbf, iat = int(claims["exp"]), int(claims["nbf"]), int(claims["iat"])
        except (TypeError, ValueError, OverflowError):
            raise Unauthorized("The access token is not valid.") from None
        if max_lifetime_s is not None and exp - iat > max_lifetime_s:
            raise Unauthorized("The access token lives longer than this server allows.")
        if iat > now_s:
            raise Unauthorized("The access token is not valid yet.")
        if now_s >= exp:
            raise Unauthorized("The access token has expired. Log in again.")
        if now_s < nbf:
            raise Unauthorized("The access token is not valid yet.")
        return identity_from_claims(claims)


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    """Who a verified token speaks for: its subject and role; Unauthorized if they are odd."""
    sub = claims.get("sub")
    user_id = parse_user_id(sub) if isinstance(sub, str) else None
    role = claims.get("role")
    if user_id is None or role not in ("customer", "admin"):
        raise Unauthorized("The access token is not valid.")
    return Identity(user_id, str(role), "jwt")
