"""The pre-commit hook, run by pre-commit itself (``pre-commit try-repo``) on a git folder.

pre-commit installs this project into its own virtualenv (pip, from the configured index),
so this is slow (about 40 s once; the environment is reused by the other runs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES, ROOT

pytestmark = pytest.mark.slow

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A committed copy of this project's working tree (what the hook installs), and the
    environment that keeps pre-commit's cache inside the test's folder."""
    pre_commit = Path(sys.executable).with_name("pre-commit")
    if not pre_commit.exists():
        pytest.skip("pre-commit is not installed in the test environment (pip install pre-commit)")
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "krakend_tools", repo / "krakend_tools",
                    ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hook")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home")),
           "NO_COLOR": "1"}
    env.pop("KRAKEND_MANIFEST", None)
    return repo, env


def project(tmp_path: Path, lock: Path, config: bool = True) -> Path:
    """A git folder: ``plugin/`` with the lockfile and a pyproject whose [tool.krakend] names
    the gateway manifest committed at the top."""
    (tmp_path / "plugin").mkdir()
    shutil.copy(lock, tmp_path / "plugin" / lock.name)
    shutil.copy(FIXTURES / "gateway" / "manifest.json", tmp_path / "gateway.json")
    table = '[tool.krakend]\nmanifest = "../gateway.json"\n' if config else ""
    (tmp_path / "plugin" / "pyproject.toml").write_text('[project]\nname = "plugin"\nversion = "1"\n\n'
                                                        + table)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    return tmp_path


def try_repo(hook_repo: tuple[Path, dict[str, str]], cwd: Path, *files: str) -> subprocess.CompletedProcess[str]:
    repo, env = hook_repo
    which = ["--files", *files] if files else ["--all-files"]
    return subprocess.run([str(Path(sys.executable).with_name("pre-commit")), "try-repo", str(repo),
                           "krakend-check-plugin", *which], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_hook_fails_on_an_incompatible_lock(hook_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder = project(tmp_path, FIXTURES / "plugins" / "geo-lookup" / "uv.lock")
    proc = try_repo(hook_repo, folder)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Failed" in proc.stdout and "- exit code: 1" in proc.stdout
    assert "want: 1.26.18" in proc.stdout and "5 incompatibilities found" in proc.stdout
    assert f"manifest: {folder / 'plugin' / '..' / 'gateway.json'} (example-gateway" in proc.stdout
    # a change to the plugin's pyproject.toml alone re-checks the lockfile beside it
    proc = try_repo(hook_repo, folder, "plugin/pyproject.toml")
    assert proc.returncode == 1 and "5 incompatibilities found" in proc.stdout, proc.stdout


def test_hook_without_a_manifest_fails(hook_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder = project(tmp_path, FIXTURES / "plugins" / "geo-lookup" / "uv.lock", config=False)
    proc = try_repo(hook_repo, folder)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "- exit code: 2" in proc.stdout and "no gateway manifest" in proc.stdout


def test_hook_passes_a_compatible_lock(hook_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder = project(tmp_path, FIXTURES / "plugins" / "csv-export" / "poetry.lock")
    proc = try_repo(hook_repo, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout
