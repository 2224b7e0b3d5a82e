"""Facts about one interpreter, gathered with the stdlib only.

This file is run as a script by other interpreters (``python -I introspect.py``), so
it must not import anything from this package or outside the stdlib.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import sysconfig


def _libc() -> tuple[str, str]:
    family, version = platform.libc_ver()
    if family == "glibc":
        return "glibc", version
    try:
        name, _, ver = os.confstr("CS_GNU_LIBC_VERSION").partition(" ")  # type: ignore[union-attr]
        if name == "glibc":
            return "glibc", ver
    except (ValueError, OSError, AttributeError):
        pass
    return "musl", _musl_version()


def _musl_version() -> str:
    import glob
    import subprocess

    for loader in sorted(glob.glob("/lib/ld-musl-*.so.1")):
        try:
            out = subprocess.run([loader], capture_output=True, text=True, timeout=5).stderr
        except OSError:
            continue
        m = re.search(r"Version\s+([\d.]+)", out)
        if m:
            return m.group(1)
    return ""


def _loaded_paths() -> list[str]:
    try:
        import zlib  # noqa: F401  (maps libz when it is shared)

        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps if ".so" in line and "/" in line})
    except OSError:
        return []


def _library_dirs() -> list[str]:
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = ["/lib", "/usr/lib", "/usr/local/lib", "/lib64", "/usr/lib64"]
    if multiarch:
        dirs = [f"/lib/{multiarch}", f"/usr/lib/{multiarch}", *dirs]
    dirs += [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    return [d for d in dirs if os.path.isdir(d)]


_WANTED = re.compile(r"(libc|libstdc\+\+|libgcc_s|libz|libm)\.so\.\d+|ld-musl-\w+\.so\.1")


def _libraries() -> dict[str, str]:
    """soname -> real path, for the libraries plugins commonly need."""
    found: dict[str, str] = {}
    musl = _libc()[0] == "musl"
    for path in _loaded_paths():
        if _WANTED.fullmatch(os.path.basename(path)):
            found.setdefault(os.path.basename(path), os.path.realpath(path))
    for d in _library_dirs():
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for base in names:
            if _WANTED.fullmatch(base) and (musl or not base.startswith("ld-musl")):
                found.setdefault(base, os.path.realpath(os.path.join(d, base)))
    return found


def _distributions() -> dict[str, str]:
    from importlib import metadata

    dists: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            dists.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version)
    return dists


def _marker_environment() -> dict[str, str]:
    impl = sys.implementation
    iver = f"{impl.version.major}.{impl.version.minor}.{impl.version.micro}"
    if impl.version.releaselevel != "final":
        iver += impl.version.releaselevel[0] + str(impl.version.serial)
    return {
        "implementation_name": impl.name,
        "implementation_version": iver,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def facts() -> dict[str, object]:
    """Everything the manifest needs from this interpreter."""
    family, version = _libc()
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "soabi": sysconfig.get_config_var("SOABI") or "",
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX") or "",
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "debug": hasattr(sys, "gettotalrefcount"),
        "executable": sys.executable,
        "machine": platform.machine(),
        "libc_family": family,
        "libc_version": version,
        "marker_environment": _marker_environment(),
        "distributions": _distributions(),
        "libraries": _libraries(),
        "site_packages": [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))],
    }


if __name__ == "__main__":
    json.dump(facts(), sys.stdout)
