"""Authentication: slow password hashes and signed, expiring access tokens (JWT).

Passwords are never stored, only a slow hash with a per-user salt: PBKDF2, bcrypt or argon2id
(`auth.hash`). The hash is slow on purpose: a login pays it once, but an attacker with a stolen
table pays it for every guess. Tokens are JWTs signed with HMAC-SHA256; verification pins the
algorithm, checks issuer, audience, expiry and lifetime, and reads time from the simulated
clock. A token is either a user's (from a login) or an OAuth2 client's (client credentials
grant): the client's carries its client id and the scopes it was granted, and no user id.

The signing key is a secret nobody can derive. Its root is random bytes made once per data
folder (a file only its owner may read) or given in an environment variable; each sandbox
derives its own key from that root (see `Sandbox`). A key computed from something public, such
as the seed, would let anyone mint an admin token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, Literal

import argon2
import bcrypt
import jwt
from argon2.low_level import Type, hash_secret, verify_secret

from sandbox.errors import SettingsError, Unauthorized

ALGORITHM = "HS256"
ISSUER = "backend-sandbox"
AUDIENCE = "shop-api"
MAX_TOKEN_BYTES = 4096
# The simulated cost of a password hash. Each of the three algorithms is built so that its
# running time grows in proportion to a work parameter it stores in the hash itself, so a
# hash's cost is that parameter times a per-unit time:
#   PBKDF2    iterations of HMAC-SHA256             600,000 iterations  ~ 300 ms
#   bcrypt    2**cost rounds of Blowfish key setup  cost 12 (4,096)     ~ 512 ms
#   argon2id  time_cost passes over memory_kib KiB  t=2, m=19,456 KiB   ~  47 ms
# The per-unit times keep the proportions measured on one machine (README, "Password
# hashes"), on the PBKDF2 scale this sandbox has always used (a modest server core). Reading
# the parameters, not the wall clock, keeps runs deterministic and fast: the real hash is
# still computed and checked, but its real duration never enters a run's numbers. (An
# attacker with GPUs gains far more on PBKDF2 than on bcrypt or the memory-hard argon2id;
# the per-core figures here leave that out.)
HASH_MS_PER_ITERATION = 0.0005
BCRYPT_MS_PER_ROUND = 0.125
ARGON2_MS_PER_KIB_PASS = 0.0012
HashName = Literal["pbkdf2", "bcrypt", "argon2id"]
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


@dataclass(frozen=True)
class HashPolicy:
    """How new password hashes are made: the algorithm and its work parameters."""

    algorithm: HashName = "pbkdf2"
    iterations: int = 200  # PBKDF2
    bcrypt_cost: int = 10  # bcrypt does 2**cost rounds
    argon2_time_cost: int = 2  # argon2id passes over its memory
    argon2_memory_kib: int = 19_456


@dataclass(frozen=True)
class HashParams:
    """What a stored hash says about itself: its algorithm and work parameters."""

    algorithm: HashName
    work: tuple[int, ...]  # (iterations,), (cost,) or (time_cost, memory_kib)

    def cost_ms(self) -> float:
        """The simulated time one hash with these parameters takes (see the model above)."""
        if self.algorithm == "pbkdf2":
            return self.work[0] * HASH_MS_PER_ITERATION
        if self.algorithm == "bcrypt":
            return float(2 ** self.work[0]) * BCRYPT_MS_PER_ROUND
        return self.work[0] * self.work[1] * ARGON2_MS_PER_KIB_PASS


def policy_params(policy: HashPolicy) -> HashParams:
    if policy.algorithm == "bcrypt":
        return HashParams("bcrypt", (policy.bcrypt_cost,))
    if policy.algorithm == "argon2id":
        return HashParams("argon2id", (policy.argon2_time_cost, policy.argon2_memory_kib))
    return HashParams("pbkdf2", (policy.iterations,))


_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$")
_ARGON2 = re.compile(r"\$argon2id\$v=\d+\$m=(\d+),t=(\d+),p=\d+\$")


def stored_params(stored: str) -> HashParams | None:
    """The algorithm and work parameters a stored hash states; None if it cannot be read."""
    if stored.startswith("pbkdf2_sha256$"):
        iterations = hash_iterations(stored)
        return HashParams("pbkdf2", (iterations,)) if iterations else None
    found = _BCRYPT.match(stored)
    if found:
        return HashParams("bcrypt", (int(found[1]),))
    found = _ARGON2.match(stored)
    if found:
        return HashParams("argon2id", (int(found[2]), int(found[1])))
    return None


def _bcrypt_input(password: str) -> bytes:
    """bcrypt reads at most 72 bytes and stops at a NUL byte, so two long passphrases with the
    same start would share a hash. A SHA-256 digest, base64-encoded (44 bytes, no NUL), keeps
    every character of the password in play."""
    return base64.b64encode(sha256(password.encode()).digest())


def make_hash(password: str, salt: bytes, policy: HashPolicy) -> str:
    """A new hash of `password` under `policy`, in the algorithm's usual text form.

    `salt` (from the sandbox's seeded random source) salts PBKDF2 and argon2id; bcrypt's
    library makes its own salt and offers no way to pass one.
    """
    if policy.algorithm == "bcrypt":
        hashed = bcrypt.hashpw(_bcrypt_input(password), bcrypt.gensalt(policy.bcrypt_cost))
        return hashed.decode()
    if policy.algorithm == "argon2id":
        # argon2 wants a 16-byte salt: the 8 random bytes, stretched (no more entropy, but
        # salts need only be unique per hash, not secret).
        encoded = hash_secret(password.encode(), sha256(salt).digest()[:16],
                              time_cost=policy.argon2_time_cost,
                              memory_cost=policy.argon2_memory_kib, parallelism=1,
                              hash_len=32, type=Type.ID)
        return encoded.decode()
    return hash_password(password, salt, policy.iterations)


def needs_rehash(stored: str, policy: HashPolicy) -> bool:
    """Whether a stored hash is weaker than the policy: another algorithm, or less work.
    (Checked after a good login, while the password is known, to upgrade the hash.)"""
    params = stored_params(stored)
    wanted = policy_params(policy)
    if params is None or params.algorithm != wanted.algorithm:
        return True
    return any(have < want for have, want in zip(params.work, wanted.work, strict=True))


def verify_password(password: str, stored: str) -> bool:
    """Recompute the hash with the stored salt and cost; compare in constant time."""
    if stored.startswith("$2"):
        try:
            return bcrypt.checkpw(_bcrypt_input(password), stored.encode())
        except ValueError:  # a corrupt stored hash never matches
            return False
    if stored.startswith("$argon2id$"):
        try:
            return verify_secret(stored.encode(), password.encode(), Type.ID)
        except argon2.exceptions.VerificationError:  # the wrong password: a mismatch
            return False
        except (argon2.exceptions.InvalidHashError, ValueError):
            return False
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
    via: str  # "jwt", "api_key", "header" (auth off: the caller's word is taken) or "client"
    # An OAuth2 client's token: the scopes it was granted (None for a user, whose rights come
    # from their role), and the client's id. `user_id` is then the shop account the client
    # orders for.
    scopes: frozenset[str] | None = None
    client_id: str = ""


# The scopes a client may be granted, and what each lets it do.
SCOPES: dict[str, str] = {
    "products:read": "read the catalogue and reviews",
    "orders:read": "read the orders placed on the client's account",
    "orders:write": "place orders on the client's account",
}
CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


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

    def issue_client(self, client_id: str, account: int, scopes: frozenset[str], now_s: float,
                     ttl_s: int) -> str:
        """A client credentials token: it names the client, not a user (`sub` is
        `client:<id>`, which no user id can be), and carries the scopes it was granted."""
        issued = int(now_s)
        claims = {
            "sub": f"client:{client_id}", "client_id": client_id, "account": str(account),
            "scope": " ".join(sorted(scopes)), "iss": ISSUER, "aud": AUDIENCE,
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
    """Who a verified token speaks for: its subject and role, or the client and its scopes;
    Unauthorized if they are odd."""
    if "client_id" in claims or "scope" in claims:
        return client_identity(claims)
    sub = claims.get("sub")
    user_id = parse_user_id(sub) if isinstance(sub, str) else None
    role = claims.get("role")
    if user_id is None or role not in ("customer", "admin"):
        raise Unauthorized("The access token is not valid.")
    return Identity(user_id, str(role), "jwt")


def client_identity(claims: dict[str, Any]) -> Identity:
    """The client a verified client token speaks for, with exactly the scopes it carries.

    Every part is checked, though the signature already vouches for it: a token signed with
    the right key by a bug elsewhere must not grant more than it says."""
    client_id, scope, account = claims.get("client_id"), claims.get("scope"), claims.get("account")
    if (not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id)
            or claims.get("sub") != f"client:{client_id}" or not isinstance(scope, str)
            or not isinstance(account, str)):
        raise Unauthorized("The access token is not valid.")
    scopes = frozenset(scope.split())
    user_id = parse_user_id(account)
    if user_id is None or not scopes <= SCOPES.keys() or "role" in claims:
        raise Unauthorized("The access token is not valid.")
    return Identity(user_id, "client", "client", scopes, client_id)


def token_subject(token: str) -> tuple[str, int] | None:
    """A token's `sub` and `iat`, read WITHOUT checking its signature; None if unreadable.

    Only for refusing early (a revoked subject at the gateway): nothing read this way may
    ever grant anything. The app still verifies the token in full."""
    if len(token) > MAX_TOKEN_BYTES:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        sub, iat = claims.get("sub"), int(claims["iat"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError, OverflowError):
        return None
    return (sub, iat) if isinstance(sub, str) else None


# Work parameters recommended today (OWASP's password storage cheat sheet): what a shop
# should use, beside whatever this sandbox is set to.
RECOMMENDED = HashPolicy(iterations=600_000, bcrypt_cost=10, argon2_time_cost=2,
                         argon2_memory_kib=19_456)
ALGORITHMS: tuple[HashName, ...] = ("pbkdf2", "bcrypt", "argon2id")


def describe(params: HashParams) -> str:
    """`600,000 iter.`, `cost 10`, `t=2, m=19,456 KiB`."""
    if params.algorithm == "pbkdf2":
        return f"{params.work[0]:,} iter."
    if params.algorithm == "bcrypt":
        return f"cost {params.work[0]}"
    return f"t={params.work[0]}, m={params.work[1]:,} KiB"


def hash_costs(policy: HashPolicy) -> list[dict[str, Any]]:
    """Each algorithm at `policy`'s parameters and at the recommended ones: the simulated time
    a login spends on its hash, and how many guesses per second that leaves an attacker who
    has stolen the table, per CPU core (one hash per guess, on hardware like the server's)."""
    rows = []
    for label, source in (("settings", policy), ("OWASP", RECOMMENDED)):
        for algorithm in ALGORITHMS:
            params = policy_params(HashPolicy(algorithm, source.iterations, source.bcrypt_cost,
                                              source.argon2_time_cost, source.argon2_memory_kib))
            ms = params.cost_ms()
            rows.append({"algorithm": algorithm, "parameters": describe(params), "of": label,
                         "login_hash_ms": round(ms, 3),
                         "guesses_per_s_per_core": round(1000.0 / ms, 2) if ms else None})
    return rows


def measure_hashes_per_s(policy: HashPolicy, rounds: int = 3) -> float:
    """Real hashes per second of `policy` on this machine, by the wall clock. For the README's
    "this machine" column only: nothing a run reports or a test asserts reads it."""
    import time

    start = time.perf_counter()
    for i in range(rounds):
        make_hash("correct horse battery staple", bytes([i]) * 16, policy)
    return rounds / (time.perf_counter() - start)
