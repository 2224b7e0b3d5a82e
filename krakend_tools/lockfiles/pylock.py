"""pylock.toml / pylock.NAME.toml (PEP 751), read and validated with ``packaging.pylock``.

Package markers may test ``extras`` and ``dependency_groups``: :func:`select` evaluates them
in the lock-file context. pip lock and uv export list the project itself as a directory
package (sometimes without a version): it becomes :attr:`Lockfile.project`, not a package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from krakend_tools.errors import InputError
from krakend_tools.files import excerpt, first_line, load_toml
from krakend_tools.lockfiles._common import check_expression, entry_lines, file_name, line_at
from krakend_tools.lockfiles._pyproject import direct_names, read_pyproject
from krakend_tools.lockfiles.model import LockedPackage, Lockfile

if TYPE_CHECKING:
    from packaging.pylock import Package, PackageSdist, PackageWheel, Pylock

TOOL = "pylock"
_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")
_INDEX = re.compile(r"packages\[(\d+)\]")


def matches(path: Path, text: str) -> bool:
    """pylock.toml / pylock.NAME.toml by name, or PEP 751 keys in the content."""
    if _NAME.match(path.name):
        return True
    return "lock-version" in text and "created-by" in text and "[[packages]]" in text


def parse(path: Path, text: str) -> Lockfile:
    """Parse and validate a PEP 751 lockfile."""
    data = load_toml(path, text)
    lines = entry_lines(text, "packages")
    notes = _normalize_names(data)
    empty = _drop_empty_entries(data, lines, path)
    lines = [line for line in lines if line not in {p.line for p in empty}]
    if empty:
        notes.append(
            f"{len(empty)} package(s) with no wheel, sdist or source (e.g. "
            f"{excerpt(empty[0].name)}, as pipenv writes a package it found no file for): "
            "an error only for a target they apply to"
        )
    lock = _validated(data, lines, path)
    if lock.requires_python is not None:
        check_expression(str(lock.requires_python), "requires-python", path, None)
    project, packages = _packages(lock, lines, path, direct_names(read_pyproject(path)) or frozenset())
    return Lockfile(
        path=path,
        tool=TOOL,
        packages=packages + empty,
        requires_python=lock.requires_python,
        lock_version=str(lock.lock_version),
        created_by=lock.created_by,
        project=project,
        notes=notes,
        default_groups=frozenset(lock.default_groups) if lock.default_groups else None,
        extras_defined=frozenset(str(e) for e in lock.extras or ()),
        groups_defined=frozenset(str(g) for g in lock.dependency_groups)
        if lock.dependency_groups is not None
        else None,
    )


def _validated(data: dict[str, object], lines: list[int], path: Path) -> Pylock:
    """``data`` as ``packaging.pylock`` reads and validates it; what it refuses, an InputError."""
    from packaging.pylock import Pylock, PylockUnsupportedVersionError, PylockValidationError

    try:
        return Pylock.from_dict(data)
    except PylockUnsupportedVersionError as err:
        raise InputError(
            f"unsupported pylock lock-version {excerpt(data.get('lock-version'))} (supported: 1.x): {err}", path=path
        ) from None
    except PylockValidationError as err:
        line = None
        found = _INDEX.search(err.context or "")
        if found:
            line = line_at(lines, int(found.group(1)))
        raise InputError(f"invalid pylock: {first_line(err)}", path=path, line=line) from None
    except (ValueError, TypeError, RecursionError) as err:  # what packaging lets through
        raise InputError(f"invalid pylock: {first_line(err)}", path=path) from None


def _packages(
    lock: Pylock, lines: list[int], path: Path, direct: frozenset[str]
) -> tuple[str | None, list[LockedPackage]]:
    """``(project, packages)``: the first directory package at the lock's own folder is the
    project; the others are packages."""
    project = None
    packages = []
    for index, pkg in enumerate(lock.packages):
        line = line_at(lines, index)
        if pkg.marker is not None:
            check_expression(str(pkg.marker), f"marker of {pkg.name}", path, line)
        if pkg.directory is not None and pkg.directory.path in (".", "./") and project is None:
            project = str(pkg.name)
            continue
        wheels = tuple(_filename(w) for w in pkg.wheels or ())
        sdist = _filename(pkg.sdist) if pkg.sdist is not None else None
        packages.append(
            LockedPackage(
                name=str(pkg.name),
                version=pkg.version,
                marker=pkg.marker,
                wheels=wheels,
                sdist=sdist,
                has_file_names=bool(wheels or sdist),
                line=line,
                direct=pkg.name in direct,
                source=_source(pkg),
            )
        )
    return project, packages


def _source(pkg: Package) -> str:
    """Where the package comes from: registry, git, vcs, path or url."""
    if pkg.vcs is not None:
        return "git" if pkg.vcs.type == "git" else "vcs"
    if pkg.directory is not None:
        return "path"
    if pkg.archive is not None:
        return "url" if pkg.archive.url else "path"
    return "registry"


def _drop_empty_entries(data: dict[str, object], lines: list[int], path: Path) -> list[LockedPackage]:
    """Entries PEP 751 forbids (no wheels, sdist, vcs, directory nor archive), taken out of
    ``data`` and kept as packages that fail only where their marker holds."""
    from krakend_tools.lockfiles._common import marker_of, name_of

    packages = data.get("packages")
    if not isinstance(packages, list):
        return []
    keys = ("wheels", "sdist", "vcs", "directory", "archive")
    kept: list[object] = []
    empty: list[LockedPackage] = []
    for index, pkg in enumerate(packages):
        if isinstance(pkg, dict) and not any(k in pkg for k in keys):
            line = line_at(lines, index)
            name = name_of(pkg.get("name"), path, line)
            empty.append(
                LockedPackage(
                    name=name,
                    version=None,
                    marker=marker_of(pkg.get("marker"), path, line),
                    has_file_names=False,
                    line=line,
                    source="registry",
                    problem=f"{name} is locked with no wheel, sdist or source",
                )
            )
        else:
            kept.append(pkg)
    data["packages"] = kept
    return empty


def _normalize_names(data: dict[str, object]) -> list[str]:
    """PEP 751 wants normalized names; pipenv writes them as typed: normalize, with a note."""
    from packaging.utils import canonicalize_name

    changed = []
    packages = data.get("packages")
    for pkg in packages if isinstance(packages, list) else ():
        name = pkg.get("name") if isinstance(pkg, dict) else None
        if isinstance(name, str) and canonicalize_name(name) != name:
            pkg["name"] = canonicalize_name(name)
            changed.append(name)
    if not changed:
        return []
    return [
        f"{len(changed)} package name(s) not normalized as PEP 751 requires "
        f"(e.g. {excerpt(changed[0])}); read as normalized"
    ]


def _filename(dist: PackageWheel | PackageSdist) -> str:
    """``dist.filename`` without its urlparse per file (a third of a 1,000-package parse)."""
    return dist.name or file_name(dist.path) or unquote(file_name(dist.url) or "")
