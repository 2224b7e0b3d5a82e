"""The project's ``[tool.krakend]`` table, from the nearest pyproject.toml upward."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError


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
            text = path.read_text()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        except OSError as err:
            raise InputError(f"cannot read: {err.strerror}", path=path) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"invalid TOML: {err}", path=path) from None
        table = data.get("tool", {}).get("krakend") if isinstance(data.get("tool"), dict) else None
        if isinstance(table, dict):
            return ProjectConfig(table, folder)
    return None
