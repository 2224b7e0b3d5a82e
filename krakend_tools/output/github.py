"""GitHub Actions workflow commands: an ``::error`` annotation per KO at its file and line,
a ``::warning`` per ignored KO (with its reason), a ``::notice`` summary with the fix commands."""

from __future__ import annotations

from krakend_tools.report import Finding, Report


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    """``::error file=F,line=N,title=KIND NAME::message; have: H, want: W; fix: …``."""
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
    level = "error"
    if finding.ignored is not None:
        level = "warning"
        parts.append(f"ignored: {finding.ignored or 'no reason given'}")
    return f"::{level} {','.join(props)}::{_data('; '.join(parts) or 'incompatible')}"


def render(report: Report) -> str:
    lines = [annotation(f) for f in report.findings if not f.ok]
    summary = f"{len(report.failures)} problem(s) in {len(report.findings)} checked item(s)"
    if report.ignored:
        summary += f", {len(report.ignored)} ignored"
    for lockfile, commands in (report.meta.get("fixes") or {}).items():
        summary += f"\nfix {lockfile}:\n" + "\n".join(commands)
    lines.append(f"::notice title=krakend {report.command}::{_data(summary)}")
    return "\n".join(lines) + "\n"
