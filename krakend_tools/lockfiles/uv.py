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
from krakend_tools.lockfiles import RUNTIME, Edge, LockedPackage, Lockfile
from krakend_tools.lockfiles._common import (
    array,
    entry_lines,
    file_name,
    line_at,
    load_toml,
    marker_of,
    name_of,
    specifier_of,
    table,
    version_of,
)

TOOL = "uv"
SUPPORTED = (1,)
_VERSION_LINE = re.compile(r"(?m)^version = \d+\s*$")
_ROOT_SOURCES = ("editable", "virtual", "directory")


def matches(path: Path, text: str) -> bool:
    """uv.lock by name, or a top-level integer ``version`` with ``[[package]]`` sources."""
    if path.name == "uv.lock":
        return True
    return "[[package]]" in text and "source = {" in text and _VERSION_LINE.search(text[:2000]) is not None


def parse(path: Path, text: str) -> Lockfile:
    """Parse a uv.lock into packages plus the dependency graph."""
    data = load_toml(path, text)
    version = data.get("version")
    if version not in SUPPORTED or isinstance(version, bool):
        raise InputError(
            f"unsupported uv.lock version {version!r} (supported: {', '.join(map(str, SUPPORTED))})", path=path, line=1
        )
    lines = entry_lines(text, "package")
    entries: list[tuple[Mapping[str, Any], int | None, str]] = []
    count: dict[str, int] = {}
    for index, raw in enumerate(array(data.get("package"), "[[package]]", path)):
        line = line_at(lines, index)
        entry = table(raw, "[[package]]", path, line)
        name: str = name_of(entry.get("name"), path, line)
        count[name] = count.get(name, 0) + 1
        entries.append((entry, line, name))

    def key(name: str, version: object) -> str:
        if count.get(name, 0) > 1 and isinstance(version, str):
            return f"{name}=={version}"
        return name

    made: dict[tuple[str, object, object], Edge] = {}  # identical edges are shared

    def edges_of(deps: object, what: str, line: int | None) -> list[Edge]:
        out = []
        for dep in array(deps, what, path, line):
            dep = table(dep, what, path, line)
            target: str = name_of(dep.get("name"), path, line)
            ref = (key(target, dep.get("version")), dep.get("marker"), dep.get("extra"))
            edge = made.get(ref) if type(ref[2]) is not list else None
            if edge is None:
                extras = frozenset(_canon(e) for e in array(ref[2], what, path, line) if isinstance(e, str))
                edge = Edge(ref[0], marker_of(ref[1], path, line), extras)
                if type(ref[2]) is not list:
                    made[ref] = edge
            out.append(edge)
        return out

    lock = Lockfile(
        path=path,
        tool=TOOL,
        packages=[],
        lock_version=str(version),
        requires_python=specifier_of(data.get("requires-python"), path, None),
    )
    root = next((i for i, (entry, line, name) in enumerate(entries) if _is_root(entry)), None)
    direct: set[str] = set()
    if root is not None:
        entry, line, _ = entries[root]
        for group in (
            [entry.get("dependencies")]
            + list(table(entry.get("optional-dependencies"), "", path, line).values())
            + list(table(entry.get("dev-dependencies"), "", path, line).values())
        ):
            direct.update(
                name_of(d.get("name"), path, line) for d in array(group, "", path, line) if isinstance(d, dict)
            )
    for index, (entry, line, name) in enumerate(entries):
        source = table(entry.get("source"), f"source of {name}", path, line)
        is_root = index == root
        pkg_key = key(name, entry.get("version"))
        deps = edges_of(entry.get("dependencies"), f"dependencies of {name}", line)
        optional = {
            _canon(extra): edges_of(d, f"optional dependencies of {name}", line)
            for extra, d in table(
                entry.get("optional-dependencies"), f"optional-dependencies of {name}", path, line
            ).items()
        }
        if is_root:
            lock.project = name
            lock.roots[RUNTIME] = deps
            lock.roots.update(optional)
            for group, d in table(entry.get("dev-dependencies"), f"dev-dependencies of {name}", path, line).items():
                lock.roots[group] = edges_of(d, f"group {group} of {name}", line)
            continue
        lock.edges[pkg_key] = deps
        if optional:
            lock.extra_edges[pkg_key] = optional
        lock.packages.append(_package(entry, name, source, path, line, name in direct))
    return lock


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
