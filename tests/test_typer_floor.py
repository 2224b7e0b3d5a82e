"""The lowest typer that pyproject.toml allows really runs the CLI: tests/test_cli.py against it.

The venv is made once per floor version under ``.cache/typer-floor/`` and reused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def floor() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.startswith("typer"))
    found = re.search(r">=\s*([\w.]+)", spec)
    assert found, f"typer has no lower bound: {spec}"
    return found.group(1)


def floor_python(version: str) -> Path:
    """A venv with typer==``version`` and the other runtime dependencies (not krakend-tools itself)."""
    home = ROOT / ".cache" / "typer-floor" / version
    python = home / "bin" / "python"
    stamp = home / "ready"
    if not stamp.exists():
        venv.create(home, clear=True, with_pip=True)
        others = [d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
        others = [d for d in others if not d.startswith("typer")]
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"typer=={version}", *others],
            check=True,
            timeout=600,
        )
        stamp.write_text(version)
    return python


@pytest.mark.slow
def test_top_level_cli_tests_pass_on_the_lowest_typer() -> None:
    version = floor()
    python = floor_python(version)
    got = subprocess.run([str(python), "-c", "import typer; print(typer.__version__)"], capture_output=True, text=True)
    assert got.stdout.strip() == version
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_cli.py")],
        env={**os.environ, "KRAKEND_TEST_PYTHON": str(python)},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
