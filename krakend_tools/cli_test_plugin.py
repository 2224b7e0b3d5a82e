"""``krakend test-plugin``: the command line of :mod:`krakend_tools.testplugin`."""

# No ``from __future__ import annotations`` here: typer reads the commands' annotations, and
# real objects spare it an eval of each (half of building the command, ~3 ms a run).

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from krakend_tools.cli_options import IgnoreOpt, ManifestOpt, OutputsOpt

if TYPE_CHECKING:
    from krakend_tools.importtest import Runner
    from krakend_tools.manifest import Manifest

TYPES = ("server", "client", "modifier")


def docker_runner(image: str | None, target: str | None, manifest: "Manifest | None") -> "tuple[Runner, Manifest]":
    """The runner that probes inside a runtime image, and the manifest to check against:
    ``manifest`` when given, else the one the image carries."""
    from krakend_tools.image_manifest import manifest_from_labels
    from krakend_tools.runner import DockerRunner, runtime_runner

    runner = runtime_runner(target, image=image, manifest=manifest) if target is not None else DockerRunner(str(image))
    if manifest is None:
        manifest = manifest_from_labels(runner.engine, runner.image)
        manifest.source = f"image {runner.image}"
    return runner, manifest


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
    output: OutputsOpt = None,
    ignore: IgnoreOpt = None,
) -> None:
    """Load compiled plugins the way the gateway does and tell whether they work."""
    from krakend_tools import cli_options
    from krakend_tools import manifest as mf
    from krakend_tools.errors import InputError
    from krakend_tools.importtest import DEFAULT_TIMEOUT
    from krakend_tools.output import emit
    from krakend_tools.testplugin import run as test

    start = Path(artifacts[0]).absolute().parent
    defaults = cli_options.load_defaults("test-plugin", start)
    specs = cli_options.outputs(output, defaults)
    types = [t for t, on in zip(TYPES, (server, client, modifier), strict=True) if on] or defaults.types
    if not types:
        raise InputError("at least one plugin type is required: -s, -c or -m (or types in [tool.krakend])")
    unknown = sorted(set(types) - set(TYPES))
    if unknown:
        raise InputError(f"[tool.krakend] types: unknown plugin type {unknown[0]!r} (server, client, modifier)")
    if python is not None and (image or target):
        raise InputError("--python and --image/--target exclude each other")
    if static_only and (python or image or target):
        raise InputError("--static-only runs no import: it excludes --python, --image and --target")
    runner = None
    if image is not None or target is not None:
        given = mf.resolve(manifest, start) if manifest is not None else None
        runner, gateway = docker_runner(image, target, given)
    else:
        gateway = mf.resolve(manifest, start)
    report = test(
        artifacts,
        gateway,
        types,
        pattern=pattern,
        jobs=jobs,
        timeout=timeout if timeout is not None else defaults.timeout or DEFAULT_TIMEOUT,
        python=python,
        runner=runner,
        static_only=static_only,
    )
    report.apply_ignores(cli_options.ignores(ignore, defaults))
    tested = [a.get("name") for a in report.artifacts]
    raise typer.Exit(emit(report, specs, inputs=[*artifacts, *tested, defaults.pyproject]))
