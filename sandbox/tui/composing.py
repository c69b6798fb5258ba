"""The request composer's logic: parse what the learner typed, send it, spell it as curl.

No Textual here. `send` runs one request (after an optional log-in) through a Sandbox; the
composer screen calls it from a worker and shows the outcome.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.backend.demo import DEMO_PASSWORD
from sandbox.errors import SettingsError
from sandbox.tracing import Trace

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS")
SERVED_URL = "http://127.0.0.1:8000"
PARTNER_KEY = "sk_test_partner"  # the seeded API key; it acts as Grace (user 2)
USERS: dict[str, int] = {"grace@shop.test": 2, "ada@shop.test": 1}


@dataclass(frozen=True)
class ComposedRequest:
    """One request as the composer holds it. `user`: log in as this seeded user first."""

    method: str = "GET"
    path: str = "/products/1"
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    user: str = ""


@dataclass(frozen=True)
class Example:
    label: str
    request: ComposedRequest


EXAMPLES: tuple[Example, ...] = (
    Example("GET one product", ComposedRequest("GET", "/products/1")),
    Example("GET a page of books", ComposedRequest("GET", "/products?category=books&limit=5")),
    Example("GET reviews of a product", ComposedRequest("GET", "/products/1/reviews")),
    Example("GET my orders (grace)", ComposedRequest("GET", "/users/me/orders",
                                                     user="grace@shop.test")),
    Example("POST an order (grace)", ComposedRequest(
        "POST", "/orders", body='{"items": [{"product_id": 3, "quantity": 1}]}',
        user="grace@shop.test")),
    Example("POST log in", ComposedRequest(
        "POST", "/auth/login",
        body=json.dumps({"email": "grace@shop.test", "password": DEMO_PASSWORD}))),
    Example("PATCH a price (ada, admin)", ComposedRequest(
        "PATCH", "/products/1", body='{"price_cents": 1999}', user="ada@shop.test")),
    Example("POST broken JSON", ComposedRequest("POST", "/orders", body='{"items": [',
                                                user="grace@shop.test")),
    Example("GET health", ComposedRequest("GET", "/health")),
)


def parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    """`Name: value` lines (blank lines and `#` comments skipped); SettingsError on a bad one."""
    out: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition(":")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            raise SettingsError(f"header line {number} '{stripped}': write it as Name: value")
        out.append((name, value.strip()))
    return tuple(out)


def check_path(path: str) -> str:
    path = path.strip()
    if not path.startswith("/"):
        raise SettingsError(f"bad path '{path}': a path starts with /, e.g. /products/1")
    return path


def _has(headers: tuple[tuple[str, str], ...], name: str) -> bool:
    return any(k.lower() == name.lower() for k, _ in headers)


@dataclass(frozen=True)
class Outcome:
    """What came back: the response, its trace, and a note about logging in, if any."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    trace: Trace
    notes: tuple[str, ...] = field(default_factory=tuple)


async def send(sandbox: Sandbox, request: ComposedRequest) -> Outcome:
    """Send `request` through `sandbox`; with `user`, identify as that user the way
    `auth.mode` expects (log in for a token, the partner API key, or X-User-Id)."""
    headers = list(request.headers)
    notes: list[str] = []
    content = request.body.encode() if request.body else None
    if content is not None and not _has(request.headers, "content-type"):
        headers.append(("Content-Type", "application/json"))
    mode = sandbox.settings.auth.mode
    async with sandbox.client() as client:
        if request.user and not _has(request.headers, "authorization"):
            if mode == "jwt":
                login = await client.post("/auth/login", json={"email": request.user,
                                                               "password": DEMO_PASSWORD})
                if login.status_code == 200:
                    headers.append(("Authorization", "Bearer " + login.json()["access_token"]))
                    notes.append(f"logged in as {request.user} first (POST /auth/login)")
                else:
                    notes.append(f"log-in as {request.user} failed: {login.status_code}")
            elif mode == "api_key":
                headers.append(("X-API-Key", PARTNER_KEY))
                notes.append("auth.mode=api_key: sent the partner key, which acts as grace")
            else:
                headers.append(("X-User-Id", str(USERS.get(request.user, 2))))
                notes.append("auth.mode=off: the server believes the X-User-Id header")
        response = await client.request(request.method, check_path(request.path),
                                        content=content, headers=headers)
    trace: Trace = response.extensions["sandbox.trace"]
    return Outcome(response.status_code, tuple(response.headers.items()), response.content,
                   trace, tuple(notes))


def build_curl(request: ComposedRequest, base_url: str = SERVED_URL, auth_mode: str = "jwt") -> str:
    """The same request as a curl command against the served backend."""
    url = base_url.rstrip("/") + request.path.strip()
    lines: list[str] = []
    parts = ["curl", "-i"]
    if request.method == "HEAD":
        parts = ["curl", "-I"]
    elif request.method != "GET" or request.body:
        parts += ["-X", request.method]
    parts.append(shlex.quote(url))
    for name, value in request.headers:
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if request.user and not _has(request.headers, "authorization"):
        if auth_mode == "jwt":
            login = json.dumps({"email": request.user, "password": DEMO_PASSWORD})
            lines.append(
                "TOKEN=$(curl -s -X POST " + shlex.quote(base_url.rstrip("/") + "/auth/login")
                + " -H 'Content-Type: application/json' --data " + shlex.quote(login)
                + " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
            )
            parts += ["-H", '"Authorization: Bearer $TOKEN"']
        elif auth_mode == "api_key":
            parts += ["-H", shlex.quote(f"X-API-Key: {PARTNER_KEY}")]
        else:
            parts += ["-H", shlex.quote(f"X-User-Id: {USERS.get(request.user, 2)}")]
    if request.body:
        if not _has(request.headers, "content-type"):
            parts += ["-H", shlex.quote("Content-Type: application/json")]
        parts += ["--data", shlex.quote(request.body)]
    lines.append(" ".join(parts))
    return "\n".join(lines)
