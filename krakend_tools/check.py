"""check-plugin: compare a plugin's lockfile with the gateway manifest."""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.fixes import fix_commands
from krakend_tools.lockfiles import LockedPackage, Lockfile
from krakend_tools.manifest import Manifest
from krakend_tools.platforms import Libc, needed_libc, tag_machine
from krakend_tools.report import Finding, Report

if TYPE_CHECKING:
    from packaging.tags import Tag

COMPILED_SOURCES = ("*.c", "*.cc", "*.cpp", "*.cxx", "*.pyx", "*.rs", "Cargo.toml")
COMPILED_BACKENDS = ("scikit_build_core", "mesonpy", "maturin", "pdm.backend.hooks", "enscons")


def check_plugin(
    lock: Lockfile, manifest: Manifest, *, groups: Iterable[str] = (), extras: Iterable[str] = (), fix: bool = False
) -> Report:
    """Every incompatibility between ``lock`` and ``manifest``, in rule order."""
    started = time.perf_counter()
    selected = lock.select(manifest.marker_environment, groups, extras)
    findings = check_python(lock, manifest)
    platform: list[Finding] = []
    shared: list[Finding] = []
    own: list[Finding] = []
    for pkg in sorted(selected, key=lambda p: p.name):
        if pkg.version is None or pkg.name == lock.project:
            continue
        want = manifest.distributions.get(pkg.name)
        if want is not None:
            shared.append(_check_shared(lock, pkg, want, fix))
        else:
            finding = _check_plugin_only(lock, pkg, manifest)
            (own if finding.ok else platform).append(finding)
    findings += platform + shared + own
    meta = {
        "lockfile": str(lock.path),
        "tool": lock.tool,
        "lock_version": lock.lock_version,
        "python": manifest.python.version,
        "libc": str(manifest.platform.libc),
        "platform": f"{manifest.platform.os}/{manifest.platform.arch}",
        "packages": len(selected),
    }
    return Report("check-plugin", findings, time.perf_counter() - started, meta)


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
                "python",
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
                "python",
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
        pyproject = (folder / "pyproject.toml").read_text()
    except OSError:
        return False
    return any(backend in pyproject for backend in COMPILED_BACKENDS)


def _check_shared(lock: Lockfile, pkg: LockedPackage, want: str, fix: bool) -> Finding:
    """Rule 3: a package both import must be the gateway's exact version."""
    from packaging.version import InvalidVersion, Version

    try:
        same = pkg.version == Version(want)
    except InvalidVersion:
        same = str(pkg.version) == want
    if same:
        return Finding(
            pkg.name,
            "package",
            True,
            "same version as the gateway",
            have=str(pkg.version),
            want=want,
            file=str(lock.path),
            line=pkg.line,
        )
    return Finding(
        pkg.name,
        "package",
        False,
        "the gateway has another version",
        have=str(pkg.version),
        want=want,
        file=str(lock.path),
        line=pkg.line,
        fix=fix_commands(lock, pkg, want) if fix else [],
        details={"direct": pkg.direct},
    )


def _check_plugin_only(lock: Lockfile, pkg: LockedPackage, manifest: Manifest) -> Finding:
    """Rule 4: a package only the plugin brings needs a wheel for the target (or an sdist)."""

    def found(ok: bool, message: str, **details: Any) -> Finding:
        kind = "plugin-only" if ok else "platform"
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

    if not pkg.has_file_names:
        return found(
            True, f"only the plugin brings it; {lock.tool} records no file names, wheel compatibility not checked"
        )
    if not pkg.wheels and not pkg.sdist:
        return found(True, "only the plugin brings it")
    tags = tuple(manifest.tags)
    supported = _rank(tags)
    fitting = [w for w in pkg.wheels if not _wheel_tags(w).isdisjoint(supported)]
    if fitting:
        best = min(fitting, key=lambda w: min(supported.get(t, len(tags)) for t in _wheel_tags(w)))
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
    for wheel in wheels:
        for tag in _wheel_tags(wheel):
            plat_machine = tag_machine(tag.platform)
            need = needed_libc(tag.platform)
            if plat_machine is not None and plat_machine != machine:
                reasons.append(f"wheels are for {plat_machine}, the gateway runs {machine}")
            elif need is not None and need.family != host.family:
                reasons.append(f"wheels need {need.family} ({tag.platform}), the gateway has {host}")
            elif need is not None and need.version > host.version:
                reasons.append(f"wheels need {need} or newer ({tag.platform}), the gateway has {host}")
            else:
                reasons.append(f"no wheel for {manifest.python.interpreter_tag} (have {tag.interpreter}-{tag.abi})")
    order = ("or newer", "need glibc", "need musl", "are for", "no wheel")
    reasons.sort(key=lambda r: next((i for i, key in enumerate(order) if key in r), 9))
    return reasons[0] if reasons else "no wheel or sdist fits the target"


@lru_cache(maxsize=4)
def _rank(tags: tuple[str, ...]) -> dict[Tag, int]:
    """Supported tag -> preference (0 is best)."""
    from packaging.tags import Tag

    return {Tag(*t.split("-")): i for i, t in enumerate(tags)}


@cache
def _wheel_tags(filename: str) -> frozenset[Tag]:
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        return parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return frozenset()
