"""The real lock tools of the fix round trips, each in its own venv under ``.cache/fix-tools``.

Pinned versions, installed once (a ``.ok`` file records the pins) and shared by every test;
``python -m tests.fix_tools`` installs them all ahead of a test run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = Path(os.environ.get("KRAKEND_FIX_TOOLS", ROOT / ".cache" / "fix-tools"))

# venv name -> (pip requirements, the executable it provides)
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "uv": (("uv==0.13.9",), "uv"),
    "poetry2": (("poetry==2.5.1",), "poetry"),
    "poetry18": (("poetry==1.8.5",), "poetry"),
    "pdm": (("pdm[locked]==2.29.3",), "pdm"),
    "pipenv": (("pipenv==2026.10.3",), "pipenv"),
    "piptools": (("pip-tools==7.6.2", "pip==26.3"), "pip-compile"),
}


def tool_env() -> dict[str, str]:
    """The environment the tools run in: the plain default index, no prompts, no spinners,
    nothing of this machine's pip configuration or of the caller's venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "POETRY_", "PDM_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_PROGRESS="1",
        UV_PYTHON=base_python(),
        UV_PYTHON_DOWNLOADS="never",
        POETRY_VIRTUALENVS_IN_PROJECT="true",
        POETRY_NO_INTERACTION="1",
        PIPENV_VENV_IN_PROJECT="1",
        PIPENV_YES="1",
        PIPENV_NOSPIN="1",
        PIPENV_IGNORE_VIRTUALENVS="1",
        PDM_CHECK_UPDATE="false",
        PDM_NON_INTERACTIVE="1",
        PDM_USE_VENV="false",
    )
    return env


def base_python() -> str:
    """The interpreter the tool venvs are made with (the lockfiles target Python 3.11)."""
    return shutil.which("python3.11") or sys.executable


def tool_bin(name: str) -> Path:
    """The executable of tool ``name``, installed first when missing or at other pins."""
    pins, exe = TOOLS[name]
    venv = TOOLS_DIR / name
    stamp = venv / ".ok"
    if not (stamp.is_file() and stamp.read_text() == " ".join(pins)):
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base_python(), "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *pins]
        subprocess.run(pip, check=True, env=tool_env(), timeout=900)
        stamp.write_text(" ".join(pins))
    return venv / "bin" / exe


def install_all() -> None:
    with ThreadPoolExecutor(3) as pool:
        for path in pool.map(tool_bin, TOOLS):
            print(path)


if __name__ == "__main__":
    install_all()
