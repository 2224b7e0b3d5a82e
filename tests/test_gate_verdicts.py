"""check-plugin's verdicts where a plugin author meets them on day one: a package the gateway
has is never "plugin-only" (an unpinned requirement is a KO when its range excludes the
gateway's version, a warning naming the range when it admits it); real lockfile quirks read
as the lock tools read them; an unknown --group and an --ignore that matches nothing are said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import FIXTURES, run_krakend

GATEWAY = FIXTURES / "gateway" / "manifest.json"  # requests 2.31.0, urllib3 1.26.18, idna 3.6


def _check(folder: Path, *args: str) -> tuple[int, str, str]:
    proc = run_krakend("check-plugin", "--manifest", str(GATEWAY), *args, cwd=folder)
    return proc.returncode, proc.stdout, proc.stderr


def _findings(stdout: str) -> dict[str, dict[str, object]]:
    return {f["name"]: f for f in json.loads(stdout)["findings"]}


def test_unpinned_requirement_that_excludes_the_gateway_version_is_a_ko(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests>=2.32\n")
    code, out, err = _check(tmp_path, "-s", "requirements.txt")
    assert code == 1, out + err
    assert "only the plugin brings it" not in out
    assert "requests\n\thave: >=2.32\n\twant: 2.31.0\n" in out
    assert "excludes the gateway's version" in out
    assert out.startswith("1 incompatibility found\n")


def test_unpinned_requirement_that_admits_the_gateway_version_warns_with_its_range(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("urllib3<2\npyyaml\n")
    code, out, err = _check(tmp_path, "-s", "requirements.txt")
    assert code == 0, out + err
    assert "Packages only the plugin brings" not in out
    assert "urllib3: urllib3 is not pinned (<2): it admits the gateway's 1.26.18" in out
    assert "pyyaml: pyyaml is not pinned (any version)" in out
    code, out, _ = _check(tmp_path, "-s", "requirements.txt", "-o", "json")
    found = _findings(out)
    assert found["urllib3"]["kind"] == "package" and found["urllib3"]["ok"] is True
    assert found["urllib3"]["have"] == "<2" and found["urllib3"]["want"] == "1.26.18"
    assert json.loads(out)["warnings"] == 2


def test_unpinned_warning_reaches_every_ci_format(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("urllib3<2\n")
    code, out, _ = _check(tmp_path, "-s", "requirements.txt", "-o", "github")
    assert code == 0
    assert "::warning file=requirements.txt,line=1,title=package urllib3::urllib3 is not pinned (<2)" in out
    code, out, _ = _check(tmp_path, "-s", "requirements.txt", "-o", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert [(r["level"], r["properties"]["name"]) for r in results] == [("warning", "urllib3")]


def test_a_pin_from_a_constraints_file_is_still_a_pin(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-c constraints.txt\nrequests>=2\n")
    (tmp_path / "constraints.txt").write_text("requests==2.32.5\n")
    code, out, _ = _check(tmp_path, "-s", "requirements.txt")
    assert code == 1
    assert "requests\n\thave: 2.32.5\n\twant: 2.31.0\n" in out


@pytest.mark.parametrize(
    "line", ["requests @ git+https://registry.invalid/psf/requests@main", "-e ./vendored/requests"]
)
def test_a_shared_package_from_a_vcs_or_path_source_is_a_warning_not_plugin_only(tmp_path: Path, line: str) -> None:
    if line.startswith("-e"):
        line += "#egg=requests"
    (tmp_path / "requirements.txt").write_text(line + "\n")
    code, out, err = _check(tmp_path, "-s", "requirements.txt")
    assert code == 0, out + err
    assert "Packages only the plugin brings" not in out
    assert "no version locked: cannot tell it is the gateway's 2.31.0" in out


QUIRKS = FIXTURES / "quirks"
PDM_GROUPS = FIXTURES / "real" / "gen-pdm441-groups-requirement"


def test_pdm_lock_whose_groups_hold_a_requirement_string_is_read_as_pdm_export_reads_it(tmp_path: Path) -> None:
    code, out, err = _check(PDM_GROUPS, "-s", "pdm.lock", "-o", "json")
    assert code == 1, err  # read, not refused: its pins are not the gateway's
    assert "urllib3" in {f["name"] for f in json.loads(out)["findings"] if not f["ok"]}
    assert "[metadata] groups lists 'opentelemetry-exporter-otlp-proto-grpc==1.20.0', which is no group name" in err
    code, _, err = _check(PDM_GROUPS, "-s", "pdm.lock", "--extra", "otlp")
    assert code == 1, err


@pytest.mark.parametrize(("python", "chosen"), [("3.11.7", "3.7"), ("3.10.4", "3.6")])
def test_poetry_lock_with_one_name_twice_takes_the_version_poetry_installs(python: str, chosen: str) -> None:
    code, out, err = _check(QUIRKS / "poetry20-one-name-twice", "-s", "poetry.lock", "-g", python, "-o", "json")
    assert code in (0, 1), err
    idna = [f for f in json.loads(out)["findings"] if f["name"] == "idna"]
    assert [f["have"] for f in idna] == [chosen]  # one version, the highest whose python-versions fits
    assert (code == 0) == (chosen == "3.6")  # the gateway has idna 3.6


def test_poetry_lock_with_overlapping_markers_stays_a_ko() -> None:
    code, out, err = _check(QUIRKS / "poetry21-overlapping-markers", "-s", "poetry.lock")
    assert code == 1, err
    assert "idna\n\thave: 3.6, 3.7\n" in out and "locked at two versions for this target" in out


@pytest.mark.parametrize("lock", ["uv.lock", "pdm.lock"])
def test_an_unknown_group_is_exit_2_like_an_unknown_extra(lock: str) -> None:
    folder = FIXTURES / "real" / "gen-pep621-uv-pdm"
    code, out, err = _check(folder, "-s", lock, "--group", "dve")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"krakend check-plugin: error: {lock}: group 'dve' is not defined by the project (defined: 'dev', 'yaml')"
    ]
    code, _, err = _check(folder, "-s", lock, "--group", "dev")
    assert code in (0, 1), err


def test_an_ignore_that_matches_nothing_says_so(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna==3.4\n")
    code, out, err = _check(tmp_path, "-s", "requirements.txt", "--ignore", "IDNA:later", "--ignore", "urllib3:old")
    assert code == 0, out + err
    assert err.strip().splitlines() == ["note: ignore 'urllib3' matches no incompatibility: nothing accepted (stale?)"]


def test_every_group_the_corpus_exports_is_a_known_group() -> None:
    """The groups the lock tools exported for the real lockfiles (fixtures/real) are never
    refused as unknown: Pipfile.lock's develop section counts even when it is empty."""
    from krakend_tools.check.job import refuse_unknown_groups
    from krakend_tools.lockfiles import load_lockfile

    asked = 0
    for export in sorted((FIXTURES / "real").glob("*/expected/*.txt")):
        header = dict(item.split("=", 1) for item in export.read_text().splitlines()[0].split(": ", 1)[1].split())
        if "groups" in header:
            refuse_unknown_groups([load_lockfile(export.parent.parent / header["lock"])], header["groups"].split(","))
            asked += 1
    assert asked >= 10


def test_a_plugin_only_package_with_no_file_names_is_a_warning_not_a_silent_pass(tmp_path: Path) -> None:
    """A requirements file (or Pipfile.lock) records no wheel names: whether a wheel fits the
    target cannot be told. Each such package is a warning in every format; text says it once."""
    (tmp_path / "requirements.txt").write_text("zzz-only==1.0\naaa-only==2.0\n")
    code, out, _ = _check(tmp_path, "-s", "requirements.txt")
    assert code == 0
    assert "\twheel compatibility not checked: requirements records no file names: aaa-only, zzz-only\n" in out
    code, out, _ = _check(tmp_path, "-s", "requirements.txt", "-o", "github")
    warned = [line for line in out.splitlines() if line.startswith("::warning file=requirements.txt,line=")]
    assert len(warned) == 2 and all(
        line.endswith("::wheel compatibility not checked: requirements records no file names") for line in warned
    )
    code, out, _ = _check(tmp_path, "-s", "requirements.txt", "-o", "json")
    assert json.loads(out)["warnings"] == 2
