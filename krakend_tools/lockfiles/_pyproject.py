"""The project's own declared dependencies, read from the pyproject.toml beside a lockfile."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.errors import InputError
from krakend_tools.lockfiles._common import caret_tilde_to_pep440, check_expression, marker_of
from krakend_tools.lockfiles.model import RUNTIME, Edge

if TYPE_CHECKING:
    from packaging.markers import Marker

Roots = dict[str, list[Edge]]  # group (RUNTIME, a dependency group or an extra) -> edges


def read_pyproject(lockfile: Path) -> Mapping[str, Any] | None:
    """The pyproject.toml next to ``lockfile``, or None when absent or unreadable."""
    from krakend_tools import files

    try:
        return files.read_pyproject(lockfile.parent / "pyproject.toml")
    except InputError:
        return None


def project_name(value: object) -> str | None:
    """The project's canonical name, or None for a name no package could have (PDM 1.x wrote
    ``name = ""`` for applications): the pyproject is a hint here, not the lockfile."""
    from packaging.utils import InvalidName, canonicalize_name

    if not isinstance(value, str):
        return None
    try:
        return canonicalize_name(value, validate=True)
    except InvalidName:
        return None


def declared_roots(pyproject: Mapping[str, Any]) -> tuple[Roots, Roots]:
    """``(groups, extras)``: the PEP 621/735 and Poetry dependency tables as edges.

    Anything malformed is skipped: the pyproject is a hint here, not the lockfile.
    """
    groups: Roots = {}
    extras: Roots = {}
    _standard_roots(pyproject, groups, extras)
    _poetry_roots(pyproject, groups, extras)
    return groups, extras


def _standard_roots(pyproject: Mapping[str, Any], groups: Roots, extras: Roots) -> None:
    """``[project]`` dependencies and extras, PDM's dev groups and PEP 735 dependency groups."""
    project = _map(pyproject.get("project"))
    for spec in _list(project.get("dependencies")):
        _add_pep508(groups, RUNTIME, spec)
    for extra, specs in _map(project.get("optional-dependencies")).items():
        for spec in _list(specs):
            _add_pep508(extras, _canon(extra), spec)
    pdm_groups = _map(_map(_map(pyproject.get("tool")).get("pdm")).get("dev-dependencies"))
    for group, specs in pdm_groups.items():
        for spec in _list(specs):
            _add_pep508(groups, group, spec)
    dep_groups = _map(pyproject.get("dependency-groups"))
    for group in dep_groups:
        for spec in _group_specs(dep_groups, group, set()):
            _add_pep508(groups, group, spec)


def _poetry_roots(pyproject: Mapping[str, Any], groups: Roots, extras: Roots) -> None:
    """``[tool.poetry]`` dependencies (runtime unless ``[project]`` lists its own), extras and groups."""
    poetry = _map(_map(pyproject.get("tool")).get("poetry"))
    optional: dict[str, Edge] = {}
    standard = _map(pyproject.get("project")).get("dependencies")
    for name, spec in _map(poetry.get("dependencies")).items():
        if name.lower() == "python":
            continue
        for edge, is_optional in poetry_edges(name, spec):
            if is_optional:
                optional[edge.target] = edge
            elif not standard:
                groups.setdefault(RUNTIME, []).append(edge)
    for extra, names in _map(poetry.get("extras")).items():
        for name in _list(names):
            if isinstance(name, str):
                edge = optional.get(_canon(name), Edge(_canon(name)))
                extras.setdefault(_canon(extra), []).append(edge)
    sections = [("dev", _map(poetry.get("dev-dependencies")))]
    sections += [(g, _map(_map(t).get("dependencies"))) for g, t in _map(poetry.get("group")).items()]
    for group, deps in sections:
        for name, spec in deps.items():
            for edge, _ in poetry_edges(name, spec):
                groups.setdefault(group, []).append(edge)


def direct_names(pyproject: Mapping[str, Any] | None) -> frozenset[str] | None:
    """Canonical names the project declares directly (any group or extra), if known."""
    if pyproject is None:
        return None
    groups, extras = declared_roots(pyproject)
    return frozenset(e.target for roots in (groups, extras) for edges in roots.values() for e in edges)


def _group_specs(table: Mapping[str, Any], group: str, seen: set[str]) -> list[str]:
    """The requirements of ``group`` and the groups it includes (iterative: any depth)."""
    if group in seen:
        return []
    seen.add(group)
    out: list[str] = []
    pending = [iter(_list(table.get(group)))]
    while pending:
        item = next(pending[-1], None)
        if item is None:
            pending.pop()
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            include = item.get("include-group")
            if isinstance(include, str) and include not in seen:
                seen.add(include)
                pending.append(iter(_list(table.get(include))))
    return out


def _add_pep508(roots: Roots, group: str, spec: object) -> None:
    if not isinstance(spec, str):
        return
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        check_expression(spec, "requirement", None, None)
        req = Requirement(spec)
    except (InvalidRequirement, InputError, ValueError, RecursionError):
        return
    roots.setdefault(group, []).append(Edge(_canon(req.name), req.marker, frozenset(_canon(e) for e in req.extras)))


def poetry_edges(name: str, spec: object) -> list[tuple[Edge, bool]]:
    """Edges of one Poetry dependency (a constraint string, a table or a list of tables)."""
    out: list[tuple[Edge, bool]] = []
    for item in spec if isinstance(spec, list) else [spec]:
        if isinstance(item, str):
            out.append((Edge(_canon(name)), False))
        elif isinstance(item, Mapping):
            marker = poetry_marker(item)
            extras = frozenset(_canon(e) for e in _list(item.get("extras")) if isinstance(e, str))
            out.append((Edge(_canon(name), marker, extras), bool(item.get("optional"))))
    return out


def poetry_marker(item: Mapping[str, Any]) -> Marker | None:
    """The PEP 508 marker of a Poetry dependency table (``markers``, ``platform``, ``python``)."""
    parts: list[str] = []
    if isinstance(item.get("markers"), str) and item["markers"].strip():
        parts.append(f"({item['markers']})")
    platform = item.get("platform")  # Poetry's platform = "win32" is sys_platform
    if isinstance(platform, str) and platform.strip():
        alternatives = [p.strip() for p in platform.split("||") if p.strip()]
        parts.append("(" + " or ".join(f'sys_platform == "{p}"' for p in alternatives) + ")")
    python = item.get("python")
    if isinstance(python, str) and python.strip() not in ("", "*"):
        try:
            spec = caret_tilde_to_pep440(python)
        except InputError:  # a hint only
            return None
        for clause in filter(None, spec.split(",")):
            op_len = len(clause) - len(clause.lstrip("<>=!~"))
            if op_len:
                parts.append(f'python_full_version {clause[:op_len]} "{clause[op_len:]}"')
    if not parts:
        return None
    try:
        return marker_of(" and ".join(parts), Path("pyproject.toml"), None)
    except InputError:  # a hint only: an unreadable marker means "always"
        return None


def _canon(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
