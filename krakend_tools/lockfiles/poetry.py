"""poetry.lock, lock-version 1.0, 1.1, 2.0 and 2.1, and Poetry 0.12 locks (no lock-version).

2.1 records ``groups`` and ``markers`` per package, so it is read flat. 1.1 and 2.0 record
neither markers nor (2.0) groups: with the pyproject.toml beside the lockfile their
dependency graph is walked from the project's declared dependencies instead. 1.0 (and 0.12)
add a ``marker`` of the package's own, which must hold as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.errors import InputError
from krakend_tools.files import excerpt, load_toml
from krakend_tools.lockfiles._common import (
    array,
    caret_tilde_to_pep440,
    entry_lines,
    file_name,
    line_at,
    marker_of,
    name_of,
    specifier_of,
    split_files,
    table,
    version_or_problem,
)
from krakend_tools.lockfiles._pyproject import (
    declared_roots,
    direct_names,
    poetry_edges,
    project_name,
    read_pyproject,
)
from krakend_tools.lockfiles.model import RUNTIME, Edge, LockedPackage, Lockfile

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

TOOL = "poetry"
SUPPORTED = ("0.12", "1.0", "1.1", "2.0", "2.1")
_SOURCES = {"legacy": "registry", "git": "git", "directory": "path", "file": "path", "url": "url"}


def matches(path: Path, text: str) -> bool:
    """poetry.lock by name, or a ``[metadata]`` with Poetry's ``content-hash``."""
    if path.name == "poetry.lock":
        return True
    return "[metadata]" in text and "content-hash" in text and "lock-version" in text


def parse(path: Path, text: str) -> Lockfile:
    """Parse a poetry.lock."""
    data = load_toml(path, text)
    meta = table(data.get("metadata"), "[metadata]", path)
    lock_version, legacy = _lock_version(meta, text, path)
    requires_python = _requires_python(meta, text, path)
    pyproject = read_pyproject(path)
    read = _read_entries(data, meta, text, path, lock_version, legacy, direct_names(pyproject) or frozenset())
    lock = Lockfile(
        path=path, tool=TOOL, packages=read.packages, requires_python=requires_python, lock_version=str(lock_version)
    )
    if legacy:
        lock.notes.append(
            "no [metadata] lock-version: read as a Poetry 0.12 lock ([metadata."
            "hashes], a marker and a category per package)"
        )
    lock.extras_defined = frozenset(_canon(e) for e in table(data.get("extras"), "[extras]", path))
    if pyproject is None and not read.flat:
        lock.notes.append(_no_pyproject_note(lock_version))
    if pyproject is not None:
        _with_pyproject(lock, pyproject, read)
    return lock


def _lock_version(meta: Mapping[str, Any], text: str, path: Path) -> tuple[object, bool]:
    """``(lock-version, legacy)``: legacy for a Poetry 0.12 lock, which has none."""
    lock_version = meta.get("lock-version")
    if lock_version is None and "hashes" in meta:  # Poetry 0.12: a marker per package
        return "0.12", True
    if lock_version is None:
        raise InputError("no [metadata] lock-version: not a Poetry lockfile", path=path)
    if str(lock_version) not in SUPPORTED:
        raise InputError(
            f"unsupported Poetry lock-version {excerpt(lock_version)} (supported: {', '.join(SUPPORTED)})",
            path=path,
            line=_key_line(text, "lock-version"),
        )
    return lock_version, False


def _requires_python(meta: Mapping[str, Any], text: str, path: Path) -> SpecifierSet | None:
    """``[metadata] python-versions`` (Poetry syntax) as a specifier set; None for ``*``."""
    python = meta.get("python-versions")
    if not isinstance(python, str) or python.strip() in ("", "*"):
        return None
    try:
        return specifier_of(caret_tilde_to_pep440(python), path, None)
    except InputError as err:
        raise InputError(
            f"invalid [metadata] python-versions {excerpt(python)}",
            path=path,
            line=_key_line(text, "python-versions"),
        ) from err


@dataclass
class _Entries:
    """What the ``[[package]]`` tables hold: the packages, and the graph older locks need."""

    packages: list[LockedPackage] = field(default_factory=list)
    edges: dict[str, list[Edge]] = field(default_factory=dict)
    extra_edges: dict[str, dict[str, list[Edge]]] = field(default_factory=dict)
    flat: bool = True  # groups (and markers) on every package: no graph to walk


def _read_entries(
    data: Mapping[str, Any],
    meta: Mapping[str, Any],
    text: str,
    path: Path,
    lock_version: object,
    legacy: bool,
    direct: frozenset[str],
) -> _Entries:
    """Each ``[[package]]`` as a package, plus its edges unless the lock is 2.1 (read flat)."""
    old_files = table(meta.get("files"), "[metadata.files]", path)
    extras_of = _extras_by_package(table(data.get("extras"), "[extras]", path))
    lines = entry_lines(text, "package")
    read = _Entries()
    for index, raw in enumerate(array(data.get("package"), "[[package]]", path)):
        line = line_at(lines, index)
        entry = table(raw, "[[package]]", path, line)
        name = name_of(entry.get("name"), path, line)
        if entry.get("groups") is None:
            read.flat = legacy
        old_marker = str(lock_version) in ("0.12", "1.0")
        read.packages.append(_package(entry, name, path, line, old_files, extras_of, old_marker, direct))
        if lock_version != "2.1":  # only older locks need the graph
            _package_edges(entry, name, read.edges, read.extra_edges, path, line)
    return read


def _package(
    entry: Mapping[str, Any],
    name: str,
    path: Path,
    line: int | None,
    old_files: Mapping[str, Any],
    extras_of: Mapping[str, set[str]],
    old_marker: bool,
    direct: frozenset[str],
) -> LockedPackage:
    """One ``[[package]]`` table; ``old_marker``: a 0.12 or 1.0 lock, whose own marker is ``marker``."""
    version, problem = version_or_problem(
        entry.get("version"), path, line, name, entry.get("markers") or entry.get("marker")
    )
    names = _file_names(entry, name, old_files, path, line)
    wheels, sdist = split_files(names)
    groups = _groups(entry, name, extras_of, path, line)
    source = table(entry.get("source"), f"source of {name}", path, line).get("type")
    return LockedPackage(
        name=name,
        version=version,
        # Poetry 0.12 and 1.0 write a package's own marker as `marker`, 1.1+ as `markers`
        marker=_marker(entry.get("marker" if old_marker else "markers"), groups, path, line),
        groups=groups,
        wheels=wheels,
        sdist=sdist,
        has_file_names=bool(names),
        line=line,
        direct=name in direct,
        problem=problem,
        source=_SOURCES.get(str(source), str(source)) if source else "registry",
        requires_python=_python_range(entry.get("python-versions")),
    )


def _file_names(
    entry: Mapping[str, Any], name: str, old_files: Mapping[str, Any], path: Path, line: int | None
) -> list[str]:
    """The package's file names: its own ``files``, else its ``[metadata.files]`` entry (before 2.0)."""
    files = entry.get("files")
    if files is None:
        files = old_files.get(entry["name"], old_files.get(name))
    return [
        n
        for f in array(files, f"files of {name}", path, line)
        if isinstance(f, Mapping) and (n := file_name(f.get("file")))
    ]


def _groups(
    entry: Mapping[str, Any], name: str, extras_of: Mapping[str, set[str]], path: Path, line: int | None
) -> frozenset[str]:
    """The package's ``groups``; before 2.0 its ``category``, or the extras of an optional package."""
    groups = entry.get("groups")
    if groups is None:
        category = entry.get("category", "main")
        groups = [RUNTIME if category == "main" else str(category)]
        if entry.get("optional") and extras_of.get(name):
            groups = sorted(extras_of[name])
    return frozenset(str(g) for g in array(groups, f"groups of {name}", path, line))


def _no_pyproject_note(lock_version: object) -> str:
    """Why a lock whose markers and groups live in the pyproject.toml is read without them."""
    return (
        "no pyproject.toml beside this lock-version " + str(lock_version) + " lock: its "
        "markers and groups live there, so "
        + (
            "packages are taken by their category, on every platform"
            if lock_version in ("1.0", "1.1")
            else "every locked package is taken, on every platform"
        )
    )


def _with_pyproject(lock: Lockfile, pyproject: Mapping[str, Any], read: _Entries) -> None:
    """The project's name from the pyproject.toml beside the lock; unless the lock is flat,
    its graph walked from the dependencies declared there."""
    path = lock.path
    project = table(pyproject.get("project"), "[project]", path).get("name") or table(
        table(pyproject.get("tool"), "[tool]", path).get("poetry"), "[tool.poetry]", path
    ).get("name")
    lock.project = project_name(project)
    if not read.flat:  # markers and groups live on the graph: walk it
        groups_roots, extras_roots = declared_roots(pyproject)
        lock.roots = {**extras_roots, **groups_roots}
        lock.edges, lock.extra_edges = read.edges, read.extra_edges


def _marker(value: object, groups: frozenset[str], path: Path, line: int | None) -> Any:
    """A package's marker; the per-group table form becomes one marker over dependency_groups."""
    if not isinstance(value, Mapping):
        return marker_of(value, path, line)
    terms = []
    for group in sorted(groups):
        term = f"'{group}' in dependency_groups"
        text = value.get(group)
        if isinstance(text, str) and text.strip():
            term = f"({text}) and {term}"
        terms.append(f"({term})")
    return marker_of(" or ".join(terms), path, line)


def _package_edges(
    entry: Mapping[str, Any],
    name: str,
    edges: dict[str, list[Edge]],
    extra_edges: dict[str, dict[str, list[Edge]]],
    path: Path,
    line: int | None,
) -> None:
    optional: dict[str, Edge] = {}
    out = edges.setdefault(name, [])
    for dep, spec in table(entry.get("dependencies"), f"dependencies of {name}", path, line).items():
        for edge, is_optional in poetry_edges(dep, spec):
            if is_optional:
                optional[edge.target] = edge
            else:
                out.append(edge)
    for extra, reqs in table(entry.get("extras"), f"extras of {name}", path, line).items():
        targets = extra_edges.setdefault(name, {}).setdefault(_canon(extra), [])
        for req in array(reqs, f"extra {excerpt(extra)} of {name}", path, line):
            if isinstance(req, str) and req.strip():
                dep = _canon(req.strip().split(" ", 1)[0].split("[", 1)[0].split(";", 1)[0].split("(", 1)[0])
                targets.append(optional.get(dep, Edge(dep)))


def _extras_by_package(extras: Mapping[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for extra, names in extras.items():
        for name in names if isinstance(names, list) else []:
            if isinstance(name, str):
                dep = _canon(name.split(" ", 1)[0])
                out.setdefault(dep, set()).add(_canon(extra))
    return out


def _canon(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def _key_line(text: str, key: str) -> int | None:
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith(key):
            return number
    return None


def _python_range(value: object) -> Any:
    """A package's own ``python-versions`` (Poetry syntax) as a specifier set; None for ``*``
    or what cannot be read (it only picks among versions of one name locked twice)."""
    if not isinstance(value, str) or value.strip() in ("", "*"):
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return _RANGES.get(value) or _RANGES.setdefault(value, SpecifierSet(caret_tilde_to_pep440(value)))
    except (InvalidSpecifier, InputError, ValueError):
        return None


_RANGES: dict[str, Any] = {}
