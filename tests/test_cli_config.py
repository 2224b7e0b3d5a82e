"""``-o FORMAT[=FILE]`` (repeatable), ``[tool.krakend]`` defaults and ``--ignore``, end to end."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import FIXTURES, run_krakend

GEO = FIXTURES / "plugins" / "geo-lookup"
GOOD = FIXTURES / "plugins_src" / "good_plugin.py"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """geo-lookup's uv.lock and pyproject.toml (5 pins differ from the gateway's) in a scratch folder."""
    shutil.copy(GEO / "uv.lock", tmp_path / "uv.lock")
    shutil.copy(GEO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_output_to_a_fifo_or_device_is_written_not_replaced(project: Path) -> None:
    """``-o json=/dev/null`` must never turn /dev/null into a regular file: a FIFO stands for it."""
    import os
    import stat
    import threading

    fifo = project / "result.pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = run_krakend("check-plugin", "-s", "uv.lock", "--manifest", MANIFEST, "-o", f"json={fifo}", cwd=project)
    reader.join(30)
    assert proc.returncode == 1, proc.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["failures"] == 5
    assert sorted(p.name for p in project.iterdir()) == ["pyproject.toml", "result.pipe", "uv.lock"]


def configure(project: Path, table: str) -> None:
    with open(project / "pyproject.toml", "a") as fh:
        fh.write("\n[tool.krakend]\n" + table + "\n")


MANIFEST = str(FIXTURES / "gateway" / "manifest.json")


def test_several_outputs_in_one_run(project: Path) -> None:
    proc = run_krakend(
        "check-plugin", "-s", "uv.lock", "--manifest", MANIFEST,
        "-o", "github", "-o", "junit=report.xml", "-o", "json=result.json", "-o", "sarif=out.sarif",
        cwd=project,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "::notice title=krakend check-plugin::5 problem(s), 0 warning(s) in 6 checked item(s); "
        f"manifest: {MANIFEST} (example-gateway 1.4.0; "
        "Python 3.11.7 cpython-311-x86_64-linux-gnu; linux/amd64 glibc 2.36)"
    )
    assert json.loads((project / "result.json").read_text())["failures"] == 5
    suite = ET.parse(project / "report.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "5"
    sarif = json.loads((project / "out.sarif").read_text())
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == 5
    assert sorted(p.name for p in project.iterdir()) == [
        "out.sarif",
        "pyproject.toml",
        "report.xml",
        "result.json",
        "uv.lock",
    ]


def test_output_file_in_a_missing_folder_is_made(project: Path) -> None:
    proc = run_krakend("check-plugin", "--manifest", MANIFEST, "-o", "json=no/such/dir/r.json", cwd=project)
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr  # as pytest's --junitxml makes its folders
    assert json.loads((project / "no" / "such" / "dir" / "r.json").read_text())["failures"] == 5


def test_config_sets_outputs_ignores_and_groups(project: Path) -> None:
    configure(
        project,
        'outputs = ["json=result.json", "github"]\nignore = ["urllib3:gateway moves to 2.x in May"]\ngroups = ["dev"]',
    )
    sub = project / "sub"
    sub.mkdir()
    ci = {"GITHUB_ACTIONS": "true"}  # github from a config applies on a CI runner only
    proc = run_krakend("check-plugin", "-s", str(project / "uv.lock"), "--manifest", MANIFEST, cwd=sub, env=ci)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("::")  # github on stdout
    data = json.loads((project / "result.json").read_text())  # relative to the pyproject's folder
    assert data["failures"] == 4
    ignored = [f for f in data["findings"] if f["ignored"] is not None]
    assert [(f["name"], f["ignored"]) for f in ignored] == [("urllib3", "gateway moves to 2.x in May")]
    assert "iniconfig" in {f["name"] for f in data["findings"]}  # the dev group from the config


def test_command_line_wins_over_config(project: Path) -> None:
    configure(project, 'outputs = ["json=result.json"]\nignore = {urllib3 = "from config"}')
    proc = run_krakend(
        "check-plugin", "--manifest", MANIFEST, "-o", "json", "--ignore", "urllib3:from the command line",
        "--ignore", "idna", cwd=project,
    )  # fmt: skip
    assert not (project / "result.json").exists()
    data = json.loads(proc.stdout)
    reasons = {f["name"]: f["ignored"] for f in data["findings"] if f["ignored"] is not None}
    assert reasons == {"urllib3": "from the command line", "idna": ""}
    assert proc.returncode == 1 and data["failures"] == 3


def test_all_mismatches_ignored_exits_0_and_says_so(project: Path) -> None:
    names = ["certifi", "charset-normalizer", "idna", "requests", "urllib3"]
    args = [a for n in names for a in ("--ignore", f"{n}:accepted")]
    proc = run_krakend("check-plugin", "--manifest", MANIFEST, *args, cwd=project)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "No incompatibilities found!"
    assert "\turllib3 2.8.0 (gateway: 1.26.18): accepted" in lines


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("timout = 3", "unknown key 'timout'"),
        ("timeout = -1", "timeout must be a number"),
        ('outputs = "json"', "outputs must be a list"),
        ("ignore = [1]", "ignore must be a list"),
        ('outputs = ["yaml"]', "unknown output format 'yaml'"),
        ('check-plugin = "x"', "[tool.krakend.check-plugin] must be a table"),
    ],
)
def test_bad_config_is_one_line(project: Path, table: str, message: str) -> None:
    configure(project, table)
    proc = run_krakend("check-plugin", "--manifest", MANIFEST, cwd=project)
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("krakend check-plugin: error: ") and message in proc.stderr


def test_test_plugin_takes_types_and_timeout_from_its_table(tmp_path: Path, host_manifest: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.krakend]\ntimeout = 99\ntypes = ["client"]\n\n'
        '[tool.krakend.test-plugin]\ntypes = ["server", "modifier"]\n'
    )
    shutil.copy(GOOD, tmp_path / "good_plugin.py")
    proc = run_krakend("test-plugin", "good_plugin.py", "--manifest", str(host_manifest), "-o", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["meta"]["timeout"] == 99 and data["meta"]["types"] == ["server", "modifier"]
    assert [f["kind"] for f in data["findings"]] == ["server", "modifier"]
    proc = run_krakend("test-plugin", "-c", "good_plugin.py", "--manifest", str(host_manifest), "--timeout", "5",
                       "-o", "json", cwd=tmp_path)  # fmt: skip
    data = json.loads(proc.stdout)
    assert data["meta"]["timeout"] == 5 and data["meta"]["types"] == ["client"]


def test_static_only_does_not_import(tmp_path: Path, host_manifest: Path) -> None:
    shutil.copy(GOOD, tmp_path / "good_plugin.py")
    proc = run_krakend("test-plugin", "-s", "--static-only", "good_plugin.py", "--manifest", str(host_manifest),
                       "-o", "json", cwd=tmp_path)  # fmt: skip
    data = json.loads(proc.stdout)
    assert data["meta"]["import_phase"] == "static-only"
    assert data["findings"][0]["skipped"] == "import phase not run (--static-only)"
    assert "probes" not in data["findings"][0]["details"]


def test_build_text_table_goes_through_emit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from krakend_tools.cli.build import _table
    from krakend_tools.output import OutputSpec, emit
    from krakend_tools.report import Finding, FindingKind, Report

    report = Report(
        "build",
        [
            Finding(
                "generic/amd64", FindingKind.TARGET, True, "built", details={"artifact": "dist/p.whl", "size": 2048}
            ),
            Finding("alpine/arm64", FindingKind.TARGET, False, "compile error", details={"log": "b.log"}),
        ],
        elapsed=1.0,
    )
    report.apply_ignores({"alpine/arm64": "musl toolchain pending"})
    code = emit(report, [OutputSpec("text"), OutputSpec("json", tmp_path / "r.json")], text=_table)
    assert code == 0
    out = capsys.readouterr().out
    assert "generic/amd64" in out and "dist/p.whl" in out and "2.0 KB" in out and "IGNORED" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["findings"][1]["ignored"] == "musl toolchain pending" and data["failures"] == 0
