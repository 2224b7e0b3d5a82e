"""requirements.txt: pip-compile / uv export output and hand-written lists.

``-r`` includes add packages, ``-c`` constraints only pin packages listed elsewhere.
pip-compile's ``# via`` comments tell direct dependencies from transitive ones.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from krakend_tools.errors import InputError
from krakend_tools.files import MAX_FILE_BYTES, excerpt, first_line, read_bytes
from krakend_tools.lockfiles._common import check_expression, file_name, marker_of, name_of, version_of
from krakend_tools.lockfiles.model import LockedPackage, Lockfile

if TYPE_CHECKING:
    from packaging.version import Version

TOOL = "requirements"
MAX_INCLUDE_DEPTH = 32  # -r/-c nesting
MAX_INCLUDES = 256  # files read through -r/-c; all of them share MAX_FILE_BYTES
_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s;]+)\s*(?:;(.*))?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[|==|>=|<=|~=|!=|===|<|>|;|@|$)")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_WHEEL = re.compile(r"^([^-]+)-([^-]+)-.*\.whl$")


def matches(path: Path, text: str) -> bool:
    """``*.txt``, ``*.in`` and ``requirements*``, or text whose lines read as requirements."""
    name = path.name
    if name.endswith((".txt", ".in")) or name.startswith("requirements"):
        return True
    if text.lstrip().startswith(("{", "[")):
        return False
    seen = 0
    for raw in text.splitlines()[:50]:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if not (line.startswith("-") or _NAME.match(line)):
            return False
        seen += 1
    return seen > 0


@dataclass
class _State:
    packages: list[LockedPackage] = field(default_factory=list)
    constraints: dict[str, LockedPackage] = field(default_factory=dict)
    visited: set[tuple[int, int]] = field(default_factory=set)  # (device, inode) of files read
    budget: int = MAX_FILE_BYTES  # bytes left for -r/-c includes
    via: dict[int, list[str]] = field(default_factory=dict)  # package index -> via entries
    root: Path = Path("/")  # the project's folder: no -r/-c file is read outside it (real path)


def parse(path: Path, text: str) -> Lockfile:
    """Parse a requirements file with its ``-r`` includes and ``-c`` constraints."""
    state = _State(budget=MAX_FILE_BYTES - len(text.encode("utf-8", "surrogatepass")), root=project_root(path))
    try:
        info = path.stat()
        state.visited.add((info.st_dev, info.st_ino))
    except (OSError, ValueError):
        pass
    _read(path, text, state, constraint=False, top=True, depth=0)
    packages = state.packages
    if state.constraints:
        packages = [
            replace(p, version=state.constraints[p.name].version)
            if p.version is None and p.name in state.constraints
            else p
            for p in packages
        ]
    project = _project_name(path)
    if state.via:
        packages = [replace(p, direct=_direct(state.via.get(i, []), project)) for i, p in enumerate(packages)]
    return Lockfile(path=path, tool=TOOL, packages=packages, project=project)


def _read(path: Path, text: str, state: _State, *, constraint: bool, top: bool, depth: int) -> None:
    """One file's lines into ``state``: packages, or constraints when ``constraint``."""
    last: int | None = None  # index of the last package, for "# via" comments
    in_via = False
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            if last is not None and not constraint:
                in_via = _read_via(stripped, last, state, in_via)
            continue
        in_via = False
        stripped = re.split(r"\s+#", stripped, maxsplit=1)[0].strip()
        if not stripped:
            continue
        if stripped.startswith("-"):
            pkg = _option(path, number, stripped, state, constraint=constraint, top=top, depth=depth)
            if pkg is not None and not constraint:
                last = len(state.packages)
                state.packages.append(pkg)
            continue
        pkg = _requirement(stripped, path, number, top)
        if pkg is None:
            continue
        if constraint:
            state.constraints.setdefault(pkg.name, pkg)
        else:
            last = len(state.packages)
            state.packages.append(pkg)


def _read_via(comment_line: str, last: int, state: _State, in_via: bool) -> bool:
    """A comment after the package at ``last``: pip-compile's ``# via`` list (one line, or the
    lines that follow it). Whether a via list is open after it."""
    comment = comment_line.lstrip("#").strip()
    if comment.startswith("via"):
        rest = comment[3:].strip()
        state.via.setdefault(last, []).extend([rest] if rest else [])
        return True
    if in_via and comment:
        state.via.setdefault(last, []).append(comment)
    return in_via


def _option(
    path: Path, number: int, line: str, state: _State, *, constraint: bool, top: bool, depth: int
) -> LockedPackage | None:
    """A pip option line: ``-r``/``-c`` read their file, ``-e`` is a package; the others
    (index, hash...) are tolerated."""
    option, _, value = line.partition(" ")
    option, eq, inline = option.partition("=")
    value = (inline if eq else value).strip()
    if option in ("-r", "--requirement", "-c", "--constraint"):
        is_constraint = constraint or option in ("-c", "--constraint")
        _include(path, number, value, state, constraint=is_constraint, depth=depth)
    elif option in ("-e", "--editable"):
        return _url_package(value, path, number if top else None)
    return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, each with its first line number."""
    out: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            buffer.append(raw[:-1])
            continue
        buffer.append(raw)
        out.append((start, " ".join(buffer)))
        buffer = []
    if buffer:
        out.append((start, " ".join(buffer)))
    return out


def _requirement(line: str, path: Path, number: int, top: bool) -> LockedPackage | None:
    """A requirement line (``line`` is reported only for the top file): a pin, a URL or PEP 508."""
    where = number if top else None
    line = re.split(r"\s--(?:hash|config-settings|global-option)[=\s]", line, maxsplit=1)[0]
    line = line.strip()
    check_expression(line, "requirement", path, number)
    pinned = _PINNED.match(line)
    if pinned:
        name = name_of(pinned.group(1), path, number)
        pin = version_of(pinned.group(2), path, number, name)
        marker = marker_of((pinned.group(3) or "").strip() or None, path, number)
        return LockedPackage(name=name, version=pin, marker=marker, has_file_names=False, line=where, source="registry")
    if "://" in line and "@" not in line.split("://", 1)[0] or line.endswith(".whl"):
        return _url_package(line, path, where)
    return _pep508(line, path, number, where)


def _pep508(line: str, path: Path, number: int, where: int | None) -> LockedPackage:
    """A PEP 508 requirement: pinned by one ``==``, or by the wheel its URL names; else a range."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(line)
    except (InvalidRequirement, ValueError, RecursionError) as err:
        raise InputError(f"invalid requirement {excerpt(line)}: {first_line(err)}", path=path, line=number) from None
    name = name_of(req.name, path, number)
    version: Version | None = None
    pins = [s for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
    if len(pins) == 1:
        version = version_of(pins[0].version, path, number, name)
    wheels: tuple[str, ...] = ()
    if req.url:
        wheel = file_name(req.url)
        wheels = (wheel,) if wheel and wheel.endswith(".whl") else ()
        found = _WHEEL.match(wheel or "")
        if found and version is None:  # name @ URL-to-a-wheel: the wheel names its version
            version = version_of(found.group(2), path, number, name)
    return LockedPackage(
        name=name,
        version=version,
        marker=req.marker,
        has_file_names=bool(wheels),
        wheels=wheels,
        line=where,
        source=_url_kind(req.url) if req.url else "registry",
        specifier=req.specifier if version is None and not req.url else None,
    )


def _url_package(value: str, path: Path, line: int | None) -> LockedPackage | None:
    """``-e``/URL/path lines: a name from ``#egg=`` or a wheel file name, else skipped."""
    value = value.split(";", 1)[0].strip()
    egg = _EGG.search(value)
    wheel = file_name(value)
    if wheel and (found := _WHEEL.match(wheel)):
        name = name_of(found.group(1), path, line)
        return LockedPackage(
            name=name,
            version=version_of(found.group(2), path, line, name),
            wheels=(wheel,),
            line=line,
            source=_url_kind(value),
        )
    if egg:
        return LockedPackage(
            name=name_of(egg.group(1), path, line),
            version=None,
            has_file_names=False,
            line=line,
            source=_url_kind(value),
        )
    return None


def _url_kind(url: str) -> str:
    if url.startswith(("git+", "hg+", "svn+", "bzr+")):
        return "git" if url.startswith("git+") else "vcs"
    return "url" if "://" in url and not url.startswith("file:") else "path"


def _include(path: Path, number: int, value: str, state: _State, *, constraint: bool, depth: int) -> None:
    """Read one ``-r``/``-c`` file: regular files only, each once (by inode, so symlink
    loops end), at most MAX_INCLUDE_DEPTH deep and MAX_INCLUDES files in all."""
    if not value:
        raise InputError("-r/-c needs a file name", path=path, line=number)
    if "://" in value:
        raise InputError(f"cannot follow a remote include {excerpt(value)}", path=path, line=number)
    if "\0" in value:
        raise InputError(f"invalid include {excerpt(value)}: NUL in the file name", path=path, line=number)
    if depth >= MAX_INCLUDE_DEPTH:
        raise InputError(f"-r/-c includes nested more than {MAX_INCLUDE_DEPTH} deep", path=path, line=number)
    target = _inside(path, number, value, state.root)
    try:
        info = target.stat()
    except (OSError, ValueError, RuntimeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise InputError(f"cannot read included file {excerpt(value)}: {reason}", path=path, line=number) from None
    key = (info.st_dev, info.st_ino)
    if key in state.visited:
        return
    if len(state.visited) >= MAX_INCLUDES:
        raise InputError(f"more than {MAX_INCLUDES} files through -r/-c", path=path, line=number)
    state.visited.add(key)
    try:
        data = read_bytes(target, "requirements file", max(state.budget, 0))
        text = data.decode("utf-8-sig")
    except InputError as err:
        raise InputError(f"included file {excerpt(value)}: {err}", path=path, line=number) from None
    except UnicodeDecodeError as err:
        raise InputError(
            f"included file {excerpt(value)}: not UTF-8 text (offset {err.start})", path=path, line=number
        ) from None
    state.budget -= len(data)
    _read(target, text, state, constraint=constraint, top=False, depth=depth + 1)


def project_root(top: Path) -> Path:
    """The folder every ``-r``/``-c`` file must be in (real path): the nearest folder, from the
    top requirements file's own upward, that holds ``.git`` or a ``pyproject.toml`` (the
    repository or project a pull request can change), else the top file's own folder."""
    folder = Path(os.path.realpath(top)).parent
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git") or os.path.isfile(candidate / "pyproject.toml"):
            return candidate
    return folder


def _inside(path: Path, number: int, value: str, root: Path) -> Path:
    """The real path of the include ``value`` of ``path``, refused (never read, so never quoted)
    when it is a special file (/proc, /sys, /dev) or outside the project ``root``."""
    real = Path(os.path.realpath(path.parent / value))
    if real.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        message = f"included file {excerpt(value)}: not a regular file ({real} is a special file), not read"
        raise InputError(message, path=path, line=number)
    if not real.is_relative_to(root):
        raise InputError(
            f"included file {excerpt(value)} is outside the project ({root}), not read", path=path, line=number
        )
    return real


def _direct(via: list[str], project: str | None) -> bool:
    """pip-compile/uv ``# via`` entries: an input file or the project itself means direct."""
    for entry in via:
        if entry.startswith("-r ") or entry.endswith(")"):
            return True
        if project and entry.split(" ", 1)[0].lower().replace("_", "-") == project:
            return True
    return False


def _project_name(path: Path) -> str | None:
    from krakend_tools.lockfiles._pyproject import read_pyproject

    pyproject = read_pyproject(path)
    if pyproject is None:
        return None
    project = pyproject.get("project")
    name = project.get("name") if isinstance(project, dict) else None
    if not isinstance(name, str):
        return None
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)
