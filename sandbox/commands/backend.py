"""`sandbox request`, `scenario`, `settings` and `serve`: the shop's backend from the shell."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from sandbox.errors import (
    EXIT_OK,
    SettingsError,
)
from sandbox.safe_text import escape

if TYPE_CHECKING:
    from rich.console import Console



from sandbox.commands.shared import announce_seed_build, settings_from

# -- request ------------------------------------------------------------------------------


def _parse_headers(raw: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise SettingsError(f"bad header '{item}': write it as Name:value, e.g. X-Api-Key:abc")
        headers[key.strip()] = value.strip()
    return headers


def cmd_request(args: argparse.Namespace, out: Console, err: Console) -> int:
    from sandbox import render
    from sandbox.backend.demo import DEMO_PASSWORD
    from sandbox.runtime import Sandbox

    settings = settings_from(args)
    headers = _parse_headers(args.header)
    method = args.method.upper()
    if not args.path.startswith("/"):
        raise SettingsError(f"bad path '{args.path}': a path starts with /, e.g. /products/1")
    content: bytes | None = None
    if args.body is not None:
        content = args.body.encode()
        headers.setdefault("Content-Type", "application/json")
    if args.curl:
        from sandbox.serving import curl_command

        if args.user:
            login = json.dumps({"email": args.user, "password": DEMO_PASSWORD})
            out.print(escape(curl_command("POST", "/auth/login",
                                          {"Content-Type": "application/json"}, login)
                             + "   # copy access_token into TOKEN"), soft_wrap=True)
            headers.setdefault("Authorization", "Bearer $TOKEN")
        out.print(escape(curl_command(method, args.path, headers, args.body)).replace(
            "'Authorization: Bearer $TOKEN'", '"Authorization: Bearer $TOKEN"'), soft_wrap=True)
        return EXIT_OK
    announce_seed_build(err)
    sandbox = Sandbox(settings, seed=args.seed)

    async def send() -> Any:
        async with sandbox.client() as client:
            if args.user:
                login = await client.post(
                    "/auth/login", json={"email": args.user, "password": DEMO_PASSWORD}
                )
                if login.status_code != 200:
                    message = escape(f"{args.user}: {login.json()['error']['message']}")
                    err.print(f"[yellow]could not log in as {message}[/]")
                else:
                    headers.setdefault("Authorization",
                                       "Bearer " + login.json()["access_token"])
            return await client.request(method, args.path, content=content, headers=headers)

    try:
        import asyncio

        response = asyncio.run(send())
    finally:
        sandbox.close()
    trace = response.extensions["sandbox.trace"]
    if args.output == "json":
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        out.print_json(json.dumps({
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": body,
            "trace": trace.as_dict(),
        }))
        return EXIT_OK
    out.print(render.response_view(response.status_code, list(response.headers.items()),
                                   response.content))
    out.print()
    out.print(render.trace_waterfall(trace))
    out.print("[dim]Times are simulated: the network is modelled, the app and SQLite are real.[/]")
    return EXIT_OK


# -- scenario -----------------------------------------------------------------------------


def cmd_scenario(args: argparse.Namespace, out: Console, err: Console) -> int:
    from sandbox import render
    from sandbox.scenarios import PATTERNS, run_scenario
    from sandbox.scenarios.runner import get_pattern

    if args.name == "list":
        if args.json:
            out.print_json(json.dumps({p.name: {"summary": p.summary, "requests": p.requests,
                                                "warmup": p.warmup}
                                       for p in PATTERNS.values()}))
            return EXIT_OK
        width = max(len(name) for name in PATTERNS)
        for pattern in PATTERNS.values():
            warmup = f" after {pattern.warmup:,} warm-up" if pattern.warmup else ""
            out.print(f"[bold cyan]{pattern.name:<{width}}[/] {pattern.summary} "
                      f"[dim]({pattern.requests:,} requests{warmup})[/]")
        return EXIT_OK
    get_pattern(args.name)  # an unknown name is a usage error before anything is built
    if args.requests is not None and not 1 <= args.requests <= 1_000_000:
        raise SettingsError(f"bad value '{args.requests}' for --requests: expected 1 to 1000000")
    if args.warmup is not None and not 0 <= args.warmup <= 1_000_000:
        raise SettingsError(f"bad value '{args.warmup}' for --warmup: expected 0 to 1000000")
    settings = settings_from(args)
    announce_seed_build(err)
    show_progress = err.is_terminal and not args.json
    if show_progress:
        from rich.progress import Progress

        with Progress(console=err, transient=True) as bar:
            task = bar.add_task(f"{args.name}", total=None)
            result = run_scenario(
                args.name, settings, seed=args.seed, requests=args.requests, warmup=args.warmup,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    else:
        result = run_scenario(args.name, settings, seed=args.seed, requests=args.requests,
                              warmup=args.warmup)
    if args.json:
        out.print(json.dumps(result.metrics, indent=2), highlight=False, soft_wrap=True)
        return EXIT_OK
    out.print(render.metrics_table(result.metrics))
    out.print(render.endpoints_table(result.metrics))
    return EXIT_OK


# -- settings -----------------------------------------------------------------------------


def cmd_settings(args: argparse.Namespace, out: Console) -> int:
    from sandbox import render
    from sandbox.settings import format_value

    settings = settings_from(args)
    values = settings.as_dict()
    if args.json:
        out.print_json(json.dumps({k: format_value(v) for k, v in values.items()}))
        return EXIT_OK
    from sandbox.settings import all_keys

    out.print(render.settings_table(all_keys(), values))
    return EXIT_OK


# -- serve ----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, out: Console, err: Console) -> int:
    import secrets

    from sandbox.course.progress import data_dir
    from sandbox.mechanisms.auth import load_signing_secret
    from sandbox.runtime import Sandbox
    from sandbox.serving import MIN_ADMIN_TOKEN, is_loopback, port_free, serve

    if not 1 <= args.port <= 65535:
        raise SettingsError(f"bad port {args.port}: choose one from 1 to 65535")
    settings = settings_from(args)
    if not is_loopback(args.host):
        err.print(f"[bold yellow]warning:[/] binding {escape(args.host)} makes the sandbox "
                  "reachable from other machines; its admin API still answers loopback only.")
    if not port_free(args.host, args.port):
        raise SettingsError(f"port {args.port} on {args.host} is in use: stop what uses it, "
                            "or choose another with --port")
    secret = load_signing_secret(data_dir())
    admin_token = os.environ.get("SANDBOX_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    if len(admin_token) < MIN_ADMIN_TOKEN:
        raise SettingsError(f"SANDBOX_ADMIN_TOKEN is too short to guard the admin API: use at "
                            f"least {MIN_ADMIN_TOKEN} random characters (or unset it)")
    announce_seed_build(err)
    sandbox = Sandbox(settings, seed=args.seed, secret=secret)
    base = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}"
    out.print(f"[bold]Serving the sandbox shop at {base}[/]  (Ctrl-C stops it)", highlight=False)
    out.print(f"Admin token (for /_sandbox/): {admin_token}", highlight=False)
    out.print("Try:", style="dim")
    for line in (
        f"curl -i {base}/products/1",
        f"curl -s {base}/openapi.json | head -c 300",
        f"curl -s -X POST {base}/auth/login -H 'Content-Type: application/json' "
        "-d '{\"email\": \"grace@shop.test\", \"password\": \"sandbox123\"}'",
        "TOKEN=<the access_token from that answer>",
        f'curl -i {base}/users/me/orders -H "Authorization: Bearer $TOKEN"',
        f"curl -s -X POST {base}/_sandbox/settings -H 'X-Sandbox-Token: {admin_token}' "
        "-H 'Content-Type: application/json' -d '{\"cache.strategy\": \"cache_aside\"}'",
    ):
        out.print("  " + escape(line), highlight=False, soft_wrap=True)
    serve(sandbox, args.host, args.port,
          lambda line: out.print(escape(line), highlight=False, soft_wrap=True),
          admin_token=admin_token, trusted_proxies=args.trusted_proxy)
    out.print("stopped", style="dim")
    return EXIT_OK
