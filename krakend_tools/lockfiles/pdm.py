"""pdm.lock, lock_version 3.x and 4.x.

With the ``inherit_metadata`` strategy (4.4 and later) every package carries its groups and
marker: read flat. Earlier locks record neither: with the pyproject.toml beside the lockfile
their dependency graph is walked from the project's declared dependencies, as PDM does. File
names live in each package's ``files`` or (4.0 and earlier) in ``[metadata.files]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.errors import InputError
from krakend_tools.files import excerpt, load_toml
from krakend_tools.lockfiles._common import (
    array,
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
from krakend_tools.lockfiles._pyproject import declared_roots, direct_names, project_name, read_pyproject
from krakend_tools.lockfiles.model import RUNTIME, Edge, LockedPackage, Lockfile

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

TOOL = "pdm"
SUPPORTED_MAJORS = ("3", "4")


def matches(path: Path, text: str) -> bool:
    """pdm.lock by name, or a ``[metadata]`` with PDM's ``lock_version``."""
    if path.name == "pdm.lock":
        return True
    return "[metadata]" in text and "lock_version" in text and "[[package]]" in text


def parse(path: Path, text: str) -> Lockfile:
    """Parse a pdm.lock."""
    data = load_toml(path, text)
    meta = table(data.get("metadata"), "[metadata]", path)
    lock_version = _lock_version(meta, path)
    flat = "inherit_metadata" in array(meta.get("strategy"), "[metadata] strategy", path)
    old_files = table(meta.get("files"), "[metadata.files]", path)
    requires_python = _requires_python(meta, path)
    pyproject = read_pyproject(path)
    graph = _Graph()
    packages = _packages(data, text, path, old_files, direct_names(pyproject) or frozenset(), None if flat else graph)
    lock = Lockfile(
        path=path,
        tool=TOOL,
        packages=packages,
        requires_python=requires_python,
        lock_version=lock_version,
        project=_project(pyproject, path),
    )
    if "groups" in meta:  # PDM locks extras as groups: the ones it locked are all there is
        lock.extras_defined = _locked_groups(lock, array(meta["groups"], "[metadata] groups", path))
    if not flat and not any(p.groups - {RUNTIME} or p.marker for p in packages):
        _graph_roots(lock, pyproject, graph)
    return lock


def _lock_version(meta: Mapping[str, object], path: Path) -> str:
    """``[metadata] lock_version``, of a major this reader supports."""
    lock_version = meta.get("lock_version")
    if not isinstance(lock_version, str):
        raise InputError("no [metadata] lock_version: not a PDM lockfile", path=path)
    if lock_version.split(".", 1)[0] not in SUPPORTED_MAJORS:
        raise InputError(
            f"unsupported pdm.lock lock_version {excerpt(lock_version)} "
            f"(supported: {', '.join(m + '.x' for m in SUPPORTED_MAJORS)})",
            path=path,
        )
    return lock_version


def _requires_python(meta: Mapping[str, object], path: Path) -> SpecifierSet | None:
    """The first ``[[metadata.targets]]`` Python range, else ``[metadata] requires_python``."""
    for target in array(meta.get("targets"), "[[metadata.targets]]", path):
        if isinstance(target, Mapping) and target.get("requires_python"):
            return specifier_of(target["requires_python"], path, None)
    return specifier_of(meta.get("requires_python"), path, None)


class _Graph:
    """The dependency edges of a lock without groups and markers per package."""

    def __init__(self) -> None:
        self.edges: dict[str, list[Edge]] = {}
        self.extra_edges: dict[str, dict[str, list[Edge]]] = {}


def _packages(
    data: Mapping[str, object],
    text: str,
    path: Path,
    old_files: Mapping[str, object],
    direct: frozenset[str],
    graph: _Graph | None,
) -> list[LockedPackage]:
    """Each ``[[package]]`` as a package; its edges into ``graph`` unless the lock is flat."""
    lines = entry_lines(text, "package")
    packages = []
    for index, raw in enumerate(array(data.get("package"), "[[package]]", path)):
        line = line_at(lines, index)
        entry = table(raw, "[[package]]", path, line)
        name = name_of(entry.get("name"), path, line)
        version, problem = _version(entry, name, path, line)
        groups = _groups(entry, path, line)
        names = _file_names(entry, name, old_files, path, line)
        if graph is not None:
            _edges(entry, name, graph.edges, graph.extra_edges, path, line)
        wheels, sdist = split_files(names)
        packages.append(
            LockedPackage(
                name=name,
                version=version,
                marker=marker_of(entry.get("marker"), path, line),
                groups=groups,
                wheels=wheels,
                sdist=sdist,
                has_file_names=bool(names),
                line=line,
                direct=name in direct,
                source=_source(entry),
                problem=problem,
            )
        )
    return packages


def _version(entry: Mapping[str, object], name: str, path: Path, line: int | None) -> tuple[Version | None, str | None]:
    """``(version, problem)``: no version for a local package, a problem for an unreadable one."""
    raw_version = entry.get("version")
    if raw_version is None:
        return None, None
    return version_or_problem(raw_version, path, line, name, entry.get("marker"))


def _groups(entry: Mapping[str, object], path: Path, line: int | None) -> frozenset[str]:
    """The entry's groups (``sections`` before PDM 2), ``default`` read as RUNTIME."""
    raw_groups = entry.get("groups", entry.get("sections", ["default"]))
    return frozenset(RUNTIME if g == "default" else str(g) for g in array(raw_groups, "groups", path, line))


def _file_names(
    entry: Mapping[str, object], name: str, old_files: Mapping[str, object], path: Path, line: int | None
) -> list[str]:
    """The entry's file names: its own ``files``, else its ``[metadata.files]`` entry (4.0 and earlier)."""
    files = entry.get("files")
    if files is None:
        files = old_files.get(f"{entry.get('name')} {entry.get('version')}")
    return [
        n
        for f in array(files, f"files of {name}", path, line)
        if isinstance(f, Mapping) and (n := file_name(f.get("file") or f.get("url")))
    ]


def _source(entry: Mapping[str, object]) -> str:
    if entry.get("git") or entry.get("revision"):
        return "git"
    if entry.get("path"):
        return "path"
    if entry.get("url"):
        return "url"
    return "registry"


def _project(pyproject: Mapping[str, Any] | None, path: Path) -> str | None:
    """The project's canonical name from the pyproject.toml beside the lock."""
    if pyproject is None:
        return None
    return project_name(table(pyproject.get("project"), "[project]", path).get("name"))


def _graph_roots(lock: Lockfile, pyproject: Mapping[str, Any] | None, graph: _Graph) -> None:
    """A lock with no groups or markers per package: its graph walked from the pyproject.toml's
    declared dependencies, as PDM does; without one, every package taken (with a note)."""
    if pyproject is None:
        lock.notes.append(
            f"no pyproject.toml beside this lock_version {excerpt(lock.lock_version)} lock "
            "(no groups or markers per package): every locked package is "
            "taken, on every platform"
        )
        return
    groups_roots, extras_roots = declared_roots(pyproject)
    lock.roots = {**extras_roots, **groups_roots}
    lock.edges, lock.extra_edges = graph.edges, graph.extra_edges


def _edges(
    entry: Mapping[str, object],
    name: str,
    edges: dict[str, list[Edge]],
    extra_edges: dict[str, dict[str, list[Edge]]],
    path: Path,
    line: int | None,
) -> None:
    """The dependency edges of one entry; an entry with ``extras`` holds that extra's edges."""
    from packaging.requirements import InvalidRequirement, Requirement

    out: list[Edge] = []
    for spec in array(entry.get("dependencies"), f"dependencies of {name}", path, line):
        try:
            req = Requirement(str(spec))
        except InvalidRequirement:
            raise InputError(f"invalid dependency {excerpt(spec)} of {name}", path=path, line=line) from None
        out.append(
            Edge(name_of(req.name, path, line), req.marker, frozenset(name_of(e, path, line) for e in req.extras))
        )
    extras = [str(e) for e in array(entry.get("extras"), f"extras of {name}", path, line)]
    if not extras:
        edges.setdefault(name, []).extend(out)
    for extra in extras:
        extra_edges.setdefault(name, {}).setdefault(name_of(extra, path, line), []).extend(out)


def _locked_groups(lock: Lockfile, groups: list[object]) -> frozenset[str]:
    """The group names of ``[metadata] groups``, as PDM reads them: an entry that is no group
    name (PDM 2.1x wrote a requirement string there, ``name==1.20.0``) names no package's
    group, so it is passed over, with a note; only a non-string is refused."""
    from packaging.utils import InvalidName, canonicalize_name

    names: set[str] = set()
    for group in groups:
        if not isinstance(group, str):
            raise InputError(f"[metadata] groups: a group name must be a string, not {excerpt(group)}", path=lock.path)
        if group == "default":
            continue
        try:
            names.add(canonicalize_name(group, validate=True))
        except InvalidName:
            lock.notes.append(f"[metadata] groups lists {excerpt(group)}, which is no group name: no package is in it")
    return frozenset(names)
