"""Static phase of ``test-plugin``: will these ELF files load in the gateway? Nothing is run."""

from __future__ import annotations

import functools
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from krakend_tools.elf import (
    ELF_MAGIC,
    MACHINE_ABI,
    Budget,
    ElfError,
    ElfFacts,
    VersionNeed,
    is_elf,
    is_library,
    read_elf,
    read_elf_member,
)
from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import RELR_SINCE
from krakend_tools.plugin_test.artifacts import ZIP_ERRORS, open_wheel

# Names that look like shared objects: x.so, libfoo.so.1.2
_SO_NAME = re.compile(r".*\.so(\.\d+)*$")
# Extension-module suffixes some Python (any version, platform, implementation) accepts.
_PY_SUFFIX = re.compile(r"^\.(?:(?:cpython|pypy|graalpy)[-\w.]*|abi3|abi3t)\.so$")
_CPY_SUFFIX = re.compile(r"^\.cpython-(\d+[a-z]*)-(.+)\.so$")
_LIBPYTHON = re.compile(r"^libpython\d")
_VERSION = re.compile(r"^(.*?)_?(\d+(?:\.\d+)*)$")
# Libraries whose GLIBC_x.y versions follow the glibc release number.
_GLIBC_LIBS = re.compile(
    r"^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libutil\.so\.1|"
    r"libresolv\.so\.2|libanl\.so\.1|libnsl\.so\.1|libmvec\.so\.1|ld-linux[-\w.]*|ld64\.so\.\d)$"
)
_GLIBC_NAMED = {"GLIBC_ABI_DT_RELR": (2, 36)}
# Names musl's loader answers with itself, whatever is on disk (ldso/dynlink.c "reserved").
_MUSL_SELF = re.compile(r"^lib(c|pthread|rt|m|dl|util|xnet)\.")
_SHOWN = 3  # symbols named per problem line


@dataclass
class StaticResult:
    """Outcome of :func:`check_tree`; the plugin passes the static phase when ``ok``."""

    root: str
    problems: list[str] = field(default_factory=list)  # one line each, KO reasons
    files: list[ElfFacts] = field(default_factory=list)  # every ELF found, path relative to root
    modules: list[str] = field(default_factory=list)  # importable extension modules (dotted)
    libraries: list[str] = field(default_factory=list)  # shared libraries loaded by path, not imported
    notes: list[str] = field(default_factory=list)  # informational, never a KO
    warnings: list[str] = field(default_factory=list)  # what the manifest cannot tell: not a pass

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "ok": self.ok,
            "problems": self.problems,
            "warnings": self.warnings,
            "modules": self.modules,
            "libraries": self.libraries,
            "notes": self.notes,
            "files": [f.to_dict() for f in self.files],
        }


def version_key(name: str) -> tuple[str, tuple[int, ...]] | None:
    """``GLIBC_2.9`` -> ("GLIBC", (2, 9)); None for names without a number."""
    m = _VERSION.match(name)
    if not m:
        return None
    return m.group(1), tuple(int(p) for p in m.group(2).split("."))


def _dotted(nums: tuple[int, ...]) -> str:
    return ".".join(map(str, nums))


def _symbols(names: list[str], where: str) -> str:
    if not names:
        return where
    shown = ", ".join(names[:_SHOWN])
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return f"{shown}{more} in {where}"


def _walk(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    found: list[Path] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        found.extend(base / name for name in filenames)
    return sorted(found, key=lambda p: p.parts)


def _module_name(rel: Path) -> str:
    """Dotted import name of an extension at ``rel`` (trailing identifier folders only)."""
    parts = list(rel.parts[:-1])
    for i, part in enumerate(parts):  # wheel .data/platlib|purelib installs at the top level
        if part.endswith(".data") and i + 1 < len(parts) and parts[i + 1] in ("platlib", "purelib"):
            parts = parts[i + 2 :]
            break
    package: list[str] = []
    for part in reversed(parts):
        if not part.isidentifier():
            break
        package.insert(0, part)
    return ".".join([*package, rel.name.split(".")[0]])


class _Checker:
    def __init__(self, manifest: Manifest) -> None:
        self.m = manifest
        py = manifest.python
        self.abi3 = "abi3" in py.abi_tags
        self.suffixes = [py.ext_suffix] + ([".abi3.so"] if self.abi3 else []) + [".so"]

    # -- per-file checks ------------------------------------------------------------------
    def arch(self, f: ElfFacts) -> list[str]:
        machine = self.m.platform.machine
        want = MACHINE_ABI.get(machine)
        if want is None:
            return (
                []
                if f.machine == machine or f.machine.startswith("em_")
                else [f"{f.path} is {f.machine}, gateway is {machine}"]
            )
        e_machine, bits, endian = want
        if f.e_machine != e_machine:
            return [f"{f.path} is {f.machine}, gateway is {machine}"]
        if (f.elf_class, f.endianness) != (bits, endian):
            return [
                f"{f.path} is {f.elf_class}-bit {f.endianness}-endian ({f.machine}), "
                f"gateway is {machine} ({bits}-bit {endian}-endian)"
            ]
        return []

    def libc(self, f: ElfFacts) -> list[str]:
        family = self.m.platform.libc_family
        if f.libc is None or not family or f.libc == family:
            return []
        gateway = f"{family} {self.m.platform.libc_version}".strip()
        return [f"{f.path} links {f.libc} ({f.libc_evidence}), gateway has {gateway}"]

    def relr(self, f: ElfFacts) -> list[str]:
        """Packed relative relocations (DT_RELR): a loader older than glibc 2.36 / musl 1.2.4
        does not apply them, and the process crashes when the file loads."""
        plat = self.m.platform
        if not f.relr or not plat.libc_version or plat.libc.loads_relr:
            return []
        since = ".".join(map(str, RELR_SINCE[plat.libc_family]))
        return [
            f"{f.path} packs its relocations (DT_RELR), which only {plat.libc_family} {since} and later load;"
            f" gateway has {plat.libc_family} {plat.libc_version} (link it without -z pack-relative-relocs)"
        ]

    def missing_versions(self, f: ElfFacts, bundled: set[str]) -> list[tuple[VersionNeed, str]]:
        """(need, what the gateway has) for each version ``f`` needs that the gateway lacks."""
        missing = []
        for need in f.version_needs:
            if need.weak or need.library in bundled:
                continue
            has = self._version(need)
            if has is not None:
                missing.append((need, has))
        return missing

    def _version(self, need: VersionNeed) -> str | None:
        """None when the gateway has ``need``, else what it has (``gateway has 2.28``)."""
        lib = self.m.libraries.get(need.library)
        if lib is not None and lib.symbol_versions:
            if need.version in lib.symbol_versions:
                return None
            key = version_key(need.version)
            same = sorted(
                k[1]
                for v in lib.symbol_versions
                if (k := version_key(v)) is not None and key is not None and k[0] == key[0]
            )
            has = _dotted(same[-1]) if same else f"no {key[0] if key else need.version} version"
            if _GLIBC_LIBS.match(need.library):
                return f"gateway has {has}"
            return f"gateway's {need.library} has {has}"
        # No data on this library: only glibc's own versions can be judged, from its release.
        plat = self.m.platform
        if plat.libc_family != "glibc" or not plat.libc_version or not _GLIBC_LIBS.match(need.library):
            return None
        key = version_key(need.version)
        wanted = _GLIBC_NAMED.get(need.version) or (key[1] if key is not None and key[0] == "GLIBC" else None)
        if wanted is None:
            return None
        have = version_key("GLIBC_" + plat.libc_version)
        if have is None or wanted <= have[1]:
            return None
        return f"gateway has {plat.libc_version}"

    def libpython(self, f: ElfFacts) -> list[str]:
        return [
            f"{f.path} links {name}: the gateway provides Python itself, build the extension without linking libpython"
            for name in f.needed
            if _LIBPYTHON.match(name)
        ]

    def python(self, f: ElfFacts, rel: Path, result: StaticResult) -> None:
        """Suffix, ``PyInit_<name>`` and, for abi3 files, the stable ABI; a library (see
        :func:`is_library`) has only the checks every ELF file has (CPU, libc, versions, needs)."""
        if is_library(f):
            result.libraries.append(f.path)
            return
        name = rel.name
        module = name.split(".")[0]
        suffix = name[len(module) :]
        inits = f.py_inits
        if suffix not in self.suffixes:
            if _PY_SUFFIX.match(suffix) or f"PyInit_{module}" in inits:
                result.problems.append(self._suffix_problem(f.path, suffix))
            return
        if suffix == ".so" and not inits:
            return  # a plain shared library, not an extension module
        if f"PyInit_{module}" not in inits:
            has = f"it defines {', '.join(inits)}" if inits else "it defines no PyInit_ function"
            result.problems.append(f"{f.path}: no PyInit_{module}, so 'import {module}' fails ({has})")
            return
        result.modules.append(_module_name(rel))
        if suffix == ".abi3.so":
            result.problems.extend(self.stable_abi(f))

    def _suffix_problem(self, path: str, suffix: str) -> str:
        py = self.m.python
        gateway = py.ext_suffix + (", abi3" if self.abi3 else ", no abi3")
        ours, theirs = _CPY_SUFFIX.match(suffix), _CPY_SUFFIX.match(py.ext_suffix)
        what = "another Python"
        if ours and theirs and ours.group(1) == theirs.group(1):
            what = "another platform"
        elif not _PY_SUFFIX.match(suffix):
            what = "no Python: the import system does not look at it"
        return f"{path}: suffix {suffix} is for {what} (gateway: {gateway})"

    def stable_abi(self, f: ElfFacts) -> list[str]:
        limited = stable_abi_table(self.m.python.debug)
        version = self.m.python.minor
        bad: list[str] = []
        for sym in sorted(set(f.undefined)):
            if not (sym.startswith("Py") or sym.startswith("_Py")):
                continue
            if sym not in limited:
                bad.append(f"{sym} (not in the stable ABI)")
            else:
                added = limited[sym]
                if added is None:
                    bad.append(f"{sym} (not available on this platform)")
                elif added > version:
                    bad.append(f"{sym} (added in {_dotted(added)})")
        if not bad:
            return []
        shown = ", ".join(bad[:_SHOWN])
        more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
        return [f"{f.path}: abi3 module uses symbols outside Python {_dotted(version)}'s stable ABI: {shown}{more}"]


@functools.cache
def stable_abi_table(debug: bool = False) -> dict[str, tuple[int, int] | None]:
    """Stable-ABI symbol -> version it was added in (None: not on Linux / this build)."""
    import abi3info

    on = {"HAVE_FORK", "PY_HAVE_THREAD_NATIVE_ID"} | ({"Py_REF_DEBUG", "Py_TRACE_REFS"} if debug else set())
    table: dict[str, tuple[int, int] | None] = {}
    for items in (abi3info.FUNCTIONS, abi3info.DATAS):
        for sym, item in items.items():
            ok = item.ifdef is None or item.ifdef.name in on
            table[sym.name] = (item.added.major, item.added.minor) if ok else None
    return table


def check_tree(root: Path, manifest: Manifest) -> StaticResult:
    """Check every ELF file under ``root``: a folder (a plugin, an unpacked wheel), one file,
    or a ``.whl`` (read by :func:`check_wheel`)."""
    root = Path(root)
    if not root.exists():
        raise InputError("no such file or folder", path=root)
    if root.is_file() and root.suffix == ".whl":
        return check_wheel(root, manifest)
    result = StaticResult(str(root))
    single = root.is_file()
    parsed: list[tuple[ElfFacts, Path]] = []
    budget = Budget()  # version-table entries of all the files together
    for path in _walk(root):
        rel = Path(path.name) if single else path.relative_to(root)
        if not (single or _SO_NAME.match(path.name) or is_elf(path)):
            continue
        try:
            parsed.append((read_elf(path, str(rel), budget=budget), rel))
        except ElfError as err:
            result.problems.append(f"{rel}: {err.reason}")
    _follow_origin(root.parent if single else root, parsed, result, budget)
    _evaluate(result, parsed, manifest)
    return result


def _follow_origin(base: Path, parsed: list[tuple[ElfFacts, Path]], result: StaticResult, budget: Budget) -> None:
    """Add the libraries the files load through an ``$ORIGIN`` RPATH/RUNPATH that lie outside
    ``base`` (a module next to its ``../foo.libs``), as the loader would find them. Each folder
    is listed once: thousands of RPATH entries times thousands of needed names stay linear."""
    have = {f.soname for f, _ in parsed if f.soname} | {rel.name for _, rel in parsed}
    seen = {os.path.realpath(base / rel) for _, rel in parsed}
    listings: dict[str, frozenset[str]] = {}
    queue = list(parsed)
    while queue:
        facts, rel = queue.pop()
        wanted = set(facts.needed) - have
        for folder in dict.fromkeys(_search_dirs(rel, facts)):
            for name in sorted(wanted & _listing(base / folder, listings)):
                path = base / folder / name
                if not path.is_file() or os.path.realpath(path) in seen:
                    continue
                shown = Path(os.path.normpath(folder)) / name
                seen.add(os.path.realpath(path))
                have.add(name)
                wanted.discard(name)
                try:
                    found = (read_elf(path, str(shown), budget=budget), shown)
                except ElfError as err:
                    result.problems.append(f"{shown}: {err.reason}")
                    continue
                parsed.append(found)
                queue.append(found)


def _listing(folder: Path, listings: dict[str, frozenset[str]]) -> frozenset[str]:
    """The names in ``folder`` (none when it cannot be listed), listed once."""
    key = os.path.normpath(folder)
    if key not in listings:
        try:
            listings[key] = frozenset(os.listdir(key))
        except OSError:
            listings[key] = frozenset()
    return listings[key]


def check_wheel(wheel: Path, manifest: Manifest) -> StaticResult:
    """:func:`check_tree` on a ``.whl`` file, read in place (nothing is unpacked to disk)."""
    result = StaticResult(str(wheel))
    parsed: list[tuple[ElfFacts, Path]] = []
    budget = Budget()  # version-table entries of all the members together
    try:
        with open_wheel(wheel) as zf:
            for info in sorted(zf.infolist(), key=lambda i: Path(i.filename).parts):
                if info.is_dir():
                    continue
                rel = Path(info.filename)
                if not _SO_NAME.match(rel.name):
                    with zf.open(info) as member:
                        if member.read(4) != ELF_MAGIC:
                            continue
                try:
                    parsed.append((read_elf_member(zf, info, str(rel), budget), rel))
                except ElfError as err:
                    result.problems.append(f"{rel}: {err.reason}")
    except ZIP_ERRORS as err:
        raise InputError(f"cannot read wheel: {str(err) or type(err).__name__}", path=wheel) from None
    _evaluate(result, parsed, manifest)
    return result


def _evaluate(result: StaticResult, parsed: list[tuple[ElfFacts, Path]], manifest: Manifest) -> None:
    """Every check over every ELF file; problems in the order a user should read them: the
    file cannot load at all (CPU, libc), then the newest missing symbol version of each
    library, libraries the gateway does not have, Python-level problems, then the older
    missing versions (every reason shown, the decisive one first)."""
    checker = _Checker(manifest)
    parsed.sort(key=lambda item: item[1].parts)
    result.files.extend(facts for facts, _ in parsed)
    bundled = {f.soname for f, _ in parsed if f.soname} | {rel.name for _, rel in parsed}
    fatal: list[str] = []
    missing: list[tuple[VersionNeed, str, str]] = []  # (need, gateway has, file)
    python = StaticResult(result.root)
    linked: list[str] = []
    for facts, rel in parsed:
        fatal += checker.arch(facts) + checker.libc(facts) + checker.relr(facts)
        missing += [(need, has, facts.path) for need, has in checker.missing_versions(facts, bundled)]
        linked += checker.libpython(facts)
        checker.python(facts, rel, python)
    newest, older = _version_problems(missing)
    absent, unknown = _needed_libraries(parsed, manifest, bundled)
    result.problems += fatal + newest + absent + linked + python.problems + older
    result.modules += python.modules
    result.libraries += python.libraries
    if python.libraries:
        result.notes.append(
            f"{len(python.libraries)} shared librar{'y' if len(python.libraries) == 1 else 'ies'} with no PyInit_ "
            "and no Python C-API use (loaded by path: ctypes, cffi) checked as libraries, not imported"
        )
    result.warnings += unknown


def _version_problems(missing: list[tuple[VersionNeed, str, str]]) -> tuple[list[str], list[str]]:
    """One line naming the highest missing version of every library (with its symbols and
    files), then one line per older missing version."""
    by_lib: dict[str, dict[str, tuple[str, dict[str, None], dict[str, None]]]] = {}  # dicts: ordered sets
    for need, has, where in missing:
        versions = by_lib.setdefault(need.library, {})
        _has, symbols, files = versions.setdefault(need.version, (has, {}, {}))
        symbols.update(dict.fromkeys(need.symbols))
        files[where] = None

    def order(version: str) -> tuple[int, ...]:
        key = version_key(version)
        return key[1] if key else ()

    newest: list[str] = []
    older: list[str] = []
    for library in sorted(by_lib):
        for i, version in enumerate(sorted(by_lib[library], key=order, reverse=True)):
            has, symbols, files = by_lib[library][version]
            text = f"needs {version} ({_symbols(sorted(symbols), ', '.join(files))}), {has}"
            (older if i else newest).append(text if not i else f"also {text}")
    return (["; ".join(newest)] if newest else []), older


def _search_dirs(rel: Path, facts: ElfFacts) -> list[str]:
    """The RPATH/RUNPATH folders of ``facts`` given relative to it (``$ORIGIN``), as paths
    relative to the artifact's root (they may lead out of it: ``../foo.libs``)."""
    origin = rel.parent.as_posix()
    dirs = []
    for entry in facts.rpath:
        if "$ORIGIN" in entry or "${ORIGIN}" in entry:
            path = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
            dirs.append(posixpath.normpath(path))
    return dirs


def _needed_libraries(
    parsed: list[tuple[ElfFacts, Path]], manifest: Manifest, bundled: set[str]
) -> tuple[list[str], list[str]]:
    """Problems for each needed soname neither bundled nor in the manifest; warnings instead
    when the manifest does not list every library of the gateway."""
    from krakend_tools.manifest.from_lock import base_libraries

    plat = manifest.platform
    known = set(manifest.libraries)
    if not manifest.libraries_complete:
        known |= set(base_libraries(plat.libc_family, plat.machine))
    checker = _Checker(manifest)
    wanted: dict[str, list[str]] = {}
    for facts, _rel in parsed:
        if checker.arch(facts) or checker.libc(facts):
            continue  # it cannot load at all: said once, above
        for name in facts.needed:
            if name in bundled or name in known or _LIBPYTHON.match(name):
                continue
            if plat.libc_family == "musl" and _MUSL_SELF.match(name):
                continue
            wanted.setdefault(name, []).append(facts.path)
    absent: list[str] = []
    unknown: list[str] = []
    for name, files in sorted(wanted.items()):
        where = ", ".join(files)
        if manifest.libraries_complete:
            absent.append(f"needs {name} (in {where}), which the gateway does not have")
        else:
            unknown.append(
                f"needs {name} (in {where}): the manifest does not list all the "
                "gateway's libraries, so whether it has it is unknown"
            )
    return absent, unknown
