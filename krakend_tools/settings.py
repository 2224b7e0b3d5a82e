"""Every setting a command reads, resolved in one place and in one order.

A setting comes from the first of these sources that sets it:

1. the command line (an option given);
2. the environment (``$KRAKEND_MANIFEST``, ``$KRAKEND_GATEWAY_NAME``, ``$KRAKEND_GATEWAY_VERSION``);
3. ``[tool.krakend]`` of the nearest pyproject.toml from the command's folder upward, its
   ``[tool.krakend.<command>]`` table over its top level (build's table is build's own);
4. the built-in default.

``ignore`` is the one setting that adds up: the command line's names join the project's (the
command line's reason wins for a name in both). The result is one frozen :class:`Settings` per
command run, which also says where each value came from."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from krakend_tools.errors import InputError

if TYPE_CHECKING:
    from krakend_tools.output import OutputSpec


class Source(StrEnum):
    """Where a setting's value came from, in precedence order."""

    COMMAND_LINE = "command line"
    ENVIRONMENT = "environment"
    PYPROJECT = "[tool.krakend]"
    DEFAULT = "default"


ENVIRONMENT = {
    "manifest": "KRAKEND_MANIFEST",
    "gateway_name": "KRAKEND_GATEWAY_NAME",
    "gateway_version": "KRAKEND_GATEWAY_VERSION",
}
# [tool.krakend]'s keys, in the order they are checked
PYPROJECT_KEYS = ("types", "outputs", "groups", "extras", "manifest", "lock", "timeout", "ignore")
COMMANDS = ("check-plugin", "test-plugin", "build")  # each may have its [tool.krakend.<command>] table


@dataclass(frozen=True)
class CommandLine:
    """The options a command was given; None, "" or empty is an option not given."""

    manifest: str | None = None
    types: Sequence[str] = ()
    timeout: float | None = None
    outputs: Sequence[str] = ()
    ignore: Sequence[str] = ()  # NAME[:REASON]
    groups: Sequence[str] = ()
    extras: Sequence[str] = ()
    lock: Path | None = None
    gateway_name: str | None = None
    gateway_version: str | None = None


@dataclass(frozen=True)
class Settings:
    """One command's settings, each from the first source that sets it (see the module)."""

    command: str | None = None
    root: Path | None = None  # folder of the pyproject.toml read; its relative paths are relative to it
    manifest: str | None = None  # a path, or "host" (one from [tool.krakend] is relative to root)
    types: tuple[str, ...] = ()
    timeout: float | None = None
    outputs: tuple[str, ...] = ()
    ignore: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    lock: Path | None = None  # the plugin's lockfile (test-plugin's --lock)
    gateway_name: str | None = None
    gateway_version: str | None = None
    origins: Mapping[str, Source] = field(default_factory=dict)  # setting -> where its value came from

    @property
    def pyproject(self) -> Path | None:
        """The file the project's settings come from (an input no output may overwrite)."""
        return self.root / "pyproject.toml" if self.root is not None else None

    def origin(self, name: str) -> Source:
        """Where setting ``name`` came from."""
        return self.origins.get(name, Source.DEFAULT)

    def output_specs(self) -> list[OutputSpec]:
        """``outputs`` parsed; files the project names stay inside its folder (a pull request may
        write its pyproject.toml)."""
        from krakend_tools.output import parse_outputs

        if self.origin("outputs") is Source.PYPROJECT:
            return parse_outputs(list(self.outputs), self.root, confined=True)
        return parse_outputs(list(self.outputs))


def resolve(
    command: str | None,
    start: Path | None,
    given: CommandLine | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """The settings of ``command`` run on ``start`` (a folder or a file in it; None: no project
    settings read) with the options ``given`` and the environment ``environ`` (default: this
    process's). ``command`` None reads only the top level of ``[tool.krakend]``."""
    layers = [
        (Source.COMMAND_LINE, _command_line_layer(given or CommandLine())),
        (Source.ENVIRONMENT, _environment_layer(os.environ if environ is None else environ)),
    ]
    root, table = _pyproject_layer(command, start) if start is not None else (None, {})
    layers.append((Source.PYPROJECT, table))
    values: dict[str, Any] = {}
    origins: dict[str, Source] = {}
    for source, layer in reversed(layers):  # the lowest first: each higher one overrides it
        for name, value in layer.items():
            values[name] = {**values.get("ignore", {}), **value} if name == "ignore" else value
            origins[name] = source
    return Settings(command=command, root=root, origins=origins, **values)


def parse_ignores(values: Sequence[str]) -> dict[str, str]:
    """``NAME[:REASON]`` -> {NAME: REASON} (an empty reason when none is given)."""
    out: dict[str, str] = {}
    for value in values:
        name, _, reason = value.partition(":")
        if not name.strip():
            raise InputError(f"--ignore {value!r}: expected NAME[:REASON]")
        out[name.strip()] = reason.strip()
    return out


def _command_line_layer(given: CommandLine) -> dict[str, Any]:
    """The options given, as settings (lists as tuples, ``--ignore`` values parsed)."""
    layer: dict[str, Any] = {}
    for option in fields(given):
        value = getattr(given, option.name)
        if value is None or (isinstance(value, Sequence) and not value):  # "" and [] too
            continue
        layer[option.name] = value if isinstance(value, str | Path | float | int) else tuple(value)
    if "ignore" in layer:
        layer["ignore"] = parse_ignores(layer["ignore"])
    return layer


def _environment_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings ``$KRAKEND_*`` variables set (an empty variable sets nothing)."""
    return {name: environ[variable] for name, variable in ENVIRONMENT.items() if environ.get(variable)}


def _pyproject_layer(command: str | None, start: Path) -> tuple[Path | None, dict[str, Any]]:
    """The folder of the nearest pyproject.toml with a ``[tool.krakend]`` table and its settings
    for ``command``, checked; (None, {}) when there is none."""
    from krakend_tools.config import find_config

    config = find_config(start)
    if config is None:
        return None, {}
    where = config.root / "pyproject.toml"
    table = _command_table(config.table, command, where)
    unknown = sorted(set(table) - set(PYPROJECT_KEYS))
    if unknown:
        _bad(where, f"[tool.krakend] unknown key {unknown[0]!r} (known: {', '.join(sorted(PYPROJECT_KEYS))})")
    return config.root, {key: _checked(key, table[key], config.root, where) for key in PYPROJECT_KEYS if key in table}


def _command_table(table: Mapping[str, Any], command: str | None, where: Path) -> dict[str, Any]:
    """The top level of ``[tool.krakend]`` with ``[tool.krakend.<command>]`` over it."""
    merged = {k: v for k, v in table.items() if k not in COMMANDS}
    own = table.get(command, {}) if command is not None else {}
    if not isinstance(own, dict):
        _bad(where, f"[tool.krakend.{command}] must be a table")
    if command != "build":  # [tool.krakend.build] has its own keys (build reads them)
        merged.update(own)
    return merged


def _checked(key: str, value: Any, root: Path, where: Path) -> Any:
    """One ``[tool.krakend]`` value, checked and made a setting (a path relative to ``root``)."""
    if key in ("types", "outputs", "groups", "extras"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            _bad(where, f"[tool.krakend] {key} must be a list of strings")
        return tuple(value)
    if key == "manifest" and not isinstance(value, str):
        _bad(where, "[tool.krakend] manifest must be a string (a path, or 'host')")
    if key == "lock":
        if not isinstance(value, str) or not value:
            _bad(where, "[tool.krakend] lock must be a path (a string)")
        return root / value
    if key == "timeout":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
            _bad(where, "[tool.krakend] timeout must be a number of seconds above 0")
        return float(value)
    if key == "ignore":
        return _ignore_table(value, where)
    return value


def _ignore_table(value: Any, where: Path) -> dict[str, str]:
    """``ignore``: a list of ``NAME[:REASON]`` or a table ``NAME = "REASON"``."""
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return parse_ignores(value)
    _bad(where, '[tool.krakend] ignore must be a list of "NAME[:REASON]" or a table NAME = "REASON"')


def _bad(where: Path, message: str) -> NoReturn:
    raise InputError(message, path=where)
