"""``krakend test-plugin``: the command line of :mod:`krakend_tools.testplugin`.

Parsed with argparse, like check-plugin, so a CI gate testing many plugins pays no
CLI-framework start-up; :func:`krakend_tools.main.main` calls :func:`run` directly.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from krakend_tools.cli_check import OUTPUTS, ArgumentParser, render

if TYPE_CHECKING:
    from krakend_tools.importtest import Runner
    from krakend_tools.manifest import Manifest


def docker_runner(image: str | None, target: str | None, manifest: Manifest | None) -> tuple[Runner, Manifest]:
    """The runner that probes inside a runtime image, and the manifest to check against:
    ``manifest`` when given, else the one the image carries."""
    from krakend_tools.image_manifest import manifest_from_labels
    from krakend_tools.runner import DockerRunner, runtime_runner

    runner = runtime_runner(target, image=image, manifest=manifest) if target is not None else DockerRunner(str(image))
    if manifest is None:
        manifest = manifest_from_labels(runner.engine, runner.image)
    return runner, manifest


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="krakend test-plugin",
        description="Load compiled plugins the way the gateway does and tell whether they work.",
    )
    p.add_argument(
        "artifacts",
        nargs="+",
        metavar="ARTIFACT",
        help="plugins: extension .so, .py, package folder, wheel, or a plugin folder",
    )
    p.add_argument("-s", "--server", action="store_true", help="test it as a server (handler) plugin")
    p.add_argument("-c", "--client", action="store_true", help="test it as an HTTP client plugin")
    p.add_argument("-m", "--modifier", action="store_true", help="test it as a request/response modifier")
    p.add_argument(
        "--manifest",
        metavar="FILE",
        help="gateway manifest (krakend version -o json); default: $KRAKEND_MANIFEST, else the current environment",
    )
    p.add_argument("--python", metavar="PATH", help="import with this interpreter (must match the manifest's)")
    p.add_argument(
        "--pattern", default=".so", help="in a plugin folder, test entries whose name contains this (default: .so)"
    )
    p.add_argument("-j", "--jobs", type=_positive, metavar="N", help="parallel imports (default: CPU count)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds an import may take (default: 30)")
    p.add_argument("--image", help="import inside this runtime image (Docker)")
    p.add_argument("--target", help="import inside the runtime image of this target, e.g. alpine/arm64 (Docker)")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="text", help="result format")
    return p


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return int(text)


def run(argv: list[str]) -> int:
    """Parse ``argv`` (after ``test-plugin``), test, render on stdout; the exit code."""
    from krakend_tools import manifest as mf
    from krakend_tools.errors import InputError
    from krakend_tools.testplugin import run as test

    args = parser().parse_args(argv)
    types = [t for t in ("server", "client", "modifier") if getattr(args, t)]
    if not types:
        raise InputError("at least one plugin type is required: -s, -c or -m")
    if args.python is not None and (args.image or args.target):
        raise InputError("--python and --image/--target exclude each other")
    runner = None
    if args.image is not None or args.target is not None:
        given = mf.load(args.manifest) if args.manifest is not None else None
        runner, manifest = docker_runner(args.image, args.target, given)
    else:
        manifest = mf.resolve(args.manifest)
    report = test(
        args.artifacts,
        manifest,
        types,
        pattern=args.pattern,
        jobs=args.jobs,
        timeout=args.timeout,
        python=args.python,
        runner=runner,
    )
    return render(report, args.output)
