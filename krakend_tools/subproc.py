"""Run a short helper command with its output capped while it is read, not after."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence

MAX_OUTPUT = 16 * 1024 * 1024  # bytes of stdout (and of stderr) kept from a helper command


class OutputTooLarge(Exception):
    """The command wrote more than the cap on one stream."""


def run_bounded(argv: Sequence[str], timeout: float, limit: int = MAX_OUTPUT) -> tuple[int, bytes, bytes]:
    """``(returncode, stdout, stderr)`` of ``argv`` in its own session, killed with all its
    group at ``timeout`` (TimeoutError) or once a stream passes ``limit`` (OutputTooLarge).
    OSError when it cannot start."""
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    deadline = time.monotonic() + timeout
    problem: Exception | None = None
    try:
        with selectors.DefaultSelector() as sel:
            for fd in buffers:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    problem = TimeoutError(f"no answer within {timeout:g}s")
                    break
                for key, _ in sel.select(remaining):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fd)
                        continue
                    buffers[key.fd] += chunk
                    if len(buffers[key.fd]) > limit:
                        problem = OutputTooLarge(f"more than {limit} bytes of output")
                if problem is not None:
                    break
        if problem is None:
            proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        problem = TimeoutError(f"no answer within {timeout:g}s")
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if problem is not None:
        raise problem
    out, err = buffers.values()
    return proc.returncode, bytes(out), bytes(err)
