"""KrakenD-compatible text: each item's name, then ``\thave:``/``\twant:``; a summary last."""

from __future__ import annotations

from typing import TYPE_CHECKING

from krakend_tools.report import Finding, Report

if TYPE_CHECKING:
    from rich.console import Console


def render(report: Report) -> str:
    if report.command == "test-plugin":
        from krakend_tools.output.test_text import render_test_text

        text: str = render_test_text(report)
        return text
    if report.command == "build":
        return _render_build(report)
    return _render_check(report)


def _summary(report: Report) -> str:
    count = len(report.failures)
    if count == 0:
        return "No incompatibilities found!"
    return f"{count} incompatibilit{'y' if count == 1 else 'ies'} found"


def _render_check(report: Report) -> str:
    lines: list[str] = []
    for finding in report.failures:
        lines += _incompatibility(finding)
    own = [f for f in report.findings if f.ok and f.kind == "plugin-only"]
    if own:
        lines.append("Packages only the plugin brings:")
        lines += [f"\t{f.name} {f.have}: {f.message}" for f in own]
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def _incompatibility(finding: Finding) -> list[str]:
    lines = [finding.name]
    if finding.have is not None:
        lines.append(f"\thave: {finding.have}")
    if finding.want is not None:
        lines.append(f"\twant: {finding.want}")
    if finding.message and finding.kind != "package":
        lines.append(f"\twhy: {finding.message}")
    lines += [f"\tfix: {cmd}" for cmd in finding.fix]
    return lines


def _render_build(report: Report) -> str:
    lines = []
    for f in report.findings:
        mark = "[OK]" if f.ok else "[KO]"
        lines.append(f"{mark} {f.name}\t{f.message}")
    status = "[OK]" if report.ok else "[KO]"
    lines.append(f"{status} {len(report.findings)} target(s) built in {report.elapsed:.2f}s")
    return "\n".join(lines) + "\n"


def print_rich(report: Report, console: Console | None = None) -> None:
    """The same result as a coloured table, for a terminal."""
    if console is None:
        from rich.console import Console

        console = Console(highlight=False)
    if report.command != "check-plugin":
        console.print(render(report), end="", markup=False, highlight=False)
        return
    from rich.markup import escape
    from rich.table import Table

    if report.failures:
        table = Table(title="Incompatibilities", title_justify="left")
        for column in ("item", "have", "want", "why / fix"):
            table.add_column(column)
        for f in report.failures:
            note = "\n".join(([f.message] if f.kind != "package" else []) + f.fix)
            table.add_row(
                f"[bold]{escape(f.name)}[/]",
                f"[red]{escape(f.have or '')}[/]",
                f"[green]{escape(f.want or '')}[/]",
                escape(note),
            )
        console.print(table)
    own = [f for f in report.findings if f.ok and f.kind == "plugin-only"]
    if own:
        table = Table(title="Packages only the plugin brings", title_justify="left")
        for column in ("package", "version", "note"):
            table.add_column(column)
        for f in own:
            table.add_row(escape(f.name), escape(f.have or ""), escape(f.message))
        console.print(table)
    style = "bold green" if report.ok else "bold red"
    console.print(_summary(report), style=style)
