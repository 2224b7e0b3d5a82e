"""Exact results, caps and clean-up of a bounded helper command (subproc.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from krakend_tools import subproc


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (or is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def test_bounds() -> None:
    assert (subproc.MAX_OUTPUT, subproc.LINGER) == (16 * 1024 * 1024, 0.5)


def test_returncode_and_both_streams() -> None:
    assert subproc.run_bounded(["sh", "-c", "printf abc; printf err >&2; exit 3"], 10) == (3, b"abc", b"err")


def test_a_command_slower_than_the_linger_is_waited_for() -> None:
    assert subproc.run_bounded(["sh", "-c", "sleep 1; echo done"], 10) == (0, b"done\n", b"")


def test_the_command_runs_in_its_own_session() -> None:
    code, out, _ = subproc.run_bounded([sys.executable, "-c", "import os; print(os.getsid(0))"], 10)
    assert (code, int(out) == os.getpid(), int(out) == os.getsid(0)) == (0, False, False)


def test_subreaper_state_is_reported_and_restored() -> None:
    before = subproc._adopt_orphans(True)  # another test may have left this process a subreaper
    try:
        assert subproc._adopt_orphans(False) is True
        assert subproc._adopt_orphans(False) is False
    finally:
        subproc._adopt_orphans(before)


def test_output_cap_is_exact() -> None:
    assert subproc.run_bounded(["printf", "abcd"], 10, limit=4) == (0, b"abcd", b"")
    with pytest.raises(subproc.OutputTooLarge) as raised:
        subproc.run_bounded(["printf", "abcde"], 10, limit=4)
    assert str(raised.value) == "more than 4 bytes of output"


def test_timeout() -> None:
    with pytest.raises(TimeoutError) as raised:
        subproc.run_bounded(["sleep", "30"], 0.3)
    assert str(raised.value) == "no answer within 0.3s"


def test_what_it_left_is_killed_even_in_another_session() -> None:
    before = subproc._adopt_orphans(False)  # whatever an earlier test left, run_bounded must restore it
    began = time.monotonic()
    script = "setsid sleep 30 >/dev/null & away=$!; sleep 30 & echo $away $!"
    code, out, _ = subproc.run_bounded(["sh", "-c", script], 10)
    assert code == 0 and time.monotonic() - began < 5  # exited; its child held stdout only LINGER more
    assert [gone(int(pid)) for pid in out.split()] == [True, True]
    assert subproc._adopt_orphans(before) is False  # no longer a subreaper once done


def test_process_facts_from_proc() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            assert child.pid in subproc.children(os.getpid())
            since = subproc.start_time(child.pid)
            assert since is not None and since >= (subproc.start_time(os.getpid()) or 0)
            assert subproc._adopted(since) == [child.pid]
            assert subproc._adopted(since + 10**9) == []
        finally:
            child.kill()
    assert subproc.start_time(2**22 + 1) is None
    assert subproc.children(2**22 + 1) == []


def test_start_time_is_clock_ticks_since_boot(tmp_path: Path) -> None:
    """Field 22 of /proc/PID/stat, read after the last ``)``: a command name may hold one."""
    odd = tmp_path / "s) 1 2 3"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", odd)
    booted = float(Path("/proc/uptime").read_text().split()[0])
    with subprocess.Popen([odd, "30"]) as child:
        try:
            ticks = subproc.start_time(child.pid)
        finally:
            child.kill()
    assert ticks is not None and abs(ticks / os.sysconf("SC_CLK_TCK") - booted) < 5
    assert subproc.children(2**22 + 1) == []
