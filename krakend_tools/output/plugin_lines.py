"""``test-plugin`` lines, as KrakenD prints them: one ``[OK]``/``[KO]`` line per artifact and type."""

from __future__ import annotations

from krakend_tools.report import Finding, Report


def line(finding: Finding) -> str:
    """``[OK] SERVER\\tplugin.so (registered: a)`` or ``[KO] CLIENT\\tplugin.so: reason``."""
    if finding.ignored is not None:
        why = finding.ignored or "no reason given"
        return f"[IGNORED] {finding.kind}\t{finding.name}: {finding.message or 'failed'} (ignored: {why})"
    if finding.ok:
        note = f" ({finding.message})" if finding.message else ""
        return f"[OK] {finding.kind}\t{finding.name}{note}"
    return f"[KO] {finding.kind}\t{finding.name}: {finding.message or 'failed'}"


def render_plugin_lines(report: Report) -> str:
    """All lines, then the summary: ``[OK] N tested plugin(s) in 1.23s``."""
    lines = [line(f) for f in report.findings]
    names = list(dict.fromkeys(f.name for f in report.findings))
    tested = int(report.meta.get("tested", len(names)))
    failed = len({f.name for f in report.failures})
    if failed:
        lines.append(f"[KO] {tested} tested plugin(s) in {report.elapsed:.2f}s.")
        lines.append(f"{failed} plugin(s) failed.")
    else:
        lines.append(f"[OK] {tested} tested plugin(s) in {report.elapsed:.2f}s")
    return "\n".join(lines) + "\n"
