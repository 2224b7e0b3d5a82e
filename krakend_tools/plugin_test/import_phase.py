"""The import phase: run the probe (``_probe/krakend_probe.py``) in a fresh, isolated process and read what happened.

The seam between *what* to run and *where*: :func:`probe_argv` builds the command,
a :class:`Runner` runs it (here: :class:`LocalRunner`, in a bubblewrap sandbox, or where
there is none a subprocess in its own session and scratch folder; the Docker engine adds
one for runtime images) and :func:`parse_probe_output` turns exit status and output into
a :class:`ProbeOutcome`, believing no record it cannot check.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import posixpath
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from krakend_tools import safefs
from krakend_tools.subproc import children, start_time

PROBE_PATH = Path(__file__).with_name("_probe") / "krakend_probe.py"
# Imported rather than run as a script, so its compiled bytecode is reused (~4 ms a probe);
# its folder leaves sys.path before the plugin is imported.
_BOOT = "import sys; sys.path.insert(0, sys.argv.pop(1)); __import__('krakend_probe').run()"
DEFAULT_TIMEOUT = 30.0  # seconds of import phase per artifact (all its modules together)
MEMORY_CAP = 4 << 30  # bytes of address space a probe may map (RLIMIT_AS)
SCRATCH_CAP = 256 << 20  # bytes a sandboxed probe may write in its private /tmp
SANDBOX_CWD = "/krakend-probe"  # the probe's working folder inside the sandbox: a tmpfs of its own
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
HIDDEN = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssh", "/etc/ssl/private")
ISOLATION = ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv")
STDERR_KEEP = 20_000  # characters of the probe's stderr kept for -o json
STDERR_CAP = 64 * 1024  # bytes of the probe's stderr held while it runs (the last ones)
RECORD_CAP = 4 * 1024 * 1024  # bytes of one record on the probe's channel
RECORDS_MAX = 64  # records kept from one probe (it writes 2 + one per type)
MAX_NAMES = 1000  # registered names kept per type
MAX_TEXT = 2000  # characters kept of one string of a probe record
MARKER = "krakend-probe: importing "  # probe.MARKER
REGISTERING = "krakend-probe: registering "  # probe.REGISTERING


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


@dataclass
class TypeResult:
    """One plugin type's registration, as the probe saw it."""

    ok: bool
    registered: list[str] = field(default_factory=list)
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)


@dataclass
class ProbeOutcome:
    """One module's import and registration, or why it never got that far."""

    module: str
    error: str | None  # import failed, crashed, hung or exited: the one-line reason
    results: dict[str, TypeResult] = field(default_factory=dict)
    file: str | None = None
    python: str | None = None
    returncode: int | None = None
    stderr: str = ""
    elapsed: float = 0.0
    leftovers: int = 0


class Runner(Protocol):
    """Where probes run. ``run_probe`` is all ``test-plugin`` calls."""

    description: str  # e.g. "local /usr/bin/python3.11" or "docker image:tag"

    def run_probe(
        self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float, libraries: Sequence[str] = ()
    ) -> Completed:
        """Run the probe for ``module`` with ``paths`` (host paths) first on sys.path.
        ``libraries``: library files outside ``paths`` that the plugin loads through
        ``$ORIGIN``; a runner that moves ``paths`` keeps them at the same place relative to
        ``paths``."""
        ...


def probe_argv(
    python: str,
    probe_path: str,
    paths: Sequence[str],
    module: str,
    types: Sequence[str],
    secret_stdin: bool = False,
    memory: int = 0,
    overlay: Sequence[str] = (),
) -> list[str]:
    """``python -I -c BOOT PROBE_DIR [--secret-stdin] [--memory B] --path P... [--overlay O...]
    --module M --type T...``: ``overlay`` folders come after the interpreter's own packages."""
    argv = [python, "-I", "-c", _BOOT, posixpath.dirname(probe_path)]
    if secret_stdin:
        argv.append("--secret-stdin")
    if memory:
        argv += ["--memory", str(memory)]
    for path in paths:
        argv += ["--path", path]
    for folder in overlay:
        argv += ["--overlay", folder]
    argv += ["--module", module]
    for kind in types:
        argv += ["--type", kind]
    return argv


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
        return Sandbox(None, f"bubblewrap cannot isolate ({_last_error_line(proc.stderr.decode(errors='replace'))})")
    return Sandbox(bwrap)


def _interpreter_dirs(python: str) -> list[str]:
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


class LocalRunner:
    """Runs probes with a local interpreter, in bubblewrap when it works here (see
    :func:`sandbox_argv`); else in their own session and a fresh scratch folder, with every
    process they leave killed after, and :attr:`warning` says so."""

    def __init__(
        self,
        python: str,
        site_packages: Sequence[str] = (),
        probe_path: str | None = None,
        sandbox: bool | None = None,
        overlay: Sequence[str] = (),
    ) -> None:
        self.python = python
        self.site_packages = [p for p in site_packages if os.path.isdir(p)]
        self.overlay = [p for p in overlay if os.path.isdir(p)]  # after the gateway's packages, read-only
        self.probe_path = probe_path or str(PROBE_PATH)
        found = find_sandbox() if sandbox is not False else Sandbox(None, "disabled")
        self.bwrap = found.bwrap
        self.warning = (
            None
            if found.bwrap
            else f"import phase not sandboxed: {found.problem}; plugin code ran with the CLI's rights"
        )
        self.description = f"local {python}"
        self.reaper = False if self.bwrap else _set_subreaper()  # orphans come back to us: kill_strays finds them
        # What every sandbox shows: the interpreter's prefixes (asked now, before probes run in threads).
        self._reads = [*_interpreter_dirs(python), os.path.dirname(self.probe_path)] if self.bwrap else []
        self._active: dict[int, int] = {}  # process group of each running probe -> pidfd of its sandbox init

    def close(self) -> None:
        """Nothing to release: each probe's scratch folder is gone when it returns."""

    def abort(self) -> None:
        """Kill every probe running now (Ctrl-C): their ``run`` calls return at once."""
        for pgid, init in list(self._active.items()):
            _kill(pgid, init)

    def run_probe(
        self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float, libraries: Sequence[str] = ()
    ) -> Completed:
        everything = [*paths, *self.site_packages]
        argv = probe_argv(self.python, self.probe_path, everything, module, types, True, MEMORY_CAP, self.overlay)
        completed = self.run(argv, timeout, secrets.token_hex(16), [*everything, *self.overlay, *libraries])
        completed.roots = tuple(paths)
        return completed

    def run(
        self, argv: Sequence[str], timeout: float, secret: str | None = None, reads: Sequence[str] = ()
    ) -> Completed:
        """Run ``argv``; on return the process and everything it spawned are gone.

        With ``secret`` (sent on stdin, see the probe's ``--secret-stdin``), only stdout
        lines that start with it are kept, without it. Output is capped as it is read.
        ``reads``: what the sandbox shows besides the interpreter and the probe."""
        if shutil.which(argv[0]) is None:
            return Completed(None, "", f"cannot run {argv[0]}: not an executable file")
        if self.bwrap is None:
            with safefs.private_folder("krakend-probe-") as scratch:
                return self._run(list(argv), timeout, secret, str(scratch), None)
        info = os.pipe()  # both ends closed by _run
        return self._run(sandbox_argv(self.bwrap, [*self._reads, *reads], argv, info[1]), timeout, secret, None, info)

    def _run(
        self, argv: list[str], timeout: float, secret: str | None, cwd: str | None, info: tuple[int, int] | None
    ) -> Completed:
        start = time.monotonic()
        fds = (info[1],) if info else ()
        try:
            with _SPAWN_LOCK:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE if secret else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=cwd,
                    start_new_session=True,
                    pass_fds=fds,
                )
                _PROBES.add(proc.pid)
                self._active[proc.pid] = -1  # abort() kills its group at once: bwrap's init dies with it
        except (OSError, ValueError) as exc:
            for fd in info or ():
                os.close(fd)
            return Completed(None, "", f"cannot run {argv[0]}: {getattr(exc, 'strerror', exc)}")
        since = start_time(proc.pid)
        init = -1
        if info:
            os.close(info[1])  # bwrap's copy is the one left: EOF once it exits
            init = _sandbox_init(info[0], proc.pid, start + 10)
            os.close(info[0])
        assert proc.stdout is not None and proc.stderr is not None
        self._active[proc.pid] = init
        if secret and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write(f"{secret}\n".encode())
            with contextlib.suppress(OSError):
                proc.stdin.close()
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        sinks: dict[int, _Sink] = {out_fd: _Records(secret) if secret else _Tail(RECORD_CAP), err_fd: _Tail(STDERR_CAP)}
        leftovers = 0
        try:
            timed_out = not _pump_until_exit(proc, sinks, timeout)
        finally:
            # Still unreaped (a zombie at worst), so the group id cannot have been reused.
            if info:
                _kill(proc.pid, init)
            elif self.reaper and since is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                leftovers = kill_strays(proc.pid, since)
            else:
                leftovers = kill_group(proc.pid, skip=(proc.pid,))
            proc.wait()
            del self._active[proc.pid]
            if init >= 0:
                os.close(init)
            with _SPAWN_LOCK:
                _PROBES.discard(proc.pid)
            _drain(sinks, deadline=time.monotonic() + 2.0)
            proc.stdout.close()
            proc.stderr.close()
        return Completed(
            _signalled(proc.returncode) if info else proc.returncode,
            sinks[out_fd].text(),
            sinks[err_fd].text(),
            timed_out,
            time.monotonic() - start,
            leftovers,
            authenticated=bool(secret),
        )


def _kill(pgid: int, init: int) -> None:
    """SIGKILL a sandbox's init (its whole PID namespace dies) and the group ``pgid``."""
    if init >= 0:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(init, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class _Sink(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def text(self) -> str: ...


class _Tail:
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


class _Records:
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


def _read_ready(sel: selectors.BaseSelector, buffers: dict[int, _Sink], wait: float | None) -> bool:
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


def _pump_until_exit(proc: subprocess.Popen[bytes], buffers: dict[int, _Sink], timeout: float) -> bool:
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


def _drain(buffers: dict[int, _Sink], deadline: float) -> None:
    """Read the pipes to EOF (every writer is dead by now), or until ``deadline``."""
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ, "pipe")
        while sel.get_map() and time.monotonic() < deadline:
            _read_ready(sel, buffers, max(0.0, deadline - time.monotonic()))


def _json_line(stdout: str) -> Any:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except (ValueError, RecursionError):
                return None
    return None


def _clean(value: object, what: str) -> str:
    """A string of a probe record, fit for any renderer: lone surrogates escaped, cut."""
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."


def _optional(value: object, what: str) -> str | None:
    return None if value is None else _clean(value, what)


def _strings(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return [_clean(v, what) for v in value[:MAX_NAMES]]


def _record(data: object, outcome: ProbeOutcome, types: Sequence[str] | None) -> None:
    """Fill ``outcome`` from the probe's result record; ValueError when it is malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError("no results")
    outcome.module = _optional(data.get("module"), "module") or outcome.module
    outcome.file = _optional(data.get("file"), "file")
    outcome.python = _optional(data.get("python"), "python")
    outcome.error = _optional(data.get("error"), "error")
    for kind, res in data["results"].items():
        if kind not in ("server", "client", "modifier") or (types and kind not in types):
            raise ValueError(f"unexpected plugin type {kind!r}")
        if not isinstance(res, dict) or not isinstance(res.get("ok", False), bool):
            raise ValueError(f"result of {kind} is malformed")
        outcome.results[kind] = TypeResult(
            ok=res.get("ok") is True,
            registered=_strings(res.get("registered"), "registered"),
            error=_optional(res.get("error"), "error"),
            problems=_strings(res.get("problems"), "problems"),
            hooks=_strings(res.get("hooks"), "hooks"),
        )


def _result_records(stdout: str) -> int:
    return sum(1 for line in stdout.splitlines() if line.startswith("{"))


def _tampering(stdout: str) -> str | None:
    """What the probe's hook caught the plugin reaching for, if anything (its first record)."""
    for line in stdout.splitlines():
        if line.startswith("tampered "):
            return line[len("tampered ") :]
    return None


def _inside(path: str, roots: Sequence[str]) -> bool:
    here = posixpath.normpath(path)
    return any(here == (top := posixpath.normpath(root)) or here.startswith(top.rstrip("/") + "/") for root in roots)


def _unlike_the_request(
    outcome: ProbeOutcome, module: str, types: Sequence[str] | None, roots: Sequence[str]
) -> str | None:
    """Why a result record does not fit what the CLI asked for and knows; None when it does."""
    if module and outcome.module != module:
        return f"the probe's record names module {outcome.module!r}, not {module!r}"
    if outcome.error is None and types and sorted(outcome.results) != sorted(set(types)):
        return "the probe's record does not hold exactly the plugin types asked for"
    if roots and outcome.error is None and outcome.file is not None and not _inside(outcome.file, roots):
        return f"{module} was imported from {outcome.file}, outside the artifact"
    return None


def _channel_phase(stdout: str) -> str | None:
    """The phase the probe's own records reached: None before ``importing``."""
    phase = None
    for line in stdout.splitlines():
        if line.startswith("importing "):
            phase = " during import"
        elif line.startswith("registering "):
            phase = f" while registering the {line.split(' ', 2)[1]} plugin"
    return phase


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _phase(stderr: str) -> str:
    """``" during import"`` or ``" while registering the server plugin"``, from the marks."""
    at = stderr.rfind(REGISTERING)
    rest = stderr[at + len(REGISTERING) :].split() if at >= 0 else []
    return f" while registering the {rest[0]} plugin" if rest else " during import"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def parse_probe_output(
    completed: Completed, module: str = "", timeout: float | None = None, types: Sequence[str] | None = None
) -> ProbeOutcome:
    """Read a probe's result record, or explain a crash, hang or exit without one.

    The record counts only when the probe exited with status 0: a plugin that prints a
    record and dies is reported by how it died. With an authenticated channel (the local
    runner's secret), the phase comes from the probe's own records, never from stderr, and
    a ``tampered`` record is a KO whatever follows (a crash or hang is told as such). A
    record must name the module and the types asked for, and a file inside
    ``completed.roots``."""
    stderr = completed.stderr[-STDERR_KEEP:]
    outcome = ProbeOutcome(
        module,
        None,
        returncode=completed.returncode,
        stderr=stderr.encode("utf-8", "backslashreplace").decode(),
        elapsed=completed.elapsed,
        leftovers=completed.leftovers,
    )
    rc = completed.returncode
    if completed.authenticated:
        phase = _channel_phase(completed.stdout)
    else:
        phase = _phase(completed.stderr) if MARKER in completed.stderr else None
    tampered = _tampering(completed.stdout) if completed.authenticated and rc == 0 else None
    if tampered is not None and not completed.timed_out:
        outcome.error = f"the plugin tampered with the probe: {tampered}"
    elif completed.timed_out:
        outcome.error = f"timed out after {timeout:g}s" if timeout is not None else "timed out"
    elif completed.authenticated and rc == 0 and (count := _result_records(completed.stdout)) > 1:
        outcome.error = f"the probe's channel holds {count} result records: the plugin forged some"
    elif rc == 0 and (data := _json_line(completed.stdout)) is not None:
        try:
            _record(data, outcome, types)
        except ValueError as err:
            outcome.results.clear()
            outcome.error = f"the probe's result record is malformed ({err})"
        unlike = _unlike_the_request(outcome, module, types, completed.roots)
        if unlike is not None:
            outcome.results.clear()
            outcome.error = unlike
    elif rc is None:
        outcome.error = stderr.strip() or "the probe could not start"
    elif phase is None:
        outcome.error = f"the probe failed (exit {rc}): {_last_error_line(stderr)}"
    elif rc < 0:
        outcome.error = f"killed by {signal_name(-rc)}{phase}"
    else:
        outcome.error = f"exited with code {rc}{phase}"
    if outcome.error is not None:
        outcome.error = _clean(outcome.error, "error")
    return outcome


def import_test(
    runner: Runner,
    paths: Sequence[str],
    module: str,
    types: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
    libraries: Sequence[str] = (),
    left: float | None = None,
) -> ProbeOutcome:
    """Probe ``module`` with ``runner``: the whole import phase for one module. ``left``: what
    remains of the artifact's ``timeout`` (its modules share it), when not all of it."""
    budget = timeout if left is None else left
    if budget <= 0:
        return ProbeOutcome(module, f"timed out after {timeout:g}s")
    completed = runner.run_probe(paths, module, types, budget, libraries)
    return parse_probe_output(completed, module, timeout, types)
