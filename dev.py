#!/usr/bin/env python3
"""Set up and run the backend sandbox with nothing but Python 3.11+.

    python3 dev.py            create .venv if needed, then open the sandbox
    python3 dev.py test       create .venv if needed, then run the whole test suite
    python3 dev.py -- ARGS    create .venv if needed, then run `sandbox ARGS`

The virtual environment is rebuilt when pyproject.toml changes. When `redis-server` is
installed, `test` starts a throwaway one on a free loopback port so the Redis-backed tests
also run against a real server (CI sets SANDBOX_REQUIRE_REDIS=1 to make that mandatory).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".pyproject-sha256"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _python() -> Path:
    return BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_venv() -> None:
    """Create the virtual environment and install the project with its test tools."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must say so on an older Python
        sys.exit(f"The sandbox needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and _python().exists():
        return
    print("Setting up .venv (first run, or pyproject.toml changed) ...", flush=True)
    if not _python().exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def start_redis() -> tuple[subprocess.Popen[bytes] | None, str]:
    """A throwaway redis-server on 127.0.0.1 and a free port, or (None, "") if not installed."""
    exe = shutil.which("redis-server")
    if exe is None:
        return None, ""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    return None, ""


def run_tests(extra: list[str]) -> int:
    lint = [str(_python()), "-m", "ruff", "check", "sandbox", "tests", "exercises", "dev.py"]
    if subprocess.run(lint).returncode != 0:
        return 1
    # The tests start hundreds of Python processes (the CLI, graders, workers, servers), each
    # importing the sandbox. Where PYTHONDONTWRITEBYTECODE is set, none of them caches its
    # bytecode, so each compiled the package again: compiled once here, they all load it.
    subprocess.run([str(_python()), "-m", "compileall", "-q", "sandbox"], check=False)
    redis_proc, url = start_redis()
    if not url and os.environ.get("SANDBOX_REQUIRE_REDIS"):
        print("redis-server is required here but could not be started.", file=sys.stderr)
        return 1
    env = dict(os.environ)
    if url:
        env["SANDBOX_TEST_REDIS_URL"] = url
        print(f"Real Redis for the tests: {url}", flush=True)
    else:
        print("redis-server not found: the real-Redis variants are skipped (CI runs them).")
    try:
        # One pytest worker per core unless the caller chose (`-n 0` runs in one process).
        chosen = any(a.startswith(("-n", "--numprocesses")) for a in extra)
        workers = [] if chosen else ["-n", "auto"]
        return subprocess.run([str(_python()), "-m", "pytest", *workers, *extra], env=env).returncode
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            try:
                redis_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                redis_proc.kill()


def main(argv: list[str]) -> int:
    try:
        ensure_venv()
    except subprocess.CalledProcessError as exc:
        print(f"Setting up .venv failed ({exc}). Delete .venv and try again.", file=sys.stderr)
        return 1
    os.chdir(ROOT)
    if argv[:1] == ["test"]:
        return run_tests(argv[1:])
    args = argv[1:] if argv[:1] == ["--"] else argv
    return subprocess.run([str(BIN / "sandbox"), *args]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
