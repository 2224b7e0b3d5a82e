"""GitHub Actions workflow commands: an ``::error`` annotation per KO, at its file and line."""

from __future__ import annotations

from krakend_tools.report import Finding, Report


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    props = []
    if finding.file:
        props.append(f"file={_prop(finding.file)}")
        if finding.line:
            props.append(f"line={finding.line}")
    props.append(f"title={_prop(f'{finding.kind} {finding.name}')}")
    parts = [finding.message] if finding.message else []
    if finding.have is not None or finding.want is not None:
        parts.append(f"have: {finding.have}, want: {finding.want}")
    parts += [f"fix: {c}" for c in finding.fix]
    return f"::error {','.join(props)}::{_data('; '.join(parts) or 'incompatible')}"


def render(report: Report) -> str:
    lines = [annotation(f) for f in report.failures]
    count = len(report.failures)
    lines.append(
        f"::notice title=krakend {report.command}::{count} problem(s) in {len(report.findings)} checked item(s)"
    )
    return "\n".join(lines) + "\n"
