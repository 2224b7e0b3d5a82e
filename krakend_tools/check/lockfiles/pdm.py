"""pdm.lock, lock_version 3.x and 4.x.

With the ``inherit_metadata`` strategy (4.4 and later) every package carries its groups and
marker: read flat. Earlier locks record neither: with the pyproject.toml beside the lockfile
their dependency graph is walked from the project's declared dependencies, as PDM does. File
names live in each package's ``files`` or (4.0 and earlier) in ``[metadata.files]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from krakend_tools.check.lockfiles._common import (
    array,
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
from krakend_tools.check.lockfiles._pyproject import declared_roots, direct_names, project_name, read_pyproject
from krakend_tools.check.lockfiles.model import RUNTIME, Edge, LockedPackage, Lockfile
from krakend_tools.errors import InputError

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
    lock_version = meta.get("lock_version")
    if not isinstance(lock_version, str):
        raise InputError("no [metadata] lock_version: not a PDM lockfile", path=path)
    if lock_version.split(".", 1)[0] not in SUPPORTED_MAJORS:
        raise InputError(
            f"unsupported pdm.lock lock_version {excerpt(lock_version)} "
            f"(supported: {', '.join(m + '.x' for m in SUPPORTED_MAJORS)})",
            path=path,
        )
    strategy = array(meta.get("strategy"), "[metadata] strategy", path)
    flat = "inherit_metadata" in strategy
    old_files = table(meta.get("files"), "[metadata.files]", path)
    requires_python = None
    for target in array(meta.get("targets"), "[[metadata.targets]]", path):
        if isinstance(target, Mapping) and target.get("requires_python"):
            requires_python = specifier_of(target["requires_python"], path, None)
            break
    else:
        requires_python = specifier_of(meta.get("requires_python"), path, None)

    pyproject = read_pyproject(path)
    direct = direct_names(pyproject) or frozenset()
    lines = entry_lines(text, "package")
    packages = []
    edges: dict[str, list[Edge]] = {}
    extra_edges: dict[str, dict[str, list[Edge]]] = {}
    for index, raw in enumerate(array(data.get("package"), "[[package]]", path)):
        line = line_at(lines, index)
        entry = table(raw, "[[package]]", path, line)
        name = name_of(entry.get("name"), path, line)
        raw_version = entry.get("version")
        version, problem = (
            (None, None)
            if raw_version is None
            else version_or_problem(raw_version, path, line, name, entry.get("marker"))
        )
        raw_groups = entry.get("groups", entry.get("sections", ["default"]))
        groups = frozenset(RUNTIME if g == "default" else str(g) for g in array(raw_groups, "groups", path, line))
        files = entry.get("files")
        if files is None:
            files = old_files.get(f"{entry.get('name')} {raw_version}")
        names = [
            n
            for f in array(files, f"files of {name}", path, line)
            if isinstance(f, Mapping) and (n := file_name(f.get("file") or f.get("url")))
        ]
        if not flat:
            _edges(entry, name, edges, extra_edges, path, line)
        wheels, sdist = split_files(names)
        source = "registry"
        if entry.get("git") or entry.get("revision"):
            source = "git"
        elif entry.get("path"):
            source = "path"
        elif entry.get("url"):
            source = "url"
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
                source=source,
                problem=problem,
            )
        )
    project = None
    if pyproject is not None:
        raw_name = table(pyproject.get("project"), "[project]", path).get("name")
        project = project_name(raw_name)
    lock = Lockfile(
        path=path,
        tool=TOOL,
        packages=packages,
        requires_python=requires_python,
        lock_version=lock_version,
        project=project,
    )
    if "groups" in meta:  # PDM locks extras as groups: the ones it locked are all there is
        lock.extras_defined = _locked_groups(lock, array(meta["groups"], "[metadata] groups", path))
    if not flat and not any(p.groups - {RUNTIME} or p.marker for p in packages):
        if pyproject is None:
            lock.notes.append(
                f"no pyproject.toml beside this lock_version {excerpt(lock_version)} lock "
                "(no groups or markers per package): every locked package is "
                "taken, on every platform"
            )
        else:  # groups and markers live on the graph: walk it from the declared dependencies
            groups_roots, extras_roots = declared_roots(pyproject)
            lock.roots = {**extras_roots, **groups_roots}
            lock.edges, lock.extra_edges = edges, extra_edges
    return lock


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
