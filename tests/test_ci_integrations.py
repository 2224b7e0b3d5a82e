"""The GitHub Action (action.yml + scripts/action-run.sh) and the pre-commit hook, run for real."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import FIXTURES, ROOT

GEO = FIXTURES / "plugins" / "geo-lookup"
MANIFEST = FIXTURES / "gateway" / "manifest.json"
BIN = str(Path(sys.executable).parent)  # where `krakend` is installed


def action_step(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NO_COLOR": "1", **env}
    full.pop("KRAKEND_MANIFEST", None)
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "action-run.sh")], env=full, cwd=tmp_path, capture_output=True, text=True
    )


def test_action_yml_is_a_composite_that_runs_the_step_script() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"command", "args", "manifest", "sarif", "junit", "python-version"}
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "run")
    assert step["run"] == 'bash "$GITHUB_ACTION_PATH/scripts/action-run.sh"'
    script = (ROOT / "scripts" / "action-run.sh").read_text()
    for name, value in step["env"].items():  # every input reaches the script, through env only
        assert value == "${{ inputs." + name.removeprefix("INPUT_").lower() + " }}"
        assert name in script
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.run.outputs.exit-code }}"


def test_action_check_plugin_annotates_and_writes_sarif(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    proc = action_step(
        {
            "INPUT_COMMAND": "check-plugin",
            "INPUT_ARGS": f"-s {GEO / 'uv.lock'}",
            "INPUT_MANIFEST": str(MANIFEST),
            "INPUT_SARIF": "krakend.sarif",
            "INPUT_JUNIT": "krakend.xml",
            "GITHUB_OUTPUT": str(out),
            "GITHUB_WORKSPACE": str(ROOT),  # the checkout: annotations name files from its root
        },
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 5
    lines = (GEO / "uv.lock").read_text().splitlines()
    for error in errors:
        found = re.match(r"::error file=([^,]+),line=(\d+),title=package ([\w-]+)::", error)
        assert found, error
        assert found.group(1) == str((GEO / "uv.lock").relative_to(ROOT))
        assert lines[int(found.group(2)) - 1] == f'name = "{found.group(3)}"'
    sarif = json.loads((tmp_path / "krakend.sarif").read_text())
    assert len(sarif["runs"][0]["results"]) == 5
    assert (tmp_path / "krakend.xml").read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert out.read_text() == "exit-code=1\n"


def test_action_globs_artifacts_and_refuses_other_commands(tmp_path: Path) -> None:
    proc = action_step({"INPUT_COMMAND": "build"}, tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "check-plugin or test-plugin" in proc.stderr
    (tmp_path / "dist").mkdir()
    for name in ("a_plugin.py", "b_plugin.py"):
        (tmp_path / "dist" / name).write_text("x = 1\n")
    proc = action_step(
        {"INPUT_COMMAND": "test-plugin", "INPUT_ARGS": "-s --static-only dist/*.py", "INPUT_MANIFEST": "host"},
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr  # static only: clean .py files pass ...
    assert proc.stdout.splitlines() == [  # ... both, and say the import was not run
        f"::warning file=dist/{name},title=server dist/{name}::not checked: import phase not run (--static-only)"
        for name in ("a_plugin.py", "b_plugin.py")
    ] + [
        "::notice title=krakend test-plugin::0 problem(s), 2 warning(s) in 2 checked item(s); "
        "manifest: host (gateway; Python 3.11.7 cpython-311-x86_64-linux-gnu; linux/amd64 glibc 2.36)"
    ]


def test_pre_commit_hook_entry_runs_on_the_files_it_matches(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    pattern = re.compile(hook["files"])
    for name in ("uv.lock", "poetry.lock", "pylock.toml", "pylock.dev.toml", "pdm.lock", "Pipfile.lock",
                 "requirements.txt", "sub/requirements-dev.txt"):  # fmt: skip
        assert pattern.search(name), name
    assert not pattern.search("uv.lock.bak")
    argv = shlex.split(hook["entry"])
    assert argv[0] == "krakend"
    proc = subprocess.run(
        [str(Path(BIN) / "krakend"), *argv[1:], str(GEO / "uv.lock"), str(GEO / "poetry.lock")],
        env={**os.environ, "KRAKEND_MANIFEST": str(MANIFEST), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[0] == "10 incompatibilities found"


def test_action_test_plugin_step_imports_with_the_runners_python(tmp_path: Path) -> None:
    """The README's test-plugin step on a runner: setup-python put the gateway's Python on PATH
    as ``python3``, and ``--python python3`` in ``args`` runs the import phase with it (without
    it the import cannot run on a runner: a KO that names the ways to run it)."""
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "my_plugin.py").write_text(
        "class HandlerRegisterer:\n"
        "    def register_handlers(self, register):\n"
        "        register('geo', lambda extra_config, next_handler: next_handler)\n"
    )
    step = {"INPUT_COMMAND": "test-plugin", "INPUT_MANIFEST": str(MANIFEST), "INPUT_JUNIT": "test-plugin.xml"}
    proc = action_step({**step, "INPUT_ARGS": "-s --python python3 dist/*.py"}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(
        r"^::notice title=krakend test-plugin::0 problem\(s\), \d+ warning\(s\) in 1 checked", proc.stdout, re.M
    )
    assert "::error" not in proc.stdout
    assert "<failure" not in (tmp_path / "test-plugin.xml").read_text()
    without = action_step({**step, "INPUT_ARGS": "-s dist/*.py"}, tmp_path)
    assert without.returncode == 1
    assert "import phase cannot run" in without.stdout and "--python PATH" in without.stdout
