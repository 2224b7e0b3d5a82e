"""Lockfiles: find them, detect their format and read them into the same :class:`Lockfile`.

One module per format, each a :class:`~krakend_tools.lockfiles.model.LockfileReader`,
listed in :data:`READERS` (a new format: a module and one entry there); a module is imported
only when its format is tried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from krakend_tools.errors import InputError
from krakend_tools.lockfiles.model import Lockfile, LockfileReader


def _poetry() -> LockfileReader:
    from krakend_tools.lockfiles import poetry

    return poetry


def _uv() -> LockfileReader:
    from krakend_tools.lockfiles import uv

    return uv


def _pylock() -> LockfileReader:
    from krakend_tools.lockfiles import pylock

    return pylock


def _pdm() -> LockfileReader:
    from krakend_tools.lockfiles import pdm

    return pdm


def _pipfile() -> LockfileReader:
    from krakend_tools.lockfiles import pipfile

    return pipfile


def _requirements() -> LockfileReader:
    from krakend_tools.lockfiles import requirements

    return requirements


# Format name -> its reader, imported on first use. Detection order matters: content
# sniffing of the more specific formats first.
READERS: Final[dict[str, Callable[[], LockfileReader]]] = {
    "poetry": _poetry,
    "uv": _uv,
    "pylock": _pylock,
    "pdm": _pdm,
    "pipfile": _pipfile,
    "requirements": _requirements,
}
# File names autodetected in a folder, in order of preference.
KNOWN_NAMES = ("uv.lock", "poetry.lock", "pylock.toml", "pdm.lock", "Pipfile.lock", "requirements.txt")

# A file with one of these names is that format (only the other names are sniffed).
_BY_NAME = {"poetry.lock": "poetry", "uv.lock": "uv", "pdm.lock": "pdm", "Pipfile.lock": "pipfile"}


def find_lockfile(folder: Path) -> Path:
    """The lockfile to use in ``folder`` when ``-s`` is not given."""
    for name in KNOWN_NAMES:
        if (folder / name).is_file():
            return folder / name
    pylocks = sorted(folder.glob("pylock.*.toml"))
    if pylocks:
        return pylocks[0]
    raise InputError(
        f"no lockfile found in {folder} (looked for {', '.join(KNOWN_NAMES)}, pylock.*.toml); pass one with -s"
    )


def command_lockfiles(lockfile: Path | None, arguments: list[Path], pre_commit: bool) -> tuple[list[Path], list[str]]:
    """``(lockfiles, notes)``: the lockfiles a check-plugin run reads (``-s`` and the LOCKFILE
    arguments, else the current folder's); with ``pre_commit``, only a plugin's lockfiles among
    the arguments, possibly none, and a note for each file passed over."""
    if pre_commit:
        kept, passed_over = hook_arguments(arguments)
        return (lockfile_arguments([lockfile]) + kept if lockfile is not None else kept), passed_over
    given = ([lockfile] if lockfile is not None else []) + arguments
    return lockfile_arguments(given) or [find_lockfile(Path.cwd())], []


def lockfile_arguments(paths: Iterable[Path]) -> list[Path]:
    """The lockfiles named on the command line (as pre-commit passes them), each file once
    whatever its spelling: a ``pyproject.toml`` stands for the lockfile beside it (and is then
    read for ``[tool.krakend]`` whoever owns it). A path that names no file is an InputError;
    so is a pyproject.toml with no lockfile beside it, unless other arguments name lockfiles
    (pre-commit passes a config-only pyproject.toml along with them)."""
    from krakend_tools.config import trust

    Path.cwd()  # a current folder removed under the command is that error, not "no such file"
    found: dict[tuple[int, int], Path] = {}
    lone: list[Path] = []  # pyproject.toml files with no lockfile beside them
    for path in paths:
        if path.name == "pyproject.toml":
            if not path.is_file():
                raise InputError("no such file", path=path)
            trust(path)
            beside = _lockfile_beside(path)
            if beside is None:
                lone.append(path)
                continue
            path = beside
        found.setdefault(_identity(path), path)
    if lone and not found:
        raise InputError("no lockfile next to it, nothing to check", path=lone[0])
    return list(found.values())


PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")  # what makes a folder a project


def hook_arguments(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """The files pre-commit passes, as :func:`lockfile_arguments`, keeping only a plugin's
    lockfiles: a requirements file counts when a project file is beside it (a
    ``docs/requirements.txt`` is no plugin's lockfile), a ``pyproject.toml`` when a lockfile is
    beside it. Each file passed over is named in a note: ``(kept, notes)``."""
    kept: list[Path] = []
    notes: list[str] = []
    for path in paths:
        if path.name == "pyproject.toml" and path.is_file() and _lockfile_beside(path) is None:
            notes.append(f"{path}: note: not checked: no lockfile beside it")
        elif _requirements_name(path) and not any((path.parent / name).is_file() for name in PROJECT_FILES):
            notes.append(
                f"{path}: note: not checked: no {' or '.join(PROJECT_FILES)} beside it, so no plugin's "
                "lockfile (check it with -s)"
            )
        else:
            kept.append(path)
    return (lockfile_arguments(kept) if kept else []), notes


def _requirements_name(path: Path) -> bool:
    return path.name not in KNOWN_NAMES[:-1] and path.suffix in (".txt", ".in")


def _lockfile_beside(pyproject: Path) -> Path | None:
    try:
        return find_lockfile(pyproject.parent)
    except InputError:
        return None


def _identity(path: Path) -> tuple[int, int]:
    """``(device, inode)`` of the file ``path`` names, else an InputError."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise InputError(f"cannot read lockfile: {reason}", path=path) from None
    return info.st_dev, info.st_ino


def load_lockfile(path: Path) -> Lockfile:
    """Detect the format of ``path`` by name and content and parse it."""
    from krakend_tools.files import read_text

    text = read_text(path, "lockfile")
    named = _BY_NAME.get(path.name)
    for name in (named,) if named else READERS:
        reader = READERS[name]()
        if reader.matches(path, text):
            return reader.parse(path, text)
    raise InputError(
        "unknown lockfile format (expected poetry.lock, uv.lock, pylock.toml, "
        "pdm.lock, Pipfile.lock or requirements.txt)",
        path=path,
    )
