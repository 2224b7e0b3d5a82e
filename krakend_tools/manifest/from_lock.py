"""A manifest for a gateway that cannot run here, made from its lockfile and its target: the
Python and libc given, the target's marker environment and base libraries, the locked packages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from krakend_tools.errors import InputError
from krakend_tools.lockfiles.select import select as select_packages
from krakend_tools.manifest.platforms import Libc, Target

if TYPE_CHECKING:
    from pathlib import Path

    from krakend_tools.manifest.model import Manifest

DEFAULT_LIBC = {"musl": "MUSL-1.2.4", "glibc": "GLIBC-2.36"}  # --libc when not given, by the target's family


def from_lock(
    lockfile: Path, target: Target, python_version: str, libc: str | None, gateway: dict[str, str | None] | None = None
) -> Manifest:
    """A manifest for a gateway that cannot run here, from its lockfile and target."""
    from krakend_tools.arguments import python_version as check_version
    from krakend_tools.lockfiles import load_lockfile
    from krakend_tools.manifest.facts import from_facts, refuse_too_old

    python_version = ".".join(str(n) for n in check_version(python_version, "--python-version", full=True))
    refuse_too_old(python_version)
    lib = Libc.parse(libc or DEFAULT_LIBC[target.libc_family])
    if lib.family != target.libc_family:
        raise InputError(f"--libc {lib} does not fit target {target} ({target.libc_family})")
    manifest = from_facts(_facts(target, python_version, lib), gateway)
    selected = select_packages(load_lockfile(lockfile), manifest.marker_environment)
    manifest.distributions = {
        p.name: str(p.version) for p in sorted(selected, key=lambda p: p.name) if p.version is not None
    }
    return manifest


def _facts(target: Target, python_version: str, lib: Libc) -> dict[str, Any]:
    """What the introspection script would print in CPython ``python_version`` on ``target``."""
    major, minor = python_version.split(".")[:2]
    multiarch = f"{target.machine}-linux-{'musl' if lib.family == 'musl' else 'gnu'}"
    return {
        "implementation": "cpython",
        "version": python_version,
        "soabi": f"cpython-{major}{minor}-{multiarch}",
        "ext_suffix": f".cpython-{major}{minor}-{multiarch}.so",
        "free_threaded": False,
        "debug": False,
        "executable": None,
        "machine": target.machine,
        "libc_family": lib.family,
        "libc_version": lib.version_text,
        "marker_environment": target_environment(target, python_version),
        "distributions": {},
        "libraries": dict.fromkeys(base_libraries(lib.family, target.machine), ""),
        "libraries_complete": False,
        "site_packages": [],
    }


def base_libraries(family: str, machine: str) -> list[str]:
    """Sonames every system of this libc family has: the libc itself and its loader (and,
    for glibc, its split-off libraries and libgcc_s, which libc needs)."""
    if family == "musl":
        return [f"ld-musl-{machine}.so.1", f"libc.musl-{machine}.so.1"]
    loader = {"x86_64": "ld-linux-x86-64.so.2", "aarch64": "ld-linux-aarch64.so.1"}.get(machine)
    names = [
        "libanl.so.1",
        "libc.so.6",
        "libdl.so.2",
        "libgcc_s.so.1",
        "libm.so.6",
        "libpthread.so.0",
        "libresolv.so.2",
        "librt.so.1",
        "libutil.so.1",
    ]
    return sorted([*names, loader] if loader else names)


def target_environment(target: Target, python_version: str) -> dict[str, str]:
    """The PEP 508 marker environment of CPython ``python_version`` on ``target``."""
    return {
        "implementation_name": "cpython",
        "implementation_version": python_version,
        "os_name": "posix",
        "platform_machine": target.machine,
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": python_version,
        "platform_python_implementation": "CPython",
        "python_version": ".".join(python_version.split(".")[:2]),
        "sys_platform": "linux",
    }
