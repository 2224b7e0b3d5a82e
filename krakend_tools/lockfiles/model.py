"""The lockfile model every format reads into: a :class:`Lockfile` of :class:`LockedPackage`
entries and, for graph-shaped locks, :class:`Edge` lists from roots and packages; and
:class:`LockfileReader`, what each format module provides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from packaging.markers import Marker
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

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


class LockfileReader(Protocol):
    """A lockfile format: a module with ``TOOL``, ``matches`` and ``parse`` (see the registry,
    :data:`krakend_tools.lockfiles.READERS`)."""

    TOOL: str  # the tool's name, as Lockfile.tool records it

    def matches(self, path: Path, text: str) -> bool:
        """Whether ``text`` (read from ``path``) is a lockfile of this format."""
        ...

    def parse(self, path: Path, text: str) -> Lockfile:
        """The lockfile ``text``; a bad one is an InputError naming ``path`` and, when known, the line."""
        ...
