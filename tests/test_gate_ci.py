"""check-plugin's output where CI reads it: annotation and SARIF paths relative to the
repository root whatever the current folder, SARIF warnings and skipped checks, ``-o`` into
folders that do not exist yet under the user's umask, and ``-q``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from krakend_tools.output import sarif
from krakend_tools.report import Finding, FindingKind, Report

from .conftest import FIXTURES, krakend_argv, run_krakend
from .test_outputs import sarif_schema

GATEWAY = str(FIXTURES / "gateway" / "manifest.json")  # idna 3.6, urllib3 1.26.18
UNSANDBOXED = "import phase not sandboxed: bubblewrap (bwrap) not found; plugin code ran with the CLI's rights"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a plugin's lockfile two folders down."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    plugin = tmp_path / "plugins" / "geo"
    plugin.mkdir(parents=True)
    (plugin / "requirements.txt").write_text("urllib3<2\nidna==3.4\n")
    return tmp_path


def _annotated(stdout: str) -> list[str]:
    return [line.split("file=", 1)[1].split(",", 1)[0] for line in stdout.splitlines() if "file=" in line]


@pytest.mark.parametrize("where", ["plugins/geo", "plugins", "."])
def test_annotations_and_sarif_point_from_the_repository_root_whatever_the_folder(repo: Path, where: str) -> None:
    cwd = repo / where
    lock = os.path.relpath(repo / "plugins" / "geo" / "requirements.txt", cwd)
    env = {"GITHUB_WORKSPACE": ""}  # the git top level is the root
    proc = run_krakend(
        "check-plugin", "-s", lock, "--manifest", GATEWAY, "-o", "github", "-o", "sarif=out.sarif", cwd=cwd, env=env
    )
    assert proc.returncode == 1, proc.stderr
    assert set(_annotated(proc.stdout)) == {"plugins/geo/requirements.txt"}
    results = json.loads((cwd / "out.sarif").read_text())["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"plugins/geo/requirements.txt"}
    assert {r["properties"]["name"] for r in results} == {"idna", "urllib3"}
    assert all(r["message"]["text"].startswith(r["properties"]["name"] + ": ") for r in results)


def test_github_workspace_wins_over_the_git_top_level(repo: Path) -> None:
    cwd = repo / "plugins" / "geo"
    absolute = str(cwd / "requirements.txt")
    proc = run_krakend(
        "check-plugin", "-s", absolute, "--manifest", GATEWAY, "-o", "github", cwd=cwd,
        env={"GITHUB_WORKSPACE": str(repo / "plugins")},
    )  # fmt: skip
    assert set(_annotated(proc.stdout)) == {"geo/requirements.txt"}


def test_outside_any_repository_a_path_stays_as_given(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.4\n")
    proc = run_krakend(
        "check-plugin", "-s", "requirements.txt", "--manifest", GATEWAY, "-o", "github", cwd=tmp_path,
        env={"GITHUB_WORKSPACE": ""},
    )  # fmt: skip
    assert _annotated(proc.stdout) == ["requirements.txt"]


def test_output_file_in_missing_folders_is_made_under_the_umask(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.6\n")
    argv = [*krakend_argv(), "check-plugin", "-s", "requirements.txt", "--manifest", GATEWAY]
    argv += ["-o", "sarif=reports/ci/krakend.sarif", "-o", "json=reports/result.json"]
    proc = subprocess.run(
        ["sh", "-c", 'umask 027 && exec "$@"', "sh", *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    made = tmp_path / "reports" / "ci" / "krakend.sarif"
    assert json.loads(made.read_text())["version"] == "2.1.0"
    assert stat.S_IMODE(made.stat().st_mode) == 0o640
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o750
    assert json.loads((tmp_path / "reports" / "result.json").read_text())["ok"] is True


def test_output_under_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.6\n")
    (tmp_path / "reports").write_text("a file, not a folder")
    proc = run_krakend(
        "check-plugin", "-s", "requirements.txt", "--manifest", GATEWAY, "-o", "json=reports/x/r.json", cwd=tmp_path
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "is not a folder" in proc.stderr


def test_quiet_prints_the_verdict_first_then_only_the_kos(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.4\nurllib3<2\nzzz-only==1.0\ncertifi==2020.1.1\n")
    args = ["check-plugin", "-s", "requirements.txt", "--manifest", GATEWAY, "--ignore", "certifi:later"]
    quiet = run_krakend(*args, "-q", cwd=tmp_path)
    assert quiet.returncode == 1, quiet.stderr
    assert quiet.stdout.splitlines() == [
        "1 incompatibility found",
        "idna",
        "\thave: 3.4",
        "\twant: 3.6",
        "(-q: 1 ignored, 2 warning(s) not shown; run without -q to see them)",  # urllib3's range, zzz-only's wheel
    ]
    full = run_krakend(*args, cwd=tmp_path).stdout.splitlines()
    assert full[0] == "1 incompatibility found"
    assert full.index("Packages only the plugin brings:") > full.index("Warnings (not a pass):")
    assert full[-1].startswith("\tzzz-only 1.0: ")  # the long list last


def _warned_report() -> Report:
    return Report(
        "test-plugin",
        [
            Finding("dist/p.so", FindingKind.SERVER, True, "registered: a", file="dist/p.so", warnings=[UNSANDBOXED]),
            Finding("dist/q.so", FindingKind.CLIENT, True, "static only", file="dist/q.so", skipped="--static-only"),
            Finding("dist/r.so", FindingKind.MODIFIER, False, "no ModifierRegisterer", file="dist/r.so"),
        ],
    )


def test_sarif_shows_warnings_and_skipped_checks_and_stays_valid() -> None:
    import jsonschema

    log = json.loads(sarif.render(_warned_report()))
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    run = log["runs"][0]
    levels = [(r["ruleId"], r["level"], r["message"]["text"]) for r in run["results"]]
    assert levels == [
        ("krakend/modifier", "error", "dist/r.so: no ModifierRegisterer"),
        ("krakend/unverified", "warning", f"dist/p.so: {UNSANDBOXED}"),
        ("krakend/skipped", "warning", "dist/q.so: not checked: --static-only"),
    ]
    rules = {r["id"]: r["defaultConfiguration"]["level"] for r in run["tool"]["driver"]["rules"]}
    assert rules == {"krakend/modifier": "error", "krakend/unverified": "warning", "krakend/skipped": "warning"}
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == [
        f"dist/p.so: {UNSANDBOXED}",
        "dist/q.so: not checked: --static-only",
    ]


def test_sarif_without_warnings_has_no_notifications() -> None:
    report = Report(
        "check-plugin", [Finding("idna", FindingKind.PACKAGE, False, "x", have="1", want="2", file="uv.lock")]
    )
    run = json.loads(sarif.render(report))["runs"][0]
    assert "toolExecutionNotifications" not in run["invocations"][0]
    assert [r["level"] for r in run["results"]] == ["error"]


@pytest.mark.parametrize(("ci", "github"), [("true", True), ("", False), ("false", False)])
def test_a_config_github_output_applies_on_a_ci_runner_only_and_says_when_skipped(
    tmp_path: Path, ci: str, github: bool
) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.4\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "1"\n[tool.krakend]\noutputs = ["github", "sarif=out.sarif"]\n'
    )
    proc = run_krakend("check-plugin", "--manifest", GATEWAY, cwd=tmp_path, env={"GITHUB_ACTIONS": ci})
    assert proc.returncode == 1
    assert json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"]  # a file: written anywhere
    if github:
        assert proc.stdout.startswith("::error file=") and proc.stderr == ""
    else:
        assert "::" not in proc.stdout and proc.stdout.startswith("1 incompatibility found\n")  # text instead
        assert proc.stderr.splitlines() == [
            "note: [tool.krakend] outputs: github not written: $GITHUB_ACTIONS is not true (no CI runner)"
        ]


def test_github_on_the_command_line_is_always_written(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.4\n")
    proc = run_krakend("check-plugin", "--manifest", GATEWAY, "-o", "github", cwd=tmp_path, env={"GITHUB_ACTIONS": ""})
    assert proc.stdout.startswith("::error file=requirements.txt,line=1,")
