"""Each target's plan: its engine, builder and runtime images, compiler target and wheel policy."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from krakend_tools.build.options import BuildOptions, Events
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import Target

if TYPE_CHECKING:
    from krakend_tools.containers.engine import Engine


@dataclass
class Plan:
    """What one target needs: its engine, images, compiler target and wheel policy."""

    target: Target
    engine: Engine
    builder: str
    builder_platform: str
    cross: bool
    runtime: str | None
    out_dir: Path
    manifest: Manifest  # the target's: its runtime image's, else its builder's
    cross_files: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    builder_manifest: Manifest | None = None  # the builder's own interpreter (build requirements)

    @property
    def zig_target(self) -> str:
        """``aarch64-linux-gnu.2.36``: glibc capped at the gateway's; ``x86_64-linux-musl``."""
        libc = self.manifest.platform.libc
        if self.target.libc_family == "musl":
            return f"{self.target.machine}-linux-musl"
        version = f".{libc.version[0]}.{libc.version[1]}" if libc.family == "glibc" and len(libc.version) >= 2 else ""
        return f"{self.target.machine}-linux-gnu{version}"

    @property
    def wheel_plat(self) -> str | None:
        """The auditwheel policy ceiling: the gateway's libc (``manylinux_2_36_aarch64``)."""
        libc = self.manifest.platform.libc
        if len(libc.version) < 2:
            return None
        kind = "manylinux" if libc.family == "glibc" else "musllinux"
        return f"{kind}_{libc.version[0]}_{libc.version[1]}_{self.target.machine}"


def target_manifest(images_manifest: Manifest, wanted: Manifest | None) -> Manifest:
    """The image's manifest, its libc capped by the gateway manifest's of the same family."""
    libc, cap = images_manifest.platform.libc, wanted.platform.libc if wanted else None
    if cap is not None and cap.family == libc.family and cap < libc:
        images_manifest.platform.libc_version = cap.version_text
    return images_manifest


def preflight(engines: dict[str | None, Engine], opts: BuildOptions) -> None:
    """Before any work: every target can run on its engine."""
    for target in opts.targets:
        engine = engines[opts.engines.get(str(target))]
        if target.arch == "arm64" and (opts.arm64 == "emulate" or opts.test):
            engine.require_platform("arm64")


def prepare(engine: Engine, targets: list[Target], opts: BuildOptions, events: Events) -> list[Plan]:
    """The images of each target on ``engine`` (built from ``builders/`` if missing)."""
    return [_plan(engine, target, opts, functools.partial(events.step, str(target))) for target in targets]


def _plan(engine: Engine, target: Target, opts: BuildOptions, say: Callable[[str], None]) -> Plan:
    """One target's images (builder, runtime unless ``--no-test``) and, cross-built, its Python headers."""
    from krakend_tools.containers.image_manifest import manifest_from_labels

    cross = target.arch == "arm64" and opts.arm64 == "cross" and engine.arch == "amd64"
    build_as = Target(target.flavour, "amd64") if cross else target
    warnings: list[str] = []
    builder, runtime = _images(engine, target, build_as, opts, say, warnings)
    manifest = target_manifest(manifest_from_labels(engine, runtime or builder), opts.manifest)
    out_root = opts.out if opts.out is not None else opts.plugin_dir / "dist"
    plan = Plan(
        target,
        engine,
        builder,
        build_as.platform,
        cross,
        runtime,
        out_root / f"{target.flavour}-{target.arch}",
        manifest,
        warnings=warnings,
        builder_manifest=manifest_from_labels(engine, builder),
    )
    if cross:
        say(f"{target}: Python headers and sysconfig data from its base image")
        plan.cross_files = _cross_files(engine, target, opts, manifest)
    return plan


def _images(
    engine: Engine,
    target: Target,
    build_as: Target,
    opts: BuildOptions,
    say: Callable[[str], None],
    warnings: list[str],
) -> tuple[str, str | None]:
    """The builder image (for ``build_as``) and the runtime image (None under ``--no-test``)."""
    from krakend_tools.build.toolchain import builder_wheels
    from krakend_tools.containers.images import ensure_image

    def warn(text: str) -> None:
        if text not in warnings:
            warnings.append(text)
        say(text)

    ensure = functools.partial(
        ensure_image,
        engine,
        manifest=opts.manifest,
        progress=say,
        warn=warn,
        rebuild=opts.rebuild_images,
        registry=opts.registry,
    )
    tools = functools.partial(builder_wheels, build_as.machine, say)
    builder = ensure(build_as, "builder", base=opts.base_images.get(str(build_as)), tools=tools)
    runtime = ensure(target, "runtime", base=opts.runtime_base_images.get(str(target))) if opts.test else None
    return builder, runtime


def _cross_files(engine: Engine, target: Target, opts: BuildOptions, manifest: Manifest) -> bytes:
    """The target's Python headers and sysconfig data, from its builder base (``--base-image``
    or the official one)."""
    from krakend_tools.build.toolchain import cross_files
    from krakend_tools.containers.bases import official_bases

    given = opts.base_images.get(str(target))
    bases = [given] if given is not None else official_bases(target, opts.manifest or manifest, opts.registry)
    minor = ".".join(manifest.python.version.split(".")[:2])
    return cross_files(engine, target, bases, minor)
