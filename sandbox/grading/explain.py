"""Say why a test failed in plain words: what went wrong, and where in the student's file.

A beginner reading a 60-line traceback through pytest and the sandbox learns little. The
grader keeps the part that is about their code: the kind of failure, the message, and the
line of *their* file where it happened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_MESSAGE = 1200


def explain(excinfo: Any, student_dir: Path, files: list[str], when: str) -> dict[str, Any]:
    """A short, plain explanation of a failure (`excinfo` is pytest's ExceptionInfo)."""
    exc = excinfo.value
    kind = type(exc).__name__
    where = _student_frame(excinfo, student_dir, files)
    message = str(exc).strip()
    if kind == "AssertionError":
        summary = "a check failed"
        detail = message or excinfo.exconly()
    elif isinstance(exc, NotImplementedError):
        summary = "not written yet"
        detail = ("this part still raises NotImplementedError: replace the stub under the TODO "
                  "with your code")
    elif isinstance(exc, SyntaxError):
        summary = "your file has a syntax error"
        line = f" (line {exc.lineno})" if exc.lineno else ""
        detail = f"{exc.msg}{line}: Python cannot read the file, so nothing in it can run"
        if exc.filename and exc.lineno:
            where = {"file": Path(exc.filename).name, "line": exc.lineno,
                     "code": (exc.text or "").strip()}
    elif kind == "ForbiddenImport":  # forbid.py: the exercise forbids that module
        summary = "a module this exercise forbids"
        detail = message
    elif isinstance(exc, ModuleNotFoundError | ImportError):
        summary = "an import failed"
        detail = f"{message}: check the name of the module you import (is it installed?)"
    elif isinstance(exc, RecursionError):
        summary = "endless recursion"
        detail = "a function kept calling itself until Python stopped it: check its base case"
    elif kind == "StudentCodeError":  # the worker process itself ended (remote.py)
        summary = "your code ended its process"
        detail = message
    elif isinstance(exc, SystemExit):
        summary = "your code called sys.exit()"
        detail = "code under test must return or raise, never exit the process"
    elif when == "setup" and where:
        summary = f"your file raised {kind} while loading"
        detail = message or kind
    else:
        summary = f"your code raised {kind}" if where else f"{kind} was raised"
        detail = message or kind
    return {"summary": summary, "kind": kind, "detail": detail[:MAX_MESSAGE], "where": where}


def _student_frame(excinfo: Any, student_dir: Path, files: list[str]) -> dict[str, Any] | None:
    """The innermost traceback entry in one of the student's files, if any. An exception
    from the student's worker carries those entries itself (worker.describe)."""
    remote = getattr(excinfo.value, "__student_frames__", None)
    if isinstance(remote, list | tuple) and remote:
        name, line, code = remote[-1]
        return {"file": str(name), "line": int(line), "code": str(code)[:200]}
    wanted = {str((student_dir / f).resolve()) for f in files}
    found: dict[str, Any] | None = None
    try:
        entries = list(excinfo.traceback)
    except Exception:  # a traceback pytest cannot walk (a C frame); say nothing about it
        return None
    for entry in entries:
        try:
            path = str(Path(str(entry.path)).resolve())
        except (OSError, ValueError):
            continue
        if path in wanted:
            try:
                code = str(entry.statement).strip()
            except Exception:
                code = ""
            found = {"file": Path(path).name, "line": entry.lineno + 1, "code": code[:200]}
    return found
