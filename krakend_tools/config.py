"""The project's ``[tool.krakend]`` table, from the nearest pyproject.toml upward.

A pyproject.toml of another user found on the way up is refused rather than skipped (as git
refuses a repository another user owns): skipping would silently run the check under other
settings (another manifest, fewer groups, no ignores, no outputs), while a refusal only stops
the run, loudly. One the user names on the command line is read whoever owns it."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError

_NAMED: set[str] = set()  # real paths of the pyproject.toml files named on the command line


@dataclass(frozen=True)
class ProjectConfig:
    """A ``[tool.krakend]`` table and the folder of the pyproject.toml holding it."""

    table: dict[str, Any]
    root: Path


def trust(pyproject: Path) -> None:
    """Read ``pyproject`` (named on the command line) whoever owns it."""
    _NAMED.add(os.path.realpath(pyproject))


def find_config(start: Path) -> ProjectConfig | None:
    """The nearest pyproject.toml from ``start`` (a folder or a file in it) upward that has a
    ``[tool.krakend]`` table; None when there is none. Refused when another user owns it."""
    here = start.absolute()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        path = folder / "pyproject.toml"
        try:
            st = path.stat()
        except OSError:
            continue
        table, owner = _krakend_table(str(path), st.st_ino, st.st_ctime_ns, st.st_size)
        if table is not None:
            _refuse_foreign(path, owner)
            return ProjectConfig(table, folder)
    return None


def _refuse_foreign(path: Path, owner: int) -> None:
    """An InputError when another user owns ``path`` and the user did not name it."""
    me = os.geteuid()
    if owner != me and os.path.realpath(path) not in _NAMED:
        raise InputError(
            f"owned by another user (uid {owner}, you are uid {me}): its [tool.krakend] is not read "
            "(chown it, or name it on check-plugin's command line)",
            path=path,
        )


@functools.lru_cache(maxsize=32)
def _krakend_table(path: str, inode: int, ctime_ns: int, size: int) -> tuple[dict[str, Any] | None, int]:
    """The ``[tool.krakend]`` table of one pyproject.toml and the owner of the file read, once
    per version of the file (a command looks it up for its defaults and again for its manifest)."""
    from krakend_tools.files import read_toml

    pyproject, info = read_toml(path)
    tool = pyproject.get("tool")
    table = tool.get("krakend") if isinstance(tool, dict) else None
    return (table if isinstance(table, dict) else None), info.st_uid
