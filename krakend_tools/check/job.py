"""check-plugin: compare a plugin's lockfile with the gateway manifest."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError
from krakend_tools.files import excerpt, read_text
from krakend_tools.lockfiles.model import LockedPackage, Lockfile
from krakend_tools.lockfiles.select import known_groups
from krakend_tools.lockfiles.select import select as select_packages
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import Libc, needed_libc, tag_machine
from krakend_tools.report import SHARED_MISMATCH, Finding, FindingKind, Meta, Report

COMPILED_SOURCES = ("*.c", "*.cc", "*.cpp", "*.cxx", "*.pyx", "*.rs", "Cargo.toml")
COMPILED_BACKENDS = ("scikit_build_core", "mesonpy", "maturin", "pdm.backend.hooks", "enscons")


@dataclass(frozen=True)
class CheckRequest:
    """One ``check-plugin`` run, its settings resolved (the command line over ``[tool.krakend]``)."""

    lockfiles: tuple[Path, ...]  # at least one
    manifest: str | None = None  # --manifest: one manifest for every lockfile
    python_version: str | None = None  # -g: overrides the manifest's
    libc: str | None = None  # -l: overrides the manifest's
    groups: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    ignores: Mapping[str, str] = field(default_factory=dict)  # name -> reason: KOs accepted
    fix: bool = False  # plan the fixes (meta.fixes)
    apply: bool = False  # make them, then check again
    force: bool = False  # apply even over uncommitted changes


@dataclass
class CheckResult:
    """What a run gives the command to render: the report, and the notes to print after it."""

    report: Report
    notes: list[str]


def run_check(request: CheckRequest) -> CheckResult:
    """Read the lockfiles, check each against its project's manifest, accept the ignored KOs
    and, when asked, plan (``fix``) or make (``apply``) the fixes."""
    from krakend_tools.lockfiles import load_lockfile
    from krakend_tools.manifest.resolve import resolver

    locks = [load_lockfile(p) for p in request.lockfiles]
    notes = [f"{lock.path}: note: {note}" for lock in locks for note in lock.notes]
    manifests = resolver(request.manifest, python=request.python_version, libc=request.libc)

    def check(locks: list[Lockfile]) -> Report:
        return check_plugins(locks, manifests, groups=request.groups, extras=request.extras)

    report = check(locks)
    notes += _nothing_to_check(locks, report)
    unused = report.apply_ignores(request.ignores)
    notes += [f"note: ignore {name!r} matches no incompatibility: nothing accepted (stale?)" for name in unused]
    if request.apply:
        locks, report = _apply_fixes(report, locks, request.force, check)
        report.apply_ignores(request.ignores)
    if request.fix or request.apply:
        _attach_fixes(report, locks)
    return CheckResult(report, notes)


def _nothing_to_check(locks: list[Lockfile], report: Report) -> list[str]:
    """A note for each lockfile that passed over nothing: no package of it applies."""
    notes = []
    for lock, entry in zip(locks, report.meta["lockfiles"], strict=True):
        if entry["packages"] == 0:
            why = (
                f"none of its {len(lock.packages)} packages applies to the gateway's target"
                if lock.packages
                else "it locks no package"
            )
            notes.append(f"{lock.path}: note: nothing to check: {why}")
    return notes


def _attach_fixes(report: Report, locks: list[Lockfile]) -> None:
    """``meta.fixes``: the printed fix lines of each lockfile with a KO to fix."""
    from krakend_tools.check.fixes import report_fixes

    plans = report_fixes(report, locks)
    if plans:
        report.meta["fixes"] = {path: plan.lines() for path, plan in plans.items()}


def _apply_fixes(
    report: Report, locks: list[Lockfile], force: bool, recheck: Callable[[list[Lockfile]], Report]
) -> tuple[list[Lockfile], Report]:
    """``--apply``: each lockfile's fix made (edits, lock commands), its diff on stderr, and the
    lockfiles read and checked again."""
    from krakend_tools.check.fix_apply import apply_plan, preflight, version_changes
    from krakend_tools.check.fixes import report_fixes
    from krakend_tools.errors import print_note
    from krakend_tools.lockfiles import load_lockfile

    plans = {Path(path): plan for path, plan in report_fixes(report, locks).items()}
    if not plans:
        return locks, report
    preflight(plans, force)
    fresh = []
    for lock in locks:
        plan = plans.get(lock.path)
        if plan is None:
            fresh.append(lock)
            continue
        applied = apply_plan(lock.path, plan)
        after = load_lockfile(lock.path)
        print_note(f"{lock.path}: applied: {'; '.join(' '.join(c) for c in applied.commands) or 'edits only'}")
        for line in applied.diff() + version_changes(_versions(lock), _versions(after)):
            print_note(line)
        fresh.append(after)
    return fresh, recheck(fresh)


def _versions(lock: Lockfile) -> list[tuple[str, str | None]]:
    return [(p.name, str(p.version) if p.version is not None else None) for p in lock.packages]


def check_plugin(
    lock: Lockfile, manifest: Manifest, *, groups: Iterable[str] = (), extras: Iterable[str] = ()
) -> Report:
    """Every incompatibility between ``lock`` and ``manifest``, in rule order: the Python
    version, then the packages (platform, shared with the gateway, the plugin's own)."""
    started = time.perf_counter()
    selected = select_packages(lock, manifest.marker_environment, groups, extras)
    findings = check_python(lock, manifest) + _check_packages(lock, selected, manifest)
    meta: Meta = {
        "manifest": manifest.summary(),
        "lockfiles": [
            {
                "path": str(lock.path),
                "tool": lock.tool,
                "lock_version": lock.lock_version,
                "packages": len(selected),
                "failures": sum(1 for f in findings if not f.ok),
            }
        ],
    }
    return Report("check-plugin", findings, time.perf_counter() - started, meta)


def _check_packages(lock: Lockfile, selected: list[LockedPackage], manifest: Manifest) -> list[Finding]:
    """One finding per selected package, by name: the platform's KOs (no wheel, two pins) first,
    then the packages shared with the gateway, then the plugin's own."""
    platform: list[Finding] = []
    shared: list[Finding] = []
    own: list[Finding] = []
    supported = _rank(tuple(manifest.tags))
    pins = _pins(lock, selected)
    for pkg in sorted(selected, key=lambda p: p.name):
        if pkg.name == lock.project:
            continue
        if len(pins.get(pkg.name, ())) > 1:  # two pins that both hold for the target: one finding
            if str(pkg.version) == pins[pkg.name][0]:
                platform.append(_two_pins(lock, pkg, pins[pkg.name]))
            continue
        finding = _check_package(lock, pkg, manifest, supported)
        if manifest.distributions.get(pkg.name) is not None:
            shared.append(finding)
        else:
            (own if finding.ok else platform).append(finding)
    return platform + shared + own


def _pins(lock: Lockfile, selected: list[LockedPackage]) -> dict[str, list[str]]:
    """The versions each selected name is pinned at, in lockfile order (the project left out)."""
    pins: dict[str, list[str]] = {}
    for pkg in selected:
        if pkg.version is not None and pkg.name != lock.project:
            pins.setdefault(pkg.name, []).append(str(pkg.version))
    return pins


def _two_pins(lock: Lockfile, pkg: LockedPackage, pins: list[str]) -> Finding:
    return Finding(
        pkg.name,
        FindingKind.PACKAGE,
        False,
        "locked at two versions for this target",
        have=", ".join(pins),
        file=str(lock.path),
        line=pkg.line,
    )


def _check_package(lock: Lockfile, pkg: LockedPackage, manifest: Manifest, supported: dict[str, int]) -> Finding:
    """A package the gateway has must match its version; one it lacks must have a wheel for the target."""
    want = manifest.distributions.get(pkg.name)
    if want is not None:  # the gateway has it: never plugin-only, even unpinned
        return _check_unpinned(lock, pkg, want) if pkg.version is None else _check_shared(lock, pkg, want)
    if pkg.version is None:  # git/path/URL or dynamic-version member: the plugin's own
        return Finding(
            pkg.name,
            FindingKind.PLUGIN_ONLY,
            True,
            "only the plugin brings it; no version locked",
            have=f"({pkg.source or 'unknown'} source)",
            file=str(lock.path),
            line=pkg.line,
            details={"source": pkg.source},
        )
    return _check_plugin_only(lock, pkg, manifest, supported)


def check_plugins(
    locks: Iterable[Lockfile],
    manifest: Manifest | Callable[[Path], Manifest],
    *,
    groups: Iterable[str] = (),
    extras: Iterable[str] = (),
) -> Report:
    """:func:`check_plugin` over several lockfiles, as one report: findings in lockfile order,
    each naming its lockfile (``file``); ``meta.lockfiles`` describes every one. ``manifest``
    is one for all, or gives the manifest of a lockfile's folder (its project's
    ``[tool.krakend]``, :func:`krakend_tools.manifest.resolve.resolver`); when they differ,
    ``meta.manifest`` is None and each lockfile's entry names its manifest."""
    started = time.perf_counter()
    groups, extras = list(groups), list(extras)
    locks = list(locks)
    refuse_unknown_groups(locks, groups)
    reports = []
    used: dict[str | None, dict[str, Any]] = {}
    for lock in locks:
        chosen = manifest(lock.path.parent) if callable(manifest) else manifest
        summary = used.setdefault(chosen.source, chosen.summary())
        report = check_plugin(lock, chosen, groups=groups, extras=extras)
        report.meta["lockfiles"][0]["manifest"] = summary
        reports.append(report)
    meta: Meta = {
        "manifest": next(iter(used.values())) if len(used) == 1 else None,
        "lockfiles": [entry for r in reports for entry in r.meta["lockfiles"]],
    }
    return Report("check-plugin", [f for r in reports for f in r.findings], time.perf_counter() - started, meta)


def refuse_unknown_groups(locks: list[Lockfile], groups: list[str]) -> None:
    """An InputError for a ``--group`` that none of ``locks`` knows (a typo checks nothing), as
    for an unknown ``--extra``; lockfiles with no groups to tell (requirements files) are not asked."""
    from packaging.utils import canonicalize_name

    told = [(lock, known) for lock in locks if (known := known_groups(lock)) is not None]
    if not told or not groups:
        return
    names = {canonicalize_name(g) for _, known in told for g in known}
    for group in groups:
        if canonicalize_name(group) not in names:
            defined = sorted({g for _, known in told for g in known} - {"main", "default"})
            shown = ", ".join(map(excerpt, defined[:10])) + (
                f" and {len(defined) - 10} more" if len(defined) > 10 else ""
            )
            raise InputError(
                f"group {excerpt(group)} is not defined by the project (defined: {shown or 'none'})",
                path=told[0][0].path,
            )


def check_python(lock: Lockfile, manifest: Manifest) -> list[Finding]:
    """Rule 1: requires-python admits the gateway's Python; a pinned minor matches when compiled."""
    from packaging.version import Version

    have_version = Version(manifest.python.version)
    found: list[Finding] = []
    spec = lock.requires_python
    if spec is not None and not spec.contains(have_version, prereleases=True):
        found.append(
            Finding(
                "python",
                FindingKind.PYTHON,
                False,
                "requires-python does not admit the gateway's Python",
                have=str(spec),
                want=manifest.python.version,
                file=str(lock.path),
            )
        )
    minor = ".".join(manifest.python.version.split(".")[:2])
    if lock.python_pin and lock.python_pin != minor and is_compiled_project(lock.path.parent):
        found.append(
            Finding(
                "python",
                FindingKind.PYTHON,
                False,
                "a compiled plugin must be built for the gateway's Python minor version",
                have=lock.python_pin,
                want=minor,
                file=str(lock.path),
            )
        )
    return found


def is_compiled_project(folder: Path) -> bool:
    """Whether the project next to the lockfile compiles native code."""
    for pattern in COMPILED_SOURCES:
        if next(folder.glob(pattern), None) or next(folder.glob(f"*/{pattern}"), None):
            return True
    try:
        pyproject = read_text(folder / "pyproject.toml", "pyproject.toml")
    except InputError:
        return False
    return any(backend in pyproject for backend in COMPILED_BACKENDS)


def _check_shared(lock: Lockfile, pkg: LockedPackage, want: str) -> Finding:
    """Rule 3: a package both import must be the gateway's exact version."""
    from packaging.version import InvalidVersion, Version

    try:
        same = pkg.version == Version(want)
    except InvalidVersion:
        same = str(pkg.version) == want
    return Finding(
        pkg.name,
        FindingKind.PACKAGE,
        same,
        "same version as the gateway" if same else SHARED_MISMATCH,
        have=str(pkg.version),
        want=want,
        file=str(lock.path),
        line=pkg.line,
        details={} if same else {"direct": pkg.direct},
    )


def _check_unpinned(lock: Lockfile, pkg: LockedPackage, want: str) -> Finding:
    """Rule 3 for a package the gateway has but the lock does not pin (a requirement range, a
    git or path source): KO when the range excludes the gateway's version; else a pass that
    warns, naming the range, since the installer may still pick another version."""
    from packaging.version import InvalidVersion, Version

    def found(ok: bool, message: str, have: str, warning: str | None = None) -> Finding:
        return Finding(
            pkg.name,
            FindingKind.PACKAGE,
            ok,
            message,
            have=have,
            want=want,
            file=str(lock.path),
            line=pkg.line,
            warnings=[warning] if warning else [],
            details={"pinned": False, **({} if ok else {"direct": True})},
        )

    if pkg.source not in (None, "registry"):
        why = f"{pkg.name} comes from a {pkg.source} source, no version locked: cannot tell it is the gateway's {want}"
        return found(True, "not pinned", f"({pkg.source} source)", why)
    spec = pkg.specifier
    wanted = str(spec) if spec else "any version"
    try:
        admits = spec is None or spec.contains(Version(want), prereleases=True)
    except InvalidVersion:
        admits = True
    if not admits:
        return found(False, f"the requirement {pkg.name}{spec} excludes the gateway's version", wanted)
    why = (
        f"{pkg.name} is not pinned ({wanted}): it admits the gateway's {want}, but the installer "
        f"may pick another version; pin {pkg.name}=={want}"
    )
    return found(True, "not pinned", wanted, why)


def _check_plugin_only(lock: Lockfile, pkg: LockedPackage, manifest: Manifest, supported: dict[str, int]) -> Finding:
    """Rule 4: a package only the plugin brings needs a wheel for the target (or an sdist);
    ``supported`` ranks the target's tags (:func:`_rank`)."""

    def found(ok: bool, message: str, **details: Any) -> Finding:
        kind = FindingKind.PLUGIN_ONLY if ok else FindingKind.PLATFORM
        want = None if ok else _target_text(manifest)
        return Finding(
            pkg.name,
            kind,
            ok,
            message,
            have=str(pkg.version),
            want=want,
            file=str(lock.path),
            line=pkg.line,
            details=details,
        )

    if not pkg.has_file_names:  # cannot tell: a warning, never a silent pass
        unchecked = found(
            True, f"only the plugin brings it; {lock.tool} records no file names, wheel compatibility not checked"
        )
        unchecked.warnings.append(f"wheel compatibility not checked: {lock.tool} records no file names")
        return unchecked
    if not pkg.wheels and not pkg.sdist:
        return found(True, "only the plugin brings it")
    fitting = [w for w in pkg.wheels if not _wheel_tags(w).isdisjoint(supported)]
    if fitting:
        best = min(fitting, key=lambda w: min(supported.get(t, 1 << 30) for t in _wheel_tags(w)))
        return found(True, f"only the plugin brings it; wheel {best}", wheel=best)
    if pkg.sdist:
        why = "no wheel fits the target" if pkg.wheels else "only an sdist is locked"
        return found(True, f"only the plugin brings it; {why}, would build from source in the builder", sdist=pkg.sdist)
    return found(False, _why_no_wheel(pkg.wheels, manifest), wheels=list(pkg.wheels))


def _target_text(manifest: Manifest) -> str:
    return f"{manifest.python.interpreter_tag} {manifest.platform.libc} {manifest.platform.machine}"


def _why_no_wheel(wheels: Iterable[str], manifest: Manifest) -> str:
    """The nearest reason why none of ``wheels`` fits: libc version, libc family, CPU, Python."""
    host: Libc = manifest.platform.libc
    machine = manifest.platform.machine
    reasons: list[str] = []
    supported = _rank(tuple(manifest.tags))
    python_ok = {t.rsplit("-", 1)[0] for t in supported}
    tags = [t.split("-") for w in wheels for t in _wheel_tags(w)]
    fitting_python = [t for t in tags if f"{t[0]}-{t[1]}" in python_ok]
    if tags and not fitting_python:  # a Python mismatch first: no platform would help
        have = sorted({f"{t[0]}-{t[1]}" for t in tags})
        return (
            f"no wheel for {manifest.python.interpreter_tag} (have {', '.join(have[:3])}"
            f"{', …' if len(have) > 3 else ''})"
        )
    for _interpreter, _abi, platform in fitting_python:
        plat_machine = tag_machine(platform)
        need = needed_libc(platform)
        if plat_machine is not None and plat_machine != machine:
            reasons.append(f"wheels are for {plat_machine}, the gateway runs {machine}")
        elif need is not None and need.family != host.family:
            reasons.append(f"wheels need {need.family} ({platform}), the gateway has {host}")
        elif need is not None and need.version > host.version:
            reasons.append(f"wheels need {need} or newer ({platform}), the gateway has {host}")
        else:
            reasons.append(f"no wheel for the gateway's platform (have {platform})")
    order = ("or newer", "need glibc", "need musl", "are for", "no wheel")  # nearest first
    reasons.sort(key=lambda r: next((i for i, key in enumerate(order) if key in r), 9))
    return reasons[0] if reasons else "no wheel or sdist fits the target"


@lru_cache(maxsize=4)
def _rank(tags: tuple[str, ...]) -> dict[str, int]:
    """Supported tag (``cp311-cp311-manylinux_2_17_x86_64``) -> preference (0 is best)."""
    return {t.lower(): i for i, t in enumerate(tags)}


@cache
def _wheel_tags(filename: str) -> frozenset[str]:
    """The ``interpreter-abi-platform`` tags a wheel file name declares, compressed tag sets
    expanded (as packaging's ``parse_wheel_filename``, without building Tag objects); empty for
    a name that is not a wheel's."""
    if not filename.endswith(".whl"):
        return frozenset()
    parts = filename[:-4].lower().split("-")
    if len(parts) not in (5, 6) or not all(parts):
        return frozenset()
    interpreters, abis, platforms = (p.split(".") for p in parts[-3:])
    return frozenset(f"{i}-{a}-{p}" for i in interpreters for a in abis for p in platforms)
