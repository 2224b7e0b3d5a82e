"""Lockfiles: one module per format, all returning the same :class:`Lockfile`.

Each format module exposes ``TOOL`` (its name), ``matches(path, text) -> bool`` and
``parse(path, text) -> Lockfile``; parse errors are raised as
:class:`krakend_tools.errors.InputError` naming the file and, when known, the line.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from krakend_tools.errors import InputError

if TYPE_CHECKING:
    from packaging.markers import Marker
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

# Detection order matters: content sniffing of the more specific formats first.
FORMATS = ("poetry", "uv", "pylock", "pdm", "pipfile", "requirements")
# File names autodetected in a folder, in order of preference.
KNOWN_NAMES = ("uv.lock", "poetry.lock", "pylock.toml", "pdm.lock", "Pipfile.lock", "requirements.txt")

# A file with one of these names is that format (only the other names are sniffed).
_BY_NAME = {"poetry.lock": "poetry", "uv.lock": "uv", "pdm.lock": "pdm", "Pipfile.lock": "pipfile"}

RUNTIME = "main"  # the group name for runtime (non-optional) dependencies, whatever the tool calls it


@dataclass(frozen=True)
class Edge:
    """A dependency edge of a graph-shaped lockfile (uv.lock): ``source -> target``."""

    target: str  # canonical name
    marker: Marker | None = None
    extras: frozenset[str] = frozenset()  # extras of the target that this edge enables


@dataclass(frozen=True)
class LockedPackage:
    """One pinned package as the lockfile records it."""

    name: str  # canonical (PEP 503)
    version: Version | None  # None for a local/VCS package without a version
    marker: Marker | None = None  # when the package applies; None = always
    groups: frozenset[str] = frozenset({RUNTIME})  # RUNTIME and/or optional groups/extras
    wheels: tuple[str, ...] = ()  # wheel file names, when the lockfile lists them
    sdist: str | None = None  # sdist file name, when the lockfile lists one
    has_file_names: bool = True  # False when the format records hashes only (Pipfile.lock)
    line: int | None = None  # 1-based line of the package's entry in the lockfile
    direct: bool = False  # a direct dependency of the project (vs transitive)
    source: str | None = None  # "registry" | "git" | "path" | "url" ...
    problem: str | None = None  # an unreadable field: an error only if the package is selected
    specifier: SpecifierSet | None = None  # the version range of an unpinned requirement (requirements files)
    requires_python: SpecifierSet | None = None  # the package's own Python range, when one name is locked twice


@dataclass
class Lockfile:
    """A parsed lockfile.

    Flat formats put a marker and groups on each package. Graph formats (uv.lock)
    instead fill ``roots`` and ``edges`` and :meth:`select` walks them.
    """

    path: Path
    tool: str  # poetry | uv | pylock | pdm | pipenv | requirements
    packages: list[LockedPackage]
    requires_python: SpecifierSet | None = None
    python_pin: str | None = None  # an exact X.Y the tool pinned (Pipfile.lock python_version)
    lock_version: str | None = None
    created_by: str | None = None  # the tool that wrote it, when recorded (pylock)
    project: str | None = None  # the root project's canonical name, when recorded
    # graph formats: group name -> root edges; package key -> outgoing edges
    roots: dict[str, list[Edge]] = field(default_factory=dict)
    edges: dict[str, list[Edge]] = field(default_factory=dict)
    extra_edges: dict[str, dict[str, list[Edge]]] = field(default_factory=dict)  # pkg -> extra -> edges
    nodes: dict[str, LockedPackage] = field(default_factory=dict)  # graph key -> package
    default_groups: frozenset[str] | None = None  # what "runtime" means, when the lock says (pylock)
    extras_defined: frozenset[str] | None = None  # the project's extras, when known
    groups_defined: frozenset[str] | None = None  # the lock's own list of groups, when it has one (pylock)
    notes: list[str] = field(default_factory=list)  # where the file strays from its spec (stderr)

    def select(
        self, environment: Mapping[str, str], groups: Iterable[str] = (), extras: Iterable[str] = ()
    ) -> list[LockedPackage]:
        """Packages that apply to ``environment`` with the runtime group plus ``groups``/``extras``."""
        from krakend_tools.check.lockfiles.select import select

        chosen: list[LockedPackage] = select(self, environment, frozenset(groups), frozenset(extras))
        return chosen

    def known_groups(self) -> frozenset[str] | None:
        """Every dependency group the lock (or the pyproject.toml beside it) names; None when the
        format has no groups to tell (a requirements file, a pylock without ``dependency-groups``)."""
        from krakend_tools.check.lockfiles._pyproject import declared_roots, read_pyproject

        if self.tool == "requirements" or (self.tool == "pylock" and self.groups_defined is None):
            return None
        known = {g for p in self.packages for g in p.groups} | set(self.roots) | set(self.groups_defined or ())
        known |= set(self.default_groups or ()) | set(self.extras_defined or ()) | {RUNTIME, "default"}
        if self.tool == "pipenv":  # Pipfile.lock's "develop" section: there even when empty
            known.add("dev")
        pyproject = read_pyproject(self.path)
        if pyproject is not None:
            known |= set(declared_roots(pyproject)[0])
        return frozenset(known)


def format_module(name: str) -> ModuleType:
    return importlib.import_module(f"krakend_tools.check.lockfiles.{name}")


def find_lockfile(folder: Path) -> Path:
    """The lockfile to use in ``folder`` when ``-s`` is not given."""
    for name in KNOWN_NAMES:
        if (folder / name).is_file():
            return folder / name
    pylocks = sorted(folder.glob("pylock.*.toml"))
    if pylocks:
        return pylocks[0]
    raise InputError(
        f"no lockfile found in {folder} (looked for {', '.join(KNOWN_NAMES)}, pylock.*.toml); pass one with -s"
    )


def lockfile_arguments(paths: Iterable[Path]) -> list[Path]:
    """The lockfiles named on the command line (as pre-commit passes them), each file once
    whatever its spelling: a ``pyproject.toml`` stands for the lockfile beside it (and is then
    read for ``[tool.krakend]`` whoever owns it). A path that names no file is an InputError;
    so is a pyproject.toml with no lockfile beside it, unless other arguments name lockfiles
    (pre-commit passes a config-only pyproject.toml along with them)."""
    from krakend_tools.config import trust

    Path.cwd()  # a current folder removed under the command is that error, not "no such file"
    found: dict[tuple[int, int], Path] = {}
    lone: list[Path] = []  # pyproject.toml files with no lockfile beside them
    for path in paths:
        if path.name == "pyproject.toml":
            if not path.is_file():
                raise InputError("no such file", path=path)
            trust(path)
            beside = _lockfile_beside(path)
            if beside is None:
                lone.append(path)
                continue
            path = beside
        found.setdefault(_identity(path), path)
    if lone and not found:
        raise InputError("no lockfile next to it, nothing to check", path=lone[0])
    return list(found.values())


PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")  # what makes a folder a project


def hook_arguments(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """The files pre-commit passes, as :func:`lockfile_arguments`, keeping only a plugin's
    lockfiles: a requirements file counts when a project file is beside it (a
    ``docs/requirements.txt`` is no plugin's lockfile), a ``pyproject.toml`` when a lockfile is
    beside it. Each file passed over is named in a note: ``(kept, notes)``."""
    kept: list[Path] = []
    notes: list[str] = []
    for path in paths:
        if path.name == "pyproject.toml" and path.is_file() and _lockfile_beside(path) is None:
            notes.append(f"{path}: note: not checked: no lockfile beside it")
        elif _requirements_name(path) and not any((path.parent / name).is_file() for name in PROJECT_FILES):
            notes.append(
                f"{path}: note: not checked: no {' or '.join(PROJECT_FILES)} beside it, so no plugin's "
                "lockfile (check it with -s)"
            )
        else:
            kept.append(path)
    return (lockfile_arguments(kept) if kept else []), notes


def _requirements_name(path: Path) -> bool:
    return path.name not in KNOWN_NAMES[:-1] and path.suffix in (".txt", ".in")


def _lockfile_beside(pyproject: Path) -> Path | None:
    try:
        return find_lockfile(pyproject.parent)
    except InputError:
        return None


def _identity(path: Path) -> tuple[int, int]:
    """``(device, inode)`` of the file ``path`` names, else an InputError."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise InputError(f"cannot read lockfile: {reason}", path=path) from None
    return info.st_dev, info.st_ino


def load_lockfile(path: Path) -> Lockfile:
    """Detect the format of ``path`` by name and content and parse it."""
    from krakend_tools.check.lockfiles._common import read_text

    text = read_text(path, "lockfile")
    named = _BY_NAME.get(path.name)
    for name in (named,) if named else FORMATS:
        module = format_module(name)
        if module.matches(path, text):
            lock: Lockfile = module.parse(path, text)
            return lock
    raise InputError(
        "unknown lockfile format (expected poetry.lock, uv.lock, pylock.toml, "
        "pdm.lock, Pipfile.lock or requirements.txt)",
        path=path,
    )
