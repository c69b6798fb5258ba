"""The access-token check, replaced by the student's `verify_token`."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox import tracing
from sandbox.errors import Unauthorized
from sandbox.mechanisms.auth import AUDIENCE, ISSUER
from sandbox.plugs import PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class StudentTokenCheck:
    """Adapts `verify_token(token, key, now_s, issuer=, audience=) -> claims` (raising the
    student's InvalidToken) to `TokenIssuer.check_claims`, which raises Unauthorized (401).
    The reason stays in the trace; the client gets one generic message."""

    def __init__(self, verify: Any, invalid: type[BaseException]) -> None:
        self.verify = verify
        self.invalid = invalid

    def __call__(self, token: str, key: bytes, now_s: float) -> dict[str, Any]:
        with tracing.span("auth.verify_token", "service") as span:
            span.set("plugged", "student")
            try:
                claims = self.verify(token, key, now_s, issuer=ISSUER, audience=AUDIENCE)
            except self.invalid as exc:
                span.set("auth.rejected", str(exc)[:200])
                raise Unauthorized("The access token is not valid.") from None
            return dict(claims)


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentTokenCheck(need(module, "verify_token", "jwt"),
                             need(module, "InvalidToken", "jwt"))


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.tokens.check_claims = part


POINT = PlugPoint("jwt", "a function verify_token(token, key, now_s, *, issuer, audience) -> "
                  "claims, raising InvalidToken", _build, _attach)
