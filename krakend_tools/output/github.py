"""GitHub Actions workflow commands: an ``::error`` annotation per KO at its file and line,
a ``::warning`` per ignored KO (with its reason) and for what could not be checked, a
``::notice`` summary naming the manifest, with the fix commands."""

from __future__ import annotations

from krakend_tools.escape import shown
from krakend_tools.output.paths import from_root
from krakend_tools.report import Finding, Report, manifest_lines


def _data(text: str) -> str:
    """GitHub's escapes for a command's data (``%``, CR, LF), then any other control character,
    terminal escape or undecodable byte as :func:`shown` writes it."""
    return shown(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _props(finding: Finding) -> list[str]:
    props = []
    if finding.file:
        props.append(f"file={_prop(from_root(finding.file))}")
        if finding.line:
            props.append(f"line={finding.line}")
    props.append(f"title={_prop(f'{finding.kind} {finding.name}')}")
    return props


def annotation(finding: Finding) -> str:
    """``::error file=F,line=N,title=KIND NAME::message; problems; have: H, want: W; fix: …``."""
    parts = [finding.message] if finding.message else []
    parts += [p for p in finding.problems if p != finding.message]
    if finding.have is not None or finding.want is not None:
        parts.append(f"have: {finding.have}, want: {finding.want}")
    parts += [f"fix: {c}" for c in finding.fix]
    level = "error"
    if finding.ignored is not None:
        level = "warning"
        parts.append(f"ignored: {finding.ignored or 'no reason given'}")
    return f"::{level} {','.join(_props(finding))}::{_data('; '.join(parts) or 'incompatible')}"


def warnings(finding: Finding) -> list[str]:
    """``::warning`` lines: a part not run (``--static-only``), what the manifest cannot know."""
    texts = ([f"not checked: {finding.skipped}"] if finding.skipped else []) + finding.warnings
    return [f"::warning {','.join(_props(finding))}::{_data(t)}" for t in texts]


def render(report: Report) -> str:
    lines = [annotation(f) for f in report.findings if not f.ok]
    lines += [w for f in report.findings for w in warnings(f)]
    warned = sum(len(f.warnings) + bool(f.skipped) for f in report.findings)
    summary = f"{len(report.failures)} problem(s), {warned} warning(s) in {len(report.findings)} checked item(s)"
    if report.ignored:
        summary += f", {len(report.ignored)} ignored"
    used = "; ".join(manifest_lines(report.meta))
    if used:
        summary += f"; {used}"
    for lockfile, commands in report.fixes.items():
        summary += f"\nfix {lockfile}:\n" + "\n".join(commands)
    lines.append(f"::notice title=krakend {report.command}::{_data(summary)}")
    return "\n".join(lines) + "\n"
