"""The ``[tool.krakend]`` table of the nearest ``pyproject.toml``: every command's defaults."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError


@dataclass(frozen=True)
class ProjectConfig:
    table: dict[str, Any]  # the [tool.krakend] table
    root: Path  # folder of that pyproject.toml; relative paths in the table are relative to it


def find_config(start: Path) -> ProjectConfig | None:
    """The nearest ``pyproject.toml`` from ``start`` upward that has a ``[tool.krakend]`` table."""
    folder = start.resolve()
    if not folder.is_dir():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise InputError(f"cannot read: {err}", path=path) from None
        table = data.get("tool", {}).get("krakend") if isinstance(data.get("tool"), dict) else None
        if isinstance(table, dict):
            return ProjectConfig(table, candidate)
    return None
