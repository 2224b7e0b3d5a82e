"""Which locked packages apply to a target environment, groups and extras."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from krakend_tools.errors import InputError
from krakend_tools.lockfiles import RUNTIME, Edge, LockedPackage, Lockfile

if TYPE_CHECKING:
    from packaging.markers import Marker

Env = dict[str, "str | frozenset[str]"]


def select(
    lock: Lockfile, environment: Mapping[str, str], groups: frozenset[str], extras: frozenset[str]
) -> list[LockedPackage]:
    """Packages of ``lock`` installed for ``environment`` with RUNTIME + ``groups`` + ``extras``.

    ``environment`` is a full PEP 508 environment (never the running interpreter's).
    """
    from packaging.utils import canonicalize_name

    extras = frozenset(canonicalize_name(e) for e in extras)
    wanted = frozenset({RUNTIME}) | groups
    env: Env = dict(environment)
    env["extras"] = extras
    env["dependency_groups"] = wanted
    judge = _Judge(lock, env, extras)
    if lock.roots:
        return _walk(lock, judge, wanted, extras)
    wanted_all = wanted | extras
    return [p for p in lock.packages if p.groups & wanted_all and judge.applies(p.marker, p.line)]


class _Judge:
    """Evaluates markers once each (lockfiles share a few marker objects among many entries)."""

    def __init__(self, lock: Lockfile, env: Env, extras: frozenset[str]) -> None:
        self.lock = lock
        self.env = env
        self.extra_values = ("", *sorted(extras))
        self.seen: dict[int, bool] = {}

    def applies(self, marker: Marker | None, line: int | None = None) -> bool:
        if marker is None:
            return True
        found = self.seen.get(id(marker))
        if found is None:
            found = self.seen[id(marker)] = self._evaluate(marker, line)
        return found

    def _evaluate(self, marker: Marker, line: int | None) -> bool:
        from packaging.markers import UndefinedComparison, UndefinedEnvironmentName

        try:
            for extra in self.extra_values:
                self.env["extra"] = extra
                if marker.evaluate(self.env, context="lock_file"):
                    return True
            return False
        except (UndefinedComparison, UndefinedEnvironmentName) as err:
            raise InputError(f"cannot evaluate marker {str(marker)!r}: {err}", path=self.lock.path, line=line) from None


def _walk(lock: Lockfile, judge: _Judge, groups: frozenset[str], extras: frozenset[str]) -> list[LockedPackage]:
    by_name: dict[str, list[LockedPackage]] = {}
    for pkg in lock.packages:
        by_name.setdefault(pkg.name, []).append(pkg)

    def resolve(target: str) -> list[tuple[str, LockedPackage]]:
        name, sep, version = target.partition("==")
        found = by_name.get(name, [])
        if sep:
            found = [p for p in found if p.version is not None and str(p.version) == version]
        return [(target, p) for p in found]

    selected: dict[int, LockedPackage] = {}
    enabled: dict[str, set[str]] = {}  # key -> extras already followed
    todo: list[Edge] = []
    for group in sorted(groups | extras):
        todo.extend(lock.roots.get(group, ()))
    while todo:
        edge = todo.pop()
        if not judge.applies(edge.marker):
            continue
        first = edge.target not in enabled
        done = enabled.setdefault(edge.target, set())
        new_extras = edge.extras - done
        if not first and not new_extras:
            continue
        done |= new_extras
        if edge.target == lock.project:  # the project's own extras, e.g. all = [me[a], me[b]]
            for extra in new_extras:
                todo.extend(lock.roots.get(extra, ()))
            continue
        for key, pkg in resolve(edge.target):
            selected[id(pkg)] = pkg
            if first:
                todo.extend(lock.edges.get(key, ()))
            for extra in new_extras:
                todo.extend(lock.extra_edges.get(key, {}).get(extra, ()))
    return [p for p in lock.packages if id(p) in selected]
