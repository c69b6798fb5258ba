"""Shut the student's worker in: it sees only what it needs to run, writes nothing outside
its own scratch space, reaches no network and no other process, and leaves nothing behind.

On Linux the worker makes itself namespaces (user, mount, PID, network, IPC) at start, as an
unprivileged user may: inside them

- its file system is a new one, made for it: the system's folders (/usr, /bin, /lib*, /etc),
  this Python's installation, its venv, the folders on its sys.path and the `sandbox` package
  (only the package: the checkout around it holds the course), all read-only; a few devices
  (/dev/null, /dev/urandom, ...); a /proc of its own; and a fresh /tmp, its scratch space, the
  one place it may write. Nothing else is there: no /root, /home, /work, /srv, /opt, /mnt or
  /var, no other checkout, no course folder, no grader's copy of the tests;
- it is process 1 of its own PID namespace, so every process it starts, in any session or
  process group, is killed by the kernel the moment it ends;
- it has no network at all, and no capabilities left (so it cannot undo any of the above).

Why a new root, rather than covering what must be hidden with empty folders: covering is a
list of what to deny, and whatever it does not name (another clone of the course, a home
folder, a folder made tomorrow) stays readable. A new root is a list of what to allow. It is
built from bind mounts on a tmpfs, then `pivot_root` makes it `/` and the old root is
unmounted: unlike chroot, which leaves the old root mounted underneath, there is nothing left
to climb back to. The folders named in `hide` are still covered, should one of them lie
inside a folder the worker needs.

Started by root, the worker becomes `nobody` to the rest of the machine, so file permissions
hold too: even in the folders it sees, it reads only what anyone may. (Every folder is opened
while the worker is still root, so a Python under /root, which `nobody` cannot reach, is fine:
only its own files must be readable by others.) Where they are not, it stays root without
capabilities ("namespaces-root"): it sees the same few folders, and the files of /etc only
root may read are covered as well.

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
from collections.abc import Callable
from typing import NamedTuple, TypeVar

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


_T = TypeVar("_T")
NOBODY = 65534  # the unprivileged user a worker started by root becomes


def jail(hide: list[str]) -> str:
    """Confine this process (see the module docstring); returns how:

    - "namespaces": shut in, and an unprivileged user to the rest of the machine (a grader
      run by root makes it `nobody`; anyone else's stays that user);
    - "namespaces-root": shut in, but root with no capabilities, because this Python's own
      files are not readable by others: it can read, never write, what root owns among the
      few folders it sees;
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
    _shut_in(libc, hide, _or_end(lambda: _hold(root_only_covered=uid == 0)))
    return "namespaces-root" if uid == 0 else "namespaces"


def _jail_as_nobody(libc: ctypes.CDLL, hide: list[str]) -> str:
    """Root's way in: a PID namespace first, then the child makes its user namespace and
    the parent, still root outside, maps it to `nobody` (a process may not map itself to
    another user). The child opens what it will mount before it becomes `nobody`."""
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
    # Still root to the file system (not yet mapped to anyone), in the new mount namespace:
    # the only moment the folders under /root can be opened, and bound from there.
    held = _or_end(lambda: _hold(root_only_covered=False))
    os.write(ready_w, b"1")
    if os.read(go_r, 1) != b"1":
        os._exit(70)
    os.close(ready_w)  # nothing of the setting up is left open for the student's code
    os.close(go_r)
    os.setresgid(0, 0, 0)  # root in here is now `nobody` everywhere else
    os.setresuid(0, 0, 0)
    _shut_in(libc, hide, held)
    return "namespaces"


def _guard(child: int) -> None:
    """The guardian, outside: wait for process 1, then end as it ended."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        except InterruptedError:
            continue


def _shut_in(libc: ctypes.CDLL, hide: list[str], held: _Held) -> None:
    def steps() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the guardian is killed: so is this
        _new_root(libc, hide, held)
        _drop_capabilities(libc)

    _or_end(steps)


def _or_end(step: Callable[[], _T]) -> _T:
    """A step of shutting in; should it fail, the process ends: the student's code never
    runs half shut in."""
    try:
        return step()
    except OSError as exc:
        print(f"the grader could not shut the student's code in: {exc}", file=sys.stderr)
        os._exit(70)


# What the new root holds of the machine's own: the system's folders (those that exist), ...
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# ... less the folders in them that hold people's files rather than the system's (a Docker
# image's /usr/src/app is often a checkout, course and all) ...
PEOPLES = ("/usr/src", "/usr/local/src")
# ... and these devices.
DEVICES = ("null", "zero", "full", "random", "urandom")
# Where the new root is made: a tmpfs over /tmp (what the worker needs from the old /tmp, a
# checkout or a venv there, is opened before it is covered).
BUILD = "/tmp"
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(
    os.uname().machine if os.name == "posix" else "")
MNT_DETACH = 2


def python_paths() -> list[str]:
    """The folders this Python runs and imports from, as real paths, outermost only: its
    installation, its venv, the folders on sys.path, and the `sandbox` package. The folder
    the package sits in counts only when it is a site-packages: otherwise it is a checkout,
    with the course (solutions and all) beside the package."""
    import sandbox

    package = os.path.realpath(os.path.dirname(sandbox.__file__))
    found = {package}
    for path in (sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix,
                 os.path.dirname(os.path.realpath(sys.executable)), *sys.path):
        real = os.path.realpath(path) if path else ""
        if not real or not os.path.exists(real):
            continue
        if real == os.path.dirname(package) and \
                os.path.basename(real) not in ("site-packages", "dist-packages"):
            continue
        found.add(real)
    found -= {"/", BUILD}  # never the whole of either
    return _outermost(found)


def _outermost(paths: set[str] | list[str]) -> list[str]:
    return sorted(p for p in set(paths) if not any(_inside(p, q) for q in paths if q != p))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def others_can_run_python() -> bool:
    """Whether `nobody` could run this Python in the new root: its program and every folder
    it imports from are readable by others, from the folder that is bound into the new root
    down (the folders above it are the new root's own, open to all)."""
    tops = [p for p in SYSTEM if os.path.isdir(p) and not os.path.islink(p)] + python_paths()
    wanted = [os.path.realpath(sys.executable), *tops,
              *(os.path.realpath(p) for p in sys.path if p)]
    for path in wanted:
        top = next((t for t in tops if _inside(path, t)), None)
        if top is not None and os.path.exists(path) and not _open_to_others(path, top):
            return False
    return True


def _open_to_others(path: str, top: str) -> bool:
    import stat

    below = [part for part in path[len(top):].split("/") if part]
    folders = [os.path.join(top, *below[:depth]) for depth in range(len(below))]
    if any(not os.stat(folder).st_mode & stat.S_IXOTH for folder in folders):
        return False
    mode = os.stat(path).st_mode
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & need == need


class _Held(NamedTuple):
    """What the new root is made of, each opened (O_PATH) before anything is mounted."""

    links: dict[str, str]  # the system's top-level symlinks (/bin -> usr/bin): copied
    system: dict[str, int]  # the system's folders, by path
    python: dict[str, int]  # this Python's folders (python_paths), by real path
    named: dict[str, str]  # a path on sys.path as written, if not its real path: a symlink
    devices: dict[str, int]
    root_only: list[str]  # what /etc holds that only root may read: covered


def _hold(root_only_covered: bool) -> _Held:
    import sandbox

    def held(paths: list[str]) -> dict[str, int]:
        found = {}
        for path in paths:
            try:
                found[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # out of reach: it gives the worker nothing
        return found

    system = [p for p in SYSTEM if os.path.lexists(p)]
    links = {p: os.readlink(p) for p in system if os.path.islink(p)}
    python = python_paths()
    named = {}
    for path in (sys.prefix, *sys.path, os.path.dirname(sandbox.__file__)):
        written = os.path.abspath(path) if path else ""
        real = os.path.realpath(written)
        if written and real != written and \
                any(_inside(real, p) or _inside(p, real) for p in python):
            named[written] = real
    return _Held(links, held([p for p in system if p not in links]), held(python), named,
                 held([f"/dev/{name}" for name in DEVICES]),
                 _root_only("/etc") if root_only_covered else [])


def _root_only(top: str) -> list[str]:
    """The files and folders under `top` others may not read (a folder: not enter), outermost
    only (what root alone may read, /etc/shadow, a database's password file...)."""
    import stat

    found = []
    for folder, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                continue
            need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
            if mode & need != need:
                found.append(path)
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in found]
    return found


def _new_root(libc: ctypes.CDLL, hide: list[str], held: _Held) -> None:
    """Make the worker's file system (see the module docstring) and move into it."""
    mount = libc.mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                      ctypes.c_char_p]

    def tmpfs(path: str, options: str, flags: int = MS_NOSUID | MS_NODEV | MS_NOEXEC) -> None:
        os.makedirs(path, exist_ok=True)
        _check(mount(b"tmpfs", path.encode(), b"tmpfs", flags, options.encode()),
               f"mount a tmpfs on {path}")

    def bind(fd: int, path: str, folder: bool) -> None:
        if folder:
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not os.path.lexists(path):
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o444))
        _check(mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC,
                     None), f"bind {path}")

    def cover(path: str) -> None:
        """An empty, read-only folder (or /dev/null) over `path` in the new root."""
        if os.path.isdir(root + path) and not os.path.islink(root + path):
            tmpfs(root + path, "size=16k,mode=0555")
        elif os.path.lexists(root + path) and "/dev/null" in held.devices:
            bind(held.devices["/dev/null"], root + path, folder=False)

    _check(mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    root = BUILD
    tmpfs(root, "size=1m,mode=0755", MS_NOSUID | MS_NODEV)
    tmpfs(root + "/tmp", "size=64m,mode=1777", MS_NOSUID | MS_NODEV)  # the scratch space
    for path, target in held.links.items():
        os.symlink(target, root + path)
    for path, fd in held.system.items():
        bind(fd, root + path, folder=True)
    for path in [*PEOPLES, *held.root_only]:
        cover(path)
    covered = [*PEOPLES, *held.root_only]
    for path, fd in held.python.items():  # unless the system's folders show it already
        if any(_inside(path, s) for s in held.system) and \
                not any(_inside(path, c) for c in covered):
            continue
        bind(fd, root + path, folder=os.path.isdir(f"/proc/self/fd/{fd}"))
    for written, real in held.named.items():  # never made inside a bound folder
        if not os.path.lexists(root + written) and \
                not any(_inside(written, s) for s in [*held.links, *held.system, *held.python]):
            os.makedirs(os.path.dirname(root + written), exist_ok=True)
            os.symlink(real, root + written)
    tmpfs(root + "/dev", "size=16k,mode=0755")
    for path, fd in held.devices.items():
        bind(fd, root + path, folder=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.mkdir(root + "/dev/shm")
    os.makedirs(root + "/proc")  # this namespace's processes only, if the kernel allows
    if mount(b"proc", (root + "/proc").encode(), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
             None) != 0:
        tmpfs(root + "/proc", "size=16k,mode=0555")
    for path in hide:  # in case one lies inside a folder the worker needs
        cover(os.path.realpath(path))
    for fd in [*held.system.values(), *held.python.values(), *held.devices.values()]:
        os.close(fd)
    _set_attributes(libc, root, MOUNT_ATTR_RDONLY, 0, recursive=True)
    _set_attributes(libc, root + "/tmp", 0, MOUNT_ATTR_RDONLY, recursive=False)
    _pivot_into(libc, root)


def _pivot_into(libc: ctypes.CDLL, root: str) -> None:
    """Make `root` the root, and let go of the old one entirely."""
    if SYS_PIVOT_ROOT is None:
        raise OSError(0, "unknown machine: cannot change the root")
    os.chdir(root)
    _check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "unmount the old root")  # stacked on the new one
    os.chdir("/")


def _set_attributes(libc: ctypes.CDLL, path: str, add: int, clear: int,
                    recursive: bool) -> None:
    attr = (ctypes.c_uint64 * 4)(add, clear, 0, 0)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    _check(syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(),
                   AT_RECURSIVE if recursive else 0, ctypes.byref(attr),
                   ctypes.c_size_t(ctypes.sizeof(attr))), f"set {path}'s mount attributes")


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
