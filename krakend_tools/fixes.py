"""Fix commands in the plugin author's own tool: one combined command per lockfile.

A plain ``add`` of a transitive dependency turns it into a direct one and can fight the
resolver; each tool has a constraint/override mechanism for that case instead. Lines that
start with ``#`` are edits to make by hand; the others can be pasted into a shell.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from krakend_tools.escape import shown
from krakend_tools.lockfiles import LockedPackage, Lockfile

if TYPE_CHECKING:
    from packaging.requirements import Requirement

Mismatch = tuple[LockedPackage, str]  # a locked package and the gateway's version
_PLAIN = re.compile(r"[A-Za-z0-9._+=-]+")  # a pin no shell reads specially, inside quotes or not


def fix_commands(lock: Lockfile, mismatches: Sequence[Mismatch]) -> list[str]:
    """Shell lines that pin every package of ``mismatches`` to the gateway's version at once;
    first a warning for each pin the plugin's own declared requirements exclude."""
    if not mismatches:
        return []
    direct = [f"{p.name}=={want}" for p, want in mismatches if p.direct]
    transitive = [f"{p.name}=={want}" for p, want in mismatches if not p.direct]
    pins = direct + transitive
    lines = requirement_conflicts(lock, mismatches) + _commands(lock, mismatches, direct, transitive, pins)
    return [shown(line) if line.startswith("#") else line for line in lines]  # a comment stays one line


def _commands(
    lock: Lockfile, mismatches: Sequence[Mismatch], direct: list[str], transitive: list[str], pins: list[str]
) -> list[str]:
    lines: list[str] = []
    tool = lock.tool
    if tool == "uv" or (tool == "pylock" and lock.created_by == "uv"):
        if transitive:
            lines.append(f"# pyproject.toml: [tool.uv] constraint-dependencies = [{_toml_strings(transitive)}]")
        lines.append(f"uv add {_quoted(direct)}" if direct else "uv lock")
    elif tool == "poetry":
        if transitive:
            names = ", ".join(p.name for p, _ in mismatches if not p.direct)
            lines.append(f"# transitive ({names}): pinned as explicit constraints by this command")
        lines.append(f"poetry add --lock {_quoted(pins)}")
    elif tool == "pdm":
        if transitive:
            overrides = ", ".join(f'{p.name} = "=={want}"' for p, want in mismatches if not p.direct)
            lines.append(f"# pyproject.toml: [tool.pdm.resolution.overrides] {overrides}")
        lines.append(f"pdm add {_quoted(direct)}" if direct else "pdm lock")
    elif tool == "pipenv":
        if direct:
            lines.append(f"pipenv install {_quoted(direct)}")
        if transitive:
            lines.append(f"pipenv upgrade {_quoted(transitive)}")
    elif tool == "pylock":
        lines.append(f"printf '%s\\n' {_single_quoted(pins)} >> constraints.txt")
        lines.append("pip lock -c constraints.txt .")
    else:
        source = shlex.quote(lock.path.with_suffix(".in").name)
        upgrades = " ".join(f"--upgrade-package {_single_quoted([p])}" for p in pins)
        lines.append(f"pip-compile {upgrades} {source}")
    return lines


def _quoted(pins: Sequence[str], quote: str = '"') -> str:
    """Shell words: an ordinary pin in ``quote`` as ever; any other shell-quoted (``shlex.quote``),
    so that pasting the line runs nothing but the command."""
    return " ".join(f"{quote}{p}{quote}" if _PLAIN.fullmatch(p) else shlex.quote(p) for p in pins)


def _single_quoted(pins: Sequence[str]) -> str:
    return _quoted(pins, "'")


def _toml_strings(pins: Sequence[str]) -> str:
    """TOML basic strings (a JSON string is one), comma-separated."""
    return ", ".join(json.dumps(p) for p in pins)


def requirement_conflicts(lock: Lockfile, mismatches: Sequence[Mismatch]) -> list[str]:
    """``# warning:`` lines for each gateway version that the plugin's pyproject excludes:
    the fix cannot resolve until that requirement changes."""
    from packaging.version import InvalidVersion, Version

    from krakend_tools.lockfiles._pyproject import read_pyproject

    pyproject = read_pyproject(lock.path)
    if pyproject is None:
        return []
    declared = declared_requirements(pyproject)
    lines = []
    for pkg, want in mismatches:
        try:
            version = Version(want)
        except InvalidVersion:
            continue
        for text, req in declared.get(pkg.name, []):
            if not req.specifier.contains(version, prereleases=True):
                lines.append(
                    f'# warning: pyproject.toml requires "{text}", which excludes the gateway\'s '
                    f'{pkg.name} {want}: change that requirement first (e.g. to "{pkg.name}=={want}")'
                )
    return lines


def declared_requirements(pyproject: Mapping[str, Any]) -> dict[str, list[tuple[str, Requirement]]]:
    """Canonical name -> the project's own requirements on it, as written and parsed (PEP 621,
    PEP 735 and Poetry tables; requirements without a version constraint are left out)."""
    from packaging import requirements
    from packaging.utils import canonicalize_name

    from krakend_tools.lockfiles._common import caret_tilde_to_pep440

    specs: list[str] = []
    project = _tables(pyproject.get("project"))
    specs += _strings(project.get("dependencies"))
    for group in _tables(project.get("optional-dependencies")).values():
        specs += _strings(group)
    for group in _tables(pyproject.get("dependency-groups")).values():
        specs += _strings(group)
    poetry = _tables(_tables(pyproject.get("tool")).get("poetry"))
    for name, spec in _tables(poetry.get("dependencies")).items():
        version = spec.get("version") if isinstance(spec, dict) else spec
        if name.lower() != "python" and isinstance(version, str) and version.strip() not in ("", "*"):
            try:
                specs.append(f"{name}{caret_tilde_to_pep440(version)}")
            except ValueError:
                continue
    out: dict[str, list[tuple[str, Requirement]]] = {}
    for text in specs:
        try:
            req = requirements.Requirement(text)
        except requirements.InvalidRequirement:
            continue
        if req.specifier:
            out.setdefault(canonicalize_name(req.name), []).append((text.split(";")[0].strip(), req))
    return out


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _tables(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
