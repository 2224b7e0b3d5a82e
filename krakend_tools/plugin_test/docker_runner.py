"""The Docker probe runner: ``test-plugin`` imports a plugin inside a runtime image.

The container has no network, a read-only root, the probe and each path mounted read-only
(copied in on a remote engine), the local sandbox's memory cap and a bounded number of
processes, and is removed afterwards whatever happens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import posixpath
import secrets
import tarfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from krakend_tools.containers.engine import Container, Engine, Progress, _noop, connect
from krakend_tools.errors import InputError
from krakend_tools.manifest.platforms import Target

if TYPE_CHECKING:
    from krakend_tools.manifest.model import Manifest
    from krakend_tools.plugin_test.gateway_env import GatewayEnv
    from krakend_tools.plugin_test.supervise import Completed

PIDS_CAP = 256  # processes and threads a probe's container may hold at once


class DockerRunner:
    """An ``importtest.Runner`` that runs the probe inside a (runtime) image."""

    def __init__(
        self,
        image: str,
        platform: str | None = None,
        engine: Engine | None = None,
        python: str = "python3",
        overlay: Sequence[str] = (),
    ) -> None:
        from krakend_tools.arguments import image_name

        image_name(image)
        self.engine = engine or connect()
        attrs = self.engine.image_attrs(image)
        if attrs is None:
            raise InputError(f"image {image} not found on the Docker engine ({self.engine.url})")
        arch = str(attrs.get("Architecture") or "amd64")
        if platform and platform.split("/")[-1] != arch:
            raise InputError(
                f"image {image} is linux/{arch}, not {platform}: this engine "
                f"would try to pull a {platform} variant; pass an image built "
                f"for {platform} (docker build --platform {platform})"
            )
        self.platform = platform or f"linux/{arch}"
        self.engine.require_platform(self.platform.split("/")[-1])
        self.image = image
        self.python = python
        self.overlay = [str(Path(p).resolve()) for p in overlay]  # mounted read-only after the image's packages
        self.description = f"docker {image} ({self.platform})"

    def run_probe(
        self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float, libraries: Sequence[str] = ()
    ) -> Completed:
        """Run the probe in a fresh container. Its results count only on lines carrying a
        per-run secret that the probe reads from stdin before the plugin is imported.
        Each path is mounted at ``/plugin/N``; with ``libraries``, every path and library
        file is mounted under ``/plugin/tree`` at its place relative to the others (those
        files only: nothing else of their folders is exposed)."""
        from krakend_tools.plugin_test.import_phase import MEMORY_CAP, probe_argv
        from krakend_tools.plugin_test.supervise import Completed

        volumes, inside = _mounts(paths, libraries)
        layers = []
        for n, folder in enumerate(self.overlay):
            layers.append(f"/krakend/overlay/{n}")
            volumes[folder] = {"bind": layers[-1], "mode": "ro"}
        argv = probe_argv(self.python, "/krakend/krakend_probe.py", inside, module, types, True, MEMORY_CAP, layers)
        secret = secrets.token_hex(16)
        start = time.monotonic()
        try:
            box = self._create(argv, volumes)
        except InputError as err:
            return Completed(None, "", str(err))
        try:
            if not self.engine.local:  # a remote engine cannot see our paths: copy them in
                box.copy_into(_copy_in_tar(volumes))
            result = box.run(timeout=timeout, stdin=f"{secret}\n".encode())
        finally:
            self.engine.remove(box)
        return Completed(
            result.exit_code,
            _authenticated(result.stdout, secret),
            result.stderr,
            result.timed_out,
            time.monotonic() - start,
            authenticated=True,
            roots=tuple(inside),
        )

    def _create(self, argv: list[str], volumes: dict[str, dict[str, str]]) -> Container:
        """A fresh container for ``argv``: read-only with ``volumes`` on a local engine, a
        private /tmp, stdin open, memory and process count bounded."""
        from krakend_tools.plugin_test.import_phase import MEMORY_CAP

        local = self.engine.local
        return self.engine.create(
            self.image,
            argv,
            platform=self.platform,
            volumes=volumes if local else None,
            working_dir="/tmp",
            read_only=local,
            tmpfs={"/tmp": "rw,size=64m"},
            stdin=True,
            mem_limit=MEMORY_CAP,
            pids_limit=PIDS_CAP,
        )


def _mounts(paths: Sequence[str], libraries: Sequence[str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The read-only volumes of a probe run (the probe, ``paths`` and ``libraries``) and
    where each path is inside: ``/plugin/N``, or with ``libraries`` a place under
    ``/plugin/tree`` relative to the others."""
    from krakend_tools.plugin_test.import_phase import PROBE_PATH

    volumes = {str(PROBE_PATH): {"bind": "/krakend/krakend_probe.py", "mode": "ro"}}
    inside = []
    hosts = [Path(p).resolve() for p in paths]
    extra = [Path(p).parent.resolve() / Path(p).name for p in libraries]  # the name the loader asks for
    root = Path(os.path.commonpath([*hosts, *(p.parent for p in extra)])) if extra else None
    for n, host in enumerate(hosts):
        where = f"/plugin/{n}" if root is None else _under_tree(host, root)
        volumes[str(host)] = {"bind": where, "mode": "ro"}
        inside.append(where)
    if root is not None:
        for host in extra:
            volumes.setdefault(str(host), {"bind": _under_tree(host, root), "mode": "ro"})
    return volumes, inside


def _under_tree(host: Path, root: Path) -> str:
    return posixpath.normpath(posixpath.join("/plugin/tree", host.relative_to(root).as_posix()))


def _authenticated(stdout: str, secret: str) -> str:
    """The records of ``stdout`` that carry ``secret``, as the local runner keeps them."""
    from krakend_tools.plugin_test.supervise import Records

    records = Records(secret)
    records.feed(stdout.encode() + b"\n")  # a last line without its newline counts too
    return records.text()


def _copy_in_tar(volumes: Mapping[str, Mapping[str, str]]) -> bytes:
    """The mounted paths as one tar (for a remote engine), read-only for everyone."""
    buf = io.BytesIO()

    def readonly(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mode &= 0o555
        info.uid = info.gid = 0
        return info

    with tarfile.open(fileobj=buf, mode="w") as tar:
        for host, spec in volumes.items():
            source = os.path.realpath(host) if os.path.isfile(host) else host  # a file bind shows its target
            tar.add(source, arcname=spec["bind"].lstrip("/"), filter=readonly)
    return buf.getvalue()


def runtime_runner(
    target: Target | str,
    *,
    image: str | None = None,
    base_image: str | None = None,
    manifest: Manifest | None = None,
    progress: Progress = _noop,
) -> DockerRunner:
    """The runner for ``test-plugin --target T`` (or ``--image IMAGE``).

    With ``image``: that image. Otherwise the target's runtime image, built when missing on
    ``base_image`` (default: the ``$KRAKEND_RUNTIME_BASE_IMAGES`` entry for the target, else
    the official Python image of the manifest's Python: ``$KRAKEND_MANIFEST`` or this one).
    """
    from krakend_tools.containers import images
    from krakend_tools.containers.bases import env_base_images
    from krakend_tools.manifest.resolve import resolve

    tgt = Target.parse(target) if isinstance(target, str) else target
    engine = connect()
    engine.require_platform(tgt.arch)
    if image is None:
        base = base_image or env_base_images("KRAKEND_RUNTIME_BASE_IMAGES").get(str(tgt))
        named = manifest
        if named is None:
            with contextlib.suppress(InputError):
                named = resolve(None)
        if named is None and base is None:
            image = _existing_runtime(engine, tgt)
        else:
            image = images.ensure_image(engine, tgt, "runtime", manifest=named, base=base, progress=progress)
    return DockerRunner(image, tgt.platform, engine)


def _existing_runtime(engine: Engine, target: Target) -> str:
    """The newest runtime image of ``target`` already on the engine: with no manifest, its
    Python is the only one known."""
    from krakend_tools.containers.images import LABEL_ROLE, LABEL_TARGET

    found = engine.images_labelled({LABEL_ROLE: "runtime", LABEL_TARGET: str(target)})
    if not found:
        raise InputError(
            f"--target {target}: no runtime image of it on this engine yet, and no gateway manifest to name "
            "its Python: pass --manifest FILE once (the image is then built and kept), or --image IMAGE"
        )
    return found[0]


def gateway_runner(
    target: str | None,
    image: str | None,
    manifest: Manifest | None,
    lockfile: Path | None = None,
    progress: Progress = _noop,
) -> tuple[DockerRunner, Manifest, GatewayEnv]:
    """The runner of ``test-plugin --target/--image``: the runtime image with the gateway's
    packages baked in (a cached gateway image), the plugin's overlay mounted after them.
    The target owns the gateway: without ``manifest`` it is the runtime image's; a
    ``manifest`` that describes another platform or Python is an InputError naming both."""
    from krakend_tools.containers.image_manifest import LABEL_MANIFEST
    from krakend_tools.plugin_test.gateway_env import GatewayEnv, plugin_overlay

    tgt = Target.parse(target) if target is not None else None
    if tgt is not None and manifest is not None:
        _same_platform(manifest, f"--target {tgt}", tgt.arch, tgt.libc_family, None)
    runtime = (
        runtime_runner(tgt, image=image, manifest=manifest, progress=progress) if tgt else DockerRunner(str(image))
    )
    if manifest is not None and LABEL_MANIFEST not in runtime.engine.labels(runtime.image):
        env = GatewayEnv(image=runtime.image)  # an image of the user's own (their gateway's): as it is
    else:
        manifest, env = _in_gateway_image(runtime, tgt, image, manifest, progress)
    if lockfile is not None:
        env.overlay = plugin_overlay(lockfile, manifest, progress)
    folders = [str(env.overlay.folder)] if env.overlay.folder is not None else []
    runner = DockerRunner(str(env.image), runtime.platform, runtime.engine, overlay=folders)
    return runner, manifest, env


def _in_gateway_image(
    runtime: DockerRunner, tgt: Target | None, image: str | None, manifest: Manifest | None, progress: Progress
) -> tuple[Manifest, GatewayEnv]:
    """The gateway manifest (``manifest``, checked against the image's own, else the image's)
    and the gateway image made from ``runtime`` with its packages."""
    from krakend_tools.containers.image_manifest import manifest_from_labels
    from krakend_tools.plugin_test.gateway_env import gateway_image

    carried = manifest_from_labels(runtime.engine, runtime.image)
    carried.source = f"image {runtime.image}"
    where = f"--target {tgt}" if tgt else f"--image {image}"
    if manifest is None:
        manifest = carried
    else:
        plat = carried.platform
        _same_platform(manifest, f"{where} ({runtime.image})", plat.arch, plat.libc_family, carried.python.soabi)
    tgt = tgt or Target("generic" if carried.platform.libc_family == "glibc" else "alpine", carried.platform.arch)
    return manifest, gateway_image(runtime.engine, runtime.image, tgt, manifest, progress)


def _same_platform(manifest: Manifest, where: str, arch: str, libc: str, soabi: str | None) -> None:
    """InputError naming both when ``manifest`` is not the gateway ``where`` describes."""
    plat = manifest.platform
    mine = f"linux/{plat.arch} {plat.libc_family}"
    theirs = f"linux/{arch} {libc}"
    if soabi is not None:
        mine, theirs = f"{mine}, {manifest.python.soabi}", f"{theirs}, {soabi}"
    if mine != theirs:
        raise InputError(
            f"--manifest {manifest.source or '?'} is {mine} but {where} is {theirs}: they must describe the same "
            "gateway (drop --manifest to use the manifest the runtime image carries)"
        )


def build_test_runner(
    engine: Engine,
    runtime: str,
    target: Target,
    image_manifest: Manifest,
    gateway: Manifest | None,
    plugin_dir: Path | None,
    progress: Progress = _noop,
) -> tuple[DockerRunner, Manifest, GatewayEnv]:
    """``build``'s automatic test: the target's runtime image with the gateway's packages
    (``gateway``'s distributions, for the image's platform) baked in, and the plugin
    folder's lockfile (when it has one) as the overlay after them."""
    from krakend_tools.lockfiles import find_lockfile
    from krakend_tools.plugin_test.gateway_env import gateway_image, plugin_overlay

    manifest = dataclasses.replace(image_manifest)
    if gateway is not None:
        manifest.distributions = dict(gateway.distributions)
    env = gateway_image(engine, runtime, target, manifest, progress)
    try:
        lockfile: Path | None = find_lockfile(plugin_dir) if plugin_dir is not None else None
    except InputError:  # a plugin without a lockfile: no overlay, and the result says so
        lockfile = None
    if lockfile is not None:
        env.overlay = plugin_overlay(lockfile, manifest, progress)
    folders = [str(env.overlay.folder)] if env.overlay.folder is not None else []
    return DockerRunner(str(env.image), target.platform, engine, overlay=folders), manifest, env
