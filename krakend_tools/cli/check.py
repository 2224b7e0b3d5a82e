"""``krakend check-plugin``: options into a :class:`~krakend_tools.check.job.CheckRequest`,
:func:`~krakend_tools.check.job.run_check`, render.

Only typer and the standard library load at import time; the core loads inside the command."""

# No ``from __future__ import annotations`` here: typer reads the commands' annotations, and
# real objects spare it an eval of each (half of building the command, ~3 ms a run).

from pathlib import Path
from typing import Annotated

import typer

from krakend_tools.cli.options import IgnoreOpt, ManifestOpt, OutputsOpt


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
    from krakend_tools.check.job import CheckRequest, run_check
    from krakend_tools.errors import print_note
    from krakend_tools.lockfiles import command_lockfiles
    from krakend_tools.output import emit, parse_outputs
    from krakend_tools.output.text import quiet_renderer
    from krakend_tools.settings import CommandLine, resolve

    parse_outputs(output or [])  # bad -o values fail before any work
    paths, passed_over = command_lockfiles(sum_, lockfiles or [], pre_commit)
    if not paths:  # pre-commit: the commit changes no plugin's lockfile
        for note in passed_over:
            print_note(note)
        raise typer.Exit(0)
    options = CommandLine(outputs=output or (), ignore=ignore or (), groups=group or (), extras=extra or ())
    settings = resolve("check-plugin", paths[0].resolve().parent, options)
    specs = settings.output_specs()
    request = CheckRequest(
        lockfiles=tuple(paths),
        manifest=manifest,
        python_version=python_version,
        libc=libc,
        groups=settings.groups,
        extras=settings.extras,
        ignores=dict(settings.ignore),
        fix=fix,
        apply=apply,
        force=force,
    )
    result = run_check(request)
    given = ([sum_] if sum_ is not None else []) + list(lockfiles or [])
    inputs = [*given, *paths, *(p.parent / "pyproject.toml" for p in paths), settings.pyproject]
    code = emit(result.report, specs, text=quiet_renderer if quiet else None, inputs=inputs)
    # notes only once no bad input can stop the run: an exit 2 prints its one line alone
    for note in passed_over + result.notes:
        print_note(note)
    raise typer.Exit(code)
