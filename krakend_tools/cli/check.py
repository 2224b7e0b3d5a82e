"""``krakend check-plugin``: parse, call :func:`krakend_tools.check.job.check_plugin`, render.

Only typer and the standard library load at import time; the core loads inside the command."""

# No ``from __future__ import annotations`` here: typer reads the commands' annotations, and
# real objects spare it an eval of each (half of building the command, ~3 ms a run).

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from krakend_tools.cli.options import IgnoreOpt, ManifestOpt, OutputsOpt

if TYPE_CHECKING:
    from collections.abc import Callable

    from krakend_tools.check.lockfiles.model import Lockfile
    from krakend_tools.report import Report


def check_plugin(
    lockfiles: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[LOCKFILE]...", help="More lockfiles to check (as pre-commit passes them).", show_default=False
        ),
    ] = None,
    sum_: Annotated[
        Path | None,
        typer.Option(
            "-s", "--sum", metavar="LOCKFILE", help="The plugin's lockfile (default: autodetect in the current folder)."
        ),
    ] = None,
    manifest: ManifestOpt = None,
    python_version: Annotated[
        str | None,
        typer.Option("-g", "--python-version", metavar="X.Y[.Z]", help="Override the manifest's Python version."),
    ] = None,
    libc: Annotated[
        str | None,
        typer.Option("-l", "--libc", metavar="LIBC", help="Override the manifest's libc (GLIBC-2.36 | MUSL-1.2.4)."),
    ] = None,
    fix: Annotated[
        bool, typer.Option("-f", "--fix", help="Print fix commands, one combined set per lockfile.")
    ] = False,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="With --fix: make the edits, run the lock commands, check again and print the diff.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="--apply even with uncommitted changes to the files it changes.")
    ] = False,
    output: OutputsOpt = None,
    pre_commit: Annotated[
        bool,
        typer.Option(
            "--pre-commit",
            help="The LOCKFILE arguments are the files a commit changes (the pre-commit hook): check only "
            "a plugin's lockfiles among them, name the others.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Text: only the verdict and the KOs (the rest counted).")
    ] = False,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", metavar="GROUP", help="Also check this optional dependency group (repeatable)."),
    ] = None,
    extra: Annotated[
        list[str] | None, typer.Option("--extra", metavar="EXTRA", help="Also check this extra (repeatable).")
    ] = None,
    ignore: IgnoreOpt = None,
) -> None:
    """Compare a plugin's lockfile with the gateway manifest."""
    from krakend_tools.check.job import check_plugins
    from krakend_tools.check.lockfiles import find_lockfile, hook_arguments, load_lockfile, lockfile_arguments
    from krakend_tools.cli import options as cli_options
    from krakend_tools.errors import print_note
    from krakend_tools.manifest import model as mf
    from krakend_tools.output import emit
    from krakend_tools.output.text import quiet_renderer

    cli_specs = cli_options.outputs(output, None)  # bad -o values fail before any work
    given = ([sum_] if sum_ is not None else []) + list(lockfiles or [])
    passed_over: list[str] = []
    if pre_commit:  # only a plugin's lockfiles among the files changed; the others named
        kept, passed_over = hook_arguments(lockfiles or [])
        paths = lockfile_arguments([sum_]) + kept if sum_ is not None else kept
        if not paths:
            for note in passed_over:
                print_note(note)
            raise typer.Exit(0)
    else:
        paths = lockfile_arguments(given) or [find_lockfile(Path.cwd())]
    start = paths[0].resolve().parent
    defaults = cli_options.load_defaults("check-plugin", start)
    specs = cli_specs or cli_options.outputs(None, defaults)
    locks = [load_lockfile(p) for p in paths]
    notes = passed_over + [f"{lock.path}: note: {note}" for lock in locks for note in lock.notes]
    manifests = mf.resolver(manifest, python=python_version, libc=libc)
    groups = group if group else defaults.groups
    extras = extra if extra else defaults.extras
    report = check_plugins(locks, manifests, groups=groups, extras=extras)
    for lock, entry in zip(locks, report.meta["lockfiles"], strict=True):
        if entry["packages"] == 0:  # a pass, but over nothing: say so
            why = (
                f"none of its {len(lock.packages)} packages applies to the gateway's target"
                if lock.packages
                else "it locks no package"
            )
            notes.append(f"{lock.path}: note: nothing to check: {why}")
    accepted = cli_options.ignores(ignore, defaults)
    unused = report.apply_ignores(accepted)
    notes += [f"note: ignore {name!r} matches no incompatibility: nothing accepted (stale?)" for name in unused]
    if apply:
        locks, report = _apply_fixes(
            report, locks, force, lambda ls: check_plugins(ls, manifests, groups=groups, extras=extras)
        )
        report.apply_ignores(accepted)
    if fix or apply:
        _attach_fixes(report, locks)
    inputs = [*given, *paths, *(p.parent / "pyproject.toml" for p in paths), defaults.pyproject]
    code = emit(report, specs, text=quiet_renderer if quiet else None, inputs=inputs)
    for note in notes:  # only once no bad input can stop the run: an exit 2 prints its one line alone
        print_note(note)
    raise typer.Exit(code)


def _attach_fixes(report: "Report", locks: "list[Lockfile]") -> None:
    """``meta.fixes``: the printed fix lines of each lockfile with a KO to fix."""
    from krakend_tools.check.fixes import report_fixes

    plans = report_fixes(report, locks)
    if plans:
        report.meta["fixes"] = {path: plan.lines() for path, plan in plans.items()}


def _apply_fixes(
    report: "Report", locks: "list[Lockfile]", force: bool, recheck: "Callable[[list[Lockfile]], Report]"
) -> "tuple[list[Lockfile], Report]":
    """``--apply``: each lockfile's fix made (edits, lock commands), its diff on stderr, and the
    lockfiles read and checked again."""
    from krakend_tools.check.fix_apply import apply_plan, preflight, version_changes
    from krakend_tools.check.fixes import report_fixes
    from krakend_tools.check.lockfiles import load_lockfile
    from krakend_tools.errors import print_note

    plans = {Path(path): plan for path, plan in report_fixes(report, locks).items()}
    if not plans:
        return locks, report
    preflight(plans, force)
    fresh = []
    for lock in locks:
        plan = plans.get(lock.path)
        if plan is None:
            fresh.append(lock)
            continue
        applied = apply_plan(lock.path, plan)
        after = load_lockfile(lock.path)
        print_note(f"{lock.path}: applied: {'; '.join(' '.join(c) for c in applied.commands) or 'edits only'}")
        for line in applied.diff() + version_changes(_versions(lock), _versions(after)):
            print_note(line)
        fresh.append(after)
    return fresh, recheck(fresh)


def _versions(lock: "Lockfile") -> "list[tuple[str, str | None]]":
    return [(p.name, str(p.version) if p.version is not None else None) for p in lock.packages]
