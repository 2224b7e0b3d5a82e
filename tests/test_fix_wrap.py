"""Fix lines in a 60-column terminal (a real pty): rich never splits a command or a ``#`` line."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import termios
from pathlib import Path

from tests.conftest import FIXTURES, krakend_argv, run_krakend

GEO = FIXTURES / "plugins" / "geo-lookup"
MANIFEST = FIXTURES / "gateway" / "manifest.json"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_in_pty(args: list[str], columns: int, cwd: Path | None = None) -> str:
    """The CLI's output on a terminal of ``columns`` columns, colour codes removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES", "KRAKEND_MANIFEST")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([*krakend_argv(), *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) == 1
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def test_fix_lines_are_never_split_in_a_narrow_terminal(tmp_path: Path) -> None:
    for name in ("uv.lock", "requirements.txt"):
        shutil.copy(GEO / name, tmp_path / name)
    pyproject = (GEO / "pyproject.toml").read_text().replace('dev = ["iniconfig>=2"]', 'dev = ["urllib3>=2"]')
    (tmp_path / "pyproject.toml").write_text(pyproject)  # a group pin: a `# warning:` line
    args = ["check-plugin", str(tmp_path / "uv.lock"), str(tmp_path / "requirements.txt"), "--manifest", str(MANIFEST)]
    data = json.loads(run_krakend(*args, "-f", "-o", "json").stdout)
    fixes = [line for lines in data["meta"]["fixes"].values() for line in lines]
    assert any(len(line) > 60 and line.startswith("# warning:") for line in fixes)
    assert any(len(line) > 60 and not line.startswith("#") for line in fixes)
    shown = [line.strip() for line in run_in_pty([*args, "-f"], 60).splitlines()]
    for line in fixes:
        assert line in shown, (line, shown)  # whole, on one line: a paste runs it, a `#` stays a comment
    assert all(line.startswith("#") for line in shown if "warning:" in line)
    narrow = [line for line in shown if line and "─" not in line and "│" not in line]
    assert narrow, shown
