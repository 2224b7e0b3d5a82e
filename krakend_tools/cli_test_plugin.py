"""``krakend test-plugin``: the command line of :mod:`krakend_tools.testplugin`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from krakend_tools.cli import ManifestOpt, Output, OutputOpt, emit

if TYPE_CHECKING:
    from krakend_tools.importtest import Runner
    from krakend_tools.manifest import Manifest


def docker_runner(image: str | None, target: str | None,
                  manifest: Manifest | None) -> tuple[Runner, Manifest]:
    """The runner that probes inside a runtime image, and the manifest to check against:
    ``manifest`` when given, else the one the image carries."""
    from krakend_tools.errors import InputError

    try:
        from krakend_tools import engine
    except ModuleNotFoundError as err:
        if err.name not in ("krakend_tools.engine", "docker"):
            raise
        raise InputError("Docker support not available") from None
    runner: Any
    if target is not None:
        runner = engine.runtime_runner(target, image=image, manifest=manifest)
    else:
        runner = engine.DockerRunner(str(image))
    if manifest is None:
        manifest = engine.manifest_from_image(runner.image)
    return runner, manifest


def register(app: typer.Typer) -> None:
    """Add ``test-plugin`` to ``app``."""

    @app.command("test-plugin")
    def test_plugin_cmd(
        artifacts: Annotated[list[str], typer.Argument(
            help="Plugins: extension .so, .py, package folder, wheel, or a plugin folder",
            show_default=False)],
        server: Annotated[bool, typer.Option("-s", "--server", help="Test it as a server "
                          "(handler) plugin")] = False,
        client: Annotated[bool, typer.Option("-c", "--client", help="Test it as an HTTP "
                          "client plugin")] = False,
        modifier: Annotated[bool, typer.Option("-m", "--modifier", help="Test it as a "
                            "request/response modifier")] = False,
        manifest_file: ManifestOpt = None,
        python: Annotated[str | None, typer.Option("--python", help="Import with this "
                          "interpreter (must match the manifest's)")] = None,
        pattern: Annotated[str, typer.Option("--pattern", help="In a plugin folder, test "
                           "entries whose name contains this")] = ".so",
        jobs: Annotated[int | None, typer.Option("-j", "--jobs", min=1, help="Parallel "
                        "imports (default: CPU count)")] = None,
        timeout: Annotated[float, typer.Option("--timeout", help="Seconds an import may "
                           "take")] = 30.0,
        image: Annotated[str | None, typer.Option("--image", help="Import inside this "
                         "runtime image (Docker)")] = None,
        target: Annotated[str | None, typer.Option("--target", help="Import inside the "
                          "runtime image of this target, e.g. alpine/arm64 (Docker)")] = None,
        output: OutputOpt = Output.text,
    ) -> None:
        """Load compiled plugins the way the gateway does and tell whether they work."""
        from krakend_tools import manifest as mf
        from krakend_tools.errors import InputError
        from krakend_tools.testplugin import run

        types = [t for t, on in (("server", server), ("client", client),
                                 ("modifier", modifier)) if on]
        if not types:
            raise InputError("at least one plugin type is required: -s, -c or -m")
        if python is not None and (image or target):
            raise InputError("--python and --image/--target exclude each other")
        runner = None
        if image is not None or target is not None:
            given = mf.load(manifest_file) if manifest_file is not None else None
            runner, manifest = docker_runner(image, target, given)
        else:
            manifest = mf.resolve(manifest_file)
        report = run(artifacts, manifest, types, pattern=pattern, jobs=jobs, timeout=timeout,
                     python=python, runner=runner)
        emit(report, output)
