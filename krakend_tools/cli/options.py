"""Options every command shares (their typer declarations), and the project's settings for the
commands that merge their options into them themselves (see :mod:`krakend_tools.settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from krakend_tools.output import OutputSpec
    from krakend_tools.settings import Settings

ManifestOpt = Annotated[
    str | None,
    typer.Option(
        "--manifest",
        metavar="FILE",
        help="Gateway manifest (krakend version -o json), or 'host' for the running interpreter. "
        "Default: $KRAKEND_MANIFEST, else manifest in [tool.krakend].",
    ),
]
OutputsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FORMAT[=FILE]",
        help="text, json, junit, github or sarif; to FILE, else stdout. Repeatable. Default: text.",
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        metavar="NAME[:REASON]",
        help="Accept this known mismatch (package, artifact or target): reported as ignored with "
        "its reason, not counted as a failure. Repeatable.",
    ),
]


def load_defaults(command: str, start: Path) -> Settings:
    """The project's settings for ``command`` (:func:`krakend_tools.settings.resolve` without
    the command line's)."""
    from krakend_tools.settings import resolve

    return resolve(command, start)


def outputs(cli: list[str] | None, defaults: Settings | None) -> list[OutputSpec]:
    """The command line's ``-o`` if any, else the project's ``outputs``; with ``defaults=None``,
    only the command line's (empty when it has none)."""
    from krakend_tools.output import parse_outputs

    if cli:
        return parse_outputs(cli)
    return defaults.output_specs() if defaults is not None else []


def ignores(cli: list[str] | None, defaults: Settings) -> dict[str, str]:
    """The project's ``ignore`` with the command line's ``--ignore`` added."""
    from krakend_tools.settings import parse_ignores

    return {**defaults.ignore, **parse_ignores(cli or [])}
