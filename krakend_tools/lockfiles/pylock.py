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
from krakend_tools.lockfiles import LockedPackage, Lockfile
from krakend_tools.lockfiles._common import entry_lines, file_name, line_at, load_toml
from krakend_tools.lockfiles._pyproject import direct_names, read_pyproject

if TYPE_CHECKING:
    from packaging.pylock import PackageSdist, PackageWheel

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
    from packaging.pylock import Pylock, PylockUnsupportedVersionError, PylockValidationError

    data = load_toml(path, text)
    lines = entry_lines(text, "packages")
    try:
        lock = Pylock.from_dict(data)
    except PylockUnsupportedVersionError as err:
        raise InputError(
            f"unsupported pylock lock-version {data.get('lock-version')!r} (supported: 1.x): {err}", path=path
        ) from None
    except PylockValidationError as err:
        line = None
        found = _INDEX.search(err.context or "")
        if found:
            line = line_at(lines, int(found.group(1)))
        raise InputError(f"invalid pylock: {err}", path=path, line=line) from None
    direct = direct_names(read_pyproject(path)) or frozenset()
    project = None
    packages = []
    for index, pkg in enumerate(lock.packages):
        line = line_at(lines, index)
        if pkg.directory is not None and pkg.directory.path in (".", "./") and project is None:
            project = str(pkg.name)
            continue
        source = "registry"
        if pkg.vcs is not None:
            source = "git" if pkg.vcs.type == "git" else "vcs"
        elif pkg.directory is not None:
            source = "path"
        elif pkg.archive is not None:
            source = "url" if pkg.archive.url else "path"
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
                source=source,
            )
        )
    return Lockfile(
        path=path,
        tool=TOOL,
        packages=packages,
        requires_python=lock.requires_python,
        lock_version=str(lock.lock_version),
        created_by=lock.created_by,
        project=project,
    )


def _filename(dist: PackageWheel | PackageSdist) -> str:
    """``dist.filename`` without its urlparse per file (a third of a 1,000-package parse)."""
    return dist.name or file_name(dist.path) or unquote(file_name(dist.url) or "")
