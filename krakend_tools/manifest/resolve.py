"""Which manifest a command works against: ``--manifest`` (a file, or ``host``), else
``$KRAKEND_MANIFEST``, else ``manifest = "PATH"`` in the project's ``[tool.krakend]``. Never a
silent fallback: with none of them the command stops and says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from krakend_tools.errors import InputError

if TYPE_CHECKING:
    from krakend_tools.manifest.model import Manifest

NO_MANIFEST = (
    "no gateway manifest: pass --manifest FILE (or --manifest host for this "
    'interpreter), set $KRAKEND_MANIFEST, or add manifest = "PATH" to [tool.krakend] '
    "in the project's pyproject.toml"
)


def resolve(option: str | None, start: Path | None = None) -> Manifest:
    """The manifest a command works against: ``option`` (a path, or "host" for this
    interpreter), else ``$KRAKEND_MANIFEST``, else ``manifest = "PATH"`` in the top level of the
    ``[tool.krakend]`` table of the nearest pyproject.toml from ``start`` (default: the current
    folder) upward, relative to that pyproject (:func:`krakend_tools.settings.resolve`)."""
    from krakend_tools.manifest.facts import host
    from krakend_tools.manifest.model import load
    from krakend_tools.settings import CommandLine, Source
    from krakend_tools.settings import resolve as settings

    chosen = settings(None, None, CommandLine(manifest=option or None))  # the project read only if it decides
    if chosen.manifest is None:
        chosen = settings(None, start if start is not None else Path.cwd())
    if chosen.manifest is None:
        raise InputError(NO_MANIFEST)
    if chosen.origin("manifest") is Source.PYPROJECT:
        assert chosen.root is not None  # a project's setting comes with its folder
        return load(_configured(chosen.manifest, chosen.root))
    return host() if chosen.manifest == "host" else load(chosen.manifest)


def _configured(value: str, root: Path) -> Path:
    """The manifest file ``manifest = value`` in ``root``'s pyproject.toml names, checked."""
    from krakend_tools.files import excerpt

    where = root / "pyproject.toml"
    if not value:
        raise InputError("[tool.krakend] manifest must be a path (a string)", path=where)
    path = root / value
    if not _is_file(path):
        raise InputError(f"[tool.krakend] manifest {excerpt(value)}: no such file", path=where)
    return path


def _is_file(path: Path) -> bool:
    """Whether ``path`` names a file (False for a name the system refuses: too long, a loop)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def resolver(option: str | None, *, python: str | None = None, libc: str | None = None) -> Callable[[Path], Manifest]:
    """:func:`resolve` for several folders (the lockfiles of one pre-commit run): each folder's
    own project decides, each resolved once; with ``option`` or ``$KRAKEND_MANIFEST``, one
    manifest for all. ``python``/``libc`` override it (``-g``/``-l``)."""
    from krakend_tools.settings import CommandLine
    from krakend_tools.settings import resolve as settings

    one = settings(None, None, CommandLine(manifest=option or None)).manifest
    found: dict[Path | None, Manifest] = {}

    def manifest_for(folder: Path) -> Manifest:
        key = None if one else folder.absolute()
        if key not in found:
            found[key] = resolve(option, folder).with_overrides(python, libc)
        return found[key]

    return manifest_for
