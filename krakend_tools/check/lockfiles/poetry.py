"""poetry.lock, lock-version 1.0, 1.1, 2.0 and 2.1, and Poetry 0.12 locks (no lock-version).

2.1 records ``groups`` and ``markers`` per package, so it is read flat. 1.1 and 2.0 record
neither markers nor (2.0) groups: with the pyproject.toml beside the lockfile their
dependency graph is walked from the project's declared dependencies instead. 1.0 (and 0.12)
add a ``marker`` of the package's own, which must hold as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from krakend_tools.check.lockfiles._common import (
    array,
    caret_tilde_to_pep440,
    entry_lines,
    excerpt,
    file_name,
    line_at,
    load_toml,
    marker_of,
    name_of,
    specifier_of,
    split_files,
    table,
    version_or_problem,
)
from krakend_tools.check.lockfiles._pyproject import (
    declared_roots,
    direct_names,
    poetry_edges,
    project_name,
    read_pyproject,
)
from krakend_tools.check.lockfiles.model import RUNTIME, Edge, LockedPackage, Lockfile
from krakend_tools.errors import InputError

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
    lock_version = meta.get("lock-version")
    legacy = lock_version is None and "hashes" in meta  # Poetry 0.12: a marker per package
    if legacy:
        lock_version = "0.12"
    if lock_version is None:
        raise InputError("no [metadata] lock-version: not a Poetry lockfile", path=path)
    if str(lock_version) not in SUPPORTED:
        raise InputError(
            f"unsupported Poetry lock-version {excerpt(lock_version)} (supported: {', '.join(SUPPORTED)})",
            path=path,
            line=_key_line(text, "lock-version"),
        )
    old_marker = str(lock_version) in ("0.12", "1.0")
    python = meta.get("python-versions")
    requires_python = None
    if isinstance(python, str) and python.strip() not in ("", "*"):
        try:
            requires_python = specifier_of(caret_tilde_to_pep440(python), path, None)
        except InputError as err:
            raise InputError(
                f"invalid [metadata] python-versions {excerpt(python)}",
                path=path,
                line=_key_line(text, "python-versions"),
            ) from err

    pyproject = read_pyproject(path)
    direct = direct_names(pyproject) or frozenset()
    old_files = table(meta.get("files"), "[metadata.files]", path)
    extras_of = _extras_by_package(table(data.get("extras"), "[extras]", path))
    lines = entry_lines(text, "package")
    packages: list[LockedPackage] = []
    edges: dict[str, list[Edge]] = {}
    extra_edges: dict[str, dict[str, list[Edge]]] = {}
    flat = True
    for index, raw in enumerate(array(data.get("package"), "[[package]]", path)):
        line = line_at(lines, index)
        entry = table(raw, "[[package]]", path, line)
        name = name_of(entry.get("name"), path, line)
        version, problem = version_or_problem(
            entry.get("version"), path, line, name, entry.get("markers") or entry.get("marker")
        )
        files = entry.get("files")
        if files is None:
            files = old_files.get(entry["name"], old_files.get(name))
        names = [
            n
            for f in array(files, f"files of {name}", path, line)
            if isinstance(f, Mapping) and (n := file_name(f.get("file")))
        ]
        wheels, sdist = split_files(names)
        groups = entry.get("groups")
        if groups is None:
            flat = legacy
            category = entry.get("category", "main")
            groups = [RUNTIME if category == "main" else str(category)]
            if entry.get("optional") and extras_of.get(name):
                groups = sorted(extras_of[name])
        group_set = frozenset(str(g) for g in array(groups, f"groups of {name}", path, line))
        source = table(entry.get("source"), f"source of {name}", path, line).get("type")
        packages.append(
            LockedPackage(
                name=name,
                version=version,
                # Poetry 0.12 and 1.0 write a package's own marker as `marker`, 1.1+ as `markers`
                marker=_marker(entry.get("marker" if old_marker else "markers"), group_set, path, line),
                groups=group_set,
                wheels=wheels,
                sdist=sdist,
                has_file_names=bool(names),
                line=line,
                direct=name in direct,
                problem=problem,
                source=_SOURCES.get(str(source), str(source)) if source else "registry",
                requires_python=_python_range(entry.get("python-versions")),
            )
        )
        if lock_version != "2.1":  # only older locks need the graph
            _package_edges(entry, name, edges, extra_edges, path, line)

    lock = Lockfile(
        path=path, tool=TOOL, packages=packages, requires_python=requires_python, lock_version=str(lock_version)
    )
    if legacy:
        lock.notes.append(
            "no [metadata] lock-version: read as a Poetry 0.12 lock ([metadata."
            "hashes], a marker and a category per package)"
        )
    lock.extras_defined = frozenset(_canon(e) for e in table(data.get("extras"), "[extras]", path))
    if pyproject is None and not flat:
        lock.notes.append(
            "no pyproject.toml beside this lock-version " + str(lock_version) + " lock: its "
            "markers and groups live there, so "
            + (
                "packages are taken by their category, on every platform"
                if lock_version in ("1.0", "1.1")
                else "every locked package is taken, on every platform"
            )
        )
    if pyproject is not None:
        project = table(pyproject.get("project"), "[project]", path).get("name") or table(
            table(pyproject.get("tool"), "[tool]", path).get("poetry"), "[tool.poetry]", path
        ).get("name")
        lock.project = project_name(project)
        if not flat:  # markers and groups live on the graph: walk it
            groups_roots, extras_roots = declared_roots(pyproject)
            lock.roots = {**extras_roots, **groups_roots}
            lock.edges, lock.extra_edges = edges, extra_edges
    return lock


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
