"""Options every command shares: their typer declarations (the values meet the project's settings
in :func:`krakend_tools.settings.resolve`)."""

from __future__ import annotations

from typing import Annotated

import typer

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
