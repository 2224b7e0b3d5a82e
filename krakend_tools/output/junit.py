"""JUnit XML: one testcase per checked item, a failure for each KO, skipped for an ignored KO;
a part not run (``--static-only``) is its own ``<skipped>`` testcase."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from krakend_tools.escape import unforged_lines
from krakend_tools.report import Finding, Report, manifest_lines


def _case(suite: ET.Element, report: Report, f: Finding, suffix: str = "") -> ET.Element:
    case = ET.SubElement(suite, "testcase", classname=f"{report.command}.{f.kind}{suffix}", name=f.name)
    if f.file:
        case.set("file", f.file)
    if f.line:
        case.set("line", str(f.line))
    return case


def render(report: Report) -> str:
    """Every name, path and message escaped (:meth:`Report.escaped`): no XML-illegal character,
    lone surrogate or terminal escape; no line of the file a workflow command."""
    xml = _render(report.escaped())
    return unforged_lines(xml, colon="&#58;", hash_="&#35;")


def _render(report: Report) -> str:
    not_run = sum(1 for f in report.findings if f.skipped)
    suite = ET.Element(
        "testsuite",
        name=f"krakend {report.command}",
        tests=str(len(report.findings) + not_run),
        failures=str(len(report.failures)),
        errors="0",
        skipped=str(not_run + len(report.ignored)),
        time=f"{report.elapsed:.3f}",
    )
    used = manifest_lines(report.meta)
    if used:
        props = ET.SubElement(suite, "properties")
        for value in used:
            ET.SubElement(props, "property", name="manifest", value=value)
    for f in report.findings:
        static = f.skipped and report.command == "test-plugin"
        case = _case(suite, report, f, ".static" if static else "")
        if not f.ok:
            text = [f.message] + [f"\t{p}" for p in f.problems if p != f.message]
            if f.have is not None:
                text.append(f"have: {f.have}")
            if f.want is not None:
                text.append(f"want: {f.want}")
            text += [f"fix: {c}" for c in f.fix]
            if f.ignored is not None:
                element = ET.SubElement(case, "skipped", message=f"ignored: {f.ignored or 'no reason given'}")
            else:
                element = ET.SubElement(case, "failure", message=f.message or "incompatible")
            element.text = "\n".join(t for t in text if t)
        if f.warnings:
            ET.SubElement(case, "system-out").text = "\n".join(f"warning: {w}" for w in f.warnings)
        if f.skipped:
            ET.SubElement(_case(suite, report, f, ".import"), "skipped", message=f.skipped)
    fixes = report.fixes
    if fixes:
        out = ET.SubElement(suite, "system-out")
        out.text = "\n".join(f"fix {lock}:\n" + "\n".join(cmds) for lock, cmds in fixes.items())
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
