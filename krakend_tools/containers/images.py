"""Images for targets: their bases, names, and building them from ``builders/``.

Default bases are the official Python images of the manifest's exact Python
(``python:3.11.7-slim-bookworm``, ``python:3.11.7-alpine3.19``), pulled for the target's
platform from ``$KRAKEND_IMAGE_REGISTRY`` (default: Docker Hub). A runtime image is its base
with the probe; a builder image adds the toolchain whose wheels ``build`` hands it
(:mod:`krakend_tools.build.toolchain`), independent of the base.
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
BASE_CACHE_REPO = "krakend-tools/base-cache"
CACHE_VOLUME = "krakend-tools-cache"  # pip and zig caches of the builders
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The project's builders/ ships in the wheel as krakend_tools/builders; a source checkout has it beside the package.
BUILDERS_DIR = PACKAGE_DIR / "builders" if (PACKAGE_DIR / "builders").is_dir() else PACKAGE_DIR.parent / "builders"
# musl version -> the Alpine release that ships it (newest first); official tags name it
ALPINE_FOR_MUSL: dict[tuple[int, ...], tuple[str, ...]] = {
    (1, 2, 5): ("3.22", "3.21"),
    (1, 2, 4): ("3.20", "3.19", "3.18"),
    (1, 2, 3): ("3.17",),
}
Warn = Callable[[str], None]


def registry_prefix(registry: str | None = None) -> str:
    """``registry`` (else ``$KRAKEND_IMAGE_REGISTRY``) as an image-name prefix
    (``127.0.0.1:5000/``), or '' for Docker Hub."""
    reg = (registry or os.environ.get("KRAKEND_IMAGE_REGISTRY") or "").strip().rstrip("/")
    return f"{reg}/" if reg else ""


def gateway_version(manifest: Manifest | None) -> str:
    """The version an image tag names: the gateway's, else ``py<X.Y.Z>``."""
    version = (manifest.gateway.get("version") if manifest else None) or os.environ.get("KRAKEND_GATEWAY_VERSION")
    return str(version) if version else f"py{manifest.python.version if manifest else '3'}"


def image_tag(repo: str, target: Target, version: str, base: str) -> str:
    """KrakenD-style tags, ``<v>-<arch>`` (alpine), ``<v>-linux-generic-<arch>``, + base hash."""
    flavour = "" if target.flavour == "alpine" else "-linux-generic"
    return f"{repo}:{version}{flavour}-{target.arch}-{hashlib.sha256(base.encode()).hexdigest()[:8]}"


def official_bases(target: Target, manifest: Manifest, registry: str | None = None) -> list[str]:
    """Candidate official base names for ``target`` and the manifest's exact Python."""
    version = manifest.python.version
    prefix = registry_prefix(registry)
    if target.flavour == "generic":
        return [f"{prefix}python:{version}-slim-bookworm"]
    libc = manifest.platform.libc
    releases: tuple[str, ...] = ()
    if libc.family == "musl":
        releases = ALPINE_FOR_MUSL.get(tuple(libc.version[:3]), ())
    if not releases:
        releases = tuple(r for group in ALPINE_FOR_MUSL.values() for r in group)
    return [f"{prefix}python:{version}-alpine{r}" for r in releases]


def resolve_base(
    engine: Engine, names: list[str], target: Target, *, refresh: bool = False, option: str = "--base-image"
) -> tuple[str, str]:
    """(local image, its name) for the first of ``names`` that exists for the platform.

    A name already on the engine for the right arch is used as is; otherwise it is pulled
    for the platform and tagged under a per-arch local name (a multi-arch name holds one
    variant at a time locally: builds of both arches must not race on it).
    """
    reasons = []
    for name in names:
        attrs = engine.image_attrs(name)
        if attrs is not None and attrs.get("Architecture") == target.arch and not refresh:
            return name, name
        slug = hashlib.sha256(name.encode()).hexdigest()[:12]
        local = f"{BASE_CACHE_REPO}:{slug}-{target.arch}"
        if engine.image_attrs(local) is not None and not refresh:
            return local, name
        if engine.pull(name, target.platform, as_name=local):
            return local, name
        reasons.append(f"{name}: {engine.last_error}")
    shown = names[0] if len(names) == 1 else f"{names[0]} (or {', '.join(names[1:])})"
    raise InputError(
        f"{target}: base image {shown} is not on this engine and cannot be "
        f"pulled for {target.platform} ({reasons[-1] if reasons else '?'}); pull "
        f"it, or pass {option} {target}=IMAGE, or set KRAKEND_IMAGE_REGISTRY"
    )


def check_python(found: Manifest, wanted: Manifest | None, image: str, warn: Warn) -> None:
    """A base whose Python differs from the manifest's: minor -> refuse, patch -> warn."""
    if wanted is None:
        return
    have, want = found.python.version, wanted.python.version
    if have.split(".")[:2] != want.split(".")[:2]:
        raise InputError(
            f"base image {image} has Python {have}, the gateway runs {want}: a "
            "plugin built there would not load; use a base with Python "
            f"{'.'.join(want.split('.')[:2])}"
        )
    if have != want:
        warn(
            f"warning: base image {image} has Python {have}, the gateway runs {want} "
            "(same minor: extensions load, but pin the exact base to test what ships)"
        )


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


def env_base_images(var: str) -> dict[str, str]:
    """``alpine/amd64=IMG,generic/arm64=IMG`` (or ``;``-separated) from an environment variable."""
    return parse_image_map(list(filter(None, (os.environ.get(var) or "").replace(";", ",").split(","))), var)


def parse_image_map(values: list[str], what: str, value: str = "IMAGE") -> dict[str, str]:
    """``TARGET=IMAGE`` pairs (``what`` names where they come from in an error)."""
    found: dict[str, str] = {}
    for item in values or []:
        key, sep, image = item.partition("=")
        if not sep or not image.strip():
            raise InputError(f"{what}: expected TARGET={value}, got {item!r}")
        found[str(Target.parse(key))] = image.strip()
    return found
