"""The import phase: run the probe (``_probe/krakend_probe.py``) in a fresh, isolated process and read what happened.

The seam between *what* to run and *where*: :func:`probe_argv` builds the command,
a :class:`Runner` runs it (here: :class:`LocalRunner`, a subprocess in its own session
and scratch folder; the Docker engine adds one for runtime images) and
:func:`parse_probe_output` turns exit status and output into a :class:`ProbeOutcome`.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

PROBE_PATH = Path(__file__).with_name("_probe") / "krakend_probe.py"
# Imported rather than run as a script, so its compiled bytecode is reused (~4 ms a probe);
# its folder leaves sys.path before the plugin is imported.
_BOOT = "import sys; sys.path.insert(0, sys.argv.pop(1)); import krakend_probe; del sys.path[0]; krakend_probe.run()"
DEFAULT_TIMEOUT = 30.0
STDERR_KEEP = 20_000  # characters of the probe's stderr kept for -o json
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

    def run_probe(self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float) -> Completed:
        """Run the probe for ``module`` with ``paths`` (host paths) first on sys.path."""
        ...


def probe_argv(python: str, probe_path: str, paths: Sequence[str], module: str, types: Sequence[str]) -> list[str]:
    """``python -I -c BOOT PROBE_DIR --path P... --module M --type T...``."""
    argv = [python, "-I", "-c", _BOOT, posixpath.dirname(probe_path)]
    for path in paths:
        argv += ["--path", path]
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


class LocalRunner:
    """Runs probes with a local interpreter: own session, scratch cwd, group killed after.

    Each worker thread reuses one scratch folder, emptied after every probe; ``close()``
    (or garbage collection) removes them.
    """

    def __init__(self, python: str, site_packages: Sequence[str] = (), probe_path: str | None = None) -> None:
        self.python = python
        self.site_packages = [p for p in site_packages if os.path.isdir(p)]
        self.probe_path = probe_path or str(PROBE_PATH)
        self.description = f"local {python}"
        self.reaper = _set_subreaper()
        self._local = threading.local()
        self._active: set[int] = set()  # process groups of the probes running now
        self._scratch_dirs: list[str] = []
        self._finalizer = weakref.finalize(self, _remove_all, self._scratch_dirs)

    def close(self) -> None:
        """Remove the scratch folders."""
        self._finalizer()

    def abort(self) -> None:
        """Kill every probe running now (Ctrl-C): their ``run`` calls return at once."""
        for pgid in list(self._active):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)

    def run_probe(self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float) -> Completed:
        argv = probe_argv(self.python, self.probe_path, [*paths, *self.site_packages], module, types)
        return self.run(argv, timeout)

    def _scratch(self) -> str:
        path: str | None = getattr(self._local, "scratch", None)
        if path is None or not os.path.isdir(path):
            path = tempfile.mkdtemp(prefix="krakend-probe-")
            self._scratch_dirs.append(path)
            self._local.scratch = path
        return path

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        """Run ``argv``; on return the process and everything it spawned are gone."""
        cwd = self._scratch()
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            return Completed(None, "", f"cannot run {argv[0]}: {exc.strerror}")
        assert proc.stdout is not None and proc.stderr is not None
        self._active.add(proc.pid)
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        buffers = {out_fd: bytearray(), err_fd: bytearray()}
        leftovers = 0
        try:
            timed_out = not _pump_until_exit(proc, buffers, timeout)
        finally:
            # Still unreaped (a zombie at worst), so the group id cannot have been reused.
            leftovers = kill_group(proc.pid, skip=(proc.pid,))
            proc.wait()
            self._active.discard(proc.pid)
            _drain(buffers, deadline=time.monotonic() + 2.0)
            proc.stdout.close()
            proc.stderr.close()
            _empty(cwd)
        return Completed(
            proc.returncode,
            buffers[out_fd].decode(errors="replace"),
            buffers[err_fd].decode(errors="replace"),
            timed_out,
            time.monotonic() - start,
            leftovers,
        )


def _remove_all(paths: list[str]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    paths.clear()


def _empty(folder: str) -> None:
    """Remove whatever a probe left in its working folder."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for name in entries:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _read_ready(sel: selectors.BaseSelector, buffers: dict[int, bytearray], wait: float | None) -> bool:
    """Read whatever is ready on the pipes; True once the exit fd (data None) is ready."""
    exited = False
    for key, _ in sel.select(wait):
        if key.data is None:
            exited = True
            continue
        chunk = os.read(key.fd, 65536)
        if chunk:
            buffers[key.fd] += chunk
        else:
            sel.unregister(key.fd)
    return exited


def _pump_until_exit(proc: subprocess.Popen[bytes], buffers: dict[int, bytearray], timeout: float) -> bool:
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


def _drain(buffers: dict[int, bytearray], deadline: float) -> None:
    """Read the pipes to EOF (every writer is dead by now), or until ``deadline``."""
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ, "pipe")
        while sel.get_map() and time.monotonic() < deadline:
            _read_ready(sel, buffers, max(0.0, deadline - time.monotonic()))


def _json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                return None
            return data if isinstance(data, dict) and "results" in data else None
    return None


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


def parse_probe_output(completed: Completed, module: str = "", timeout: float | None = None) -> ProbeOutcome:
    """Read a probe's JSON, or explain a crash, hang or exit without one."""
    stderr = completed.stderr[-STDERR_KEEP:]
    outcome = ProbeOutcome(
        module,
        None,
        returncode=completed.returncode,
        stderr=stderr,
        elapsed=completed.elapsed,
        leftovers=completed.leftovers,
    )
    rc = completed.returncode
    data = None if completed.timed_out else _json_line(completed.stdout)
    if completed.timed_out:
        outcome.error = f"timed out after {timeout:g}s" if timeout is not None else "timed out"
    elif data is not None:
        outcome.module = str(data.get("module") or module)
        outcome.file = data.get("file")
        outcome.python = data.get("python")
        outcome.error = data.get("error")
        for kind, res in (data.get("results") or {}).items():
            outcome.results[kind] = TypeResult(
                ok=bool(res.get("ok")),
                registered=list(res.get("registered") or []),
                error=res.get("error"),
                problems=list(res.get("problems") or []),
                hooks=list(res.get("hooks") or []),
            )
    elif rc is None:
        outcome.error = stderr.strip() or "the probe could not start"
    elif MARKER not in completed.stderr:
        outcome.error = f"the probe failed (exit {rc}): {_last_error_line(stderr)}"
    elif rc < 0:
        outcome.error = f"killed by {signal_name(-rc)}{_phase(completed.stderr)}"
    else:
        outcome.error = f"exited with code {rc}{_phase(completed.stderr)}"
    return outcome


def import_test(
    runner: Runner, paths: Sequence[str], module: str, types: Sequence[str], timeout: float = DEFAULT_TIMEOUT
) -> ProbeOutcome:
    """Probe ``module`` with ``runner``: the whole import phase for one module."""
    completed = runner.run_probe(paths, module, types, timeout)
    return parse_probe_output(completed, module, timeout)
