"""What a build is asked to do: :class:`BuildOptions`, read from the command line and filled
from ``[tool.krakend.build]``, ``[tool.krakend]`` and ``$KRAKEND_*BASE_IMAGES`` (in that order)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import TARGETS, Target

IMAGE_TABLES = (  # [tool.krakend.build.<key>] -> the BuildOptions map it fills
    ("base-images", "base_images"),
    ("runtime-base-images", "runtime_base_images"),
    ("engines", "engines"),
)
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Events:
    """Callbacks for whoever shows progress: ``step(target, text)`` and ``log(target, line)``."""

    step: Callable[[str, str], None] = lambda target, text: None
    log: Callable[[str, str], None] = lambda target, line: None


@dataclass
class BuildOptions:
    plugin_dir: Path
    targets: list[Target]  # empty: the manifest's own (see :func:`resolve`)
    out: Path | None = None  # root; each target writes to <out>/<flavour>-<arch>/
    base_images: dict[str, str] = field(default_factory=dict)  # target -> builder base
    runtime_base_images: dict[str, str] = field(default_factory=dict)  # target -> runtime base
    command: str | None = None
    network: str | None = None  # None: --network none
    arm64: str = "cross"  # cross | emulate
    test: bool = True
    types: list[str] = field(default_factory=list)  # empty: every type the plugin has
    timeout: float = 1800.0
    jobs: int = 1
    manifest: Manifest | None = None
    rebuild_images: bool = False
    engines: dict[str, str] = field(default_factory=dict)  # target -> engine URL
    registry: str | None = None  # official bases from there (default $KRAKEND_IMAGE_REGISTRY)
    before_build: str | None = None  # shell command run in the builder before the build
    environment: dict[str, str] = field(default_factory=dict)  # extra variables for the build
    allow_missing_extensions: bool = False  # a pure wheel from compiled sources: warning, not KO


def resolve(opts: BuildOptions, default_types: Sequence[str] = ()) -> BuildOptions:
    """Fill what the command line left unset: ``[tool.krakend.build]`` first, then the
    ``[tool.krakend]`` plugin types, then ``$KRAKEND_BASE_IMAGES`` and
    ``$KRAKEND_RUNTIME_BASE_IMAGES``; no target builds the manifest's own (as cibuildwheel
    builds the native one)."""
    from krakend_tools.containers.bases import env_base_images

    apply_config(opts, plugin_config(opts.plugin_dir))
    opts.types = opts.types or list(default_types)
    for key, value in env_base_images("KRAKEND_BASE_IMAGES").items():
        opts.base_images.setdefault(key, value)
    for key, value in env_base_images("KRAKEND_RUNTIME_BASE_IMAGES").items():
        opts.runtime_base_images.setdefault(key, value)
    if not opts.targets and opts.manifest is not None:
        opts.targets = [manifest_target(opts.manifest)]
    return opts


def parse_targets(values: list[str]) -> list[Target]:
    """``--target`` values (repeatable, comma lists, ``all``) in a stable order."""
    names: list[str] = []
    for value in values or []:
        for item in filter(None, (v.strip() for v in value.split(","))):
            names += list(TARGETS) if item == "all" else [str(Target.parse(item))]
    if not names:
        raise InputError("at least one --target is needed (alpine/amd64, generic/arm64, ... or all)")
    return [Target.parse(n) for n in dict.fromkeys(names)]


def engine_url(value: str) -> str:
    """An ``--engine`` value: a DOCKER_HOST-style URL, or the name of a docker context."""
    from krakend_tools.containers.engine import context_host

    return value if "://" in value else context_host(value)


def manifest_target(manifest: Manifest) -> Target:
    """The gateway's own target: ``alpine/arm64`` for a musl arm64 manifest."""
    flavour = "alpine" if manifest.platform.libc_family == "musl" else "generic"
    return Target.parse(f"{flavour}/{manifest.platform.arch}")


def plugin_config(plugin_dir: Path) -> dict[str, Any]:
    """The ``[tool.krakend.build]`` table of the plugin's pyproject (empty if none)."""
    path = plugin_dir / "pyproject.toml"
    if not path.is_file():
        return {}
    from krakend_tools.files import read_pyproject

    table = read_pyproject(path).get("tool", {}).get("krakend", {}).get("build", {})
    if not isinstance(table, dict):
        raise InputError("[tool.krakend.build] must be a table", path=path)
    return table


def apply_config(opts: BuildOptions, table: dict[str, Any]) -> None:
    """Fill options the command line left unset from ``[tool.krakend.build]``."""
    if opts.command is None:
        opts.command = _string(table, "command", "a shell command")
    _apply_image_tables(opts, table)
    if opts.registry is None:
        opts.registry = _string(table, "registry", "a registry HOST[:PORT]")
    _apply_hooks(opts, table)
    opts.engines = {k: engine_url(v) for k, v in opts.engines.items()}
    types = table.get("types") or []
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise InputError("[tool.krakend.build] types must be a list of strings")
    opts.types = opts.types or types


def _string(table: dict[str, Any], key: str, what: str) -> str | None:
    """``table[key]``: a non-empty string, or None when unset; anything else is bad input."""
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"[tool.krakend.build] {key} must be {what} (a string)")
    return value or None


def _apply_image_tables(opts: BuildOptions, table: dict[str, Any]) -> None:
    """``base-images``, ``runtime-base-images`` and ``engines``: TARGET = IMAGE (or URL) tables."""
    for key, attr in IMAGE_TABLES:
        images = table.get(key) or {}
        if not isinstance(images, dict):
            raise InputError(
                f"[tool.krakend.build.{key}] must be a table of TARGET = {'URL' if key == 'engines' else 'IMAGE'}"
            )
        current: dict[str, str] = getattr(opts, attr)
        for name, image in images.items():
            current.setdefault(str(Target.parse(name)), str(image))


def _apply_hooks(opts: BuildOptions, table: dict[str, Any]) -> None:
    """``before-build``, ``environment`` and ``allow-missing-extensions`` of ``[tool.krakend.build]``."""
    if opts.before_build is None:
        opts.before_build = _string(table, "before-build", "a shell command")
    env = table.get("environment", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise InputError('[tool.krakend.build.environment] must be a table of NAME = "VALUE"')
    bad = [k for k in env if not VARIABLE_NAME.fullmatch(k) or k.startswith("KRAKEND_")]
    if bad:
        raise InputError(f"[tool.krakend.build.environment] {bad[0]!r} is not a variable name a build may set")
    for key, value in env.items():
        opts.environment.setdefault(key, value)
    allow = table.get("allow-missing-extensions", False)
    if not isinstance(allow, bool):
        raise InputError("[tool.krakend.build] allow-missing-extensions must be true or false")
    opts.allow_missing_extensions = opts.allow_missing_extensions or allow
