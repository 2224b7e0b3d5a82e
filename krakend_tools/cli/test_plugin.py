"""``krakend test-plugin``: the command line of :mod:`krakend_tools.plugin_test.job`."""

# No ``from __future__ import annotations`` here: typer reads the commands' annotations, and
# real objects spare it an eval of each (half of building the command, ~3 ms a run).

from pathlib import Path
from typing import Annotated

import typer

from krakend_tools.cli.options import IgnoreOpt, ManifestOpt, OutputsOpt
from krakend_tools.plugin_test.contract import TYPES


def progress(message: str) -> None:
    """A progress line on stderr, escaped: what is fetched or built and warnings (not each
    line of an image build)."""
    from krakend_tools.errors import one_line

    if message.startswith(("building ", "fetching ", "warning")):
        typer.echo(one_line(message), err=True)


def test_plugin(
    artifacts: Annotated[
        list[str],
        typer.Argument(
            metavar="ARTIFACT...",
            help="Plugins: extension .so, .py, package folder, wheel, or a plugin folder.",
            show_default=False,
        ),
    ],
    server: Annotated[bool, typer.Option("-s", "--server", help="Test it as a server (handler) plugin.")] = False,
    client: Annotated[bool, typer.Option("-c", "--client", help="Test it as an HTTP client plugin.")] = False,
    modifier: Annotated[bool, typer.Option("-m", "--modifier", help="Test it as a request/response modifier.")] = False,
    manifest: ManifestOpt = None,
    python: Annotated[
        str | None,
        typer.Option("--python", metavar="PATH", help="Import with this interpreter (must match the manifest's)."),
    ] = None,
    pattern: Annotated[
        str, typer.Option("--pattern", help="In a plugin folder, test entries whose name contains this.")
    ] = ".so",
    jobs: Annotated[
        int | None, typer.Option("-j", "--jobs", min=1, metavar="N", help="Parallel imports (default: CPU count).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="S", help="Seconds an import may take (default: 30, or timeout in [tool.krakend])."
        ),
    ] = None,
    image: Annotated[str | None, typer.Option("--image", help="Import inside this runtime image (Docker).")] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Import inside the runtime image of this target, e.g. alpine/arm64 (Docker)."),
    ] = None,
    static_only: Annotated[
        bool,
        typer.Option(
            "--static-only", help="Run the static checks only; the import is not run, and the result says so."
        ),
    ] = False,
    lock: Annotated[
        Path | None,
        typer.Option(
            "--lock",
            metavar="LOCKFILE",
            help="The plugin's lockfile: its packages the gateway lacks are installed after the "
            "gateway's for the import (default: lock in [tool.krakend]).",
        ),
    ] = None,
    output: OutputsOpt = None,
    ignore: IgnoreOpt = None,
) -> None:
    """Load compiled plugins the way the gateway does and tell whether they work."""
    from krakend_tools.output import emit
    from krakend_tools.plugin_test.job import PluginTestRequest
    from krakend_tools.plugin_test.job import test_plugin as run_test
    from krakend_tools.settings import CommandLine, resolve

    start = Path(artifacts[0]).absolute().parent
    chosen = [t for t, on in zip(TYPES, (server, client, modifier), strict=True) if on]
    given = CommandLine(types=chosen, timeout=timeout, outputs=output or (), ignore=ignore or ())
    settings = resolve("test-plugin", start, given)
    specs = settings.output_specs()
    request = PluginTestRequest(
        artifacts,
        settings.types,
        start,
        manifest=manifest,
        python=python,
        pattern=pattern,
        jobs=jobs,
        timeout=settings.timeout,
        image=image,
        target=target,
        static_only=static_only,
        lock=lock,
        config_lock=settings.lock,
        progress=progress,
    )
    report = run_test(request)
    report.apply_ignores(dict(settings.ignore))
    tested = [a.get("name") for a in report.artifacts]
    raise typer.Exit(emit(report, specs, inputs=[*artifacts, *tested, settings.pyproject]))
