"""A suggested requirement is pasted into the TOML string it replaces: it must stay valid TOML
and the same requirement, marker included."""

import re
import shutil
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tests.conftest import FIXTURES, run_krakend

WARNING = re.compile(
    r"# warning: pyproject\.toml [^:]*: (?P<old>.+?) excludes the gateway's .*, e\.g\. to (?P<new>.+)$"
)


def test_a_suggested_requirement_with_a_marker_stays_valid_toml(tmp_path: Path) -> None:
    plugin = tmp_path / "win-agent"
    shutil.copytree(FIXTURES / "plugins" / "win-agent", plugin)
    manifest = str(FIXTURES / "gateway" / "manifest.json")
    result = run_krakend("check-plugin", "--manifest", manifest, "-f", "-s", str(plugin / "requirements.txt"))
    assert result.returncode == 1, result.stderr
    warnings = [m for line in result.stdout.splitlines() if (m := WARNING.search(line.strip()))]
    assert any(";" in m["new"] for m in warnings), result.stdout  # the class under test: a marker
    pyproject = plugin / "pyproject.toml"
    for match in warnings:
        text = pyproject.read_text()
        assert match["old"] in text, match["old"]
        pyproject.write_text(text.replace(match["old"], match["new"], 1))
        old = Requirement(tomllib.loads(f"x = {match['old']}")["x"])
        new = Requirement(tomllib.loads(f"x = {match['new']}")["x"])
        assert (new.name, new.marker and str(new.marker)) == (old.name, old.marker and str(old.marker))
        assert str(new.specifier).startswith("==")
    tomllib.loads(pyproject.read_text())  # the edited file is still TOML
