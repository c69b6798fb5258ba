"""The worker's own root, attacked from inside as a dishonest student would: each test is one
way to reach what the worker does not need (another clone's reference solution, the grader's
tests, its environment, the rest of the disk). Each must fail, in every way this machine lets
the worker be shut in: `nobody` (or the grader's own user), and root without capabilities
(a Python whose own files others may not read). An honest answer must still run."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.grading import confine
from sandbox.grading.launch import start_worker
from sandbox.grading.plugin import read_student_file
from sandbox.grading.remote import StudentWorker

from .jail_checks import cannot_run

REPO = Path(__file__).resolve().parents[2]
# Planted in each fake solution: found in anything the worker returns, the attack worked.
MARK = "another clone's reference solution: 7f3a9c"
# In the environment of the test process (the worker's parent): the grader's secrets.
SECRET = "grader-secret-5d1e0b"

PROBE = '''
import ctypes, json, os

def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(4096).decode(errors="replace")
    except OSError as exc:
        return "error: " + type(exc).__name__

def ls(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return "error: " + type(exc).__name__

def python_folders():
    """This worker's own Python (a test may run it on another Python than the grader's)."""
    import sys
    venv = os.path.dirname(os.path.dirname(sys.executable))  # the venv it was started from
    return [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, venv) + tuple(sys.path)
            if p]

def walk_outside(skip):
    """Every file on the disk, but for the system's folders and Python's own."""
    found = []
    for top, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip]
        found += [os.path.join(top, f) for f in files]
    return found

def processes():
    """What /proc shows of every process, and what reading it gives."""
    seen = {}
    for pid in [p for p in ls("/proc") if p.isdigit()] if isinstance(ls("/proc"), list) else []:
        for what in ("environ", "cmdline"):
            seen[f"/proc/{pid}/{what}"] = read(f"/proc/{pid}/{what}")
        for where in ("cwd", "root"):
            seen[f"/proc/{pid}/{where}"] = ls(f"/proc/{pid}/{where}")
    for path in ("/proc/1/environ", "/proc/self/environ", f"/proc/{os.getppid()}/environ"):
        seen[path] = read(path)
    seen["ppid cwd"] = ls(f"/proc/{os.getppid()}/cwd")
    return seen

def descriptors():
    """Every open file descriptor, followed and read (without waiting on a pipe)."""
    seen = {}
    for fd in ls("/proc/self/fd") if isinstance(ls("/proc/self/fd"), list) else range(64):
        fd = int(fd)
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = "?"
        try:
            copy = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
            try:
                seen[f"{fd} {target}"] = os.read(copy, 4096).decode(errors="replace")
            finally:
                os.close(copy)
        except OSError as exc:
            seen[f"{fd} {target}"] = "error: " + type(exc).__name__
        try:  # a folder (even one opened only as a path): what is in it, and above it
            os.fchdir(fd)
            seen[f"{fd} listing"] = sorted(os.listdir("."))
            os.chdir("/".join([".."] * 40))
            seen[f"{fd} top"] = sorted(os.listdir("."))
        except OSError:
            pass
        finally:
            os.chdir("/tmp")
    return seen

def through_a_link(target, link):
    os.symlink(target, link)
    os.symlink(os.path.dirname(target), link + ".d")
    return read(link), ls(link + ".d")

def in_a_namespace_of_its_own(paths, folders):
    """A child in a new user and mount namespace, where it has every capability again:
    it unmounts what it can and mounts the disk, then looks."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        tried = {}
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            tried["unshare"] = libc.unshare(0x10000000 | 0x00020000)
            if tried["unshare"] == 0:
                for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"),
                                   ("gid_map", "0 0 1")):
                    try:
                        with open(f"/proc/self/{name}", "w") as handle:
                            handle.write(text)
                    except OSError as exc:
                        tried[name] = type(exc).__name__
                for line in read("/proc/self/mountinfo").splitlines()[::-1]:
                    point = line.split()[4] if len(line.split()) > 4 else ""
                    if point:
                        tried[point] = libc.umount2(point.encode(), 2)
                for device in ("/dev/vda", "/dev/sda", "/dev/nvme0n1p1", "/dev/root"):
                    os.makedirs("/tmp/disk", exist_ok=True)
                    tried[device] = libc.mount(device.encode(), b"/tmp/disk", b"ext4", 1, None)
            tried["read"] = [read(p) for p in paths]
            tried["ls"] = [ls(f) for f in folders]
            tried["disk"] = ls("/tmp/disk")
        finally:
            os.write(write_end, json.dumps(tried).encode())
            os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.waitpid(child, 0)
    return json.loads(data)

def what_an_honest_answer_uses():
    import decimal, hashlib, json, sqlite3, ssl, subprocess, zoneinfo
    import sandbox.mechanisms.ratelimit
    conn = sqlite3.connect("/tmp/shop.db")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    return {
        "rows": conn.execute("SELECT x FROM t").fetchall(),
        "sha": hashlib.sha256(b"x").hexdigest()[:8],
        "tz": str(zoneinfo.ZoneInfo("UTC")),
        "true": subprocess.run(["true"]).returncode,
        "ssl": bool(ssl.create_default_context()),
        "urandom": len(os.urandom(8)),
    }
'''


def _copied_python(folder: Path) -> str:
    """A Python whose program others may not read: run by root, the worker stays root (without
    capabilities) instead of becoming `nobody`."""
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(folder)],
                   check=True, capture_output=True)
    python = folder / "bin" / "python"
    os.chmod(os.path.realpath(python), 0o750)
    return str(python)


@pytest.fixture(scope="module", params=["default", "root-without-capabilities"])
def worker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[StudentWorker]:
    python = ""
    if request.param == "root-without-capabilities":
        if os.geteuid() != 0:
            cannot_run("only a grader run by root can leave its worker root")
        python = _copied_python(tmp_path_factory.mktemp("python") / "venv")
    os.environ["SANDBOX_JAIL_TEST_SECRET"] = SECRET  # the worker's parent holds it
    try:
        started = StudentWorker(started=start_worker([], python=python))
    finally:
        del os.environ["SANDBOX_JAIL_TEST_SECRET"]
    try:
        if started.level == "process":
            cannot_run("this machine allows no namespaces (the grader says so in `grade`)")
        expected = {"default": "namespaces", "root-without-capabilities": "namespaces-root"}
        assert started.level == expected[request.param]
        yield started
    finally:
        started.stop()


@pytest.fixture
def probe(worker: StudentWorker) -> Any:
    return worker.load(f"probe_{worker.loads}", {"probe.py": PROBE}, "probe.py")


def _plant(folder: Path, mode: int) -> Path:
    """A fake reference solution, as another clone of the course holds it."""
    path = folder / "exercises" / "07-token-bucket" / "solution" / "token_bucket.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {MARK}\nclass TokenBucket: ...\n", encoding="utf-8")
    os.chmod(path, mode)
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """Fake solutions outside the exercise: under the repository, under /root (run as root,
    so owned by root), and under /tmp; each readable by all (0644) and by the owner only."""
    import tempfile

    places = [REPO / ".sandbox-cache", tmp_path_factory.mktemp("elsewhere")]
    if os.geteuid() == 0 and os.path.isdir("/root"):
        places.append(Path("/root"))
    made = []
    for place in places:
        place.mkdir(exist_ok=True)
        made.append(Path(tempfile.mkdtemp(dir=place, prefix="other-clone-")))
    try:
        yield [_plant(folder / kind, mode) for folder in made
               for kind, mode in (("shared", 0o644), ("private", 0o600))]
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)


def _needed() -> list[str]:
    """What the worker needs of the disk: the system's folders and this Python's."""
    import site

    import sandbox

    paths = [sys.base_prefix, sys.prefix, *site.getsitepackages(), os.path.dirname(sys.executable),
             os.path.dirname(sandbox.__file__)]
    return [*confine.SYSTEM, *(os.path.realpath(p) for p in paths)]


def _next_parts(folder: str, paths: list[str]) -> set[str]:
    """The names directly in `folder` that lead towards `paths`."""
    prefix = folder.rstrip("/") + "/"
    return {p[len(prefix):].split("/")[0] for p in paths if p.startswith(prefix)}


def test_another_clones_solution_cannot_be_read_by_its_path(probe: Any,
                                                            planted: list[Path]) -> None:
    own = REPO / "exercises" / "07-token-bucket" / "solution" / "token_bucket.py"
    for path in [*planted, own]:
        got = probe.read(str(path))
        assert got.startswith("error: "), (path, got[:80])
        assert probe.ls(str(path.parent)).startswith("error: ")


def test_a_symlink_to_a_solution_leads_nowhere(probe: Any, planted: list[Path]) -> None:
    text, listing = probe.through_a_link(str(planted[0]), f"/tmp/answer-{os.urandom(4).hex()}.py")
    assert MARK not in text and text.startswith("error: ")
    assert isinstance(listing, str) and listing.startswith("error: ")


def test_the_disk_holds_only_what_the_worker_needs(probe: Any) -> None:
    needed = _needed()
    allowed_top = _next_parts("/", needed) | {"dev", "proc", "tmp"}
    top = probe.ls("/")
    assert set(top) <= allowed_top, set(top) - allowed_top
    assert not {"home", "srv", "opt", "mnt", "var", "media", "boot", "sys"} & \
        (set(top) - _next_parts("/", needed))
    for folder in ("/root", "/work", "/home", str(REPO.parent), str(REPO)):
        if folder == "/tmp":  # a checkout in /tmp: that /tmp is the worker's scratch, walked below
            continue
        listing = probe.ls(folder)
        if isinstance(listing, list):
            assert set(listing) <= _next_parts(folder, needed), (folder, listing)
    assert "sandbox" in probe.ls(str(REPO))  # the package, and nothing of the checkout
    skip = {"/proc", "/dev", *confine.SYSTEM, *(os.path.realpath(p) for p in needed),
            *probe.python_folders()}
    # The one place with files of its own is the scratch /tmp: the worker's folder there and
    # what these tests wrote into it. Anything else there would have come from the disk.
    own = ("/tmp/student-", "/tmp/answer-")
    assert [f for f in probe.walk_outside(sorted(skip)) if not f.startswith(own)] == []


def test_files_only_root_may_read_stay_unread(probe: Any) -> None:
    for path in ("/etc/shadow", "/etc/gshadow"):
        if os.path.exists(path):
            assert probe.read(path) in ("", "error: PermissionError"), path


def test_no_process_but_its_own_and_no_secret_in_proc(probe: Any) -> None:
    listing = probe.ls("/proc")
    pids = {p for p in listing if p.isdigit()} if isinstance(listing, list) else set()
    assert pids <= {"1"}  # itself, process 1 of its own namespace (or no /proc at all)
    seen = probe.processes()
    for path, value in seen.items():
        assert SECRET not in str(value), path
        assert "tests" not in value and "exercises" not in value, path
    assert str(seen["ppid cwd"]).startswith("error: ")  # no parent there to look into


def test_no_descriptor_leads_to_the_graders_files_or_the_old_root(probe: Any) -> None:
    """A folder still open from before the new root was made would lead back up to the old
    one, the whole disk."""
    root = probe.ls("/")
    for fd, value in probe.descriptors().items():
        assert "def test_" not in str(value) and SECRET not in str(value), fd
        assert not (isinstance(value, list) and "tests" in value), fd
        if fd.endswith(" top"):
            assert value == root, fd


def test_a_user_namespace_of_its_own_gives_nothing_back(probe: Any,
                                                        planted: list[Path]) -> None:
    tried = probe.in_a_namespace_of_its_own([str(p) for p in planted],
                                            ["/root", "/work", str(REPO)])
    assert all(MARK not in text and text.startswith("error: ") for text in tried["read"])
    assert "exercises" not in str(tried["ls"]) and "other-clone" not in str(tried["ls"])
    assert tried["disk"] == [] or tried["disk"].startswith("error: ")


def test_an_honest_answer_still_runs(probe: Any) -> None:
    assert probe.what_an_honest_answer_uses() == {
        "rows": [(1,)], "sha": "2d711642", "tz": "UTC", "true": 0, "ssl": True, "urandom": 8}


def test_a_student_file_that_is_a_symlink_is_not_read(tmp_path: Path) -> None:
    solution = _plant(tmp_path / "course", 0o644)
    student = tmp_path / "submission" / "07-token-bucket"
    student.mkdir(parents=True)
    (student / "token_bucket.py").symlink_to(solution)
    with pytest.raises(PermissionError, match="symlink"):
        read_student_file(student / "token_bucket.py")
    os.mkfifo(student / "pipe.py")  # a file that is not one: it would hang the grader
    with pytest.raises(PermissionError, match="not a plain file"):
        read_student_file(student / "pipe.py")
    (student / "plain.py").write_text("x = 1\n", encoding="utf-8")
    assert read_student_file(student / "plain.py") == "x = 1\n"
    assert stat.S_ISLNK(os.lstat(student / "token_bucket.py").st_mode)
