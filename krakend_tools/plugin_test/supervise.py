"""Process supervision for the import phase: spawn a command in a bubblewrap sandbox (or,
where there is none, in its own session and scratch folder), bound its time and output, and
leave nothing of it running.

:class:`Supervisor` runs one command and returns a :class:`Completed`; what the command is
(the probe) and what its output means are :mod:`krakend_tools.plugin_test.import_phase`'s.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from krakend_tools import safefs
from krakend_tools.subproc import children, start_time

SCRATCH_CAP = 256 << 20  # bytes a sandboxed probe may write in its private /tmp
SANDBOX_CWD = "/krakend-probe"  # the probe's working folder inside the sandbox: a tmpfs of its own
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
HIDDEN = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssh", "/etc/ssl/private")
ISOLATION = ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv")
STDERR_CAP = 64 * 1024  # bytes of the probe's stderr held while it runs (the last ones)
RECORD_CAP = 4 * 1024 * 1024  # bytes of one record on the probe's channel
RECORDS_MAX = 64  # records kept from one probe (it writes 2 + one per type)


@dataclass
class Completed:
    """How a probe process ended."""

    returncode: int | None  # negative: killed by that signal; None: never started
    stdout: str
    stderr: str
    timed_out: bool = False
    elapsed: float = 0.0
    leftovers: int = 0  # processes the probe left behind (all killed)
    authenticated: bool = False  # stdout holds only records that carried this run's secret
    roots: tuple[str, ...] = ()  # where the module's file must be, as the probe sees paths


def _set_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so a plugin's leftover children can be reaped."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid`` (one getpgid call per running process)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    pids = []
    for entry in entries:
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:  # gone meanwhile
                continue
    return pids


def kill_group(pgid: int, skip: Sequence[int] = ()) -> int:
    """SIGKILL every process in group ``pgid``, reap those that are (or become) ours;
    return how many there were besides ``skip``."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return 0  # nothing left in the group
    seen: set[int] = set()
    for _ in range(200):  # orphans are re-parented to us a moment after their parent dies
        members = [p for p in _group_members(pgid) if p not in skip]
        seen.update(members)
        if not members:
            break
        progress = False
        for pid in members:
            try:
                os.waitpid(pid, 0)
                progress = True
            except ChildProcessError:
                pass
        if not progress:
            time.sleep(0.005)
    return len(seen)


_SPAWN_LOCK = threading.Lock()  # a probe is spawned and registered as one step
_PROBES: set[int] = set()  # pids of the probes running now, in every runner


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children(stack.pop()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _strays(probe_pid: int, since: int) -> set[int]:
    """What a probe left running: its descendants, whatever session or group they moved
    to, and the orphans re-parented to us (the subreaper) since it started, with theirs."""
    found = _descendants(probe_pid)
    for child in children(os.getpid()):
        if child in _PROBES or child in found:
            continue
        started = start_time(child)
        if started is not None and started >= since:
            found.add(child)
            found |= _descendants(child)
    found.discard(probe_pid)
    return found


def kill_strays(probe_pid: int, since: int, patience: float = 5.0) -> int:
    """SIGKILL and reap everything :func:`_strays` finds until nothing is left (a fork
    loop is outrun: each round kills what the last one missed); how many there were."""
    seen: set[int] = set()
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with _SPAWN_LOCK:
            strays = _strays(probe_pid, since)
        if not strays:
            break
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        seen |= strays
        reaped = False
        for pid in strays:
            with contextlib.suppress(ChildProcessError):
                reaped = os.waitpid(pid, os.WNOHANG)[0] != 0 or reaped
        if not reaped:
            time.sleep(0.002)
    return len(seen)


@dataclass(frozen=True)
class Sandbox:
    """bubblewrap, when it can isolate a probe here; else why not."""

    bwrap: str | None
    problem: str | None = None


@functools.cache
def find_sandbox() -> Sandbox:
    """Whether bubblewrap works here: really run once per process (a container or a kernel
    setting may refuse its namespaces)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Sandbox(None, "bubblewrap (bwrap) not found")
    argv = [bwrap, *ISOLATION, "--ro-bind", "/", "/", "--proc", "/proc", "--size", "65536", "--tmpfs", "/tmp"]
    argv += ["--remount-ro", "/", "--", "true"]  # every feature sandbox_argv uses
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Sandbox(None, f"bubblewrap does not run ({exc})")
    if proc.returncode != 0:
        return Sandbox(None, f"bubblewrap cannot isolate ({last_error_line(proc.stderr.decode(errors='replace'))})")
    return Sandbox(bwrap)


def interpreter_dirs(python: str) -> list[str]:
    """The prefixes an interpreter reads its standard library and site-packages from."""
    from krakend_tools.subproc import OutputTooLarge, run_bounded

    code = "import sys; print(sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, sep='\\0')"
    try:
        rc, out, _ = run_bounded([python, "-I", "-c", code], timeout=15, limit=65536)
        dirs = out.decode(errors="surrogateescape").strip().split("\0") if rc == 0 else []
    except (OSError, TimeoutError, OutputTooLarge):
        dirs = []
    return [d for d in dirs if d] or [os.path.dirname(os.path.dirname(os.path.realpath(python)))]


def sandbox_argv(bwrap: str, reads: Sequence[str], argv: Sequence[str], info_fd: int) -> list[str]:
    """``bwrap ... -- argv``: no network, no view of other processes, nothing writable but a
    private /tmp, and only the system folders, ``reads`` (read-only) and a cleared environment."""
    box = [bwrap, *ISOLATION, "--proc", "/proc", "--dev", "/dev", "--size", str(SCRATCH_CAP), "--tmpfs", "/tmp"]
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            box += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            box += ["--ro-bind", folder, folder]
    for path in sorted({os.path.abspath(p) for p in reads if os.path.exists(p)}):
        if not any(path == d or path.startswith(d + "/") for d in SYSTEM_DIRS):
            box += ["--ro-bind", path, path]
    for hidden in HIDDEN:
        if os.path.isdir(hidden):
            box += ["--tmpfs", hidden]
        elif os.path.exists(hidden):
            box += ["--ro-bind", "/dev/null", hidden]
    box += ["--size", str(SCRATCH_CAP), "--tmpfs", SANDBOX_CWD, "--remount-ro", "/", "--chdir", SANDBOX_CWD]
    box += ["--setenv", "HOME", SANDBOX_CWD]
    box += ["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--info-fd", str(info_fd), "--"]
    return box + list(argv)


def _child_pid(info: int, deadline: float) -> int | None:
    """The host pid of the sandbox's init, from bwrap's ``--info-fd`` JSON."""
    data = b""
    with selectors.DefaultSelector() as sel:
        sel.register(info, selectors.EVENT_READ)
        while time.monotonic() < deadline and sel.select(max(0.0, deadline - time.monotonic())):
            chunk = os.read(info, 4096)
            if not chunk:
                return None
            data += chunk
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return int(json.loads(data)["child-pid"])
    return None


def _sandbox_init(info: int, outer: int, deadline: float) -> int:
    """A pidfd of the sandbox's init (its PID namespace dies with it); -1 when bwrap exited first."""
    pid = _child_pid(info, deadline)
    if pid is None:
        return -1
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return -1
    if _parent(pid) != outer:  # gone, and the number reused: not ours to kill
        os.close(pidfd)
        return -1
    return pidfd


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _signalled(returncode: int | None) -> int | None:
    """bwrap's status as the probe's: its init exits with 128+N when the probe died of signal N."""
    if returncode is not None and 128 < returncode < 128 + signal.NSIG:
        return 128 - returncode
    return returncode


def last_error_line(stderr: str) -> str:
    """The last non-blank line of ``stderr`` (``"no output"`` when there is none)."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


class _Spawned:
    """One running command: its process, the sandbox init it runs under (a pidfd, or -1)
    and its output sinks."""

    def __init__(self, proc: subprocess.Popen[bytes], init: int, secret: str | None) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.proc, self.init = proc, init
        self.since = start_time(proc.pid)
        self.out_fd, self.err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        stdout: Sink = Records(secret) if secret else Tail(RECORD_CAP)
        self.sinks: dict[int, Sink] = {self.out_fd: stdout, self.err_fd: Tail(STDERR_CAP)}


class Supervisor:
    """Runs commands in bubblewrap when it works here (see :func:`sandbox_argv`); else in
    their own session and a fresh scratch folder, with every process they leave killed
    after, and :attr:`warning` says so."""

    def __init__(self, sandbox: bool | None = None) -> None:
        found = find_sandbox() if sandbox is not False else Sandbox(None, "disabled")
        self.bwrap = found.bwrap
        self.warning = (
            None
            if found.bwrap
            else f"import phase not sandboxed: {found.problem}; plugin code ran with the CLI's rights"
        )
        self.reaper = False if self.bwrap else _set_subreaper()  # orphans come back to us: kill_strays finds them
        self.reads: list[str] = []  # what every sandbox shows besides the system folders
        self._active: dict[int, int] = {}  # process group of each running command -> pidfd of its sandbox init

    def close(self) -> None:
        """Nothing to release: each command's scratch folder is gone when it returns."""

    def abort(self) -> None:
        """Kill every command running now (Ctrl-C): their ``run`` calls return at once."""
        for pgid, init in list(self._active.items()):
            _kill(pgid, init)

    def run(
        self, argv: Sequence[str], timeout: float, secret: str | None = None, reads: Sequence[str] = ()
    ) -> Completed:
        """Run ``argv``; on return the process and everything it spawned are gone.

        With ``secret`` (sent on stdin, see the probe's ``--secret-stdin``), only stdout
        lines that start with it are kept, without it. Output is capped as it is read.
        ``reads``: what the sandbox shows besides :attr:`reads`."""
        if shutil.which(argv[0]) is None:
            return Completed(None, "", f"cannot run {argv[0]}: not an executable file")
        if self.bwrap is None:
            with safefs.private_folder("krakend-probe-") as scratch:
                return self._run(list(argv), timeout, secret, str(scratch), None)
        info = os.pipe()  # both ends closed by _run
        return self._run(sandbox_argv(self.bwrap, [*self.reads, *reads], argv, info[1]), timeout, secret, None, info)

    def _run(
        self, argv: list[str], timeout: float, secret: str | None, cwd: str | None, info: tuple[int, int] | None
    ) -> Completed:
        """Spawn, send the secret, collect output until exit or timeout, then kill what is left."""
        start = time.monotonic()
        try:
            proc = self._spawn(argv, secret, cwd, info)
        except (OSError, ValueError) as exc:
            for fd in info or ():
                os.close(fd)
            return Completed(None, "", f"cannot run {argv[0]}: {getattr(exc, 'strerror', exc)}")
        spawned = _Spawned(proc, self._sandbox_init(proc, info, start + 10), secret)
        self._active[proc.pid] = spawned.init
        _send_secret(proc, secret)
        leftovers = 0
        try:
            timed_out = not _pump_until_exit(proc, spawned.sinks, timeout)
        finally:
            leftovers = self._end(spawned, sandboxed=bool(info))
        return Completed(
            _signalled(proc.returncode) if info else proc.returncode,
            spawned.sinks[spawned.out_fd].text(),
            spawned.sinks[spawned.err_fd].text(),
            timed_out,
            time.monotonic() - start,
            leftovers,
            authenticated=bool(secret),
        )

    def _spawn(
        self, argv: list[str], secret: str | None, cwd: str | None, info: tuple[int, int] | None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in a session of its own, registered as a running probe in one step."""
        with _SPAWN_LOCK:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if secret else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                start_new_session=True,
                pass_fds=(info[1],) if info else (),
            )
            _PROBES.add(proc.pid)
            self._active[proc.pid] = -1  # abort() kills its group at once: bwrap's init dies with it
        return proc

    @staticmethod
    def _sandbox_init(proc: subprocess.Popen[bytes], info: tuple[int, int] | None, deadline: float) -> int:
        """A pidfd of the sandbox's init (-1 without a sandbox); closes both ends of ``info``."""
        if not info:
            return -1
        os.close(info[1])  # bwrap's copy is the one left: EOF once it exits
        init = _sandbox_init(info[0], proc.pid, deadline)
        os.close(info[0])
        return init

    def _end(self, spawned: _Spawned, sandboxed: bool) -> int:
        """Kill and reap the command and whatever it left; read the rest of its output.
        How many processes it left behind (counted only without a sandbox)."""
        proc, leftovers = spawned.proc, 0
        # Still unreaped (a zombie at worst), so the group id cannot have been reused.
        if sandboxed:
            _kill(proc.pid, spawned.init)
        elif self.reaper and spawned.since is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            leftovers = kill_strays(proc.pid, spawned.since)
        else:
            leftovers = kill_group(proc.pid, skip=(proc.pid,))
        proc.wait()
        del self._active[proc.pid]
        if spawned.init >= 0:
            os.close(spawned.init)
        with _SPAWN_LOCK:
            _PROBES.discard(proc.pid)
        _drain(spawned.sinks, deadline=time.monotonic() + 2.0)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
        return leftovers


def _send_secret(proc: subprocess.Popen[bytes], secret: str | None) -> None:
    """Write ``secret`` as the first line of the command's stdin, then close it."""
    if secret and proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.write(f"{secret}\n".encode())
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _kill(pgid: int, init: int) -> None:
    """SIGKILL a sandbox's init (its whole PID namespace dies) and the group ``pgid``."""
    if init >= 0:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(init, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class Sink(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def text(self) -> str: ...


class Tail:
    """The last ``cap`` bytes of a stream (what came before is dropped as it arrives)."""

    def __init__(self, cap: int) -> None:
        self.cap, self.buf, self.dropped = cap, bytearray(), 0

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        if len(self.buf) > 2 * self.cap:
            self.dropped += len(self.buf) - self.cap
            del self.buf[: -self.cap]

    def text(self) -> str:
        body = bytes(self.buf[-self.cap :] if len(self.buf) > self.cap else self.buf)
        lead = (
            f"[... {self.dropped + len(self.buf) - len(body)} bytes dropped ...]\n"
            if self.dropped or len(self.buf) > self.cap
            else ""
        )
        return lead + body.decode(errors="replace")


class Records:
    """The lines of a stream that start with ``secret`` + space, without it; others dropped."""

    def __init__(self, secret: str) -> None:
        self.prefix = f"{secret} ".encode()
        self.partial = bytearray()
        self.skipping = False  # inside an over-long line
        self.lines: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        while chunk:
            end = chunk.find(b"\n")
            piece, chunk = (chunk, b"") if end < 0 else (chunk[:end], chunk[end + 1 :])
            if not self.skipping:
                self.partial += piece
                if len(self.partial) > RECORD_CAP:
                    self.skipping, self.partial = True, bytearray()
            if end >= 0:
                if not self.skipping and self.partial.startswith(self.prefix) and len(self.lines) < RECORDS_MAX:
                    self.lines.append(bytes(self.partial[len(self.prefix) :]))
                self.partial, self.skipping = bytearray(), False

    def text(self) -> str:
        return "".join(line.decode(errors="replace") + "\n" for line in self.lines)


def _read_ready(sel: selectors.BaseSelector, buffers: dict[int, Sink], wait: float | None) -> bool:
    """Read whatever is ready on the pipes; True once the exit fd (data None) is ready."""
    exited = False
    for key, _ in sel.select(wait):
        if key.data is None:
            exited = True
            continue
        chunk = os.read(key.fd, 65536)
        if chunk:
            buffers[key.fd].feed(chunk)
        else:
            sel.unregister(key.fd)
    return exited


def _pump_until_exit(proc: subprocess.Popen[bytes], buffers: dict[int, Sink], timeout: float) -> bool:
    """Collect output until ``proc`` exits (True) or ``timeout`` passes (False).

    Waits on a pidfd where there is one, so the exit is seen at once, not at a poll tick;
    the process is left unreaped.
    """
    deadline = time.monotonic() + timeout
    pidfd = -1
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ, "pipe")
        if hasattr(os, "pidfd_open"):
            try:
                pidfd = os.pidfd_open(proc.pid)
                sel.register(pidfd, selectors.EVENT_READ, None)
            except OSError:
                pidfd = -1
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                wait = remaining if pidfd >= 0 else min(remaining, 0.005)
                if _read_ready(sel, buffers, wait) or (pidfd < 0 and _exited(proc.pid)):
                    return True
        finally:
            if pidfd >= 0:
                os.close(pidfd)


def _exited(pid: int) -> bool:
    """Whether ``pid`` (our child) has exited, without reaping it."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _drain(buffers: dict[int, Sink], deadline: float) -> None:
    """Read the pipes to EOF (every writer is dead by now), or until ``deadline``."""
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ, "pipe")
        while sel.get_map() and time.monotonic() < deadline:
            _read_ready(sel, buffers, max(0.0, deadline - time.monotonic()))
