"""The pre-commit hook, run by pre-commit itself (``pre-commit try-repo``) on a git folder.

pre-commit installs this project into its own virtualenv (pip, from the configured index),
so this is slow (about 40 s once; the environment is reused by the other runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES, ROOT

pytestmark = pytest.mark.slow
GEO = FIXTURES / "plugins" / "geo-lookup"
LOCKS = ["uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "pylock.uv.toml", "Pipfile.lock", "requirements.txt"]

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
    for package_source in ("krakend_tools", "builders"):
        shutil.copytree(ROOT / package_source, repo / package_source, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hook")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home")), "NO_COLOR": "1"}
    env.pop("KRAKEND_MANIFEST", None)
    return repo, env


def project(tmp_path: Path, plugin: Path, config: str | None = "plugin") -> Path:
    """A git folder: ``plugin/`` a copy of a fixture plugin (its lockfiles, its pyproject),
    ``gateway.json`` at the top, named by a [tool.krakend] table in the plugin's pyproject
    (``config="plugin"``), in a top-level pyproject (``"top"``), or nowhere (None)."""
    shutil.copytree(plugin, tmp_path / "plugin", ignore=shutil.ignore_patterns("expected"))
    shutil.copy(FIXTURES / "gateway" / "manifest.json", tmp_path / "gateway.json")
    if config == "plugin":
        with open(tmp_path / "plugin" / "pyproject.toml", "a") as fh:
            fh.write('\n[tool.krakend]\nmanifest = "../gateway.json"\n')
    elif config == "top":
        (tmp_path / "pyproject.toml").write_text('[tool.krakend]\nmanifest = "gateway.json"\n')
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    return tmp_path


def try_repo(hook_repo: tuple[Path, dict[str, str]], cwd: Path, *files: str) -> subprocess.CompletedProcess[str]:
    repo, env = hook_repo
    which = ["--files", *files] if files else ["--all-files"]
    return subprocess.run(
        [str(Path(sys.executable).with_name("pre-commit")), "try-repo", str(repo), "krakend-check-plugin", *which],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_hook_fails_on_every_incompatible_lock(hook_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """The seven lockfiles of the geo-lookup plugin (uv, poetry, pdm, pylock, uv's pylock,
    Pipfile, requirements), a [tool.krakend] manifest found upward: the hook fails, and says
    which lockfile each finding comes from."""
    folder = project(tmp_path, GEO, config="top")
    proc = try_repo(hook_repo, folder)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Failed" in proc.stdout and "- exit code: 1" in proc.stdout
    for name in LOCKS:
        assert re.search(rf"^plugin/{re.escape(name)}: [56] incompatibilities$", proc.stdout, re.M), name
    assert "  \twant: 1.26.18" in proc.stdout
    assert f"manifest: {folder / 'gateway.json'} (example-gateway 1.4.0;" in proc.stdout


def test_hook_runs_on_a_pyproject_change(hook_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """Only the plugin's pyproject.toml changed: the lockfile beside it is checked."""
    folder = project(tmp_path, GEO, config="plugin")
    proc = try_repo(hook_repo, folder, "plugin/pyproject.toml")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "5 incompatibilities found" in proc.stdout
    assert f"manifest: {folder / 'plugin' / '..' / 'gateway.json'} (example-gateway" in proc.stdout


def test_hook_without_a_manifest_fails(hook_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder = project(tmp_path, GEO, config=None)
    proc = try_repo(hook_repo, folder)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "- exit code: 2" in proc.stdout and "no gateway manifest" in proc.stdout


def test_hook_passes_a_compatible_lock(hook_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder = project(tmp_path, FIXTURES / "plugins" / "csv-export")
    proc = try_repo(hook_repo, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout


def test_a_second_hook_entry_rechecks_the_plugin_when_the_manifest_changes(
    hook_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The README's recipe: the same hook a second time, on the manifest's own name, with the
    plugin's lockfile as its argument. A commit that touches only gateway.json runs it."""
    repo, env = hook_repo
    folder = project(tmp_path, FIXTURES / "plugins" / "csv-export")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout
    (folder / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo}\n  rev: {sha.strip()}\n  hooks:\n"
        "  - id: krakend-check-plugin\n"
        "  - id: krakend-check-plugin\n"
        "    name: krakend check-plugin (gateway manifest changed)\n"
        "    files: ^gateway\\.json$\n"
        "    pass_filenames: false\n"
        "    args: [-s, plugin/poetry.lock]\n"
    )
    git(folder, "add", "-A")
    run = [str(Path(sys.executable).with_name("pre-commit")), "run", "--files", "gateway.json"]
    proc = subprocess.run(run, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(gateway manifest changed)" in proc.stdout and "Passed" in proc.stdout
    # the gateway moves to another msgpack: the plugin's lock (msgpack 1.0.7) no longer fits
    manifest = (folder / "gateway.json").read_text()
    (folder / "gateway.json").write_text(manifest.replace('"msgpack": "1.0.7"', '"msgpack": "1.0.8"'))
    assert (folder / "gateway.json").read_text() != manifest
    proc = subprocess.run(run, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "msgpack" in proc.stdout and "want: 1.0.8" in proc.stdout, proc.stdout


def test_hook_passes_over_a_docs_requirements_file_and_names_it(
    hook_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A docs/requirements.txt (Sphinx's, with no project beside it) is no plugin's lockfile:
    the hook checks the plugin's lockfile, passes, and names the file it passed over."""
    folder = project(tmp_path, FIXTURES / "plugins" / "csv-export")
    (folder / "docs").mkdir()
    (folder / "docs" / "requirements.txt").write_text("sphinx>=7\nmsgpack==0.1.0\n")
    git(folder, "add", "-A")
    repo, env = hook_repo
    run = [str(Path(sys.executable).with_name("pre-commit")), "try-repo", str(repo), "krakend-check-plugin"]
    proc = subprocess.run(
        [*run, "--all-files", "--verbose"], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout
    assert (
        "docs/requirements.txt: note: not checked: no pyproject.toml or setup.py or setup.cfg beside it" in proc.stdout
    )
    assert "No incompatibilities found!" in proc.stdout  # the plugin's own lockfile was checked
