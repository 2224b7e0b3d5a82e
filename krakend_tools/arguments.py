"""Checks of command-line values, in the core: they hold whatever parses the flags.

Each takes the parsed value and returns it (normalised) or raises InputError with one line.
"""

from __future__ import annotations

import math
import re

from krakend_tools.errors import InputError

MAX_TIMEOUT = 24 * 3600.0  # seconds
MAX_JOBS = 1024
MAX_ARGUMENT = 4096  # characters of a path or image name given on the command line
_PYTHON = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]{1,3})?", re.ASCII)
_PYTHON_FULL = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", re.ASCII)
# docker reference: [host[:port]/]name[:tag][@digest], lower-case path components
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*", re.ASCII)


def timeout(value: float | str, flag: str = "--timeout") -> float:
    """A finite number of seconds, above 0 and at most a day."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{flag} must be a number of seconds, not {value!r}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT:
        raise InputError(f"{flag} must be above 0 and at most {MAX_TIMEOUT:g} seconds, not {value!r}")
    return seconds


def jobs(value: int | None) -> int | None:
    """A worker count between 1 and MAX_JOBS, or None (one per CPU)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_JOBS:
        raise InputError(f"-j must be a whole number from 1 to {MAX_JOBS}, not {value!r}")
    return value


def python_version(text: str, flag: str = "-g", *, full: bool = False) -> list[int]:
    """``X.Y`` or ``X.Y.Z`` (``full``: X.Y.Z only) in ASCII digits, as numbers."""
    pattern = _PYTHON_FULL if full else _PYTHON
    if not isinstance(text, str) or not pattern.fullmatch(text):
        want = "X.Y.Z" if full else "X.Y or X.Y.Z"
        raise InputError(f"invalid Python version {text!r} for {flag}: expected {want}")
    return [int(part) for part in text.split(".")]


def path_argument(text: str, what: str = "path") -> str:
    """A path from the command line: not empty, no NUL, not absurdly long."""
    if not text:
        raise InputError(f"empty {what}")
    if "\0" in text:
        raise InputError(f"{what} {text[:80]!r} contains a NUL character")
    if len(text) > MAX_ARGUMENT:
        raise InputError(f"{what} too long ({len(text)} characters, limit {MAX_ARGUMENT})")
    return text


def image_name(text: str, flag: str = "--image") -> str:
    """A Docker image reference: not empty, no spaces or control characters."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{flag} needs an image name")
    if len(text) > 512 or not _IMAGE.fullmatch(text):
        raise InputError(f"{flag}: invalid image name {text[:80]!r}")
    return text
