"""The project's ``[tool.krakend]`` table, from the nearest pyproject.toml upward."""

from __future__ import annotations

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
    from krakend_tools.lockfiles._common import load_toml, read_text

    here = start.absolute()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        path = folder / "pyproject.toml"
        if not path.exists():
            continue
        data = load_toml(path, read_text(path, "pyproject.toml"))  # bounded, regular files only
        tool = data.get("tool")
        table = tool.get("krakend") if isinstance(tool, dict) else None
        if isinstance(table, dict):
            return ProjectConfig(table, folder)
    return None
