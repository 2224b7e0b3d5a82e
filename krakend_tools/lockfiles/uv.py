"""uv.lock (version 1): a universal lock whose markers live on the dependency edges.

A package may be locked at several versions behind complementary markers; such packages
are keyed ``name==version`` in :attr:`Lockfile.edges`, the others by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    table,
    version_of,
)
from krakend_tools.lockfiles.model import RUNTIME, Edge, LockedPackage, Lockfile

TOOL = "uv"
SUPPORTED = (1,)
_VERSION_LINE = re.compile(r"(?m)^version = \d+\s*$")
_ROOT_SOURCES = ("editable", "virtual", "directory")
# uv writes conflicting extras/groups as synthetic extras: `extra == 'group-3-app-dev'`
_EXTRA_TEST = re.compile(r"\bextra\s*(==|!=)\s*(['\"])([^'\"]*)\2")


def matches(path: Path, text: str) -> bool:
    """uv.lock by name, or a top-level integer ``version`` with ``[[package]]`` sources."""
    if path.name == "uv.lock":
        return True
    if _VERSION_LINE.search(text[:2000]) is None:
        return False
    if "[[package]]" in text:
        return "source = {" in text
    # a lock with no package yet: version and requires-python only
    return "requires-python" in text and "[metadata]" not in text and "lock-version" not in text


Entry = tuple[Mapping[str, Any], int | None, str]  # a [[package]] table, its line, its canonical name


def parse(path: Path, text: str) -> Lockfile:
    """Parse a uv.lock into packages plus the dependency graph."""
    data = load_toml(path, text)
    version = _lock_version(data, path)
    entries = _entries(data, text, path)
    requires_python = specifier_of(data.get("requires-python"), path, None)
    lock = Lockfile(path=path, tool=TOOL, packages=[], lock_version=version, requires_python=requires_python)
    root = next((index for index, (entry, _, _) in enumerate(entries) if _is_root(entry)), None)
    direct = _direct_names(entries, root, path)
    members = _virtual_members(data, entries, root, path)
    _manifest_roots(lock, data, root, members)
    direct.update(members or ())
    _add_packages(lock, entries, root, direct, _Graph(path, entries))
    return lock


def _lock_version(data: Mapping[str, Any], path: Path) -> str:
    """The lock's ``version``, one this reader supports."""
    version = data.get("version")
    if version not in SUPPORTED or isinstance(version, bool):
        raise InputError(
            f"unsupported uv.lock version {excerpt(version)} (supported: {', '.join(map(str, SUPPORTED))})",
            path=path,
            line=1,
        )
    return str(version)


def _entries(data: Mapping[str, Any], text: str, path: Path) -> list[Entry]:
    """Every ``[[package]]`` table with its line and canonical name."""
    lines = entry_lines(text, "package")
    entries: list[Entry] = []
    for index, raw in enumerate(array(data.get("package"), "[[package]]", path)):
        line = line_at(lines, index)
        entry = table(raw, "[[package]]", path, line)
        entries.append((entry, line, name_of(entry.get("name"), path, line)))
    return entries


def _direct_names(entries: list[Entry], root: int | None, path: Path) -> set[str]:
    """The names the project package depends on, in any of its groups or extras."""
    if root is None:
        return set()
    entry, line, _ = entries[root]
    groups = [
        entry.get("dependencies"),
        *table(entry.get("optional-dependencies"), "", path, line).values(),
        *table(entry.get("dev-dependencies"), "", path, line).values(),
    ]
    return {
        name_of(dep.get("name"), path, line)
        for group in groups
        for dep in array(group, "", path, line)
        if isinstance(dep, dict)
    }


def _manifest_roots(lock: Lockfile, data: Mapping[str, Any], root: int | None, members: list[str] | None) -> None:
    """The roots of a lock with no project package, from its ``[manifest]``: a script's
    requirements (script.py.lock), or a virtual workspace's members and dependency groups."""
    path = lock.path
    manifest = table(data.get("manifest"), "[manifest]", path)
    if root is None and members is None and "requirements" in manifest:
        lock.roots[RUNTIME] = [
            Edge(
                name_of(r.get("name"), path, None),
                _marker(r.get("marker"), path, None),
                frozenset(_canon(e) for e in array(r.get("extras"), "extras", path)),
            )
            for r in array(manifest.get("requirements"), "[manifest] requirements", path)
            if isinstance(r, Mapping)
        ]
    if members is not None:  # a virtual workspace root: its members are the project
        lock.roots[RUNTIME] = [Edge(m) for m in members]
        for group, reqs in table(manifest.get("dependency-groups"), "[manifest.dependency-groups]", path).items():
            lock.roots[group] = [
                Edge(name_of(r.get("name"), path, None), _marker(r.get("marker"), path, None))
                for r in array(reqs, "dependency group", path)
                if isinstance(r, Mapping)
            ]


def _add_packages(lock: Lockfile, entries: list[Entry], root: int | None, direct: set[str], graph: _Graph) -> None:
    """Each entry as a package and a node of the graph; the project's entry as the roots."""
    path = lock.path
    for index, (entry, line, name) in enumerate(entries):
        source = table(entry.get("source"), f"source of {name}", path, line)
        deps = graph.edges(entry.get("dependencies"), f"dependencies of {name}", line)
        extras = table(entry.get("optional-dependencies"), f"optional-dependencies of {name}", path, line)
        optional = {
            _canon(extra): graph.edges(d, f"optional dependencies of {name}", line) for extra, d in extras.items()
        }
        if index == root:
            _add_project(lock, entry, name, line, deps, optional, graph)
            continue
        pkg_key = graph.key(name, entry.get("version"), entry.get("source"))
        lock.edges[pkg_key] = deps
        if optional:
            lock.extra_edges[pkg_key] = optional
        pkg = _package(entry, name, source, path, line, name in direct)
        lock.packages.append(pkg)
        lock.nodes[pkg_key] = pkg


def _add_project(
    lock: Lockfile,
    entry: Mapping[str, Any],
    name: str,
    line: int | None,
    deps: list[Edge],
    optional: dict[str, list[Edge]],
    graph: _Graph,
) -> None:
    """The project's own entry: its dependencies, extras and dev groups are the roots."""
    lock.project = name
    lock.roots[RUNTIME] = deps
    lock.roots.update(optional)
    lock.extras_defined = frozenset(optional)
    for group, d in table(entry.get("dev-dependencies"), f"dev-dependencies of {name}", lock.path, line).items():
        lock.roots[group] = graph.edges(d, f"group {group} of {name}", line)


class _Graph:
    """The edges of one uv.lock: targets keyed as :meth:`key` says, identical edges shared."""

    def __init__(self, path: Path, entries: list[Entry]) -> None:
        self.path = path
        self.count: dict[str, int] = {}
        for entry, _, name in entries:
            for counted in (name, f"{name}=={entry.get('version')}"):
                self.count[counted] = self.count.get(counted, 0) + 1
        self.made: dict[tuple[str, object, object], Edge] = {}

    def key(self, name: str, version: object, source: object = None) -> str:
        """``name``, or ``name==version`` when several versions are locked, plus the source
        when one version is locked from several (e.g. torch from two indexes)."""
        if self.count.get(name, 0) > 1 and isinstance(version, str):
            pinned = f"{name}=={version}"
            if self.count.get(pinned, 0) > 1 and isinstance(source, Mapping):
                return f"{pinned}@" + ",".join(f"{k}={v}" for k, v in sorted(source.items()))
            return pinned
        return name

    def edges(self, deps: object, what: str, line: int | None) -> list[Edge]:
        """The edges of one dependency list (``what`` names it in errors)."""
        return [self._edge(table(dep, what, self.path, line), what, line) for dep in array(deps, what, self.path, line)]

    def _edge(self, dep: Mapping[str, Any], what: str, line: int | None) -> Edge:
        path = self.path
        target: str = name_of(dep.get("name"), path, line)
        marker, extra = dep.get("marker"), dep.get("extra")
        if marker is not None and not isinstance(marker, str):
            raise InputError(f"marker in {what} must be a string", path=path, line=line)
        if extra is not None and not isinstance(extra, list):
            raise InputError(f"extra in {what} must be an array", path=path, line=line)
        ref = (self.key(target, dep.get("version"), dep.get("source")), marker, extra)
        edge = self.made.get(ref) if extra is None else None
        if edge is None:
            extras = frozenset(_canon(e) for e in array(extra, f"extra in {what}", path, line) if isinstance(e, str))
            edge = Edge(ref[0], _marker(ref[1], path, line), extras)
            if extra is None:
                self.made[ref] = edge
        return edge


def _marker(value: object, path: Path, line: int | None) -> Any:
    """An edge marker; ``extra == 'x'`` tests become ``'x' in extras`` (a set, not one value)."""
    if isinstance(value, str) and "extra" in value:
        value = _EXTRA_TEST.sub(lambda m: f"'{m.group(3)}' {'in' if m.group(1) == '==' else 'not in'} extras", value)
    return marker_of(value, path, line)


def _virtual_members(
    data: Mapping[str, Any], entries: list[tuple[Mapping[str, Any], int | None, str]], root: int | None, path: Path
) -> list[str] | None:
    """The members of a virtual workspace root (``[manifest] members``, no package at ".")."""
    if root is not None:
        return None
    manifest = table(data.get("manifest"), "[manifest]", path)
    members: list[str] = [name_of(m, path, None) for m in array(manifest.get("members"), "members", path)]
    local = {
        name
        for entry, _, name in entries
        if any(k in _ROOT_SOURCES for k in table(entry.get("source"), "source", path))
    }
    found = [m for m in members if m in local]
    return found or None


def _is_root(entry: object) -> bool:
    """The project itself: its source is the lockfile's own folder."""
    source = entry.get("source") if isinstance(entry, dict) else None
    return isinstance(source, dict) and any(source.get(k) == "." for k in _ROOT_SOURCES)


def _package(
    entry: Mapping[str, Any], name: str, source: Mapping[str, Any], path: Path, line: int | None, direct: bool
) -> LockedPackage:
    raw_version = entry.get("version")
    version = None if raw_version is None else version_of(raw_version, path, line, name)
    wheels = tuple(
        n
        for w in array(entry.get("wheels"), f"wheels of {name}", path, line)
        if isinstance(w, Mapping) and (n := file_name(w.get("url") or w.get("path") or w.get("filename")))
    )
    sdist_entry = entry.get("sdist")
    sdist = None
    if isinstance(sdist_entry, Mapping):
        sdist = file_name(sdist_entry.get("url") or sdist_entry.get("path") or sdist_entry.get("filename"))
    kind = next(iter(source), "registry")
    return LockedPackage(
        name=name,
        version=version,
        wheels=wheels,
        sdist=sdist,
        line=line,
        direct=direct,
        source=_SOURCE_KINDS.get(kind, kind),
    )


_SOURCE_KINDS = {
    "registry": "registry",
    "git": "git",
    "url": "url",
    "path": "path",
    "directory": "path",
    "editable": "path",
    "virtual": "path",
}


def _canon(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)
