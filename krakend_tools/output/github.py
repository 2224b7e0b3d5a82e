"""GitHub Actions workflow commands: an ``::error`` annotation per KO, at its file and line;
a ``::warning`` for what could not be checked."""

from __future__ import annotations

from krakend_tools.report import Finding, Report, manifest_lines


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _props(finding: Finding) -> list[str]:
    props = []
    if finding.file:
        props.append(f"file={_prop(finding.file)}")
        if finding.line:
            props.append(f"line={finding.line}")
    props.append(f"title={_prop(f'{finding.kind} {finding.name}')}")
    return props


def annotation(finding: Finding) -> str:
    parts = [finding.message] if finding.message else []
    parts += [p for p in finding.problems if p != finding.message]
    if finding.have is not None or finding.want is not None:
        parts.append(f"have: {finding.have}, want: {finding.want}")
    parts += [f"fix: {c}" for c in finding.fix]
    return f"::error {','.join(_props(finding))}::{_data('; '.join(parts) or 'incompatible')}"


def warnings(finding: Finding) -> list[str]:
    """``::warning`` lines: a part not run (``--static-only``), what the manifest cannot know."""
    texts = ([f"not checked: {finding.skipped}"] if finding.skipped else []) + finding.warnings
    return [f"::warning {','.join(_props(finding))}::{_data(t)}" for t in texts]


def render(report: Report) -> str:
    lines = [annotation(f) for f in report.failures]
    lines += [w for f in report.findings for w in warnings(f)]
    count = len(report.failures)
    used = "; ".join(manifest_lines(report.meta))
    warned = sum(len(f.warnings) + bool(f.skipped) for f in report.findings)
    summary = f"{count} problem(s), {warned} warning(s) in {len(report.findings)} checked item(s)"
    lines.append(f"::notice title=krakend {report.command}::{_data(summary + (f'; {used}' if used else ''))}")
    return "\n".join(lines) + "\n"
