"""pdm.lock (lock_version 4.x, ``inherit_metadata`` strategy): flat, markers per package."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from krakend_tools.errors import InputError
from krakend_tools.lockfiles import RUNTIME, LockedPackage, Lockfile
from krakend_tools.lockfiles._common import (
    array,
    entry_lines,
    file_name,
    line_at,
    load_toml,
    marker_of,
    name_of,
    specifier_of,
    split_files,
    table,
    version_of,
)
from krakend_tools.lockfiles._pyproject import direct_names, read_pyproject

TOOL = "pdm"
SUPPORTED_MAJOR = 4


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
    if lock_version.split(".", 1)[0] != str(SUPPORTED_MAJOR):
        raise InputError(
            f"unsupported pdm.lock lock_version {lock_version!r} (supported: {SUPPORTED_MAJOR}.x)", path=path
        )
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
    for index, raw in enumerate(array(data.get("package"), "[[package]]", path)):
        line = line_at(lines, index)
        entry = table(raw, "[[package]]", path, line)
        name = name_of(entry.get("name"), path, line)
        raw_version = entry.get("version")
        version = None if raw_version is None else version_of(raw_version, path, line, name)
        groups = frozenset(
            RUNTIME if g == "default" else str(g) for g in array(entry.get("groups", ["default"]), "groups", path, line)
        )
        names = [
            n
            for f in array(entry.get("files"), f"files of {name}", path, line)
            if isinstance(f, Mapping) and (n := file_name(f.get("file") or f.get("url")))
        ]
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
            )
        )
    project = None
    if pyproject is not None:
        raw_name = table(pyproject.get("project"), "[project]", path).get("name")
        project = name_of(raw_name, path, None) if isinstance(raw_name, str) else None
    return Lockfile(
        path=path,
        tool=TOOL,
        packages=packages,
        requires_python=requires_python,
        lock_version=lock_version,
        project=project,
    )
