"""Output formats: each renders any Report; these check the format rules themselves."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from krakend_tools.output import github, junit, text
from krakend_tools.output import json as json_out
from krakend_tools.report import Finding, Report


def sample() -> Report:
    return Report(
        "check-plugin",
        [
            Finding(
                "python",
                "python",
                False,
                "requires-python does not admit the gateway's Python",
                have=">=3.12",
                want="3.11.7",
                file="uv.lock",
            ),
            Finding(
                "urllib3",
                "package",
                False,
                "the gateway has another version",
                have="2.2.1",
                want="1.26.18",
                file="plugin/uv.lock",
                line=42,
                fix=["uv lock"],
            ),
            Finding(
                "docopt",
                "plugin-only",
                True,
                "only the plugin brings it; would build from source",
                have="0.6.2",
                file="plugin/uv.lock",
                line=7,
            ),
        ],
        elapsed=0.25,
    )


def test_text_is_krakend_compatible() -> None:
    out = text.render(sample()).splitlines()
    i = out.index("urllib3")
    assert out[i + 1 : i + 4] == ["\thave: 2.2.1", "\twant: 1.26.18", "\tfix: uv lock"]
    assert out[-1] == "2 incompatibilities found"
    assert any("docopt 0.6.2" in line for line in out)
    ok = Report("check-plugin", [sample().findings[2]])
    assert text.render(ok).splitlines()[-1] == "No incompatibilities found!"


def test_junit_has_one_testcase_per_item() -> None:
    root = ET.fromstring(junit.render(sample()))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["python", "urllib3", "docopt"]
    assert cases[1].get("line") == "42"
    failure = cases[1].find("failure")
    assert failure is not None and "want: 1.26.18" in (failure.text or "")
    assert cases[2].find("failure") is None


def test_github_annotations_point_at_lines_and_escape() -> None:
    report = sample()
    report.findings[1].message = "bad: 50%\nreally"
    lines = github.render(report).splitlines()
    assert lines[1].startswith("::error file=plugin/uv.lock,line=42,title=package urllib3::")
    assert "50%25%0Areally" in lines[1] and "\n" not in lines[1]
    assert lines[0].startswith("::error file=uv.lock,title=python python::")
    assert lines[-1].startswith("::notice ")


def test_json_round_trips() -> None:
    data = json.loads(json_out.render(sample()))
    assert data["ok"] is False and data["failures"] == 2
    assert data["findings"][1]["have"] == "2.2.1" and data["findings"][1]["line"] == 42


def test_rich_table_keeps_brackets_literal() -> None:
    """Fix lines such as ``[tool.uv]`` must not be taken for rich markup."""
    import io

    from rich.console import Console

    report = sample()
    report.findings[1].fix = ['# pyproject.toml: [tool.uv] constraint-dependencies = ["urllib3==1.26.18"]']
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    text.print_rich(report, console)
    out = buffer.getvalue()
    assert "[tool.uv]" in out and "2 incompatibilities found" in out
