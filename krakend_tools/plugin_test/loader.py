"""The gateway side: load every plugin in a folder, the way KrakenD's plugin loader does.

The folder is scanned (not recursively, sorted by name) for entries whose name contains
``pattern``; each one is opened on its own, so one broken plugin neither stops nor
hides the others. Every failure is wrapped as ``plugin #k (path): reason`` (``k`` counts
from 0, as in KrakenD) and returned with the number of plugins that loaded.

This runs in the calling process: a plugin that crashes the interpreter takes it down.
``test-plugin`` therefore probes each plugin in a subprocess (:mod:`krakend_tools.plugin_test.import_phase`);
this module is the in-process reference of what "loads" means.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from krakend_tools.plugin_test._probe import krakend_probe as probe
from krakend_tools.plugin_test.contract import REGISTERERS, TYPES


@dataclass
class LoadResult:
    """What a folder scan loaded."""

    loaded: int = 0
    registered: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TYPES})
    factories: dict[str, dict[str, Any]] = field(default_factory=lambda: {t: {} for t in TYPES})
    errors: list[str] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def scan(folder: str | Path, pattern: str) -> list[Path]:
    """Entries of ``folder`` whose name contains ``pattern``: files and package folders."""
    root = Path(folder)
    found = []
    for name in sorted(os.listdir(root)):
        path = root / name
        if pattern in name and (path.is_file() or (path / "__init__.py").is_file()):
            found.append(path)
    return found


def _module_name(path: Path) -> str:
    return path.name if path.is_dir() else path.name.split(".", 1)[0]


def open_plugin(path: Path) -> ModuleType:
    """Import the module at ``path`` (a ``.so``, a ``.py`` or a package folder)."""
    name = _module_name(path)
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {path.name}")
    previous = sys.modules.get(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so the plugin can import its own submodules
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise
    return module


def _silent() -> None:
    """Tracebacks are not printed: the error line is returned instead."""


def register_plugin(
    module: ModuleType, types: Sequence[str], result: LoadResult, logger: Any = None, ctx: Any = None
) -> str | None:
    """Register every registerer ``module`` has among ``types``; the error, if any."""
    present = [t for t in types if hasattr(module, REGISTERERS[t])]
    if not present:
        wanted = ", ".join(REGISTERERS[t] for t in types)
        return f"the plugin does not contain any of {wanted}"
    errors = []
    for kind in present:
        recorder = probe.Recorder(kind)
        res = probe.register_type(module, kind, logger, ctx, on_error=_silent, recorder=recorder)
        if not res["ok"]:
            errors.append(str(res["error"]))
            continue
        for name in res["registered"]:
            result.registered[kind].append(name)
            result.factories[kind][name] = recorder.factories[name]
    return "; ".join(errors) or None


def load(
    folder: str | Path,
    pattern: str = ".so",
    types: Sequence[str] = TYPES,
    opener: Callable[[Path], ModuleType] = open_plugin,
    logger: Any = None,
    ctx: Any = None,
) -> LoadResult:
    """Scan ``folder`` and load every matching plugin; errors are collected, never raised."""
    result = LoadResult()
    logger = logger if logger is not None else probe.Logger()
    ctx = ctx if ctx is not None else probe.Context()
    for k, path in enumerate(scan(folder, pattern)):
        result.scanned.append(str(path))
        try:
            module = opener(path)
        except SystemExit as exc:
            result.errors.append(f"plugin #{k} ({path}): exited with code {exc.code!r} during import")
            continue
        except BaseException as exc:  # noqa: BLE001 - a broken plugin is a result
            if isinstance(exc, KeyboardInterrupt):
                raise
            result.errors.append(f"plugin #{k} ({path}): {probe.last_line(exc)}")
            continue
        error = register_plugin(module, types, result, logger, ctx)
        if error:
            result.errors.append(f"plugin #{k} ({path}): {error}")
            continue
        result.loaded += 1
    return result
