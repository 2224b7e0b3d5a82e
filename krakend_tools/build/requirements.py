"""A project's build requirements, fetched on this host for the builder, which stays offline.

PEP 517/518: ``[build-system] requires`` (default ``setuptools>=40.8.0``), plus what the
backend's ``get_requires_for_build_wheel`` asks for (learned in the builder, fetched on a
second pass). Wheels come from this host's pip for the **builder's** interpreter and platform
(``pip download --only-binary :all: --platform … --python-version …``), cached per set.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from krakend_tools.cache import cache_dir, fetch_wheels
from krakend_tools.errors import InputError
from krakend_tools.files import read_pyproject
from krakend_tools.manifest.model import Manifest

REQUIRES_ROOT = "/opt/krakend-build-requires"  # where the builder finds the wheels
DEFAULT_REQUIRES = ("setuptools>=40.8.0",)  # PEP 517's default for a project without [build-system]
MISSING_MARK = "krakend-build-wheel: build requirements not in the builder: "
MAX_REQUIRES = 256


@dataclass
class BuildSystem:
    requires: list[str]
    backend: str


def build_system(plugin_dir: Path) -> BuildSystem:
    """The project's ``[build-system]`` (PEP 518 defaults when it has none)."""
    path = plugin_dir / "pyproject.toml"
    table: object = {}
    if path.is_file():
        try:
            table = read_pyproject(path).get("build-system", {})
        except InputError:  # the build itself reports an unreadable project
            table = {}
    if not isinstance(table, dict) or "requires" not in table:
        return BuildSystem(list(DEFAULT_REQUIRES), "setuptools.build_meta:__legacy__")
    requires = [str(r).strip() for r in table.get("requires") or [] if str(r).strip()][:MAX_REQUIRES]
    return BuildSystem(requires, str(table.get("build-backend") or "setuptools.build_meta:__legacy__"))


def platform_tags(manifest: Manifest) -> list[str]:
    """pip ``--platform`` values for an interpreter: every manylinux/musllinux policy its libc meets."""
    machine, libc = manifest.platform.machine, manifest.platform.libc
    minor = libc.version[1] if len(libc.version) >= 2 else 0
    if libc.family == "musl":
        return [f"musllinux_1_{m}_{machine}" for m in range(max(minor, 1), 0, -1)]
    tags = [f"manylinux_2_{m}_{machine}" for m in range(max(minor, 17), 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def fetch(requires: list[str], manifest: Manifest, say: Callable[[str], None] | None = None) -> Path:
    """Wheels for ``requires`` (and their dependencies) for ``manifest``'s interpreter, cached.
    Raises :class:`~krakend_tools.cache.FetchError` naming what pip cannot find."""
    python = ".".join(manifest.python.version.split(".")[:2])
    tags = platform_tags(manifest)
    key = json.dumps([sorted(set(requires)), tags, python])
    dest = cache_dir() / "build-requires" / hashlib.sha256(key.encode()).hexdigest()[:16]

    def announce() -> None:
        if say is not None:
            say(f"fetching build requirements with pip: {', '.join(requires)}")

    return fetch_wheels(dest, requires, python, tags, announce)


def as_tar(folder: Path, requires: list[str]) -> bytes:
    """The wheels of ``folder`` and ``requires.json`` at :data:`REQUIRES_ROOT`, for ``put_archive``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for wheel in sorted(folder.glob("*.whl")):
            tar.add(wheel, arcname=f"{REQUIRES_ROOT.lstrip('/')}/{wheel.name}")
        data = json.dumps(requires).encode()
        info = tarfile.TarInfo(f"{REQUIRES_ROOT.lstrip('/')}/requires.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def missing_in_log(log: str) -> list[str]:
    """The requirements the builder reported missing (``get_requires_for_build_wheel``'s)."""
    for line in reversed(log.splitlines()):
        if line.startswith(MISSING_MARK):
            try:
                found = json.loads(line[len(MISSING_MARK) :])
            except ValueError:
                return []
            return [str(r) for r in found if isinstance(r, str)][:MAX_REQUIRES] if isinstance(found, list) else []
    return []


def uses_default_builder(command: str | None) -> bool:
    """Whether the build runs ``krakend-build-wheel`` (the default command does)."""
    return command is None or re.search(r"\bkrakend-build-wheel\b", command) is not None
