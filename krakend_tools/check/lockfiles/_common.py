"""Helpers shared by the format parsers: TOML loading, names, versions, markers, lines."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.errors import InputError

if TYPE_CHECKING:
    from packaging.markers import Marker
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName
    from packaging.version import Version

_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_MARKERS: dict[str, Marker] = {}
_NAMES: dict[str, NormalizedName] = {}

# Input limits (documented in the README). The largest real lockfiles are a few MB.
MAX_LOCKFILE_BYTES = 10 * 1024 * 1024  # one lockfile, or a requirements file with all its -r/-c
MAX_EXPRESSION = 32_768  # characters of one version, specifier or marker (uv writes long ones)
MAX_DIGITS = 40  # digits in one number of a version (int() of 4,300+ digits fails)
MAX_NESTING = 32  # parentheses in one marker
MAX_EXCERPT = 80  # characters of file content an error message quotes
_LONG_NUMBER = re.compile(rf"[0-9]{{{MAX_DIGITS + 1},}}")


def read_text(path: Path | str, what: str, limit: int = MAX_LOCKFILE_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (a BOM is dropped), at most ``limit`` bytes.

    Checked before reading: a FIFO, device or directory is refused (never blocks: opened
    non-blocking), and so is a file over ``limit``. Every failure is one InputError.
    """
    return decoded(read_bytes(path, what, limit), path)


def decoded(data: bytes, path: Path | str) -> str:
    """UTF-8 ``data`` of the file ``path`` as text (a BOM is dropped), else one InputError."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text: invalid byte at offset {err.start}", path=path) from None


def read_bytes(path: Path | str, what: str, limit: int) -> bytes:
    """:func:`read_text` without decoding."""
    return read_file(path, what, limit)[0]


def read_file(path: Path | str, what: str, limit: int) -> tuple[bytes, os.stat_result]:
    """:func:`read_bytes` and the status of the file it read (its owner, its identity).

    A file that says it is empty yet has content (a /proc or /sys file) is no regular file."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise InputError(f"cannot read {what}: {reason}", path=path) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"is a directory, not a {what}", path=path)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"not a regular file (a FIFO, socket or device), not a {what}", path=path)
        if info.st_size > limit:
            raise InputError(f"{what} too large: {info.st_size} bytes (limit {limit})", path=path)
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as err:
        raise InputError(f"cannot read {what}: {err.strerror or err}", path=path) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise InputError(f"{what} too large: over {limit} bytes", path=path)
    if data and info.st_size == 0:
        raise InputError(f"not a regular file (a /proc or /sys file), not a {what}", path=path)
    return data, info


def check_expression(value: str, what: str, path: Path | str | None, line: int | None) -> None:
    """Refuse a version, specifier or marker no real tool writes and packaging chokes on:
    too long, a number of more than MAX_DIGITS digits, parentheses nested too deeply."""
    if len(value) > MAX_EXPRESSION:
        raise InputError(f"{what} too long ({len(value)} characters)", path=path, line=line)
    if _LONG_NUMBER.search(value):
        raise InputError(f"{what} has a number of more than {MAX_DIGITS} digits", path=path, line=line)
    if value.count("(") > MAX_NESTING:
        depth = deepest = 0
        for char in value:
            if char == "(":
                depth += 1
                deepest = max(deepest, depth)
            elif char == ")":
                depth -= 1
        if deepest > MAX_NESTING:
            raise InputError(f"{what} nested too deeply ({deepest} parentheses)", path=path, line=line)


def first_line(err: BaseException) -> str:
    """The first line of an exception message (packaging adds the source and a caret)."""
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return repr(line[: MAX_EXCERPT * 2])[1:-1]  # packaging may quote the input: escaped, cut


def load_json(path: Path, text: str) -> Any:
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


def load_toml(path: Path, text: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes an InputError with its line."""
    import tomllib

    try:
        return tomllib.loads(text)
    except RecursionError:
        raise InputError("invalid TOML: nested too deeply", path=path) from None
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        found = _AT_LINE.search(msg)
        line = int(found.group(1)) if found else None
        if line is None and "end of document" in msg:
            line = text.count("\n") + 1
        msg = _AT_LINE.sub("", msg).replace("(at end of document)", "").strip()
        raise InputError(f"invalid TOML: {msg}", path=path, line=line) from None
    except ValueError as err:  # an integer of more than 4,300 digits
        raise InputError(f"invalid TOML: {first_line(err)}", path=path) from None


def name_of(value: object, path: Path, line: int | None) -> NormalizedName:
    """The canonical form of a package name, validated (and cached: names repeat)."""
    if type(value) is str:
        cached = _NAMES.get(value)
        if cached is not None:
            return cached
    from packaging.utils import InvalidName, canonicalize_name

    if not isinstance(value, str):
        raise InputError(f"package name must be a string, not {excerpt(value)}", path=path, line=line)
    try:
        name = _NAMES[value] = canonicalize_name(value, validate=True)
    except InvalidName:
        raise InputError(f"invalid package name {excerpt(value)}", path=path, line=line) from None
    return name


def version_of(value: object, path: Path, line: int | None, name: str = "") -> Version:
    """A parsed version, or an InputError naming the package."""
    from packaging.version import InvalidVersion, Version

    if not isinstance(value, str):
        raise InputError(
            f"version of {name or 'a package'} must be a string, not {excerpt(value)}", path=path, line=line
        )
    check_expression(value, f"version of {name or 'a package'}", path, line)
    try:
        return Version(value)
    except (InvalidVersion, ValueError):
        raise InputError(f"invalid version {excerpt(value)} for {name or 'a package'}", path=path, line=line) from None


def version_or_problem(
    value: object, path: Path, line: int | None, name: str, marker: object
) -> tuple[Version | None, str | None]:
    """A version, or, for an entry with a marker, the reason it is unreadable: such an entry
    fails the run only for a target its marker selects (see :func:`select`)."""
    try:
        return version_of(value, path, line, name), None
    except InputError as err:
        if not marker:
            raise
        return None, str(err).removeprefix(f"{path}:{line}: " if line else f"{path}: ")


def marker_of(value: object, path: Path, line: int | None) -> Marker | None:
    """A parsed (and cached: lockfiles repeat the same markers) PEP 508 marker."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"marker must be a string, not {excerpt(value)}", path=path, line=line)
    cached = _MARKERS.get(value)
    if cached is not None:
        return cached
    from packaging.markers import InvalidMarker, Marker

    check_expression(value, "marker", path, line)
    try:
        marker = Marker(value)
    except (InvalidMarker, ValueError, RecursionError) as err:
        raise InputError(f"invalid marker {excerpt(value)}: {first_line(err)}", path=path, line=line) from None
    _MARKERS[value] = marker
    return marker


def specifier_of(value: object, path: Path, line: int | None) -> SpecifierSet | None:
    """A PEP 440 specifier set, or None when absent."""
    if value is None or value == "":
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not isinstance(value, str):
        raise InputError(f"version specifier must be a string, not {excerpt(value)}", path=path, line=line)
    check_expression(value, "version specifier", path, line)
    try:
        return SpecifierSet(value)
    except (InvalidSpecifier, ValueError):
        raise InputError(f"invalid version specifier {excerpt(value)}", path=path, line=line) from None


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


def table(value: object, what: str, path: Path, line: int | None = None) -> Mapping[str, Any]:
    """``value`` if it is a table, else an InputError."""
    if type(value) is dict:
        return value
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"{what} must be a table", path=path, line=line)
    return value


def array(value: object, what: str, path: Path, line: int | None = None) -> list[Any]:
    """``value`` if it is an array, else an InputError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{what} must be an array", path=path, line=line)
    return value


def entry_lines(text: str, header: str) -> list[int]:
    """1-based line of the ``name = ...`` key of each ``[[header]]`` entry, in order.

    tomllib keeps no positions, but it keeps array order: entry ``i`` of the array is the
    ``i``-th header in the text. One pass over the lines.
    """
    lines: list[int] = []
    want = f"[[{header}]]"
    pending = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("[["):
            if raw.rstrip() == want:
                if pending:
                    lines.append(pending)
                pending = number
        elif pending > 0 and raw.startswith("name"):
            lines.append(number)
            pending = 0
    if pending:
        lines.append(pending)
    return lines


def line_at(lines: list[int], index: int) -> int | None:
    return lines[index] if index < len(lines) else None


def file_name(url_or_name: object) -> str | None:
    """The last path segment of a URL or path, without query or fragment, %-decoded."""
    if not isinstance(url_or_name, str) or not url_or_name:
        return None
    name = url_or_name.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if "%" in name:  # torch-2.5.1%2Bcpu-...whl is torch-2.5.1+cpu-...whl
        from urllib.parse import unquote

        name = unquote(name)
    return name


def split_files(names: list[str]) -> tuple[tuple[str, ...], str | None]:
    """Wheel names and the (first) sdist name among distribution file names."""
    wheels = tuple(n for n in names if n.endswith(".whl"))
    sdists = [n for n in names if n.endswith((".tar.gz", ".zip", ".tar.bz2", ".tgz"))]
    return wheels, (sdists[0] if sdists else None)


def caret_tilde_to_pep440(spec: str) -> str:
    """Poetry constraint syntax (``^3.11``, ``~3.11``, ``3.11.*``, ``>=3.8 || ^4``) to PEP 440.

    ``||`` alternatives cannot be one SpecifierSet: the loosest lower bound is kept.
    """
    check_expression(spec, "version constraint", None, None)
    alternatives = [a.strip() for a in spec.split("||") if a.strip()]
    if len(alternatives) > 1:
        converted = [caret_tilde_to_pep440(a) for a in alternatives]
        lower = [c for c in converted if c.startswith(">=") and "," not in c]
        return lower[0] if lower else converted[0]
    parts = [p for p in re.split(r"[,\s]+", spec.strip()) if p]
    merged: list[str] = []
    for part in parts:  # "<", ">=" etc. may be written apart from their version
        if merged and merged[-1] in ("<", "<=", ">", ">=", "==", "!=", "~=", "^", "~"):
            merged[-1] += part
        else:
            merged.append(part)
    out: list[str] = []
    for part in merged:
        if part == "*":
            continue
        if part.startswith("^"):
            out.extend(_caret(part[1:]))
        elif part.startswith("~") and not part.startswith("~="):
            out.extend(_tilde(part[1:]))
        elif part[0].isdigit():
            out.append(f"=={part}")
        else:
            out.append(part)
    return ",".join(out)


def _release(version: str) -> list[int]:
    nums: list[int] = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        nums.append(int(digits.group()))
    return nums or [0]


def _caret(version: str) -> list[str]:
    nums = _release(version)
    upper = list(nums)
    for i, n in enumerate(nums):
        if n != 0 or i == len(nums) - 1:
            upper = nums[:i] + [n + 1]
            break
    return [f">={version}", "<" + ".".join(map(str, upper))]


def _tilde(version: str) -> list[str]:
    nums = _release(version)
    upper = [nums[0] + 1] if len(nums) == 1 else [nums[0], nums[1] + 1]
    return [f">={version}", "<" + ".".join(map(str, upper))]
