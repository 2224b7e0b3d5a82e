"""Reading the files a user or a pull request hands the tool: bounded, regular files only.

Every input file (lockfile, manifest, facts file, pyproject.toml) is read here: a FIFO, device or
directory is refused without blocking, a file over its limit is refused before it is read whole,
and every failure (missing, unreadable, not UTF-8, invalid JSON or TOML) is one InputError."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError

MAX_FILE_BYTES = 10 * 1024 * 1024  # one lockfile or pyproject.toml; the largest real ones are a few MB
MAX_EXCERPT = 80  # characters of file content an error message quotes
MAX_MESSAGE = 2 * MAX_EXCERPT  # characters of a parser's message an error quotes
_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC  # a FIFO never blocks


def read_text(path: Path | str, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (a BOM is dropped), at most ``limit`` bytes."""
    return decoded(read_bytes(path, what, limit), path)


def read_bytes(path: Path | str, what: str, limit: int) -> bytes:
    """:func:`read_text` without decoding."""
    return read_file(path, what, limit)[0]


def decoded(data: bytes, path: Path | str) -> str:
    """UTF-8 ``data`` of the file ``path`` as text (a BOM is dropped), else one InputError."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text: invalid byte at offset {err.start}", path=path) from None


def read_file(path: Path | str, what: str, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``path`` (``what``, for messages), at most ``limit``, and the
    status of the file read (its owner, its identity). A file that says it is empty yet has
    content (a /proc or /sys file) is no regular file."""
    fd = _open(path, what)
    try:
        info = os.fstat(fd)
        _check_regular(info, path, what, limit)
        data = _read_at_most(fd, limit + 1)
    except OSError as err:
        raise InputError(f"cannot read {what}: {err.strerror or err}", path=path) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(f"{what} too large: over {limit} bytes", path=path)
    if data and info.st_size == 0:
        raise InputError(f"not a regular file (a /proc or /sys file), not a {what}", path=path)
    return data, info


def _open(path: Path | str, what: str) -> int:
    try:
        return os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise InputError(f"cannot read {what}: {reason}", path=path) from None


def _check_regular(info: os.stat_result, path: Path | str, what: str, limit: int) -> None:
    """Refuse a directory, a FIFO, socket or device, and a file whose size is over ``limit``."""
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"is a directory, not a {what}", path=path)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"not a regular file (a FIFO, socket or device), not a {what}", path=path)
    if info.st_size > limit:
        raise InputError(f"{what} too large: {info.st_size} bytes (limit {limit})", path=path)


def _read_at_most(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes of ``fd`` (a file may grow between its status and its reading)."""
    chunks = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def first_line(err: BaseException) -> str:
    """The first line of an exception message (packaging adds the source and a caret), escaped and cut."""
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return repr(line[:MAX_MESSAGE])[1:-1]  # a parser may quote the input


def load_json(path: Path | str, text: str) -> Any:
    """Parse JSON text; a syntax error or absurd nesting becomes an InputError."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON: {err.msg} (column {err.colno})", path=path, line=err.lineno) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", path=path) from None
    except ValueError as err:  # an integer of more than 4,300 digits
        raise InputError(f"invalid JSON: {first_line(err)}", path=path) from None


def load_toml(path: Path | str, text: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes an InputError with its line."""
    import tomllib

    try:
        return tomllib.loads(text)
    except RecursionError:
        raise InputError("invalid TOML: nested too deeply", path=path) from None
    except tomllib.TOMLDecodeError as err:
        message, line = _toml_position(str(err), text)
        raise InputError(f"invalid TOML: {message}", path=path, line=line) from None
    except ValueError as err:  # an integer of more than 4,300 digits
        raise InputError(f"invalid TOML: {first_line(err)}", path=path) from None


def _toml_position(message: str, text: str) -> tuple[str, int | None]:
    """tomllib's message without its position, and the line it names (the last at end of document)."""
    found = _AT_LINE.search(message)
    line = int(found.group(1)) if found else None
    if line is None and "end of document" in message:
        line = text.count("\n") + 1
    return _AT_LINE.sub("", message).replace("(at end of document)", "").strip(), line


def read_toml(path: Path | str, what: str = "pyproject.toml") -> tuple[dict[str, Any], os.stat_result]:
    """A TOML file (a pyproject.toml, a Pipfile), read bounded and parsed, and the status of the
    file read; every failure is one InputError."""
    data, info = read_file(path, what, MAX_FILE_BYTES)
    return load_toml(path, decoded(data, path)), info


def read_pyproject(path: Path | str) -> dict[str, Any]:
    """A pyproject.toml, read bounded and parsed (:func:`read_toml`)."""
    return read_toml(path)[0]


def excerpt(value: object, limit: int = MAX_EXCERPT) -> str:
    """A short quote of a value read from a file, for a message: ``repr`` (control characters,
    bidi marks and line separators escaped) of at most ``limit`` characters of it; a table or an
    array only by its type (a wrong-typed field may be huge)."""
    if isinstance(value, dict | list):
        return type(value).__name__
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
