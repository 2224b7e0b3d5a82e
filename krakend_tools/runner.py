"""The Docker probe runner: ``test-plugin`` imports a plugin inside a runtime image.

The container has no network, a read-only root, the probe and each path mounted read-only
(copied in on a remote engine), the local sandbox's memory cap and a bounded number of
processes, and is removed afterwards whatever happens.
"""

from __future__ import annotations

import io
import os
import posixpath
import secrets
import tarfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from krakend_tools.engine import Engine, Progress, _noop, connect
from krakend_tools.errors import InputError
from krakend_tools.platforms import Target

if TYPE_CHECKING:
    from krakend_tools.importtest import Completed
    from krakend_tools.manifest import Manifest

PIDS_CAP = 256  # processes and threads a probe's container may hold at once


class DockerRunner:
    """An ``importtest.Runner`` that runs the probe inside a (runtime) image."""

    def __init__(
        self, image: str, platform: str | None = None, engine: Engine | None = None, python: str = "python3"
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
        self.description = f"docker {image} ({self.platform})"

    def run_probe(
        self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float, libraries: Sequence[str] = ()
    ) -> Completed:
        """Run the probe in a fresh container. Its results count only on lines carrying a
        per-run secret that the probe reads from stdin before the plugin is imported.
        Each path is mounted at ``/plugin/N``; with ``libraries``, every path and library
        file is mounted under ``/plugin/tree`` at its place relative to the others (those
        files only: nothing else of their folders is exposed)."""
        from krakend_tools.importtest import MEMORY_CAP, PROBE_PATH, Completed, probe_argv

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
        argv = probe_argv(self.python, "/krakend/krakend_probe.py", inside, module, types, True, MEMORY_CAP)
        secret = secrets.token_hex(16)
        start = time.monotonic()
        local = self.engine.local  # a remote engine cannot see our paths: copy them in
        try:
            box = self.engine.create(
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
        except InputError as err:
            return Completed(None, "", str(err))
        try:
            if not local:
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


def _under_tree(host: Path, root: Path) -> str:
    return posixpath.normpath(posixpath.join("/plugin/tree", host.relative_to(root).as_posix()))


def _authenticated(stdout: str, secret: str) -> str:
    """The records of ``stdout`` that carry ``secret``, as the local runner keeps them."""
    from krakend_tools.importtest import _Records

    records = _Records(secret)
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
    from krakend_tools import images
    from krakend_tools.manifest import resolve

    tgt = Target.parse(target) if isinstance(target, str) else target
    engine = connect()
    engine.require_platform(tgt.arch)
    if image is None:
        base = base_image or images.env_base_images("KRAKEND_RUNTIME_BASE_IMAGES").get(str(tgt))
        image = images.ensure_image(
            engine, tgt, "runtime", manifest=manifest or resolve(None), base=base, progress=progress
        )
    return DockerRunner(image, tgt.platform, engine)
