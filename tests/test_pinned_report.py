"""Exact verdicts, ignore matching, escaping and JSON counts of a report (report.py)."""

from __future__ import annotations

from typing import Any, cast

from krakend_tools.report import Finding, FindingKind, Meta, Report


def ko(name: str, **extra: Any) -> Finding:
    """A KO finding named ``name``."""
    return Finding(name, FindingKind.PACKAGE, False, "why", **extra)


def test_verdict_counts_only_unignored_failures() -> None:
    report = Report("check-plugin", [Finding("a", FindingKind.PACKAGE, True), ko("b"), ko("c", ignored="")])
    assert [f.name for f in report.failures] == ["b"]
    assert [f.name for f in report.ignored] == ["c"]
    assert (report.ok, report.exit_code) == (False, 1)
    report.findings[1].ignored = "accepted"
    assert (report.ok, report.exit_code, report.failures) == (True, 0, [])


def test_apply_ignores_by_name_normalized_name_and_file_name() -> None:
    findings = [ko("Zope.Interface"), ko("dist/plugin.so"), ko("urllib3"), Finding("six", FindingKind.PACKAGE, True)]
    report = Report("check-plugin", findings)
    ignores = {"zope-interface": "one", "plugin.so": "two", "URLLib3": "three", "six": "ok", "typo": "x"}
    assert report.apply_ignores(ignores) == ["six", "typo"]
    assert [f.ignored for f in report.findings] == ["one", "two", "three", None]


def test_apply_ignores_takes_the_first_key_that_matches() -> None:
    report = Report("test-plugin", [ko("a/b.so"), ko("c")])
    assert report.apply_ignores({"b.so": "by file", "a/b.so": "by path"}) == ["b.so"]
    assert report.findings[0].ignored == "by path"
    assert Report("build", [ko("x")]).apply_ignores({}) == []


def test_escaped_copy_escapes_every_string_keys_too() -> None:
    finding = ko("n\x1b", problems=["p\n"], details={"k\r": ("v\t", 1)})
    report = Report("test-plugin", [finding], 1.5, cast(Meta, {"m\x00": ["\u202e"]}), [{"a\x7f": None}])
    escaped = report.escaped()
    assert (escaped.findings[0].name, escaped.findings[0].problems) == ("n\\x1b", ["p\\n"])
    assert escaped.findings[0].details == {"k\\r": ["v\\t", 1]}
    assert (escaped.command, escaped.elapsed, escaped.meta) == ("test-plugin", 1.5, {"m\\x00": ["\\u202e"]})
    assert escaped.artifacts == [{"a\\x7f": None}]
    assert report.findings[0].name == "n\x1b"


def test_to_dict_counts() -> None:
    findings = [
        ko("a", warnings=["w1", "w2"]),
        Finding("b", FindingKind.PACKAGE, True, warnings=["w3"]),
        ko("c", ignored=""),
    ]
    data = Report("check-plugin", findings, elapsed=1.23456).to_dict()
    assert (data["schema_version"], data["ok"], data["failures"], data["warnings"]) == (1, False, 1, 3)
    assert (data["elapsed"], "artifacts" in data) == (1.235, False)
    assert Report("test-plugin", [], artifacts=[{"x": 1}]).to_dict()["artifacts"] == [{"x": 1}]
