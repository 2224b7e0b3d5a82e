"""Bad input (exit 2, one line) and the last-resort handler for bugs (exit 3, one line)."""

from __future__ import annotations

import re
import sys
from typing import TextIO

from krakend_tools.escape import shown, unforged

EXIT_INPUT = 2
EXIT_INTERNAL = 3
MAX_MESSAGE = 2000  # characters of a one-line message; longer ones are cut in the middle

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class InputError(Exception):
    """Bad usage or unreadable input; ``str(err)`` is the whole user-facing message."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` fit for one terminal line: control characters and newlines become one space
    (packaging's three-line errors, paths with a newline), bidi controls and undecodable bytes
    are escaped, the middle of an over-long message is cut, and the line cannot be taken for a
    CI workflow command."""
    text = shown(_CONTROL.sub(" ", text).strip())
    if len(text) > limit:
        half = limit // 2
        text = f"{text[:half]} … {text[-half:]}"
    return unforged(text)


def print_note(text: str) -> None:
    """A ``note:`` (or any diagnostic) as one escaped line on stderr."""
    sys.stderr.write(one_line(text) + "\n")


def print_input_error(err: InputError, command: str | None = None, stream: TextIO | None = None) -> int:
    """Write ``err`` as ``krakend[ <cmd>]: error: …`` on one line; the exit code (2)."""
    where = f"krakend {command}" if command else "krakend"
    (stream or sys.stderr).write(f"{where}: error: {one_line(str(err))}\n")
    return EXIT_INPUT


def internal_error(command: str, exc: BaseException) -> int:
    """A bug: the full traceback to a private temp file, one line on stderr; returns 3."""
    import tempfile
    import traceback

    summary = one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 500)
    where = f"krakend {command}" if command else "krakend"
    try:
        fd, name = tempfile.mkstemp(prefix="krakend-traceback-", suffix=".txt")  # mode 0600
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"krakend {command}\n")
            traceback.print_exception(exc, file=fh)
        detail = f"full traceback in {name}"
    except OSError as err:
        detail = f"no traceback file ({err.strerror})"
    try:
        sys.stderr.write(f"{where}: internal error: {summary}; {detail}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return EXIT_INTERNAL
