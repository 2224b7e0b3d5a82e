"""Command line: the Typer app; each command parses, calls the core, renders. Nothing else lives here.

Every command module imports only typer and the standard library at load time: a CI gate starts fast.
"""

# No ``from __future__ import annotations`` here: typer reads the commands' annotations, and
# real objects spare it an eval of each (half of building the command, ~3 ms a run).

import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from krakend_tools.manifest.model import Manifest

HELP = "Check, test and build compiled Python plugins so they load in the gateway."
# command -> (module, function); a module is imported only when its command is registered
COMMANDS = {
    "version": ("krakend_tools.cli.app", "version_cmd"),
    "check-plugin": ("krakend_tools.cli.check", "check_plugin"),
    "test-plugin": ("krakend_tools.cli.test_plugin", "test_plugin"),
    "build": ("krakend_tools.cli.build", "build"),
}


def make_app(only: str | None = None) -> typer.Typer:
    """The ``krakend`` app with every command, or with ``only`` that one (what a run of it needs:
    the other commands' options are never built)."""
    from importlib import import_module

    app = typer.Typer(
        name="krakend",
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        help=HELP,
    )
    app.callback()(top)
    for name, (module, function) in COMMANDS.items():
        if only is None or name == only:
            app.command(name)(getattr(import_module(module), function))
    return app


def _print_version(value: bool) -> None:
    if value:
        from krakend_tools import __version__

        sys.stdout.write(f"krakend-tools {__version__}\n")
        raise typer.Exit(0)


def top(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the krakend-tools version and exit."
        ),
    ] = False,
) -> None:
    """Check, test and build compiled Python plugins so they load in the gateway."""


class VersionOutput(StrEnum):
    text = "text"
    json = "json"


def version_cmd(
    output: Annotated[
        VersionOutput, typer.Option("-o", "--output", help="text, or json: the manifest")
    ] = VersionOutput.text,
    python: Annotated[
        str | None, typer.Option("--python", metavar="PATH", help="Introspect this interpreter instead")
    ] = None,
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
    facts: Annotated[
        Path | None,
        typer.Option(
            "--facts",
            metavar="FILE",
            help="What krakend_tools/manifest/introspect.py printed inside a gateway that embeds CPython",
        ),
    ] = None,
    manifest_file: Annotated[
        Path | None, typer.Option("--manifest", metavar="FILE", help="Print this manifest file (validated)")
    ] = None,
    name: Annotated[str | None, typer.Option("--gateway-name", help="Gateway name to record")] = None,
    gw_version: Annotated[str | None, typer.Option("--gateway-version", help="Gateway version to record")] = None,
) -> None:
    """Print the gateway manifest: Python, ABI, libc, platform, packages, host libraries."""
    from krakend_tools.settings import CommandLine, resolve

    settings = resolve("version", None, CommandLine(gateway_name=name, gateway_version=gw_version))
    source = ManifestSource(python, from_lock, target, python_version, libc, image, facts, manifest_file)
    manifest = source.manifest({"name": settings.gateway_name, "version": settings.gateway_version})
    if output is VersionOutput.text:
        _write_text(manifest)
        return
    sys.stdout.write(manifest.to_json())
    if source.introspects:  # a manifest to keep: say whose environment it describes
        sys.stdout.flush()  # written first: a failed write is one error line, with no note before it
        _warn_own_environment(manifest, python)


@dataclass(frozen=True)
class ManifestSource:
    """Where ``version`` takes its manifest from: the first of a lockfile (with a target and a
    Python version), an image, a manifest file, a facts file given; else an interpreter."""

    python: str | None
    from_lock: Path | None
    target: str | None
    python_version: str | None
    libc: str | None
    image: str | None
    facts: Path | None
    manifest_file: Path | None

    @property
    def introspects(self) -> bool:
        """Whether the manifest is an interpreter's own (``--python``, else this one)."""
        return (self.from_lock, self.image, self.manifest_file, self.facts) == (None, None, None, None)

    def manifest(self, gateway: dict[str, str | None]) -> "Manifest":
        """The manifest from this source, with ``gateway`` recorded when it is made here."""
        from krakend_tools.errors import InputError
        from krakend_tools.manifest import facts, model
        from krakend_tools.manifest.from_lock import from_lock
        from krakend_tools.manifest.platforms import Target

        if self.from_lock is not None:
            if self.target is None or self.python_version is None:
                raise InputError("--from-lock needs --target and --python-version")
            return from_lock(self.from_lock, Target.parse(self.target), self.python_version, self.libc, gateway)
        if self.target or self.python_version or self.libc:
            raise InputError("--target, --python-version and --libc go with --from-lock")
        if self.image is not None:
            from krakend_tools.containers.image_manifest import manifest_from_image

            return manifest_from_image(self.image)
        if self.manifest_file is not None:
            return model.load(self.manifest_file)
        if self.facts is not None:
            return facts.from_facts(facts.facts_file(self.facts), gateway)
        return facts.from_facts(facts.introspect(self.python), gateway)


def _write_text(manifest: "Manifest") -> None:
    """``krakend version``'s text: the tool's version, then the manifest's Python, libc, platform."""
    from krakend_tools import __version__
    from krakend_tools.escape import shown, unforged

    lines = [f"krakend-tools version: {__version__}"]
    gw = manifest.gateway
    if gw.get("name") or gw.get("version"):
        lines.append(f"Gateway: {gw.get('name') or 'gateway'} {gw.get('version') or ''}".rstrip())
    py = manifest.python
    lines.append(f"Python version: {py.version} ({py.implementation}, {py.abi_tags[0]}, {py.soabi})")
    lines.append(f"Libc version: {manifest.platform.libc}")
    lines.append(f"Platform: {manifest.platform.os}/{manifest.platform.arch}")
    sys.stdout.write("\n".join(unforged(shown(line)) for line in lines) + "\n")  # a manifest may come from a PR


def _warn_own_environment(manifest: "Manifest", python: str | None) -> None:
    """A note on stderr when the interpreter asked has krakend-tools installed: its manifest lists
    the tool's own packages (typer, rich, docker…), rarely what a gateway runs."""
    from krakend_tools.errors import print_note

    distributions = manifest.distributions
    if "krakend-tools" not in distributions:
        return
    which = python or sys.executable
    print_note(
        f"note: {which} has krakend-tools installed: this manifest lists the tool's own environment "
        f"({len(distributions)} packages, typer, rich…), not a gateway's; "
        "run `krakend version --python GATEWAY_PYTHON -o json` with the gateway's interpreter"
    )
