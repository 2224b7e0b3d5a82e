"""Shared helpers: run the real CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.dockerenv"]  # the Docker engine fixtures

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


# $KRAKEND_TEST_PYTHON: the interpreter of a venv where the wheel is installed (not editable);
# the CLI then runs from there with -P, so nothing of this checkout is importable.
INSTALLED = os.environ.get("KRAKEND_TEST_PYTHON")


def krakend_argv() -> list[str]:
    """How to start the CLI under test."""
    return [INSTALLED, "-P", "-m", "krakend_tools"] if INSTALLED else [sys.executable, "-m", "krakend_tools"]


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def run_krakend(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m krakend_tools ARGS`` with plain output."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("KRAKEND_MANIFEST", None) if env is None or "KRAKEND_MANIFEST" not in env else None
    return subprocess.run(
        [*krakend_argv(), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def gateway_manifest(
    where: Path, *, target: str = "generic/amd64", python: str = "3.11.7", libc: str | None = None
) -> Path:
    """A gateway manifest written by ``krakend version --from-lock`` (the fixture gateway's
    uv.lock) for ``target`` on ``python``, with ``libc`` when given."""
    args = ["--from-lock", str(FIXTURES / "gateway" / "uv.lock"), "--target", target, "--python-version", python]
    proc = run_krakend("version", "-o", "json", *args, *(["--libc", libc] if libc else []))
    assert proc.returncode == 0, proc.stderr
    path = where / f"gateway-{target.replace('/', '-')}-{python}{f'-{libc}' if libc else ''}.json"
    path.write_text(proc.stdout)
    return path


@pytest.fixture(scope="session")
def host_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of this interpreter, written by ``krakend version -o json``."""
    out = tmp_path_factory.mktemp("manifest") / "gateway.json"
    proc = run_krakend("version", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    out.write_text(proc.stdout)
    return out
