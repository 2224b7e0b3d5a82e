"""Facts about one interpreter, gathered with the stdlib only.

This file is run as a script by other interpreters (``python -I introspect.py``), so
it must not import anything from this package or outside the stdlib. Any Python parses it
(type comments, no f-strings): one older than OLDEST says so in one line and exits 1.
"""

import json
import os
import platform
import re
import sys
import sysconfig

OLDEST = (3, 8)  # importlib.metadata
TIMEOUT = 15.0  # seconds an interpreter gets to answer: the CLI's whole run stays within 20 s
MAX_LIBRARIES = 20000  # sonames a loader resolves (a full desktop system: a few thousand)


def _libc():
    # type: () -> tuple[str, str]
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


def _musl_version():
    # type: () -> str
    import glob
    import subprocess

    for loader in sorted(glob.glob("/lib/ld-musl-*.so.1")):
        try:
            out = subprocess.run([loader], capture_output=True, text=True, timeout=2).stderr
        except OSError:
            continue
        m = re.search(r"Version\s+([\d.]+)", out)
        if m:
            return m.group(1)
    return ""


def _loaded_paths():
    # type: () -> list[str]
    try:
        import zlib  # noqa: F401  (maps libz when it is shared)

        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps if ".so" in line and "/" in line})
    except OSError:
        return []


def _library_dirs(musl):
    # type: (bool) -> list[str]
    """The loader's default search path, then Python's own library folders."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = []  # type: list[str]
    if musl:
        arch = platform.machine()
        try:
            with open("/etc/ld-musl-" + arch + ".path") as fh:
                dirs = [d for line in fh for d in re.split(r"[:\s]+", line) if d]
        except OSError:
            dirs = ["/lib", "/usr/local/lib", "/usr/lib"]
    else:
        dirs = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"]
        if multiarch:
            dirs = ["/lib/" + multiarch, "/usr/lib/" + multiarch] + dirs
    dirs += [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs.append(sysconfig.get_config_var("LIBDIR") or "")
    dirs += [os.path.dirname(p) for p in _loaded_paths() if os.path.basename(p).startswith("libpython")]
    return [d for d in dict.fromkeys(dirs) if d and os.path.isdir(d)]


def _ld_cache():
    # type: () -> list[tuple[str, str]]
    """(soname, path) pairs of the glibc loader's cache (``ldconfig -p``); none on musl."""
    import shutil
    import subprocess

    for exe in ("/sbin/ldconfig", "/usr/sbin/ldconfig", shutil.which("ldconfig")):
        if not exe or not os.path.exists(exe):
            continue
        try:
            out = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        return [(m.group(1), m.group(2)) for m in re.finditer(r"^\s+(\S+) \(.*\) => (\S+)$", out, re.M)]
    return []


def _elf_kind(path):
    # type: (str) -> bytes | None
    """ELF class, byte order and machine of ``path`` (None when it is not ELF)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return head[4:6] + head[18:20]


_SONAME = re.compile(r"[^/]+\.so(\.[0-9]+)*")


def _libraries():
    # type: () -> dict[str, str]
    """soname -> real path, for every library the loader can resolve by name: the ld.so
    cache, the default search path and Python's own library folders, for this machine."""
    musl = _libc()[0] == "musl"
    own = _elf_kind(os.path.realpath(sys.executable))
    candidates = _ld_cache()
    for d in _library_dirs(musl):
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        candidates += [(base, os.path.join(d, base)) for base in names if _SONAME.fullmatch(base)]
    candidates += [
        (os.path.basename(p), p) for p in _loaded_paths() if re.match(r"(lib|ld)[^/]*\.so", os.path.basename(p))
    ]
    found = {}  # type: dict[str, str]
    for name, path in candidates:
        if name in found or (not musl and name.startswith("ld-musl")):
            continue
        real = os.path.realpath(path)
        if os.path.isfile(real) and (own is None or _elf_kind(real) == own):
            found[name] = real
    return dict(sorted(found.items()))


def _distributions():
    # type: () -> dict[str, str]
    from importlib import metadata

    dists = {}  # type: dict[str, str]
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            dists.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version)
    return dists


def _marker_environment():
    # type: () -> dict[str, str]
    impl = sys.implementation
    iver = ".".join(str(n) for n in impl.version[:3])
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


def facts():
    # type: () -> dict[str, object]
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
        "libraries_complete": True,  # every soname the loader resolves, not a sample
        "site_packages": [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))],
    }


def _too_old():
    # type: () -> str | None
    """One line when this Python is older than OLDEST, else None."""
    if sys.version_info >= OLDEST:
        return None
    have = ".".join(str(n) for n in sys.version_info[:3])
    return "Python " + have + " is older than " + ".".join(str(n) for n in OLDEST) + ", the oldest krakend-tools reads"


if __name__ == "__main__":
    old = _too_old()
    if old is not None:
        sys.stderr.write(old + "\n")
        sys.exit(1)
    json.dump(facts(), sys.stdout)
