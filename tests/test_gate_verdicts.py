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
    assert out.rstrip().endswith("1 incompatibility found")


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
