"""Shut the student's worker in: it sees no course folder, writes nothing outside its own
scratch space, reaches no network and no other process, and leaves nothing behind.

On Linux the worker makes itself namespaces (user, mount, PID, network, IPC) at start, as an
unprivileged user may: inside them

- the course folder, the grader's copy of the tests and /tmp are covered by empty folders;
- every other mount is read-only, except a fresh /tmp that is the worker's scratch space;
- it is process 1 of its own PID namespace, so every process it starts, in any session or
  process group, is killed by the kernel the moment it ends;
- it has no network at all, and no capabilities left (so it cannot undo any of the above).

Where namespaces are not allowed (some containers), `jail` returns "process": the worker is
then only a separate process with limits, and the caller says so. Only the standard library
is used: this runs before anything else in the worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from typing import NamedTuple

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 38, 36
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = -100, 0x8000, 1
SYS_MOUNT_SETATTR = 442  # the same number on x86_64 and arm64
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine if os.name == "posix" else "")


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def prctl(option: int, value: int) -> bool:
    libc = _libc()
    return libc is not None and libc.prctl(option, value, 0, 0, 0) == 0


def protect_trusted_process() -> None:
    """For the grader and the test process: no process of the same user may read this one's
    memory or open its files through /proc, and orphaned descendants come back to it (so
    they can be found and stopped, see `kill_descendants`)."""
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)


class _Process(NamedTuple):
    parent: int
    ticks: int  # CPU time used, its reaped children's included, in clock ticks
    ready: bool  # running, or ready to run (state R)


def _process_table() -> dict[int, _Process] | None:
    """Every process /proc shows, by pid; None where there is no /proc to read."""
    found: dict[int, _Process] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
            # After the command name: state, ppid, ..., utime (the 12th), stime, cutime, cstime.
            fields = stat[stat.rindex(b")") + 2:].split()
            found[int(entry)] = _Process(int(fields[1]), sum(int(f) for f in fields[11:15]),
                                         fields[0] == b"R")
        except (OSError, ValueError, IndexError):
            continue  # it ended while we looked
    return found


def _below(root: int, table: dict[int, _Process]) -> set[int]:
    parents = {pid: process.parent for pid, process in table.items()}
    return {pid for pid in parents if _under(pid, root, parents)}


def kill_descendants(root: int | None = None) -> int:
    """SIGKILL every process below `root` (default: this one), however it detached itself
    (new session, new process group, double fork: a subreaper gets the orphans back). Goes
    round until none is left; returns how many were killed."""
    root = os.getpid() if root is None else root
    killed = 0
    for _ in range(50):
        table = _process_table()
        if table is None:
            return killed
        below = _below(root, table)
        if not below:
            return killed
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        for pid in below:  # reap the ones that are our own children
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
    return killed


def tree_usage(root: int) -> tuple[float, bool] | None:
    """What `root` and every process below it are doing: the CPU seconds (user and system)
    they have used so far, the finished ones included (a parent's reaped children count in
    its own figures), and whether any of them is running or ready to run right now (rather
    than sleeping, stopped or waiting for a disk). None where there is no /proc to read.

    A time limit counted in CPU seconds is the same on an idle machine and on a busy one:
    waiting for a core is not the student's doing, looping is. A process waiting for a core
    is "ready to run", so a busy machine never looks like a test that waits."""
    table = _process_table()
    if table is None or root not in table:
        return None
    tree = [table[pid] for pid in _below(root, table) | {root}]
    return (sum(p.ticks for p in tree) / os.sysconf("SC_CLK_TCK"), any(p.ready for p in tree))


def _under(pid: int, root: int, parents: dict[int, int]) -> bool:
    seen = 0
    while pid in parents and seen < 4096:
        pid = parents[pid]
        if pid == root:
            return True
        seen += 1
    return False


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


NOBODY = 65534  # the unprivileged user a worker started by root becomes


def jail(hide: list[str]) -> str:
    """Confine this process (see the module docstring); returns how:

    - "namespaces": shut in, and an unprivileged user to the rest of the machine (a grader
      run by root makes it `nobody`; anyone else's stays that user);
    - "namespaces-root": shut in, but root with no capabilities, because this Python lives
      where `nobody` cannot read it: it can read, never write, what root owns elsewhere;
    - "process": no namespaces allowed here; only a separate process with limits.

    With namespaces, this forks: the original process stays outside and waits, and the
    child, process 1 of the new PID namespace, returns from here and runs the student's code.
    """
    libc = _libc()
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the test process ends: so does the worker
    if libc is None:
        return "process"
    if os.geteuid() == 0 and others_can_run_python():
        return _jail_as_nobody(libc, hide)
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if libc.unshare(flags) != 0:
        return "process"
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    except OSError:
        os._exit(70)  # half-made namespaces: never run student code in them
    child = os.fork()
    if child:
        _guard(child)
    _shut_in(libc, hide)
    return "namespaces-root" if uid == 0 else "namespaces"


def _jail_as_nobody(libc: ctypes.CDLL, hide: list[str]) -> str:
    """Root's way in: a PID namespace first, then the child makes its user namespace and
    the parent, still root outside, maps it to `nobody` (a process may not map itself to
    another user)."""
    os.setgroups([])  # root's supplementary groups must not come along
    if libc.unshare(CLONE_NEWPID) != 0:
        return "process"
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    child = os.fork()
    if child:
        os.close(ready_w)
        os.close(go_r)
        try:
            if os.read(ready_r, 1) == b"1":
                _write(f"/proc/{child}/setgroups", "deny")
                _write(f"/proc/{child}/uid_map", f"0 {NOBODY} 1")
                _write(f"/proc/{child}/gid_map", f"0 {NOBODY} 1")
                os.write(go_w, b"1")
        except OSError:
            pass  # the child reads no "1" and ends
        os.close(go_w)
        _guard(child)
    os.close(ready_r)
    os.close(go_w)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if libc.unshare(flags) != 0:
        os.write(ready_w, b"0")
        return "process"
    os.write(ready_w, b"1")
    if os.read(go_r, 1) != b"1":
        os._exit(70)
    os.setresgid(0, 0, 0)  # root in here is now `nobody` everywhere else
    os.setresuid(0, 0, 0)
    _shut_in(libc, hide)
    return "namespaces"


def _guard(child: int) -> None:
    """The guardian, outside: wait for process 1, then end as it ended."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        except InterruptedError:
            continue


def _shut_in(libc: ctypes.CDLL, hide: list[str]) -> None:
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the guardian is killed: so is this
        _mounts(libc, hide)
        _drop_capabilities(libc)
    except OSError as exc:
        print(f"the grader could not shut the student's code in: {exc}", file=sys.stderr)
        os._exit(70)


def others_can_run_python() -> bool:
    """Whether a user who owns nothing here can run this Python: its program and every
    folder it imports from are readable by others, all the way down from /."""
    paths = [os.path.realpath(sys.executable), *(os.path.realpath(p) for p in sys.path if p)]
    return all(_open_to_others(p) for p in paths if os.path.exists(p))


def _open_to_others(path: str) -> bool:
    import stat

    parts = path.split("/")
    for depth in range(1, len(parts)):
        folder = "/".join(parts[:depth]) or "/"
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def _mounts(libc: ctypes.CDLL, hide: list[str]) -> None:
    mount = libc.mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                      ctypes.c_char_p]
    _check(mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    empty = MS_NOSUID | MS_NODEV | MS_NOEXEC
    for path in [*hide, "/var/tmp", "/dev/shm"]:
        if os.path.isdir(path):
            _check(mount(b"tmpfs", path.encode(), b"tmpfs", empty, b"size=16k,mode=0555"),
                   f"hide {path}")
        elif os.path.exists(path):
            _check(mount(b"/dev/null", path.encode(), None, MS_BIND, None), f"hide {path}")
    # What Python needs from under /tmp (a checkout there, its .venv) comes back after the
    # fresh /tmp covers it: held open now, bound in again below.
    keep = _needed_under("/tmp")
    held = [os.open(path, os.O_PATH | os.O_DIRECTORY) for path in keep]
    _read_only(libc, b"/")  # every mount, in one call for the whole tree
    # Then the one writable place: a fresh /tmp, the worker's scratch space.
    _check(mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m,mode=1777"),
           "mount /tmp")
    for path, fd in zip(keep, held, strict=True):
        os.makedirs(path, exist_ok=True)
        _check(mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC,
                     None), f"keep {path}")  # with the course still hidden inside it
        _read_only(libc, path.encode())
        os.close(fd)
    if mount(b"proc", b"/proc", b"proc", empty, None) != 0:  # this namespace's processes only
        _check(mount(b"tmpfs", b"/proc", b"tmpfs", empty, b"size=16k,mode=0555"), "hide /proc")


def _read_only(libc: ctypes.CDLL, path: bytes) -> None:
    attr = (ctypes.c_uint64 * 4)(MOUNT_ATTR_RDONLY, 0, 0, 0)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    _check(syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path, AT_RECURSIVE, ctypes.byref(attr),
                   ctypes.c_size_t(ctypes.sizeof(attr))), f"make {path.decode()} read-only")


def _needed_under(top: str) -> list[str]:
    """The folders under `top` this Python imports from (outermost only)."""
    import sandbox

    found = {os.path.realpath(p) for p in [*sys.path, os.path.dirname(sys.executable),
                                           os.path.dirname(os.path.dirname(sandbox.__file__))]
             if p and os.path.isdir(p)}
    inside = sorted(p for p in found if p.startswith(top.rstrip("/") + "/"))
    return [p for p in inside if not any(p.startswith(q + "/") for q in inside if q != p)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last one: fine
    if SYS_CAPSET is None:
        raise OSError(0, "unknown machine: cannot drop capabilities")
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _check(libc.syscall(SYS_CAPSET, ctypes.byref(header), ctypes.byref(data)),
           "drop capabilities")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no new privileges")
