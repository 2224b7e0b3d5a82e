"""Base images: the official Python image of the manifest's exact Python for each target, or
the one named (``--base-image``, ``$KRAKEND_BASE_IMAGES``), found on the engine or pulled.

Default bases are ``python:3.11.7-slim-bookworm`` and ``python:3.11.7-alpine3.19``, pulled for
the target's platform from ``$KRAKEND_IMAGE_REGISTRY`` (default: Docker Hub).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from krakend_tools.containers.engine import Engine
from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import Target

BASE_CACHE_REPO = "krakend-tools/base-cache"
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
