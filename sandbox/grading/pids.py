"""A cap on how many processes a student's worker may have at once (a fork bomb stops there).

The worker's PID namespace kills every process it started when it ends, but while it runs a
fork bomb could fill the machine's process table before the time limit stops it. So each
worker is started inside a cap:

- a cgroup with `pids.max` (cgroup v1's `pids` hierarchy, or a cgroup v2 subtree where the
  `pids` controller is delegated to us), when the grader may create one. The kernel counts
  every process and thread in it, whatever user they run as: this is the reliable cap;
- otherwise `RLIMIT_NPROC`, set to what the grader's user already runs plus the cap. It is
  counted per user (all of that user's processes, on the whole machine), and root ignores it
  unless the worker is shut in as another user, so it is a fallback only.

The cgroup folders are named after the test process that made them, so the grader removes
them once that process has ended (`remove_cgroups`). Only the standard library is used: the
test process imports this before starting its worker.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable

try:
    import resource  # imported here: a child must not import between fork and exec
except ImportError:  # not on Windows, where nothing here applies
    resource = None  # type: ignore[assignment]

PIDS_MAX = 128  # processes and threads together: far more than any exercise needs
PREFIX = "sandbox-grade-"
_V1 = "/sys/fs/cgroup/pids"
_MADE = itertools.count()
_CLEANUP_REGISTERED = False


def _base() -> str | None:
    """The cgroup folder under which this process may make capped cgroups, if any."""
    if os.access(_V1, os.W_OK):
        return _V1  # cgroup v1: the pids hierarchy
    try:
        with open("/proc/self/cgroup", encoding="ascii") as handle:
            own = next((line.split("::", 1)[1].strip() for line in handle
                        if line.startswith("0::")), None)
        if own is None:
            return None
        folder = os.path.join("/sys/fs/cgroup", own.lstrip("/"))
        with open(os.path.join(folder, "cgroup.subtree_control"), encoding="ascii") as handle:
            delegated = "pids" in handle.read().split()
    except (OSError, StopIteration):
        return None
    return folder if delegated and os.access(folder, os.W_OK) else None


def capped_cgroup(limit: int = PIDS_MAX) -> str | None:
    """Make a new cgroup that holds at most `limit` processes; its folder, or None. Whatever
    this process made is removed when it exits (and by the grader, should it be killed)."""
    base = _base()
    if base is None:
        return None
    global _CLEANUP_REGISTERED
    if not _CLEANUP_REGISTERED:
        import atexit

        atexit.register(remove_cgroups, os.getpid())
        _CLEANUP_REGISTERED = True
    for _ in range(8):  # a folder left by an earlier process with this pid: take the next
        folder = os.path.join(base, f"{PREFIX}{os.getpid()}-{next(_MADE)}")
        try:
            os.mkdir(folder)
            break
        except FileExistsError:
            continue
        except OSError:
            return None
    else:
        return None
    try:
        with open(os.path.join(folder, "pids.max"), "w", encoding="ascii") as handle:
            handle.write(str(limit))
    except OSError:
        with contextlib.suppress(OSError):
            os.rmdir(folder)
        return None
    return folder


def enter(folder: str | None, limit: int = PIDS_MAX) -> Callable[[], None]:
    """What a child runs before it starts (a `preexec_fn`): join `folder`, or where there is
    none (or joining fails), lower RLIMIT_NPROC to what this user runs now plus `limit`."""
    running = _processes_of_this_user() + limit if folder is None else 0

    def join() -> None:
        if resource is None:
            return
        if folder is not None:
            try:
                with open(os.path.join(folder, "cgroup.procs"), "w", encoding="ascii") as handle:
                    handle.write(str(os.getpid()))
                return
            except OSError:
                pass
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
            cap = running or _processes_of_this_user() + limit
            soft = cap if hard == resource.RLIM_INFINITY else min(cap, hard)
            resource.setrlimit(resource.RLIMIT_NPROC, (soft, hard))

    return join


def _processes_of_this_user() -> int:
    uid, count = os.getuid(), 0
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            with contextlib.suppress(OSError):
                if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
    return count


def remove_cgroups(owner: int) -> None:
    """Remove the cgroups the test process `owner` made for its workers, once it has ended,
    first killing whatever a worker left running in them."""
    base = _base()
    if base is None:
        return
    import time

    try:
        left = [n for n in os.listdir(base) if n.startswith(f"{PREFIX}{owner}-")]
    except OSError:
        return
    import signal

    for _ in range(20):  # the killed processes may take a moment to leave
        for name in list(left):
            with contextlib.suppress(OSError), \
                    open(os.path.join(base, name, "cgroup.procs"), encoding="ascii") as handle:
                for pid in handle.read().split():
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)
            try:
                os.rmdir(os.path.join(base, name))
                left.remove(name)
            except FileNotFoundError:
                left.remove(name)
            except OSError:
                pass
        if not left:
            return
        time.sleep(0.05)
