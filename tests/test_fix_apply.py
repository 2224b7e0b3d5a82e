"""``check-plugin --fix --apply`` with the real uv: edits keep the pyproject's comments, the lock
goes green, the diff is printed; refusals (tool missing, uncommitted changes) are exit 2."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from krakend_tools.check.fix_apply import apply_plan
from krakend_tools.check.fixes import FixPlan, SetKey
from krakend_tools.errors import InputError
from tests.conftest import FIXTURES, run_krakend
from tests.fix_tools import tool_bin, tool_env

PYPROJECT = """\
[project]
name = "plug"
version = "0.1.0"
requires-python = ">=3.11"
# the plugin's runtime requirements
dependencies = [
    "requests==2.31.0",  # the gateway's
]

[dependency-groups]
dev = ["urllib3==2.2.0"]  # tests only
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    data["distributions"] = {"requests": "2.31.0", "urllib3": "1.26.18", "idna": "3.6"}
    path = tmp_path_factory.mktemp("gateway") / "gateway.json"
    path.write_text(json.dumps(data))
    return path


def env_with(path: str) -> dict[str, str]:
    return {**tool_env(), "PATH": path, "NO_COLOR": "1"}


def uv_path() -> str:
    return f"{tool_bin('uv').parent}{os.pathsep}/usr/bin{os.pathsep}/bin"


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=project, check=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A uv project locked with urllib3 2.2.0 and idna's newest (the gateway has 1.26.18, 3.6),
    committed in a git repository."""
    folder = tmp_path / "plug"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(PYPROJECT)
    proc = subprocess.run(["uv", "lock", "-q"], cwd=folder, env=env_with(uv_path()), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "plugin")
    return folder


def check(project: Path, gateway: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    lock = str(project / "uv.lock")
    return run_krakend(
        "check-plugin", "-s", lock, "--manifest", str(gateway), *args, env=env_with(path or uv_path()), timeout=600
    )


def test_apply_edits_keeping_comments_relocks_and_prints_the_diff(project: Path, gateway: Path) -> None:
    assert check(project, gateway).returncode == 1
    proc = check(project, gateway, "--fix", "--apply")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No incompatibilities found!" in proc.stdout
    text = (project / "pyproject.toml").read_text()
    assert "# the plugin's runtime requirements" in text and "# tests only" in text and "# the gateway's" in text
    assert 'dev = ["urllib3==1.26.18"]' in text
    assert 'constraint-dependencies = ["idna==3.6", "urllib3==1.26.18"]' in text
    assert f"{project / 'uv.lock'}: applied: uv lock" in proc.stderr
    assert '-dev = ["urllib3==2.2.0"]  # tests only' in proc.stderr
    assert '+dev = ["urllib3==1.26.18"]  # tests only' in proc.stderr
    assert "urllib3 2.2.0 -> 1.26.18" in proc.stderr
    assert check(project, gateway).returncode == 0  # the lockfile on disk is green


def test_apply_refuses_uncommitted_changes_unless_forced(project: Path, gateway: Path) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# a local change\n")
    before = (project / "uv.lock").read_text()
    proc = check(project, gateway, "--fix", "--apply")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "uncommitted changes to" in proc.stderr and "--force" in proc.stderr
    assert (project / "uv.lock").read_text() == before and "a local change" in pyproject.read_text()
    proc = check(project, gateway, "--fix", "--apply", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "# a local change" in pyproject.read_text()


def test_apply_refuses_when_the_lock_tool_is_not_installed(project: Path, gateway: Path) -> None:
    before = {p.name: p.read_text() for p in (project / "pyproject.toml", project / "uv.lock")}
    proc = check(project, gateway, "--fix", "--apply", path=f"/usr/bin{os.pathsep}/bin")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "uv is not installed" in proc.stderr and "Traceback" not in proc.stderr
    assert {p.name: p.read_text() for p in (project / "pyproject.toml", project / "uv.lock")} == before


def test_a_failing_command_puts_every_file_back(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "uv.lock").write_text("version = 1\n")
    plan = FixPlan([SetKey("pyproject.toml", ("tool", "uv"), "constraint-dependencies", ["idna==3.6"])], [["false"]])
    with pytest.raises(InputError, match="false failed"):
        apply_plan(tmp_path / "uv.lock", plan)
    assert (tmp_path / "pyproject.toml").read_text() == PYPROJECT


def test_set_key_keeps_formatting(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "pdm.lock").write_text("")
    plan = FixPlan([SetKey("pyproject.toml", ("tool", "pdm", "resolution", "overrides"), "urllib3", "==1.26.18")])
    apply_plan(tmp_path / "pdm.lock", plan)
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith(PYPROJECT)
    assert '[tool.pdm.resolution.overrides]\nurllib3 = "==1.26.18"\n' in text and "\n[tool]\n" not in text
