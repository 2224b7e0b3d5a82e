"""Options every command shares, and each command's defaults from ``[tool.krakend]``.

Command-line options win over the config; ``--ignore`` adds to the config's ``ignore``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from krakend_tools.output import OutputSpec

ManifestOpt = Annotated[
    str | None,
    typer.Option(
        "--manifest",
        metavar="FILE",
        help="Gateway manifest (krakend version -o json), or 'host' for the running interpreter. "
        "Default: $KRAKEND_MANIFEST, else manifest in [tool.krakend].",
    ),
]
OutputsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FORMAT[=FILE]",
        help="text, json, junit, github or sarif; to FILE, else stdout. Repeatable. Default: text.",
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        metavar="NAME[:REASON]",
        help="Accept this known mismatch (package, artifact or target): reported as ignored with "
        "its reason, not counted as a failure. Repeatable.",
    ),
]

TOP_KEYS = {"manifest", "types", "timeout", "outputs", "ignore", "groups", "extras", "lock"}
COMMANDS = ("check-plugin", "test-plugin", "build")


@dataclass
class Defaults:
    """What ``[tool.krakend]`` (and its ``[tool.krakend.<command>]`` table) sets for one command."""

    root: Path | None = None  # folder of the pyproject.toml; relative paths are relative to it
    types: list[str] = field(default_factory=list)
    timeout: float | None = None
    outputs: list[str] = field(default_factory=list)
    ignore: dict[str, str] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    lock: Path | None = None  # the plugin's lockfile (test-plugin's --lock), relative to root

    @property
    def pyproject(self) -> Path | None:
        """The file these defaults come from (an input no output may overwrite)."""
        return self.root / "pyproject.toml" if self.root is not None else None


def load_defaults(command: str, start: Path) -> Defaults:
    """``[tool.krakend]`` of the nearest pyproject.toml from ``start`` up, checked, for ``command``."""
    from krakend_tools.config import find_config

    config = find_config(start)
    if config is None:
        return Defaults()
    where = config.root / "pyproject.toml"
    table = {k: v for k, v in config.table.items() if k not in COMMANDS}
    own = config.table.get(command, {})
    if not isinstance(own, dict):
        _bad(where, f"[tool.krakend.{command}] must be a table")
    if command != "build":  # [tool.krakend.build] has its own keys (build.py reads them)
        table.update(own)
    unknown = sorted(set(table) - TOP_KEYS)
    if unknown:
        _bad(where, f"[tool.krakend] unknown key {unknown[0]!r} (known: {', '.join(sorted(TOP_KEYS))})")
    found = Defaults(root=config.root)
    found.types = _str_list(table, "types", where)
    found.outputs = _str_list(table, "outputs", where)
    found.groups = _str_list(table, "groups", where)
    found.extras = _str_list(table, "extras", where)
    if "manifest" in table and not isinstance(table["manifest"], str):
        _bad(where, "[tool.krakend] manifest must be a string (a path, or 'host')")
    if "lock" in table:
        if not isinstance(table["lock"], str) or not table["lock"]:
            _bad(where, "[tool.krakend] lock must be a path (a string)")
        found.lock = config.root / table["lock"]
    if "timeout" in table:
        timeout = table["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 1e6:
            _bad(where, "[tool.krakend] timeout must be a number of seconds above 0")
        found.timeout = float(timeout)
    ignore = table.get("ignore", [])
    if isinstance(ignore, dict) and all(isinstance(v, str) for v in ignore.values()):
        found.ignore = {str(k): v for k, v in ignore.items()}
    elif isinstance(ignore, list) and all(isinstance(v, str) for v in ignore):
        found.ignore = parse_ignores(ignore)
    else:
        _bad(where, '[tool.krakend] ignore must be a list of "NAME[:REASON]" or a table NAME = "REASON"')
    return found


def parse_ignores(values: list[str]) -> dict[str, str]:
    """``NAME[:REASON]`` -> {NAME: REASON} (an empty reason when none is given)."""
    from krakend_tools.errors import InputError

    out: dict[str, str] = {}
    for value in values:
        name, _, reason = value.partition(":")
        if not name.strip():
            raise InputError(f"--ignore {value!r}: expected NAME[:REASON]")
        out[name.strip()] = reason.strip()
    return out


def outputs(cli: list[str] | None, defaults: Defaults | None) -> list[OutputSpec]:
    """The command line's ``-o`` if any, else the config's ``outputs`` (files relative to its folder,
    never outside it); with ``defaults=None``, only the command line's (empty when it has none)."""
    from krakend_tools.output import parse_outputs

    if cli:
        return parse_outputs(cli)
    if defaults is None:
        return []
    return parse_outputs(defaults.outputs, defaults.root, confined=True)  # a pull request may write it


def ignores(cli: list[str] | None, defaults: Defaults) -> dict[str, str]:
    return {**defaults.ignore, **parse_ignores(cli or [])}


def _str_list(table: dict[str, Any], key: str, where: Path) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        _bad(where, f"[tool.krakend] {key} must be a list of strings")
    return list(value)


def _bad(where: Path, message: str) -> NoReturn:
    from krakend_tools.errors import InputError

    raise InputError(message, path=where)
