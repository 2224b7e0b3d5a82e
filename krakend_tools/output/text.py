"""KrakenD-compatible text: each item's name, then ``\thave:``/``\twant:``; a summary last."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from krakend_tools.escape import unforged, unforged_lines
from krakend_tools.report import SHARED_MISMATCH, Finding, Report, manifest_lines

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


def render(report: Report, quiet: bool = False) -> str:
    """Every name, path and message escaped (:meth:`Report.escaped`), no line a workflow command."""
    safe = report.escaped()
    if report.command == "test-plugin":
        from krakend_tools.output.plugin_lines import render_plugin_lines

        return unforged_lines(render_plugin_lines(safe))
    return unforged_lines(_render_check(safe, quiet))


def _summary(report: Report) -> str:
    count = len(report.failures)
    if count == 0:
        return "No incompatibilities found!"
    return f"{count} incompatibilit{'y' if count == 1 else 'ies'} found"


def _lockfiles(report: Report) -> list[str | None]:
    """The lockfile paths of a check, in order (one None when the report names none)."""
    return [*report.lockfile_paths] or [None]


def _render_check(report: Report, quiet: bool = False) -> str:
    """KrakenD's layout: the verdict (the count) first, then each KO; then what was ignored,
    what could not be verified, the fixes, the manifest, and last the long list of packages only
    the plugin brings. ``quiet``: the verdict and the KOs alone, with a count of the rest."""
    lines = [_summary(report)]
    paths = list(dict.fromkeys(_lockfiles(report)))
    for path in paths:
        mine = [f for f in report.findings if path is None or f.file == path]
        block = [line for f in mine if not f.ok and f.ignored is None for line in _incompatibility(f)]
        if len(paths) > 1 and (block or not quiet):  # several lockfiles (as pre-commit passes them)
            failures = sum(1 for f in mine if not f.ok and f.ignored is None)
            block = [f"{path}: {failures} incompatibilit{'y' if failures == 1 else 'ies'}"] + [
                f"  {text}" for text in block
            ]
        lines += block
    if quiet:
        return "\n".join(lines + _quiet_rest(report)) + "\n"
    lines += ignored_lines(report) + warning_lines(report) + fix_lines(report) + manifest_lines(report.meta)
    lines += own_lines(report, several=len(paths) > 1)
    return "\n".join(lines) + "\n"


def own_lines(report: Report, several: bool) -> list[str]:
    """``Packages only the plugin brings:`` then one ``\tNAME VERSION: note`` line each
    (``\tLOCKFILE: NAME …`` with several lockfiles)."""
    own = [f for f in report.findings if f.ok and f.kind == "plugin-only"]
    if not own:
        return []
    return ["Packages only the plugin brings:"] + [
        f"\t{f'{f.file}: ' if several else ''}{f.name} {f.have}: {f.message}" for f in own
    ]


def _quiet_rest(report: Report) -> list[str]:
    """What ``-q`` leaves out, counted (a warning is never a silent pass)."""
    warned = sum(len(f.warnings) + bool(f.skipped) for f in report.findings)
    counts = [
        f"{len(report.ignored)} ignored" if report.ignored else "",
        f"{warned} warning(s)" if warned else "",
        "fix commands" if report.fixes else "",
    ]
    shown = ", ".join(c for c in counts if c)
    return [f"(-q: {shown} not shown; run without -q to see them)"] if shown else []


def ignored_lines(report: Report) -> list[str]:
    """``Ignored (accepted mismatches):`` then one ``\tNAME have -> want: reason`` line each."""
    if not report.ignored:
        return []
    lines = ["Ignored (accepted mismatches):"]
    for f in report.ignored:
        versions = f" {f.have} (gateway: {f.want})" if f.have is not None and f.want is not None else ""
        lines.append(f"\t{f.name}{versions}: {f.ignored or 'no reason given'}")
    return lines


def warning_lines(report: Report) -> list[str]:
    """``Warnings (not a pass):`` then one ``\tNAME: warning`` line each; a warning many items
    share is one ``\twarning: NAME, NAME…`` line."""
    texts = [(f.name, w) for f in report.findings for w in f.warnings]
    texts += [(f.name, f"not checked: {f.skipped}") for f in report.findings if f.skipped]
    names: dict[str, list[str]] = {}
    for name, text in texts:
        names.setdefault(text, []).append(name)
    lines = [f"\t{text}: {', '.join(who)}" if len(who) > 1 else f"\t{who[0]}: {text}" for text, who in names.items()]
    return ["Warnings (not a pass):", *lines] if lines else []


def fix_lines(report: Report) -> list[str]:
    """The combined fix commands, per lockfile (``-f``)."""
    lines: list[str] = []
    for lockfile, commands in report.fixes.items():
        lines.append(f"Fix {lockfile}:")
        lines += [f"\t{c}" for c in commands]
    return lines


def _says_why(finding: Finding) -> bool:
    """Whether a KO needs its message: a plain version mismatch says it all with have/want."""
    return bool(finding.message) and (finding.kind != "package" or finding.message != SHARED_MISMATCH)


def _incompatibility(finding: Finding) -> list[str]:
    lines = [finding.name]
    if finding.have is not None:
        lines.append(f"\thave: {finding.have}")
    if finding.want is not None:
        lines.append(f"\twant: {finding.want}")
    if _says_why(finding):
        lines.append(f"\twhy: {finding.message}")
    lines += [f"\tfix: {cmd}" for cmd in finding.fix]
    return lines


def print_rich(report: Report, console: Console | None = None, quiet: bool = False) -> None:
    """The same result as coloured tables, for a terminal: the verdict first, the plugin-only
    table last."""
    if console is None:
        from rich.console import Console

        console = Console(highlight=False)
    if report.command != "check-plugin":
        console.print(render(report), end="", markup=False, highlight=False)
        return
    report = report.escaped()
    from rich.table import Table
    from rich.text import Text

    console.print(_summary(report), style="bold green" if report.ok else "bold red")
    several = len(set(_lockfiles(report))) > 1
    if report.failures:
        table = Table(title="Incompatibilities", title_justify="left")
        for column in (["lockfile"] if several else []) + ["item", "have", "want", "why / fix"]:
            table.add_column(column)
        for f in report.failures:
            note = "\n".join(([f.message] if _says_why(f) else []) + f.fix)
            table.add_row(
                *([_cell(f.file)] if several else []),
                _cell(f.name, "bold"),
                _cell(f.have, "red"),
                _cell(f.want, "green"),
                _cell(note),
            )
        console.print(table)
    if quiet:
        extra = _quiet_rest(report)
    else:
        extra = ignored_lines(report) + warning_lines(report) + fix_lines(report) + manifest_lines(report.meta)
    if extra:
        # soft_wrap: the terminal folds a long line, rich never splits it (a pasted fix stays one command)
        console.print(Text("\n".join(unforged(line) for line in extra)), highlight=False, soft_wrap=True)
    own = [f for f in report.findings if f.ok and f.kind == "plugin-only"]
    if own and not quiet:
        table = Table(title="Packages only the plugin brings", title_justify="left")
        for column in (["lockfile"] if several else []) + ["package", "version", "note"]:
            table.add_column(column)
        for f in own:
            cells = ([f.file] if several else []) + [f.name, f.have, f.message]
            table.add_row(*map(_cell, cells))
        console.print(table)


def quiet_renderer(report: Report, stream: TextIO, rich: bool) -> None:
    """``-q``: the verdict and the KOs (an ``emit`` text renderer)."""
    if rich:
        print_rich(report, quiet=True)
    else:
        stream.write(render(report, quiet=True))


def _cell(value: str | None, style: str = "") -> Text:
    """A table cell of escaped text: as Text, no markup and no ``:emoji:`` code; no ``##[`` command."""
    from rich.text import Text

    return Text(unforged(value or ""), style=style)
