"""What ``test-plugin`` accepts on its command line, expanded into importable modules.

An artifact is a compiled extension (``.so``), a ``.py`` file, a package directory, a
wheel (unpacked to a temporary folder that is removed afterwards), or a plugin folder,
scanned like the gateway does: not recursively, sorted, every entry whose name contains
``pattern``.
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from krakend_tools.errors import InputError
from krakend_tools.safefs import private_folder

DEFAULT_PATTERN = ".so"
MAX_WHEEL_BYTES = 1 << 30  # a wheel file
MAX_UNPACKED_BYTES = 1 << 30  # all members of a wheel that are unpacked, together
MAX_MEMBERS = 100_000
MAX_TOP_LEVEL_BYTES = 1 << 20
# What a broken, encrypted or unsupported zip member raises while it is read.
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    UnicodeDecodeError,
)
_SKIPPED_DATA = ("scripts", "headers", "data")  # .data folders nothing imports


@dataclass
class Artifact:
    """One plugin to test: where it is shown, checked and imported from."""

    name: str  # as shown in the report: the argument, or folder/entry
    root: Path  # what the static phase checks (a file or a folder)
    import_path: Path  # the folder put on sys.path
    modules: list[str]  # top-level module names to import
    kind: str  # extension | source | package | wheel
    files: list[Path] = field(default_factory=list)  # module files, for suffix checks
    error: str | None = None  # set when the entry is not a Python module at all


def module_name(filename: str) -> str:
    """The module a file provides: ``foo.cpython-311-x86_64-linux-gnu.so`` -> ``foo``."""
    return filename.split(".", 1)[0]


def is_package(path: Path) -> bool:
    return path.is_dir() and any(
        p.name.split(".", 1)[0] == "__init__" and p.suffix in (".py", ".so") for p in path.iterdir()
    )


def _single(arg: str, path: Path) -> Artifact:
    """An artifact for one file or package directory."""
    parent = path.parent
    if path.is_dir():
        if is_package(path):
            return Artifact(arg, path, parent, [path.name], "package", [path])
        return Artifact(
            arg, path, parent, [], "folder", [], error="a folder that is neither a package nor a plugin folder"
        )
    if path.is_file() and path.suffix == ".so":
        if _is_library_file(path):
            return Artifact(arg, path, parent, [], "library", [path], error=LIBRARY_ERROR)
        return Artifact(arg, path, parent, [module_name(path.name)], "extension", [path])
    if path.is_file() and path.suffix == ".py":
        return Artifact(arg, path, parent, [path.stem], "source", [path])
    error = (
        "not a Python module (expected .so, .py, .whl or a package folder)"
        if path.is_file()
        else "not a regular file (a FIFO, socket or device)"
    )
    return Artifact(arg, path, parent, [module_name(path.name)], "unknown", [path], error=error)


LIBRARY_ERROR = (
    "a shared library, not a Python module (no PyInit_ function, no Python C-API use): "
    "code loads it by path (ctypes, cffi), nothing can import it as a plugin; test the package that loads it"
)


def _is_library_file(path: Path) -> bool:
    """A readable ELF file that is a library, not an extension module (see
    :func:`krakend_tools.elf.is_library`); anything unreadable is left to the static phase."""
    from krakend_tools.elf import ElfError, is_elf, is_library, read_elf

    try:
        return is_elf(path) and is_library(read_elf(path))
    except (ElfError, OSError):
        return False


def wheel_modules(root: Path) -> list[str]:
    """Top-level modules of an unpacked wheel: ``top_level.txt`` or what is there."""
    for info in sorted(root.glob("*.dist-info")):
        top = info / "top_level.txt"
        if top.is_file():
            if top.stat().st_size > MAX_TOP_LEVEL_BYTES:
                raise InputError(f"{top.relative_to(root)} too large", path=root)
            try:
                text = top.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{top.relative_to(root)} is not UTF-8 text") from None
            names = [n.strip() for n in text.splitlines() if n.strip().isidentifier() and len(n.strip()) <= 200]
            found = [n for n in names if (root / n).exists() or any(root.glob(f"{n}.*"))]
            if found:
                return sorted(dict.fromkeys(found))
    names = []
    for entry in sorted(root.iterdir()):
        if entry.name.endswith((".dist-info", ".data")) or entry.name.startswith(("_", ".")):
            continue
        if entry.is_dir() or entry.suffix in (".py", ".so"):
            names.append(module_name(entry.name))
    return sorted(dict.fromkeys(names))


def open_wheel(path: Path | str, display: object = None) -> zipfile.ZipFile:
    """A wheel opened for reading, its directory checked: a regular file within
    MAX_WHEEL_BYTES; every member named safely, not encrypted, stored or deflated (or bzip2
    or LZMA, which zipfile reads), MAX_UNPACKED_BYTES in all. InputError otherwise."""
    shown = display if display is not None else path
    _check_wheel_file(path, shown)
    try:
        zf = zipfile.ZipFile(path)
    except ZIP_ERRORS as err:
        raise InputError(f"cannot read wheel: {_reason(err)}", path=shown) from None
    try:
        _check_members(zf.infolist())
    except InputError as err:
        zf.close()
        raise InputError(f"cannot read wheel: {err}", path=shown) from None
    return zf


def _check_wheel_file(path: Path | str, shown: object) -> None:
    """InputError unless ``path`` is a regular file within MAX_WHEEL_BYTES."""
    try:
        info = os.stat(path)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read wheel: {getattr(err, 'strerror', None) or err}", path=shown) from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError("a wheel must be a regular file", path=shown)
    if info.st_size > MAX_WHEEL_BYTES:
        raise InputError(f"wheel too large: {info.st_size} bytes (limit {MAX_WHEEL_BYTES})", path=shown)


_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _check_members(members: list[zipfile.ZipInfo]) -> None:
    """InputError for too many members, one unsafe, encrypted or unreadable, or too many bytes in all."""
    if len(members) > MAX_MEMBERS:
        raise InputError(f"wheel has {len(members)} members (limit {MAX_MEMBERS})")
    for member in members:
        _check_member(member)
    total = sum(member.file_size for member in members)
    if total > MAX_UNPACKED_BYTES:
        raise InputError(f"wheel unpacks to {total} bytes (limit {MAX_UNPACKED_BYTES})")


def _check_member(member: zipfile.ZipInfo) -> None:
    """InputError for a member named unsafely or too long, encrypted, or compressed unreadably."""
    name = member.filename
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or ".." in parts or "\0" in name or any(ord(c) < 32 for c in name):
        raise InputError(f"unsafe member name {name[:80]!r}")
    if len(name) > 1024 or any(len(p.encode("utf-8", "surrogateescape")) > 200 for p in parts):
        raise InputError(f"member name too long: {name[:80]!r}...")
    if member.flag_bits & 1:
        raise InputError(f"encrypted member {name[:80]!r}")
    if member.compress_type not in _READABLE:
        raise InputError(f"member {name[:80]!r} uses unsupported compression method {member.compress_type}")


def _reason(err: BaseException) -> str:
    return (getattr(err, "strerror", None) or str(err) or type(err).__name__).strip()


def _extract(zf: zipfile.ZipFile, dest: Path, display: str) -> None:
    """Unpack the members an import needs (not ``.data`` scripts, headers and data),
    streaming each and never writing more than its declared size."""
    for member in zf.infolist():
        parts = member.filename.replace("\\", "/").split("/")
        if parts[0].endswith(".data") and len(parts) > 1 and parts[1] in _SKIPPED_DATA:
            continue
        target = dest.joinpath(*[p for p in parts if p not in ("", ".")])
        written = 0
        try:
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > member.file_size:
                        raise InputError(
                            f"member {member.filename[:80]!r} inflates past its declared size", path=display
                        )
                    out.write(chunk)
        except ZIP_ERRORS as err:
            raise InputError(
                f"cannot unpack wheel member {member.filename[:80]!r}: {_reason(err)}", path=display
            ) from None
        mode = (member.external_attr >> 16) & 0o777
        if mode & 0o111:
            target.chmod(0o755)


def _unpack_wheel(arg: str, path: Path, stack: ExitStack) -> Artifact:
    tmp = stack.enter_context(private_folder("krakend-wheel-"))
    with open_wheel(path, arg) as zf:
        _extract(zf, tmp, arg)
    for data in sorted(tmp.glob("*.data")):  # purelib/platlib install at the root
        for lib in ("purelib", "platlib"):
            if (data / lib).is_dir():
                shutil.copytree(data / lib, tmp, dirs_exist_ok=True)
    modules = wheel_modules(tmp)
    files = [p for m in modules for p in tmp.glob(f"{m}*")]
    art = Artifact(arg, tmp, tmp, modules, "wheel", files)
    if not modules:
        art.error = "the wheel contains no top-level module"
    return art


def _folder(arg: str, path: Path, pattern: str, stack: ExitStack) -> list[Artifact]:
    """The gateway's scan: entries of ``path`` whose name contains ``pattern``, sorted."""
    found = []
    for entry in sorted(os.listdir(path)):
        full = path / entry
        if pattern not in entry or not (full.is_file() or is_package(full)):
            continue
        found.append(_expand_one(os.path.join(arg, entry), full, pattern, stack, nested=True))
    return [a for group in found for a in group]


def _expand_one(arg: str, path: Path, pattern: str, stack: ExitStack, nested: bool = False) -> list[Artifact]:
    try:
        os.stat(path)
    except FileNotFoundError:
        raise InputError("no such file or directory", path=arg) from None
    except (OSError, ValueError) as err:  # too long, a NUL, a loop of links ...
        raise InputError(f"cannot read: {_reason(err)}", path=arg) from None
    if path.suffix == ".whl" and path.is_file():
        return [_unpack_wheel(arg, path, stack)]
    if path.is_dir() and not is_package(path) and not nested:
        found = _folder(arg, path, pattern, stack)
        return found or [Artifact(arg, path, path, [], "folder", error=f"no plugin matches pattern {pattern!r}")]
    return [_single(arg, path)]


@contextmanager
def expand(args: list[str], pattern: str = DEFAULT_PATTERN) -> Iterator[list[Artifact]]:
    """All artifacts named by ``args``; temporary folders go away on exit."""
    with ExitStack() as stack:
        artifacts: list[Artifact] = []
        for arg in args:
            artifacts += _expand_one(arg, Path(arg).absolute(), pattern, stack)
        yield artifacts
