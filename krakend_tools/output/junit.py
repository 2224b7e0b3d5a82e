"""JUnit XML: one testcase per checked item, a failure for each KO."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from krakend_tools.report import Report


def render(report: Report) -> str:
    suite = ET.Element(
        "testsuite",
        name=f"krakend {report.command}",
        tests=str(len(report.findings)),
        failures=str(len(report.failures)),
        errors="0",
        time=f"{report.elapsed:.3f}",
    )
    for f in report.findings:
        case = ET.SubElement(suite, "testcase", classname=f"{report.command}.{f.kind}", name=f.name)
        if f.file:
            case.set("file", f.file)
        if f.line:
            case.set("line", str(f.line))
        if not f.ok:
            failure = ET.SubElement(case, "failure", message=f.message or "incompatible")
            text = [f.message]
            if f.have is not None:
                text.append(f"have: {f.have}")
            if f.want is not None:
                text.append(f"want: {f.want}")
            text += [f"fix: {c}" for c in f.fix]
            failure.text = "\n".join(t for t in text if t)
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
