"""A project's build requirements, fetched on this host for the builder, which stays offline.

PEP 517/518: ``[build-system] requires`` (default ``setuptools>=40.8.0``), plus what the
backend's ``get_requires_for_build_wheel`` asks for (learned in the builder, fetched on a
second pass). Wheels come from this host's pip for the **builder's** interpreter and platform
(``pip download --only-binary :all: --platform … --python-version …``), cached per set.

A wheel whose binaries carry DT_RELR relocations loads only with musl 1.2.4 or glibc 2.36 and
later, whatever its tag says (Alpine 3.18 links its x86_64 libraries so; cmake's
``musllinux_1_2`` wheels bundle them). For an older builder libc it is replaced by the newest
wheel of the same requirement for an older policy (cmake's ``musllinux_1_1``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from krakend_tools.cache import COMPLETE, FetchError, cache_dir, fetch_wheels
from krakend_tools.errors import InputError
from krakend_tools.files import read_pyproject
from krakend_tools.manifest.model import Manifest

REQUIRES_ROOT = "/opt/krakend-build-requires"  # where the builder finds the wheels
DEFAULT_REQUIRES = ("setuptools>=40.8.0",)  # PEP 517's default for a project without [build-system]
MISSING_MARK = "krakend-build-wheel: build requirements not in the builder: "
MAX_REQUIRES = 256
RELR_FREE = ".relr-free"  # a fetched set's mark: checked, and its wheels load on any libc
_CHECKING = threading.Lock()


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

    folder = fetch_wheels(dest, requires, python, tags, announce)
    libc = manifest.platform.libc
    if libc.loads_relr:
        return folder
    with _CHECKING:  # targets building in parallel share the set
        return _loadable(folder, requires, python, tags, f"{libc.family} {libc.version_text}", say)


def _loadable(
    folder: Path, requires: list[str], python: str, tags: list[str], libc: str, say: Callable[[str], None] | None
) -> Path:
    """``folder``'s wheels with each one the builder's loader cannot load (DT_RELR) replaced by
    the newest wheel of its requirement for an older policy; checked once, cached beside it."""
    dest, loadable = folder.with_name(folder.name + "-norelr"), folder / RELR_FREE
    if (dest / COMPLETE).is_file():
        return dest
    if loadable.is_file():
        return folder
    wheels = sorted(folder.glob("*.whl"))
    offenders = {w: relr_members(w) for w in wheels}
    if not any(offenders.values()):
        loadable.write_text("no wheel here has DT_RELR relocations\n")
        return folder
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for wheel in wheels:
        members = offenders[wheel]
        if not members:
            shutil.copy2(wheel, tmp / wheel.name)
            continue
        older = _older_wheel(
            wheel,
            requires,
            python,
            tags,
            f"{wheel.name} needs DT_RELR relocations ({members[0]}), which the builder's {libc} cannot load",
        )
        if say is not None:
            say(f"{wheel.name} needs a newer loader than the builder's {libc} (DT_RELR): {older.name} instead")
        shutil.copy2(older, tmp / older.name)
    (tmp / COMPLETE).write_text("\n".join(sorted(p.name for p in tmp.glob("*.whl"))))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.replace(dest)
    return dest


def _older_wheel(wheel: Path, requires: list[str], python: str, tags: list[str], why: str) -> Path:
    """The newest wheel of ``wheel``'s project, under the requirement that asked for it, for a
    policy older than every one ``wheel`` is tagged with, and free of DT_RELR itself."""
    name, _, _, wheel_tags = parse_wheel_filename(wheel.name)
    policy = re.compile(r"linux_\d+_\d+_")  # manylinux_2_17_x86_64, musllinux_1_2_aarch64; not the legacy aliases
    claimed = [tags.index(t.platform) for t in wheel_tags if t.platform in tags and policy.search(t.platform)]
    if not claimed:
        raise FetchError(f"{why}, and it fits no policy of the builder")
    older = [t for t in tags[max(claimed) + 1 :] if policy.search(t)]
    if not older:
        raise FetchError(f"{why}, and no policy older than {tags[max(claimed)]} is left to try")
    spec = next((r for r in requires if _requirement_name(r) == name), str(name))
    key = json.dumps([spec, older, python])
    dest = cache_dir() / "build-requires" / ("older-" + hashlib.sha256(key.encode()).hexdigest()[:16])
    try:
        fetched = fetch_wheels(dest, [spec], python, older)
    except FetchError as err:
        raise FetchError(f"{why}, and no wheel for {', '.join(older)} meets {spec}: {err}") from None
    for found in sorted(fetched.glob("*.whl")):
        try:
            same = parse_wheel_filename(found.name)[0] == name
        except InvalidWheelFilename:
            continue
        if same and not relr_members(found):
            return found
    raise FetchError(f"{why}, and no wheel for {', '.join(older)} of {spec} loads there either")


def _requirement_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def relr_members(wheel: Path) -> list[str]:
    """The ELF members of ``wheel`` whose dynamic segment has DT_RELR (their relative
    relocations packed, ``-z pack-relative-relocs``): a loader without RELR crashes on them."""
    from krakend_tools.elf import ElfError, read_elf_member

    found = []
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size < 64:
                continue
            with zf.open(info) as fh:
                if fh.read(4) != b"\x7fELF":
                    continue
            try:
                if read_elf_member(zf, info, info.filename).relr:
                    found.append(info.filename)
            except ElfError:
                continue
    return found


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
