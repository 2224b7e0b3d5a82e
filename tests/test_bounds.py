"""Every input within 20 s and 500 MB, and a CLI that never ends silently: the real CLI in a
subprocess on extreme flag values, hanging or fake interpreters, ELF files with hostile
version tables and a leftover shell-completion variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import FIXTURES, ROOT, krakend_argv

SECONDS = 20  # every input is answered within this
MAX_RSS_KIB = 500 * 1024


def run_measured(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, float, int]:
    """(exit code, stderr, seconds, max RSS in KiB) of the CLI run with ``args``."""
    code = (
        "import resource, subprocess, sys, time; t = time.monotonic(); "
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
        "print(p.returncode, time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.stdout.write(p.stderr)"
    )
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("KRAKEND_MANIFEST", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, *krakend_argv(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )
    head, _, stderr = proc.stdout.partition("\n")
    rc, seconds, rss = head.split()
    return int(rc), stderr, float(seconds), int(rss)


def one_line_exit_2(rc: int, stderr: str, *words: str) -> None:
    assert rc == 2, (rc, stderr)
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr


# --- the wheel-tag set for extreme -g / -l values -------------------------------------------

LOCK = str(FIXTURES / "plugins" / "csv-export" / "requirements.txt")
GATEWAY_LOCK = str(FIXTURES / "gateway" / "uv.lock")
FROM_LOCK = ["version", "-o", "json", "--from-lock", GATEWAY_LOCK, "--target"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["check-plugin", "--manifest", "host", "-s", LOCK, "-g", "3.999", "-l", "GLIBC-2.999"], ["2.999"]),
        (["check-plugin", "--manifest", "host", "-s", LOCK, "-g", "3.999", "-l", "MUSL-1.999"], ["1.999"]),
        (["check-plugin", "--manifest", "host", "-s", LOCK, "-g", "999.999"], ["999.999"]),
        ([*FROM_LOCK, "generic/amd64", "--python-version", "3.999.0", "--libc", "GLIBC-2.999"], ["2.999"]),
        ([*FROM_LOCK, "alpine/arm64", "--python-version", "3.999.0", "--libc", "MUSL-1.999"], ["1.999"]),
    ],
    ids=["glibc", "musl", "python", "from-lock-glibc", "from-lock-musl"],
)
def test_extreme_versions_are_refused_within_bounds(args: list[str], words: list[str]) -> None:
    rc, stderr, seconds, rss = run_measured(*args)
    one_line_exit_2(rc, stderr, *words)
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


def test_the_largest_versions_allowed_stay_within_bounds() -> None:
    rc, stderr, seconds, rss = run_measured(
        *FROM_LOCK, "generic/amd64", "--python-version", "3.99.0", "--libc", "GLIBC-2.99"
    )
    assert rc == 0, stderr
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)
