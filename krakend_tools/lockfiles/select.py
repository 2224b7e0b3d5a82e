"""Which locked packages apply to a target environment, groups and extras."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from krakend_tools.errors import InputError
from krakend_tools.files import excerpt, first_line
from krakend_tools.lockfiles._pyproject import declared_roots, read_pyproject
from krakend_tools.lockfiles.model import RUNTIME, Edge, LockedPackage, Lockfile

if TYPE_CHECKING:
    from packaging.markers import Marker

Env = dict[str, "str | frozenset[str]"]


def select(
    lock: Lockfile, environment: Mapping[str, str], groups: Iterable[str] = (), extras: Iterable[str] = ()
) -> list[LockedPackage]:
    """Packages of ``lock`` installed for ``environment`` with RUNTIME + ``groups`` + ``extras``.

    ``environment`` is a full PEP 508 environment (never the running interpreter's). One
    package per name and version, in lockfile order.
    """
    from packaging.utils import canonicalize_name

    groups = frozenset(groups)
    extras = frozenset(canonicalize_name(e) for e in extras)
    unknown = sorted(extras - lock.extras_defined) if lock.extras_defined is not None else []
    if unknown:
        defined = sorted(lock.extras_defined or ())
        known = ", ".join(map(excerpt, defined[:10])) + (f" and {len(defined) - 10} more" if len(defined) > 10 else "")
        message = f"extra {excerpt(unknown[0])} is not defined by the project (defined: {known or 'none'})"
        raise InputError(message, path=lock.path)
    wanted = frozenset({RUNTIME}) | groups
    env: Env = dict(environment)
    env["extras"] = extras | _conflict_names(lock.project, groups, extras)
    env["dependency_groups"] = (lock.default_groups or frozenset({RUNTIME})) | groups
    judge = _Judge(lock, env, extras)
    if lock.roots:
        chosen = _walk(lock, judge, wanted, extras)
    else:
        wanted_all = wanted | extras
        chosen = [p for p in lock.packages if p.groups & wanted_all and judge.applies(p.marker, p.line)]
    out: list[LockedPackage] = []
    seen: set[tuple[str, object]] = set()
    for pkg in chosen:
        if pkg.problem is not None:
            raise InputError(pkg.problem, path=lock.path, line=pkg.line)
        if (pkg.name, pkg.version) not in seen:
            seen.add((pkg.name, pkg.version))
            out.append(pkg)
    return out


def _conflict_names(project: str | None, groups: frozenset[str], extras: frozenset[str]) -> frozenset[str]:
    """uv's synthetic extras for a project with conflicts: ``group-<len>-<project>-<group>``."""
    if not project:
        return frozenset()
    return frozenset(
        {f"group-{len(project)}-{project}-{g}" for g in groups}
        | {f"extra-{len(project)}-{project}-{e}" for e in extras}
    )


class _Judge:
    """Evaluates markers once each (lockfiles share a few marker objects among many entries)."""

    def __init__(self, lock: Lockfile, env: Env, extras: frozenset[str]) -> None:
        self.lock = lock
        self.env = env
        self.extra_values = ("", *sorted(extras))
        self.seen: dict[tuple[int, str | None], bool] = {}

    def applies(self, marker: Marker | None, line: int | None = None, via: str | None = None) -> bool:
        """Whether ``marker`` holds; ``via``: the extra of the package the edge leaves from."""
        if marker is None:
            return True
        found = self.seen.get((id(marker), via))
        if found is None:
            found = self.seen[(id(marker), via)] = self._evaluate(marker, line, via)
        return found

    def _evaluate(self, marker: Marker, line: int | None, via: str | None) -> bool:
        from packaging.markers import UndefinedComparison, UndefinedEnvironmentName

        values = self.extra_values if via is None else ("", via)
        try:
            for extra in values:
                self.env["extra"] = extra
                if marker.evaluate(self.env, context="lock_file"):
                    return True
            return False
        except (UndefinedComparison, UndefinedEnvironmentName) as err:
            message = f"cannot evaluate marker {excerpt(str(marker))}: {first_line(err)}"
            raise InputError(message, path=self.lock.path, line=line) from None


def _walk(lock: Lockfile, judge: _Judge, groups: frozenset[str], extras: frozenset[str]) -> list[LockedPackage]:
    """The packages reached from the roots of ``groups`` and ``extras`` by edges whose markers hold."""
    return _Walk(lock, judge).run([(e, None) for group in sorted(groups | extras) for e in lock.roots.get(group, ())])


Step = tuple[Edge, "str | None"]  # an edge, and the extra of the package it leaves from


class _Walk:
    """One walk of a graph lock: each target followed once, and again for each new extra."""

    def __init__(self, lock: Lockfile, judge: _Judge) -> None:
        self.lock = lock
        self.judge = judge
        self.by_name: dict[str, list[LockedPackage]] = {}
        for pkg in lock.packages:
            self.by_name.setdefault(pkg.name, []).append(pkg)
        self.selected: dict[int, LockedPackage] = {}
        self.enabled: dict[str, set[str]] = {}  # key -> extras already followed

    def run(self, todo: list[Step]) -> list[LockedPackage]:
        """Follow ``todo`` and every edge it leads to; the packages reached, in lockfile order."""
        while todo:
            edge, via = todo.pop()
            if not self.judge.applies(edge.marker, via=via):
                continue
            first = edge.target not in self.enabled
            done = self.enabled.setdefault(edge.target, set())
            new_extras = edge.extras - done
            if not first and not new_extras:
                continue
            done |= new_extras
            todo.extend(self._arrive(edge.target, first, new_extras))
        return [p for p in self.lock.packages if id(p) in self.selected]

    def _arrive(self, target: str, first: bool, new_extras: frozenset[str]) -> list[Step]:
        """Select what ``target`` names; the edges to follow from it: its own the first time,
        those of each extra newly asked."""
        lock = self.lock
        if target == lock.project:  # the project's own extras, e.g. all = [me[a], me[b]]
            return [(e, None) for extra in new_extras for e in lock.roots.get(extra, ())]
        steps: list[Step] = []
        for key, pkg in self._resolve(target):
            if not self.judge.applies(pkg.marker, pkg.line):  # a marker of its own (Poetry 1.0)
                continue
            self.selected[id(pkg)] = pkg
            if first:
                steps.extend((e, None) for e in lock.edges.get(key, ()))
            for extra in new_extras:
                steps.extend((e, extra) for e in lock.extra_edges.get(key, {}).get(extra, ()))
        return steps

    def _resolve(self, target: str) -> list[tuple[str, LockedPackage]]:
        """``(key, package)`` an edge's target names: a graph node, a ``name==version``, or a name."""
        if target in self.lock.nodes:
            return [(target, self.lock.nodes[target])]
        name, sep, version = target.partition("==")
        found = self.by_name.get(name, [])
        if sep:
            found = [p for p in found if p.version is not None and str(p.version) == version]
        elif len(found) > 1:
            found = _best_fit(found, self.judge)
        return [(target, p) for p in found]


def _best_fit(found: list[LockedPackage], judge: _Judge) -> list[LockedPackage]:
    """One name locked at several versions, reached by an edge that names no version (a graph
    lock without markers per package, Poetry's lock-version 2.0): as Poetry's installer, the
    highest version whose own marker and Python range admit the target."""
    python = str(judge.env.get("python_full_version", ""))
    fitting = [
        p
        for p in found
        if judge.applies(p.marker, p.line)
        and (p.requires_python is None or not python or p.requires_python.contains(python, prereleases=True))
    ]
    versioned = [p for p in fitting if p.version is not None]
    if len(versioned) != len(fitting) or not versioned:
        return fitting
    return [max(versioned, key=lambda p: p.version or 0)]


def known_groups(lock: Lockfile) -> frozenset[str] | None:
    """Every dependency group the lock (or the pyproject.toml beside it) names; None when the
    format has no groups to tell (a requirements file, a pylock without ``dependency-groups``)."""
    if lock.tool == "requirements" or (lock.tool == "pylock" and lock.groups_defined is None):
        return None
    known = {g for p in lock.packages for g in p.groups} | set(lock.roots) | set(lock.groups_defined or ())
    known |= set(lock.default_groups or ()) | set(lock.extras_defined or ()) | {RUNTIME, "default"}
    if lock.tool == "pipenv":  # Pipfile.lock's "develop" section: there even when empty
        known.add("dev")
    pyproject = read_pyproject(lock.path)
    if pyproject is not None:
        known |= set(declared_roots(pyproject)[0])
    return frozenset(known)
