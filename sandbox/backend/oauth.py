"""OAuth2 for third-party services: the client credentials grant (RFC 6749, 4.4).

A partner's server (not a person) proves who it is with its client id and secret and gets a
short-lived access token carrying the scopes it was granted, such as `products:read` or
`orders:write`. Routes then check the scope, not a role. The token endpoint answers errors in
the RFC's own shape (5.2), and the client may send its credentials either as HTTP Basic or as
form fields (2.3.1), never both.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from sandbox import tracing
from sandbox.backend.context import AppContext
from sandbox.backend.seed import SEED_HASH_ITERATIONS
from sandbox.backend.services import SERVICE_CPU_MS, after_commit
from sandbox.errors import Forbidden, NotFound, OAuthError, Unauthorized
from sandbox.mechanisms.auth import CLIENT_ID, SCOPES, Identity, stored_params, verify_password

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 4096
FORM_FIELDS = ("grant_type", "scope", "client_id", "client_secret")
MAX_SECRET = 256
# The hash a secret is checked against when the client id is unknown: paying for one as
# costly as a registered client's keeps the answer's timing from saying which ids exist.
_NO_CLIENT_HASH = f"pbkdf2_sha256${SEED_HASH_ITERATIONS}$00000000$" + "0" * 64


@dataclass(frozen=True)
class TokenRequest:
    """A token request as read off the wire; nothing in it is checked against the shop yet."""

    grant_type: str
    scope: str | None
    client_id: str
    client_secret: str
    basic: bool  # the credentials came in an Authorization: Basic header


def invalid_client(message: str, basic: bool) -> OAuthError:
    # 401, with a Basic challenge when the client tried Basic (RFC 6749 5.2).
    headers = {"WWW-Authenticate": 'Basic realm="shop"'} if basic else {}
    return OAuthError("invalid_client", message, status=401, headers=headers)


def read_token_request(content_type: str | None, body: bytes,
                       authorization: str | None) -> TokenRequest:
    """Parse a POST /oauth/token; OAuthError (invalid_request, invalid_client) if malformed."""
    if content_type is None or content_type.partition(";")[0].strip().lower() != FORM_TYPE:
        raise OAuthError("invalid_request",
                         f"Send the parameters as a form: 'Content-Type: {FORM_TYPE}'.")
    if len(body) > MAX_FORM_BYTES:
        raise OAuthError("invalid_request", f"The form is larger than {MAX_FORM_BYTES} bytes.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "The form cannot be read.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 3.2: a parameter must not be sent twice
            raise OAuthError("invalid_request", f"The parameter '{name[:40]}' is sent twice.")
        form[name] = value
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", "The parameter 'grant_type' is missing.")
    if grant != "client_credentials":
        raise OAuthError("unsupported_grant_type",
                         "This server supports only grant_type=client_credentials.")
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    basic = False
    if authorization:
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            raise invalid_client("Authenticate the client with HTTP Basic or form fields.",
                                 basic=True)
        if client_id or secret:  # RFC 6749 2.3: one method per request
            raise OAuthError("invalid_request",
                             "Send the client's credentials once: in the Basic header or in "
                             "the form, not both.")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise invalid_client("The Basic credentials cannot be read.", basic=True) from None
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            raise invalid_client("The Basic credentials cannot be read.", basic=True)
        # Each half is form-encoded before Basic encoding (RFC 6749 2.3.1).
        client_id, secret, basic = unquote_plus(raw_id), unquote_plus(raw_secret), True
    if not client_id or not secret:
        raise invalid_client("Authenticate the client: HTTP Basic with its id and secret, or "
                             "the form fields client_id and client_secret.", basic)
    return TokenRequest(grant, form.get("scope"), client_id, secret, basic)


def scope_problem(asked: str | None, allowed: frozenset[str]) -> tuple[frozenset[str], str]:
    """The scopes to grant, and a problem ("" when none): a scope that does not exist or that
    the client was not given is refused whole, never quietly dropped."""
    if asked is None:
        return allowed, ""  # none asked for: everything the client was given (RFC 6749 3.3)
    wanted = frozenset(asked.split(" ")) - {""}
    if not wanted:
        return wanted, "Ask for at least one scope, or leave 'scope' out."
    unknown = sorted(wanted - SCOPES.keys())
    if unknown:
        return wanted, (f"There is no scope {unknown[0][:40]!r}. Scopes: "
                        f"{', '.join(sorted(SCOPES))}.")
    extra = sorted(wanted - allowed)
    if extra:
        return wanted, (f"This client may not have the scope '{extra[0]}'. It may ask for: "
                        f"{', '.join(sorted(allowed))}.")
    return wanted, ""


class OAuthService:
    """Issues client tokens and revokes clients."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def grant(self, request: TokenRequest) -> dict[str, Any]:
        """The client credentials grant: check the client, then the scopes; a token."""
        with tracing.span("service.oauth.token", "service") as span:
            tracing.work(SERVICE_CPU_MS)
            ctx = self.ctx
            client = None
            if CLIENT_ID.fullmatch(request.client_id) and len(request.client_secret) <= MAX_SECRET:
                client = ctx.repos.oauth_clients.by_id(request.client_id)
            stored = client["secret_hash"] if client else _NO_CLIENT_HASH
            with tracing.span("auth.verify_secret", "service"):
                ok = verify_password(request.client_secret, stored)
                params = stored_params(stored)
                tracing.work(params.cost_ms() if params else 0.0)
            if client is None or not ok:
                span.set("auth.result", "denied")
                raise invalid_client("Unknown client or wrong secret.", request.basic)
            if client["revoked_at"] is not None:
                span.set("auth.result", "revoked")
                raise invalid_client("This client has been revoked.", request.basic)
            scopes, problem = scope_problem(request.scope, frozenset(client["scopes"].split()))
            if problem:
                span.set("auth.result", "invalid_scope")
                raise OAuthError("invalid_scope", problem)
            ttl = ctx.settings.auth.token_ttl_s
            token = ctx.tokens.issue_client(client["client_id"], client["account"], scopes,
                                            ctx.now_s(), ttl)
            span.set("auth.result", "ok")
            span.set("oauth.client_id", client["client_id"])
            return {"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                    "scope": " ".join(sorted(scopes))}

    def revoke(self, identity: Identity | None, client_id: str) -> dict[str, Any]:
        """An admin revokes a client: it gets no new token, and (with the gateway's
        revocation check on) the tokens it holds stop working at once."""
        with tracing.span("service.oauth.revoke", "service"):
            tracing.work(SERVICE_CPU_MS)
            if identity is None:
                raise Unauthorized("Log in first: this needs an admin's access token.")
            if identity.role != "admin" or identity.scopes is not None:
                raise Forbidden("Only an admin may revoke a client.")
            ctx = self.ctx
            now = int(ctx.now_s())
            if not CLIENT_ID.fullmatch(client_id) or not ctx.repos.oauth_clients.revoke(
                    client_id, now):
                raise NotFound(f"There is no client {client_id[:64]!r}.")
            revocations, listed = ctx.revocations, False
            if revocations is not None:
                # The database says "revoked" from now on; the list tells the gateway. If
                # Redis cannot take it, the revocation stands and old tokens live on.
                revoke = revocations.revoke
                listed = after_commit(ctx, "revocation.list",
                                      lambda: revoke(f"client:{client_id}", now),
                                      client_id=client_id)
            return {"client_id": client_id, "revoked": True, "revoked_at": now,
                    "tokens_refused_at_once": listed and ctx.settings.auth.revocation_check}
