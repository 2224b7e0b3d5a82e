"""The project's ``[tool.krakend]`` table, from the nearest pyproject.toml upward."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProjectConfig:
    """A ``[tool.krakend]`` table and the folder of the pyproject.toml holding it."""

    table: dict[str, Any]
    root: Path


def find_config(start: Path) -> ProjectConfig | None:
    """The nearest pyproject.toml from ``start`` (a folder or a file in it) upward that has a
    ``[tool.krakend]`` table; None when there is none."""
    here = start.absolute()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        path = folder / "pyproject.toml"
        try:
            st = path.stat()
        except OSError:
            continue
        table = _krakend_table(str(path), st.st_mtime_ns, st.st_size)
        if table is not None:
            return ProjectConfig(table, folder)
    return None


@functools.lru_cache(maxsize=32)
def _krakend_table(path: str, mtime_ns: int, size: int) -> dict[str, Any] | None:
    """The ``[tool.krakend]`` table of one pyproject.toml, read once per version of the file
    (a command looks it up for its defaults and again for its manifest)."""
    from krakend_tools.lockfiles._common import load_toml, read_text

    data = load_toml(Path(path), read_text(path, "pyproject.toml"))  # bounded, regular files only
    tool = data.get("tool")
    table = tool.get("krakend") if isinstance(tool, dict) else None
    return table if isinstance(table, dict) else None
