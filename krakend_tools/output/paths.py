"""Where CI annotations point: paths relative to the repository root, whatever the current folder."""

from __future__ import annotations

import os
import posixpath
from functools import cache
from pathlib import Path


def repository_root() -> Path | None:
    """``$GITHUB_WORKSPACE`` when set, else the nearest folder from the current one upward that
    holds ``.git`` (a repository or a worktree); None outside any."""
    try:
        here = os.path.realpath(Path.cwd())
    except OSError:
        here = ""
    return _root(here, os.environ.get("GITHUB_WORKSPACE", ""))


@cache
def _root(here: str, workspace: str) -> Path | None:
    """:func:`repository_root` for one current folder and workspace (looked up once each)."""
    if workspace:
        return Path(os.path.realpath(workspace))
    if not here:
        return None
    folder = Path(here)
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def from_root(file: str) -> str:
    """``file`` (relative to the current folder, or absolute) relative to the repository root
    when it is inside it (outside any repository: to the current folder); else as given. A
    relative path keeps its text (only the current folder's place in the repository is put
    before it)."""
    root = repository_root()
    if root is None:  # outside a repository: relative to the current folder when inside it
        return _below_cwd(file)
    try:
        here = Path(os.path.realpath(Path.cwd()))
        if not file.startswith("/"):
            prefix = here.relative_to(root).as_posix()
            joined = file if prefix == "." else f"{prefix}/{file}"
            return posixpath.normpath(joined) if ".." in Path(file).parts else joined
        absolute = Path(file)
        real = Path(os.path.realpath(absolute.parent)) / absolute.name  # the folders' links resolved
        return real.relative_to(root).as_posix()
    except (OSError, ValueError):
        return file


def _below_cwd(file: str) -> str:
    if not file.startswith("/"):
        return file
    try:
        return Path(file).relative_to(Path.cwd()).as_posix()
    except (OSError, ValueError):
        return file
