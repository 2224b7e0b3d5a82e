"""Pipfile.lock (pipfile-spec 6, or older without it): JSON, ``default`` = runtime, ``develop`` = group "dev"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError
from krakend_tools.files import excerpt, load_json, read_text
from krakend_tools.lockfiles._common import marker_of, name_of, table, version_of
from krakend_tools.lockfiles.model import RUNTIME, LockedPackage, Lockfile

TOOL = "pipenv"
SUPPORTED = (6,)
SECTIONS = {"default": RUNTIME, "develop": "dev"}
_SECTION = re.compile(r'^ {4}"(default|develop)": \{')
_ENTRY = re.compile(r'^ {8}"([^"]+)": [{"]')


def matches(path: Path, text: str) -> bool:
    """Pipfile.lock by name, or a JSON object with pipenv's ``_meta``."""
    if path.name == "Pipfile.lock":
        return True
    return text.lstrip().startswith("{") and '"_meta"' in text and '"default"' in text


def parse(path: Path, text: str) -> Lockfile:
    """Parse a Pipfile.lock."""
    data = load_json(path, text)
    if not isinstance(data, Mapping):
        raise InputError("a Pipfile.lock must be a JSON object", path=path, line=1)
    meta = table(data.get("_meta"), "_meta", path)
    notes: list[str] = []
    spec = _spec(meta, data, notes, path)
    pin = _python_pin(table(meta.get("requires"), "_meta.requires", path))
    return Lockfile(
        path=path,
        tool=TOOL,
        packages=_packages(data, text, path),
        python_pin=pin,
        lock_version=str(spec),
        notes=notes,
        extras_defined=frozenset(),
    )  # a Pipfile has no extras


def _spec(meta: Mapping[str, Any], data: Mapping[str, Any], notes: list[str], path: Path) -> object:
    """``_meta.pipfile-spec``, one this reader supports; a lock without one is read as the last."""
    spec = meta.get("pipfile-spec")
    if spec is None and ("default" in data or "develop" in data):
        notes.append("no _meta.pipfile-spec: read as pipfile-spec 6")
        spec = SUPPORTED[-1]
    if spec not in SUPPORTED:
        raise InputError(
            f"unsupported Pipfile.lock pipfile-spec {excerpt(spec)} (supported: {', '.join(map(str, SUPPORTED))})",
            path=path,
        )
    return spec


def _python_pin(requires: Mapping[str, Any]) -> str | None:
    """The Python the lock was made with: a pin (``python_pin``), not a requires-python range."""
    pin = requires.get("python_version")
    if pin is None and isinstance(requires.get("python_full_version"), str):
        pin = ".".join(requires["python_full_version"].split(".")[:2])
    return pin if isinstance(pin, str) else None


def _packages(data: Mapping[str, Any], text: str, path: Path) -> list[LockedPackage]:
    """The packages of both sections; one in both (same version) is one package in both groups."""
    direct = _declared(path)
    lines = _entry_lines(text)
    seen: dict[tuple[str, str | None], int] = {}
    packages: list[LockedPackage] = []
    for section, group in SECTIONS.items():
        for raw_name, raw in table(data.get(section), section, path).items():
            line = lines.get((section, raw_name))
            if isinstance(raw, str):  # before pipfile-spec (2017): the entry is the pin itself
                raw = {} if raw.strip() == "*" else {"version": raw if raw.startswith("==") else f"=={raw}"}
            entry = table(raw, f"{section}.{excerpt(raw_name)}", path, line)
            pkg = _package(raw_name, entry, group, path, line)
            if pkg.name in direct:
                pkg = replace(pkg, direct=True)
            key = (pkg.name, str(pkg.version) if pkg.version else None)
            if key in seen:
                old = packages[seen[key]]
                packages[seen[key]] = replace(old, groups=old.groups | pkg.groups)
                continue
            seen[key] = len(packages)
            packages.append(pkg)
    return packages


def _package(raw_name: str, entry: Mapping[str, Any], group: str, path: Path, line: int | None) -> LockedPackage:
    name = name_of(raw_name, path, line)
    pinned = entry.get("version")
    version = None
    problem = None
    if pinned is not None:
        if not isinstance(pinned, str) or not pinned.startswith("=="):
            problem = f"version of {name} must be pinned as '==X', not {excerpt(pinned)}"
        else:
            try:
                version = version_of(pinned[2:].strip(), path, line, name)
            except InputError:
                problem = f"invalid version {excerpt(pinned[2:].strip())} for {name}"
        if problem and not entry.get("markers"):
            raise InputError(problem, path=path, line=line)
        # pipenv writes "==>=306" for a ">=306" spec with markers: that is an error only for
        # a target where the markers hold (raised by select)
    source = "registry"
    if entry.get("git"):
        source = "git"
    elif entry.get("path") or entry.get("file"):
        source = "path"
    elif entry.get("url"):
        source = "url"
    return LockedPackage(
        name=name,
        version=version,
        marker=marker_of(entry.get("markers"), path, line),
        groups=frozenset({group}),
        has_file_names=False,
        line=line,
        direct=False,
        source=source,
        problem=problem,
    )


def _declared(path: Path) -> frozenset[str]:
    """Names the Pipfile beside the lockfile lists (its direct dependencies), if any."""
    import tomllib

    from packaging.utils import canonicalize_name

    try:
        pipfile = tomllib.loads(read_text(path.parent / "Pipfile", "Pipfile"))
    except (InputError, ValueError, RecursionError):  # TOMLDecodeError is a ValueError
        return frozenset()
    return frozenset(canonicalize_name(n) for s in ("packages", "dev-packages") for n in _map(pipfile.get(s)))


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _entry_lines(text: str) -> dict[tuple[str, str], int]:
    """(section, package key) -> 1-based line, for pipenv's 4-space indented output."""
    out: dict[tuple[str, str], int] = {}
    section = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith('    "'):
            found = _SECTION.match(raw)
            section = found.group(1) if found else ""
        elif section and raw.startswith('        "'):
            entry = _ENTRY.match(raw)
            if entry:
                out[(section, entry.group(1))] = number
    return out
