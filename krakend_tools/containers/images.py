"""Images for targets: their names, and building them on their bases (:mod:`.bases`) from
``builders/``. A runtime image is its base with the probe; a builder image adds the toolchain
whose wheels ``build`` hands it (:mod:`krakend_tools.build.toolchain`), independent of the base.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from krakend_tools.containers.bases import Warn, check_python, official_bases, resolve_base
from krakend_tools.containers.engine import Engine, Progress, _noop
from krakend_tools.containers.image_manifest import LABEL_MANIFEST, introspect_image
from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import Target

LABEL_ROLE = "io.krakend.role"
LABEL_TARGET = "io.krakend.target"
LABEL_DIGEST = "io.krakend.builder-digest"
BUILDER_REPO = "krakend-tools/builder"
RUNTIME_REPO = "krakend-tools/runtime"
CACHE_VOLUME = "krakend-tools-cache"  # pip, zig and ccache caches of the builders


def cache_volume() -> str:
    """The Docker volume the builders keep their caches in: ``$KRAKEND_CACHE_VOLUME`` or the default."""
    return os.environ.get("KRAKEND_CACHE_VOLUME") or CACHE_VOLUME


PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The project's builders/ ships in the wheel as krakend_tools/builders; a source checkout has it beside the package.
BUILDERS_DIR = PACKAGE_DIR / "builders" if (PACKAGE_DIR / "builders").is_dir() else PACKAGE_DIR.parent / "builders"


def gateway_version(manifest: Manifest | None) -> str:
    """The version an image tag names: the gateway's, else ``py<X.Y.Z>``."""
    version = (manifest.gateway.get("version") if manifest else None) or os.environ.get("KRAKEND_GATEWAY_VERSION")
    return str(version) if version else f"py{manifest.python.version if manifest else '3'}"


def image_tag(repo: str, target: Target, version: str, base: str) -> str:
    """KrakenD-style tags, ``<v>-<arch>`` (alpine), ``<v>-linux-generic-<arch>``, + base hash."""
    flavour = "" if target.flavour == "alpine" else "-linux-generic"
    return f"{repo}:{version}{flavour}-{target.arch}-{hashlib.sha256(base.encode()).hexdigest()[:8]}"


def _dir_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_image(
    engine: Engine,
    target: Target,
    role: str,
    *,
    manifest: Manifest | None,
    base: str | None,
    progress: Progress = _noop,
    warn: Warn | None = None,
    rebuild: bool = False,
    registry: str | None = None,
    tools: Callable[[], Path] | None = None,
) -> str:
    """The builder or runtime image for ``target``; built from ``builders/`` when missing.

    ``tools`` gives the folder of wheels a builder image installs (its toolchain). The image carries
    the manifest of its own interpreter (label ``io.krakend.manifest``); its Python is
    checked against ``manifest``'s (see :func:`check_python`).
    """
    if not (BUILDERS_DIR / "Dockerfile").is_file():
        raise InputError(f"builder definitions missing from the installation ({BUILDERS_DIR})")
    warn = warn or progress
    option = "--base-image" if role == "builder" else "--runtime-base-image"
    names = _base_names(target, manifest, base, registry)
    base_image, base_name = resolve_base(engine, names, target, refresh=rebuild, option=option)
    tag = image_tag(BUILDER_REPO if role == "builder" else RUNTIME_REPO, target, gateway_version(manifest), base_name)
    old = engine.image_attrs(tag)
    with tempfile.TemporaryDirectory(prefix="krakend-ctx-") as tmp:
        context = _build_context(Path(tmp), tools)
        digest = _dir_digest(context) + ":" + str((engine.image_attrs(base_image) or {}).get("Id", base_image))[7:19]
        found = None if rebuild else _up_to_date(old, digest)
        if found is not None:
            check_python(found, manifest, base_name, warn)
            return tag
        progress(f"building {role} image {tag} from {base_name}")
        build = _ImageBuild(engine, context, target, role, {"BASE_IMAGE": base_image, "FLAVOUR": target.flavour})
        build.run(tag, digest, manifest, lambda found: check_python(found, manifest, base_name, warn), progress)
    _drop_replaced(engine, tag, old)
    return tag


def _base_names(target: Target, manifest: Manifest | None, base: str | None, registry: str | None) -> list[str]:
    """The base asked for, else the official ones for the manifest's Python."""
    if base:
        return [base]
    if manifest is None:
        raise InputError(f"{target}: no base image and no manifest to name the official one")
    return official_bases(target, manifest, registry)


def _build_context(context: Path, tools: Callable[[], Path] | None) -> Path:
    """``builders/`` copied to ``context``, with the wheels of ``tools()`` in its ``wheels/``."""
    shutil.copytree(BUILDERS_DIR, context, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    (context / "wheels").mkdir(exist_ok=True)
    for whl in tools().glob("*.whl") if tools is not None else ():
        shutil.copy(whl, context / "wheels" / whl.name)
    return context


def _up_to_date(attrs: dict[str, Any] | None, digest: str) -> Manifest | None:
    """The manifest an existing image was labelled with, if it was built from ``digest``."""
    labels = (attrs or {}).get("Config", {}).get("Labels") or {}
    if attrs is None or labels.get(LABEL_DIGEST) != digest or LABEL_MANIFEST not in labels:
        return None
    return Manifest.from_dict(json.loads(labels[LABEL_MANIFEST]))


@dataclass
class _ImageBuild:
    """An image built from ``context`` for ``target``: the ``role`` stage of ``builders/Dockerfile``."""

    engine: Engine
    context: Path
    target: Target
    role: str
    buildargs: dict[str, str]

    def run(
        self, tag: str, digest: str, manifest: Manifest | None, check: Callable[[Manifest], None], progress: Progress
    ) -> None:
        """Build a stage, ``check`` the manifest of its interpreter, then build ``tag`` labelled
        with it (from the stage's cache); the stage is removed after."""
        stage = f"{tag}-stage"
        self._build(stage, {}, progress)
        try:
            gateway: dict[str, str | None] = dict(manifest.gateway) if manifest else {"name": None, "version": None}
            found = introspect_image(self.engine, stage, self.target.platform, gateway)
            check(found)
            labels = {
                LABEL_MANIFEST: json.dumps(found.to_dict(), separators=(",", ":")),
                LABEL_ROLE: self.role,
                LABEL_TARGET: str(self.target),
                LABEL_DIGEST: digest,
            }
            self._build(tag, labels, progress)
        finally:
            self.engine.remove_image(stage)

    def _build(self, tag: str, labels: dict[str, str], progress: Progress) -> None:
        self.engine.build_image(
            self.context,
            tag,
            buildargs=self.buildargs,
            platform=self.target.platform,
            target=self.role,
            labels=labels or None,
            progress=progress,
        )


def _drop_replaced(engine: Engine, tag: str, old: dict[str, Any] | None) -> None:
    """Remove the image ``tag`` named before it was rebuilt (now untagged)."""
    if old is None:
        return
    new = engine.image_attrs(tag)
    if new is not None and new.get("Id") != old.get("Id"):
        engine.remove_image(str(old.get("Id")))
