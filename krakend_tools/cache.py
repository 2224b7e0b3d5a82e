"""The user's cache folder, and wheels fetched into it with this host's pip for another interpreter.

A fetched folder is complete once it holds ``.complete``: pip downloads into a temporary
sibling, which is renamed into place only when pip succeeded, so a folder is never half there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

COMPLETE = ".complete"
PIP_TIMEOUT = 900.0  # seconds for one pip download
_FETCHING = threading.Lock()  # targets built in parallel share the cache


class FetchError(Exception):
    """pip could not download a set of wheels; the message is pip's decisive line."""


def cache_dir() -> Path:
    """``$KRAKEND_CACHE_DIR``, else ``$XDG_CACHE_HOME/krakend-tools`` (``~/.cache``)."""
    env = os.environ.get("KRAKEND_CACHE_DIR")
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(env) if env else xdg / "krakend-tools"


def fetch_wheels(
    dest: Path,
    requirements: Sequence[str],
    python: str,
    platforms: Sequence[str],
    on_fetch: Callable[[], None] = lambda: None,
) -> Path:
    """``dest``, holding wheels for ``requirements`` and their dependencies for CPython ``python``
    (``3.11``) on any of ``platforms``: fetched once (``on_fetch`` says so), then from the cache."""
    with _FETCHING:
        if not (dest / COMPLETE).is_file():
            on_fetch()
            _download(dest, requirements, python, platforms)
    return dest


def _download(dest: Path, requirements: Sequence[str], python: str, platforms: Sequence[str]) -> None:
    """pip download into a temporary sibling of ``dest``, renamed to ``dest`` when complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wheels.", dir=dest.parent))
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:"]
    cmd += ["-d", str(tmp), "--python-version", python, "--implementation", "cp"]
    for platform in platforms:
        cmd += ["--platform", platform]
    proc = subprocess.run([*cmd, "--", *requirements], capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FetchError(pip_error(proc.stderr))
    (tmp / COMPLETE).write_text("\n".join(sorted(p.name for p in tmp.glob("*.whl"))))
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def pip_error(stderr: str) -> str:
    """pip's decisive line: its ``ERROR:`` line naming the requirement, not a closing note."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    found = [ln for ln in lines if ln.startswith("ERROR:")]
    named = [ln for ln in found if "No matching distribution" in ln] or [ln for ln in found if "Could not find" in ln]
    return (named or found or lines or ["pip failed"])[0]
