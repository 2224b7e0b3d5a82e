"""``test-plugin`` lines, as KrakenD prints them: one ``[OK]``/``[KO]`` line per artifact and type,
every further reason and warning indented under it."""

from __future__ import annotations

from krakend_tools.report import Finding, Report, manifest_lines


def line(finding: Finding) -> str:
    """``[OK] SERVER\\tplugin.so (registered: a)`` or ``[KO] CLIENT\\tplugin.so: reason``."""
    kind = finding.kind.upper()
    if finding.ignored is not None:
        why = finding.ignored or "no reason given"
        return f"[IGNORED] {kind}\t{finding.name}: {finding.message or 'failed'} (ignored: {why})"
    if finding.ok:
        note = f" ({finding.message})" if finding.message else ""
        return f"[OK] {kind}\t{finding.name}{note}"
    return f"[KO] {kind}\t{finding.name}: {finding.message or 'failed'}"


def lines(finding: Finding) -> list[str]:
    """:func:`line`, then the other problems and the warnings, indented."""
    out = [line(finding)]
    out += [f"\t{p}" for p in finding.problems if p != finding.message]
    out += [f"\twarning: {w}" for w in finding.warnings]
    return out


def render_plugin_lines(report: Report) -> str:
    """The manifest used, all lines, then the summary: ``[OK] N tested plugin(s) in 1.23s``."""
    out = manifest_lines(report.meta)
    out += [text for f in report.findings for text in lines(f)]
    names = list(dict.fromkeys(f.name for f in report.findings))
    tested = len(names) if report.tested is None else report.tested
    failed = len({f.name for f in report.failures})
    warned = len({f.name for f in report.findings if f.warnings})
    note = f" ({warned} with warnings)" if warned else ""
    if failed:
        out.append(f"[KO] {tested} tested plugin(s) in {report.elapsed:.2f}s{note}.")
        out.append(f"{failed} plugin(s) failed.")
    else:
        out.append(f"[OK] {tested} tested plugin(s) in {report.elapsed:.2f}s{note}")
    return "\n".join(out) + "\n"
