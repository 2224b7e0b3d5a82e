"""What ``test-plugin`` accepts on its command line, expanded into importable modules.

An artifact is a compiled extension (``.so``), a ``.py`` file, a package directory, a
wheel (unpacked to a temporary folder that is removed afterwards), or a plugin folder,
scanned like the gateway does: not recursively, sorted, every entry whose name contains
``pattern``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from krakend_tools.errors import InputError

DEFAULT_PATTERN = ".so"


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
    if path.suffix == ".so":
        return Artifact(arg, path, parent, [module_name(path.name)], "extension", [path])
    if path.suffix == ".py":
        return Artifact(arg, path, parent, [path.stem], "source", [path])
    return Artifact(
        arg,
        path,
        parent,
        [module_name(path.name)],
        "unknown",
        [path],
        error="not a Python module (expected .so, .py, .whl or a package folder)",
    )


def wheel_modules(root: Path) -> list[str]:
    """Top-level modules of an unpacked wheel: ``top_level.txt`` or what is there."""
    for info in sorted(root.glob("*.dist-info")):
        top = info / "top_level.txt"
        if top.is_file():
            names = [n.strip() for n in top.read_text().splitlines() if n.strip() and "/" not in n]
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


def _unpack_wheel(arg: str, path: Path, stack: ExitStack) -> Artifact:
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="krakend-wheel-")))
    try:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(tmp)
    except (OSError, zipfile.BadZipFile) as err:
        raise InputError(f"cannot unpack wheel: {err}", path=arg) from None
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
    if not path.exists():
        raise InputError("no such file or directory", path=arg)
    if path.suffix == ".whl" and path.is_file():
        return [_unpack_wheel(arg, path, stack)]
    if path.is_dir() and not is_package(path) and not nested:
        found = _folder(arg, path, pattern, stack)
        if not found:
            raise InputError(f"no plugin matches pattern {pattern!r}", path=arg)
        return found
    return [_single(arg, path)]


@contextmanager
def expand(args: list[str], pattern: str = DEFAULT_PATTERN) -> Iterator[list[Artifact]]:
    """All artifacts named by ``args``; temporary folders go away on exit."""
    with ExitStack() as stack:
        artifacts: list[Artifact] = []
        for arg in args:
            artifacts += _expand_one(arg, Path(arg).absolute(), pattern, stack)
        yield artifacts
