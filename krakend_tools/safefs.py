"""Temporary folders made private and removed without following a link planted in them.

An archive or a plugin under test may leave symlinks, read-only folders or a symlink in
place of the folder itself: removal goes through file descriptors opened with O_NOFOLLOW,
so it unlinks links and never reaches what they point at."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


@contextmanager
def private_folder(prefix: str) -> Iterator[Path]:
    """A new folder in the temporary folder that only this user can enter (mode 0700),
    removed with everything in it on exit, on every exit path."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    top = os.open(path, _DIR_FLAGS)
    try:
        yield path
    finally:
        try:
            remove_folder(path, top)
        finally:
            os.close(top)


def remove_folder(path: Path, top: int) -> None:
    """Empty the folder open as ``top`` and remove it, wherever it was moved to; a link put in
    its place at ``path`` is removed, what it points at is never touched."""
    _empty(top)
    identity = os.fstat(top)
    for where in (str(path), _where_now(top)):
        with suppress(OSError):
            if os.path.samestat(os.lstat(where), identity):
                os.rmdir(where)
    with suppress(OSError):
        if path.is_symlink():  # planted in its place: the link goes, never what it points at
            path.unlink()


def _where_now(fd: int) -> str:
    """The path of the folder open as ``fd``, wherever it was moved ("" without /proc)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _empty(top: int) -> None:
    """Remove everything in the folder open as ``top``, depth first without recursion and with
    a few descriptors however deep it goes: a subfolder is entered without following a link,
    and left through its ``..`` only while that is still the folder it was entered from."""
    here = os.dup(top)
    pending = [_unlink_all_but_folders(here)]  # per level: the subfolders still to remove
    trail: list[tuple[str, os.stat_result]] = []  # per level entered: its name, its parent's identity
    try:
        while True:
            if pending[-1]:
                name = pending[-1].pop()
                child = _open_folder(name, here)
                trail.append((name, os.fstat(here)))
                os.close(here)
                here = child
                pending.append(_unlink_all_but_folders(here))
                continue
            if not trail:
                return
            pending.pop()
            name, parent_identity = trail.pop()
            emptied = os.fstat(here)
            parent = _parent(here, parent_identity)
            os.close(here)
            here = parent
            with suppress(FileNotFoundError):
                if os.path.samestat(os.lstat(name, dir_fd=here), emptied):
                    os.rmdir(name, dir_fd=here)
    finally:
        os.close(here)


def _unlink_all_but_folders(folder: int) -> list[str]:
    """Unlink every entry of ``folder`` that is not a folder (a link is one of them, never
    followed); the names of its subfolders."""
    with suppress(OSError):
        os.fchmod(folder, 0o700)  # a plugin may have made it read-only
    folders = []
    for name in os.listdir(folder):
        with suppress(FileNotFoundError):
            if stat.S_ISDIR(os.lstat(name, dir_fd=folder).st_mode):
                folders.append(name)
            else:
                os.unlink(name, dir_fd=folder)
    return folders


def _parent(folder: int, identity: os.stat_result) -> int:
    """``..`` of ``folder`` opened, when it is still the folder ``identity`` describes."""
    parent = os.open("..", _DIR_FLAGS, dir_fd=folder)
    if not os.path.samestat(os.fstat(parent), identity):
        os.close(parent)
        raise OSError(errno.EBUSY, "a folder was moved out of its place while it was removed")
    return parent


def _open_folder(name: str, parent: int) -> int:
    """``name`` in ``parent`` opened as a folder, never through a link; a folder we may not
    read (mode 0) is made ours first, through a descriptor that cannot be a link."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            if not stat.S_ISDIR(os.fstat(handle).st_mode):
                raise
            os.chmod(f"/proc/self/fd/{handle}", 0o700)
        finally:
            os.close(handle)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
