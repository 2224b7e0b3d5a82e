"""Where CI annotations point: paths relative to the repository root, whatever the current folder."""

from __future__ import annotations

import os
import posixpath
from functools import cache
from pathlib import Path


@cache
def repository_root() -> Path | None:
    """``$GITHUB_WORKSPACE`` when set, else the nearest folder from the current one upward that
    holds ``.git`` (a repository or a worktree); None outside any."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        return Path(os.path.realpath(workspace))
    try:
        here = Path(os.path.realpath(Path.cwd()))
    except OSError:
        return None
    for folder in (here, *here.parents):
        if os.path.lexists(folder / ".git"):
            return folder
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
