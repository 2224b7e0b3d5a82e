"""``krakend check-plugin``: parsed with argparse so a CI gate pays no CLI-framework start-up.

``krakend check-plugin …`` reaches :func:`run` straight from :func:`krakend_tools.main.main`,
without importing typer (which costs more than parsing a 1,000-package lockfile).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from krakend_tools.errors import InputError

if TYPE_CHECKING:
    from krakend_tools.report import Report

OUTPUTS = ("text", "json", "junit", "github")


class ArgumentParser(argparse.ArgumentParser):
    """Usage errors become InputError: one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see --help)")


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="krakend check-plugin", description="Compare a plugin's lockfile with the gateway manifest."
    )
    p.add_argument(
        "lockfiles",
        nargs="*",
        type=Path,
        metavar="LOCKFILE",
        help="more lockfiles to check (as pre-commit passes them)",
    )
    p.add_argument(
        "-s",
        "--sum",
        type=Path,
        metavar="LOCKFILE",
        help="the plugin's lockfile (default: autodetect in the current folder)",
    )
    p.add_argument(
        "--manifest",
        metavar="FILE",
        help="gateway manifest (krakend version -o json); default: $KRAKEND_MANIFEST, else the current environment",
    )
    p.add_argument("-g", "--python", metavar="X.Y[.Z]", help="override the manifest's Python version")
    p.add_argument("-l", "--libc", metavar="LIBC", help="override the manifest's libc (GLIBC-2.36 | MUSL-1.2.4)")
    p.add_argument("-f", "--fix", action="store_true", help="print fix commands")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="text", help="result format")
    p.add_argument(
        "--group", action="append", default=[], help="also check this optional dependency group (repeatable)"
    )
    p.add_argument("--extra", action="append", default=[], help="also check this extra (repeatable)")
    return p


def run(argv: list[str]) -> int:
    """Parse ``argv`` (after ``check-plugin``), check, render on stdout; the exit code."""
    from krakend_tools import manifest as mf
    from krakend_tools.check import check_plugin
    from krakend_tools.lockfiles import find_lockfile, load_lockfile

    args = parser().parse_args(argv)
    paths = ([args.sum] if args.sum is not None else []) + args.lockfiles
    locks = [load_lockfile(p) for p in paths or [find_lockfile(Path.cwd())]]
    manifest = mf.resolve(args.manifest).with_overrides(args.python, args.libc)
    reports = [check_plugin(lock, manifest, groups=args.group, extras=args.extra, fix=args.fix) for lock in locks]
    report = reports[0]
    for other in reports[1:]:
        report.findings += other.findings
    return render(report, args.output)


def render(report: Report, output: str) -> int:
    """Write ``report`` in ``output`` format to stdout (rich only on a terminal); its exit code."""
    from importlib import import_module

    module = import_module(f"krakend_tools.output.{output}")
    if output == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ:
        module.print_rich(report)
    else:
        sys.stdout.write(module.render(report))
        sys.stdout.flush()
    return report.exit_code
