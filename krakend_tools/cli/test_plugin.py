"""``krakend test-plugin``: the command line of :mod:`krakend_tools.plugin_test.job`."""

# No ``from __future__ import annotations`` here: typer reads the commands' annotations, and
# real objects spare it an eval of each (half of building the command, ~3 ms a run).

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from krakend_tools.cli.options import IgnoreOpt, ManifestOpt, OutputsOpt

if TYPE_CHECKING:
    from krakend_tools.manifest.model import Manifest
    from krakend_tools.plugin_test.gateway_env import GatewayEnv
    from krakend_tools.plugin_test.import_phase import Runner

TYPES = ("server", "client", "modifier")


def progress(message: str) -> None:
    """A progress line on stderr, escaped: what is fetched or built and warnings (not each
    line of an image build)."""
    from krakend_tools.errors import one_line

    if message.startswith(("building ", "fetching ", "warning")):
        typer.echo(one_line(message), err=True)


def environment(
    image: str | None, target: str | None, manifest: "Manifest | None", lock: "Path | None", start: Path
) -> "tuple[Runner | None, Manifest, GatewayEnv]":
    """Where the import runs and what it sees: in a container, the gateway image (runtime
    image + the manifest's packages) and the manifest to check against (``manifest`` when
    given, else the image's); locally, the gateway interpreter's packages. The lockfile's
    overlay comes after either."""
    from krakend_tools.manifest import model as mf
    from krakend_tools.plugin_test.docker_runner import gateway_runner
    from krakend_tools.plugin_test.gateway_env import GatewayEnv, plugin_overlay

    if image is not None or target is not None:
        return gateway_runner(target, image, manifest, lock, progress)
    gateway = manifest or mf.resolve(None, start)
    env = GatewayEnv(site_packages=list(gateway.site_packages))
    if lock is not None:
        env.overlay = plugin_overlay(lock, gateway, progress)
    return None, gateway, env


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
    from krakend_tools.cli import options as cli_options
    from krakend_tools.errors import InputError
    from krakend_tools.manifest import model as mf
    from krakend_tools.output import emit
    from krakend_tools.plugin_test.import_phase import DEFAULT_TIMEOUT
    from krakend_tools.plugin_test.job import run as test

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
    if lock is not None and static_only:
        raise InputError("--static-only runs no import: --lock has nothing to add to it")
    lockfile = lock if lock is not None else None if static_only else defaults.lock
    if lockfile is not None and not lockfile.is_file():
        raise InputError("no such lockfile", path=lockfile)
    given = mf.resolve(manifest, start) if manifest is not None else None
    runner, gateway, env = environment(image, target, given, lockfile, start)
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
        env=env,
    )
    report.apply_ignores(cli_options.ignores(ignore, defaults))
    tested = [a.get("name") for a in report.artifacts]
    raise typer.Exit(emit(report, specs, inputs=[*artifacts, *tested, defaults.pyproject]))
