"""Command line: parses arguments, calls the core, renders. Nothing else lives here."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from krakend_tools.report import Report

app = typer.Typer(
    name="krakend",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Check, test and build compiled Python plugins so they load in the gateway.",
)


class Output(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"
    github = "github"


class VersionOutput(StrEnum):
    text = "text"
    json = "json"


ManifestOpt = Annotated[
    str | None,
    typer.Option(
        "--manifest",
        help="Gateway manifest (krakend version -o json). Default: $KRAKEND_MANIFEST, else the current environment.",
    ),
]
OutputOpt = Annotated[Output, typer.Option("-o", "--output", help="Result format.")]


def emit(report: Report, output: Output) -> None:
    """Render ``report`` on stdout in ``output`` format and exit with its code."""
    from krakend_tools.cli_check import render

    raise typer.Exit(render(report, output.value))


@app.command("version")
def version_cmd(
    output: Annotated[
        VersionOutput, typer.Option("-o", "--output", help="text, or json: the manifest")
    ] = VersionOutput.text,
    python: Annotated[str | None, typer.Option("--python", help="Introspect this interpreter instead")] = None,
    from_lock: Annotated[
        Path | None, typer.Option("--from-lock", help="The gateway's lockfile, for a gateway that cannot run here")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="With --from-lock: alpine|generic / amd64|arm64")
    ] = None,
    python_version: Annotated[str | None, typer.Option("--python-version", help="With --from-lock: X.Y.Z")] = None,
    libc: Annotated[
        str | None, typer.Option("--libc", help="With --from-lock: GLIBC-2.36 or MUSL-1.2.4 (default by target)")
    ] = None,
    image: Annotated[
        str | None, typer.Option("--image", help="Read the manifest a builder or runtime image carries")
    ] = None,
    manifest_file: ManifestOpt = None,
    name: Annotated[str | None, typer.Option("--gateway-name", help="Gateway name to record")] = None,
    gw_version: Annotated[str | None, typer.Option("--gateway-version", help="Gateway version to record")] = None,
) -> None:
    """Print the gateway manifest: Python, ABI, libc, platform, packages, host libraries."""
    from krakend_tools import manifest as mf
    from krakend_tools.errors import InputError
    from krakend_tools.platforms import Target

    gateway = {
        "name": name or os.environ.get("KRAKEND_GATEWAY_NAME"),
        "version": gw_version or os.environ.get("KRAKEND_GATEWAY_VERSION"),
    }
    if from_lock is not None:
        if target is None or python_version is None:
            raise InputError("--from-lock needs --target and --python-version")
        manifest = mf.from_lock(from_lock, Target.parse(target), python_version, libc, gateway)
    elif target or python_version or libc:
        raise InputError("--target, --python-version and --libc go with --from-lock")
    elif image is not None:
        from krakend_tools.image_manifest import manifest_from_image

        manifest = manifest_from_image(image)
    elif manifest_file is not None:
        manifest = mf.load(manifest_file)
    else:
        manifest = mf.from_facts(mf.introspect(python), gateway)
    if output is VersionOutput.json:
        sys.stdout.write(manifest.to_json())
        return
    from krakend_tools import __version__

    lines = [f"krakend-tools version: {__version__}"]
    gw = manifest.gateway
    if gw.get("name") or gw.get("version"):
        lines.append(f"Gateway: {gw.get('name') or 'gateway'} {gw.get('version') or ''}".rstrip())
    py = manifest.python
    lines.append(f"Python version: {py.version} ({py.implementation}, {py.abi_tags[0]}, {py.soabi})")
    lines.append(f"Libc version: {manifest.platform.libc}")
    lines.append(f"Platform: {manifest.platform.os}/{manifest.platform.arch}")
    sys.stdout.write("\n".join(lines) + "\n")


def _forward(name: str, module: str, summary: str) -> None:
    """List ``name`` in ``krakend --help``; its own argparse parser does the rest."""

    def command(ctx: typer.Context) -> None:
        from importlib import import_module

        raise typer.Exit(import_module(f"krakend_tools.{module}").run(list(ctx.args)))

    command.__doc__ = f"{summary} (see krakend {name} --help)"
    app.command(
        name, add_help_option=False, context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
    )(command)


_forward("check-plugin", "cli_check", "Compare a plugin's lockfile with the gateway manifest.")
_forward("test-plugin", "cli_test_plugin", "Load compiled plugins the way the gateway does and tell whether they work.")


def register_optional_commands() -> None:
    """build lives in its own thin module (its Docker imports stay inside the command)."""
    from krakend_tools.cli_build import register

    register(app)
