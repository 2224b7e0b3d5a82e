"""Run a short helper command with its output capped while it is read, not after, and
nothing it started left running when it is done."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

MAX_OUTPUT = 16 * 1024 * 1024  # bytes of stdout (and of stderr) kept from a helper command
LINGER = 0.5  # seconds its streams are still read once it exited (what it left may hold them)
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37


class OutputTooLarge(Exception):
    """The command wrote more than the cap on one stream."""


def run_bounded(argv: Sequence[str], timeout: float, limit: int = MAX_OUTPUT) -> tuple[int, bytes, bytes]:
    """``(returncode, stdout, stderr)`` of ``argv`` in its own session, killed at ``timeout``
    (TimeoutError) or once a stream passes ``limit`` (OutputTooLarge), and always with all it
    started, whatever session it moved to. OSError when it cannot start.

    The CLI adopts orphans while it runs (a child subreaper): call it while no other child
    process is being started."""
    adopting = _adopt_orphans(True)
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
    except BaseException:
        _adopt_orphans(adopting)
        raise
    assert proc.stdout is not None and proc.stderr is not None
    since = start_time(proc.pid)
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    try:
        problem = _read(proc, buffers, timeout, limit)
    finally:
        _kill_all(proc, since)
        proc.stdout.close()
        proc.stderr.close()
        _adopt_orphans(adopting)
    if problem is not None:
        raise problem
    out, err = buffers.values()
    return proc.returncode, bytes(out), bytes(err)


def _read(proc: subprocess.Popen[bytes], buffers: dict[int, bytearray], timeout: float, limit: int) -> Exception | None:
    """Read both streams until they close, ``proc`` exited LINGER ago, ``timeout`` or ``limit``."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            if proc.poll() is not None:
                deadline = min(deadline, time.monotonic() + LINGER)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in sel.select(min(remaining, 0.1)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buffers[key.fd] += chunk
                if len(buffers[key.fd]) > limit:
                    return OutputTooLarge(f"more than {limit} bytes of output")
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return TimeoutError(f"no answer within {timeout:g}s")
    return None


def _kill_all(proc: subprocess.Popen[bytes], since: int | None) -> None:
    """SIGKILL ``proc``'s group, reap ``proc``, then kill and reap what it left (its
    descendants, adopted by us when their parent died) until nothing is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while since is not None and time.monotonic() < deadline:
        strays = _adopted(since)
        if not strays:
            return
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in strays:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _adopt_orphans(on: bool) -> bool:
    """Make this process a child subreaper (Linux) or not; whether it was one before."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
        was = ctypes.c_int(0)
        prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(was), 0, 0, 0)
        prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)
        return bool(was.value)
    except (OSError, AttributeError):
        return False


def _adopted(since: int) -> list[int]:
    """Our children started at ``since`` or later (clock ticks since boot), with all of theirs:
    what the command left, re-parented to us."""
    found: list[int] = []
    stack = [child for child in children(os.getpid()) if (start_time(child) or 0) >= since]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(child for child in children(pid) if child not in found)
    return found


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (of all its threads), from /proc."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                found.extend(int(p) for p in fh.read().split())
    return found


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
