"""Why a build failed or lost something, in one line: read from its log and its artifacts."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from krakend_tools.build.source import compiled_sources
from krakend_tools.manifest.platforms import Libc

EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")
ERROR_LINE = re.compile(r"(\berror\b|\bError\b|Traceback|undefined reference)")
NOT_DECISIVE = ("note:", "hint:", "╰─>", "×")  # pip's closing remarks
PIP_NAMES_IT = ("No matching distribution", "Could not find a version")
COMPILER_ERROR = re.compile(r"^(\S+?:\d+(:\d+)?: (fatal )?error: |ld(\.lld)?: error: |error: unable to find .*librar)")
MISSING_HEADER = re.compile(r"'([\w./+-]+\.h)' file not found|([\w./+-]+\.h): No such file")
MISSING_LIBRARY = re.compile(r"unable to find (?:\w+ )*library [\"']?([\w.+-]+)")
# a build script's own line saying a system library (its headers, its -config or .pc) is missing:
# lxml's "Please make sure the libxml2 and libxslt development packages are installed.", Pillow's
# "The headers or library files could not be found for jpeg", psycopg2's "pg_config executable not found"
SYSTEM_LIBRARY_NEEDED = re.compile(
    r"\bdevelopment (packages?|headers|files|librar(y|ies))\b|\bheaders? or library files\b"
    r"|\b[\w.+-]+[-_]config:? (executable |program )?(was )?not found\b"
    r"|\bfound in the pkg-config search path\b",
    re.I,
)
BEFORE_BUILD_FAILED = re.compile(r"^krakend: error: before-build failed \(exit (\d+)\)$")
HOW_TO_PROVIDE = "provide it with [tool.krakend.build] before-build and environment, see docs/build.md"
VCS_VERSIONING = re.compile(r"^\s*(setuptools[-_]scm|hatch[-_]vcs|versioningit|dunamai|setuptools[-_]git)", re.I)


def compiler_errors(log: str) -> list[str]:
    """The compiler's and linker's ``error:`` lines, in order."""
    lines = (ln.strip() for ln in log.splitlines())
    return [ln for ln in lines if COMPILER_ERROR.search(ln)]


def error_line(log: str) -> str:
    """The decisive line of a failed build's log: the compiler's first error, pip's ``ERROR:``
    line naming what it could not find, a traceback's exception; never pip's closing note. A failed
    ``before-build`` says so, with the decisive line of its own output."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for at, ln in enumerate(lines):
        if failed := BEFORE_BUILD_FAILED.match(ln):
            start = next((i + 1 for i in range(at - 1, -1, -1) if lines[i].startswith("+ before-build: ")), 0)
            own = "\n".join(lines[start:at])
            return f"before-build failed (exit {failed.group(1)}): {error_line(own)}"
    errors = compiler_errors(log)
    if errors:
        return with_hint(errors[0])
    pip = [ln for ln in lines if ln.startswith("ERROR:") or ": ERROR: " in ln]
    for wanted in PIP_NAMES_IT:
        named = next((ln for ln in pip if wanted in ln), None)
        if named:
            return named
    exception = next((ln for ln in reversed(lines) if EXCEPTION_LINE.match(ln)), None)
    if exception:
        return exception
    said = next((ln for ln in lines if SYSTEM_LIBRARY_NEEDED.search(ln)), None)
    if said:  # the project's build script stopped before any compiler ran
        return f"{said} (the builder lacks a system library the project needs; {HOW_TO_PROVIDE})"
    return pip[0] if pip else _last_error(lines)


def _last_error(lines: list[str]) -> str:
    """The last line that reads as an error and is not pip's closing remark, else the last line."""
    for ln in reversed(lines):
        if ERROR_LINE.search(ln) and not ln.startswith(NOT_DECISIVE) and "subprocess-exited-with-error" not in ln:
            return ln
    return lines[-1] if lines else "no output"


def with_hint(line: str) -> str:
    """A compiler error; when it names a header or library the builder lacks, how to provide it."""
    missing = MISSING_HEADER.search(line) or MISSING_LIBRARY.search(line)
    if missing is None:
        return line
    name = next(g for g in missing.groups() if g)
    return line + f" (the builder has no {name}: a system library the project needs; {HOW_TO_PROVIDE})"


def lost_extensions(files: list[Path], plugin_dir: Path, log: str) -> str | None:
    """Why the build silently lost its compiled part, or None: a wheel with no shared object
    (pure Python, whatever its tag) from a project with compiled sources, or a build that went on
    after compiler errors."""
    wheels = [f for f in files if f.suffix == ".whl"]
    errors = compiler_errors(log)
    pure = [w for w in wheels if not _has_compiled_code(w)]
    if pure and len(pure) == len(wheels):
        sources = compiled_sources(plugin_dir)
        if sources:
            why = with_hint(errors[0]) if errors else "no extension module was built"
            return f"{pure[0].name} is pure Python, yet the project compiles {sources[0]}: {why}"
    if errors:
        return f"the build went on after a compiler error: {with_hint(errors[0])}"
    return None


def _has_compiled_code(wheel: Path) -> bool:
    """Whether ``wheel`` holds a shared object, whatever its tag says (a fallback build may still
    be tagged ``cp311-cp311-linux_x86_64``); a file that is no zip is judged by its tag."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            return any(n.endswith(".so") or ".so." in n.rsplit("/", 1)[-1] for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return not wheel.name.endswith("-none-any.whl")


def wheel_version_problem(files: list[Path], requires: list[str]) -> str | None:
    """A wheel versioned ``0.0.0`` by a VCS-versioning backend that found no version."""
    for wheel in (f for f in files if f.suffix == ".whl"):
        parts = wheel.name.split("-")
        if len(parts) >= 5 and parts[1] == "0.0.0" and any(VCS_VERSIONING.search(r) for r in requires):
            return (
                f"{wheel.name}: version 0.0.0, the VCS-versioning build requirement found no version (the"
                " builder gets no .git): build from an sdist (PKG-INFO carries the version) or set"
                " SETUPTOOLS_SCM_PRETEND_VERSION in [tool.krakend.build.environment]"
            )
    return None


def too_new_symbols(wheel: Path, libc: Libc) -> list[str]:
    """``memfd_create@GLIBC_2.27 in pkg/_mem.so``: each need newer than ``libc`` (glibc)."""
    from krakend_tools.elf import ElfError, read_elf_member

    found = []
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".so") and ".so." not in info.filename:
                continue
            try:
                facts = read_elf_member(zf, info, info.filename)
            except ElfError:
                continue
            for need in facts.version_needs:
                name, _, version = need.version.partition("_")
                if name != "GLIBC" or need.weak or not version[:1].isdigit():
                    continue
                if tuple(int(p) for p in version.split(".") if p.isdigit()) > libc.version:
                    symbols = ", ".join(f"{sym}@{need.version}" for sym in need.symbols) or need.version
                    found.append(f"{symbols} in {info.filename}")
    return found


def repair_verdict(files: list[Path], libc: Libc, policy: str | None, log: str) -> str:
    """Why auditwheel refused to tag the wheel ``policy``: the symbol that needs a newer libc
    than the gateway's, else auditwheel's own reason."""
    problems = [p for w in files if w.suffix == ".whl" for p in too_new_symbols(w, libc)]
    line = next((ln for ln in reversed(log.splitlines()) if "auditwheel cannot repair" in ln), "")
    why = (
        f"needs {problems[0]}, newer than the gateway's {libc}"
        if problems
        else line.partition(": ")[2] or "auditwheel failed"
    )
    return f"the wheel cannot be tagged {policy}: {why}"


def human_size(size: int) -> str:
    """``532 B``, ``12.5 KB``, ``3.1 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MB"
