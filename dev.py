#!/usr/bin/env python3
"""Set up and run the backend sandbox with nothing but Python 3.11+.

    python3 dev.py            create .venv if needed, then open the sandbox
    python3 dev.py test       create .venv if needed, then run the whole test suite
    python3 dev.py -- ARGS    create .venv if needed, then run `sandbox ARGS`

The virtual environment is rebuilt when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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


def main(argv: list[str]) -> int:
    try:
        ensure_venv()
    except subprocess.CalledProcessError as exc:
        print(f"Setting up .venv failed ({exc}). Delete .venv and try again.", file=sys.stderr)
        return 1
    os.chdir(ROOT)
    if argv[:1] == ["test"]:
        checks = [
            [str(_python()), "-m", "ruff", "check", "sandbox", "tests", "dev.py"],
            [str(_python()), "-m", "pytest", *argv[1:]],
        ]
        for command in checks:
            code = subprocess.run(command).returncode
            if code != 0:
                return code
        return 0
    args = argv[1:] if argv[:1] == ["--"] else argv
    return subprocess.run([str(BIN / "sandbox"), *args]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
