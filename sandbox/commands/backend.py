"""`sandbox request`, `scenario`, `settings` and `serve`: the shop's backend from the shell."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from sandbox.errors import (
    EXIT_OK,
    SettingsError,
)
from sandbox.safe_text import escape

if TYPE_CHECKING:
    from rich.console import Console

    from sandbox.observability import ShopMetrics
    from sandbox.tracing import Trace



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
    with contextlib.ExitStack() as files:
        # Opened before the run, so a path that cannot be written fails at once, not after it.
        metrics_file = log_file = None
        if args.metrics_file is not None:
            metrics_file = files.enter_context(_open_for_writing(args.metrics_file,
                                                                 "--metrics-file"))
        if args.log_file is not None:
            log_file = files.enter_context(_open_for_writing(args.log_file, "--log-file"))
        observers, metrics = _scenario_observers(metrics_file is not None, log_file)
        announce_seed_build(err)
        show_progress = err.is_terminal and not args.json
        if show_progress:
            from rich.progress import Progress

            with Progress(console=err, transient=True) as bar:
                task = bar.add_task(f"{args.name}", total=None)
                result = run_scenario(
                    args.name, settings, seed=args.seed, requests=args.requests,
                    warmup=args.warmup, observers=observers,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        else:
            result = run_scenario(args.name, settings, seed=args.seed, requests=args.requests,
                                  warmup=args.warmup, observers=observers)
        if metrics is not None and metrics_file is not None:
            pending = result.metrics["queue"].get("pending", 0)
            metrics.queue_depth = lambda: int(pending)
            metrics_file.write(metrics.text().decode())
    if args.json:
        out.print(json.dumps(result.metrics, indent=2), highlight=False, soft_wrap=True)
        return EXIT_OK
    out.print(render.metrics_table(result.metrics))
    out.print(render.endpoints_table(result.metrics))
    if result.metrics.get("alerts"):
        out.print(render.alerts_table(result.metrics))
    deploy = result.metrics.get("deploy")
    if deploy:
        from rich.text import Text

        for label, value in render.deploy_summary(deploy):
            out.print(Text.assemble((f"{label}: ", "bold"), value))
        out.print(render.deploy_timeline_table(deploy))
    return EXIT_OK


def _open_for_writing(path: str, option: str) -> IO[str]:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot write {option} {path}: {exc.strerror or exc}; choose a "
                            "file in a folder that exists and you can write to") from None


def _scenario_observers(want_metrics: bool, log_file: IO[str] | None) -> tuple[
        list[Callable[[Trace], None]], ShopMetrics | None]:
    """What watches each measured request when a metrics file or a log file is asked for:
    nothing otherwise, so a plain run pays nothing for them."""
    from sandbox.observability import RequestLog, ShopMetrics

    observers: list[Callable[[Trace], None]] = []
    metrics = ShopMetrics() if want_metrics else None
    if metrics is not None:
        observers.append(metrics.observe)
    if log_file is not None:
        def write(line: str) -> None:
            log_file.write(line + "\n")

        observers.append(RequestLog(write).observe)
    return observers, metrics


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


# -- hashes -----------------------------------------------------------------------------


def cmd_hashes(args: argparse.Namespace, out: Console) -> int:
    from dataclasses import replace

    from rich.table import Table

    from sandbox.mechanisms.auth import RECOMMENDED, HashPolicy, hash_costs, measure_hashes_per_s

    auth = settings_from(args).auth
    policy = HashPolicy(auth.hash, auth.hash_iterations, auth.bcrypt_cost,
                        auth.argon2_time_cost, auth.argon2_memory_kib)
    rows = hash_costs(policy)
    if args.measure:
        for row in rows:
            source = policy if row["of"] == "settings" else RECOMMENDED
            measured = replace(source, algorithm=row["algorithm"])
            row["measured_hashes_per_s_this_machine"] = round(measure_hashes_per_s(measured), 1)
    if args.json:
        out.print_json(json.dumps(rows))
        return EXIT_OK
    table = Table(title="Password hashes: simulated cost per login, and per guess")
    for name in ("algorithm", "of", "parameters", "login ms", "guesses/s/core"):
        table.add_column(name, justify="right" if "/" in name or "ms" in name else "left")
    if args.measure:
        table.add_column("real/s here", justify="right")
    for row in rows:
        cells = [row["algorithm"], row["of"], row["parameters"], f"{row['login_hash_ms']:,.3f}",
                 f"{row['guesses_per_s_per_core']:,.1f}"]
        if args.measure:
            cells.append(f"{row['measured_hashes_per_s_this_machine']:,.1f}")
        table.add_row(*cells)
    out.print(table)
    wall = "; real/s here is this machine's wall clock" if args.measure else ""
    out.print("login ms and guesses/s/core are simulated from each hash's work parameters "
              f"(sandbox/mechanisms/auth.py){wall}. An attacker with GPUs gains far more "
              "on PBKDF2 than on bcrypt or argon2id.")
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
    if args.log_format == "json":
        # Standard output carries nothing but the JSON lines, for a log shipper to read; the
        # banner goes to standard error. Written as they are: Rich would read `:smile:` in a
        # path as an emoji, and each line is already safe for a terminal (printable_json).
        banner = err

        def log(line: str) -> None:
            out.file.write(line + "\n")
            out.file.flush()
    else:
        banner = out

        def log(line: str) -> None:
            out.print(escape(line), highlight=False, soft_wrap=True)
    banner.print(f"[bold]Serving the sandbox shop at {base}[/]  (Ctrl-C stops it)",
                 highlight=False)
    banner.print(f"Admin token (for /_sandbox/): {admin_token}", highlight=False)
    banner.print("Try:", style="dim")
    for line in (
        f"curl -i {base}/products/1",
        f"curl -s {base}/openapi.json | head -c 300",
        f"curl -s -X POST {base}/auth/login -H 'Content-Type: application/json' "
        "-d '{\"email\": \"grace@shop.test\", \"password\": \"sandbox123\"}'",
        "TOKEN=<the access_token from that answer>",
        f'curl -i {base}/users/me/orders -H "Authorization: Bearer $TOKEN"',
        f"curl -s -X POST {base}/_sandbox/settings -H 'X-Sandbox-Token: {admin_token}' "
        "-H 'Content-Type: application/json' -d '{\"cache.strategy\": \"cache_aside\"}'",
        f"curl -s {base}/metrics   # Prometheus's scrape",
    ):
        banner.print("  " + escape(line), highlight=False, soft_wrap=True)
    serve(sandbox, args.host, args.port, log, admin_token=admin_token,
          trusted_proxies=args.trusted_proxy, log_format=args.log_format)
    banner.print("stopped", style="dim")
    return EXIT_OK
