"""Helpers shared by the format parsers: TOML loading, names, versions, markers, lines."""

from __future__ import annotations

import re
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


def load_toml(path: Path, text: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes an InputError with its line."""
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        found = _AT_LINE.search(msg)
        line = int(found.group(1)) if found else None
        if line is None and "end of document" in msg:
            line = text.count("\n") + 1
        msg = _AT_LINE.sub("", msg).replace("(at end of document)", "").strip()
        raise InputError(f"invalid TOML: {msg}", path=path, line=line) from None


def name_of(value: object, path: Path, line: int | None) -> NormalizedName:
    """The canonical form of a package name, validated (and cached: names repeat)."""
    if type(value) is str:
        cached = _NAMES.get(value)
        if cached is not None:
            return cached
    from packaging.utils import InvalidName, canonicalize_name

    if not isinstance(value, str):
        raise InputError(f"package name must be a string, not {value!r}", path=path, line=line)
    try:
        name = _NAMES[value] = canonicalize_name(value, validate=True)
    except InvalidName:
        raise InputError(f"invalid package name {value!r}", path=path, line=line) from None
    return name


def version_of(value: object, path: Path, line: int | None, name: str = "") -> Version:
    """A parsed version, or an InputError naming the package."""
    from packaging.version import InvalidVersion, Version

    if not isinstance(value, str):
        raise InputError(f"version of {name or 'a package'} must be a string, not {value!r}", path=path, line=line)
    try:
        return Version(value)
    except InvalidVersion:
        raise InputError(f"invalid version {value!r} for {name or 'a package'}", path=path, line=line) from None


def marker_of(value: object, path: Path, line: int | None) -> Marker | None:
    """A parsed (and cached: lockfiles repeat the same markers) PEP 508 marker."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"marker must be a string, not {value!r}", path=path, line=line)
    cached = _MARKERS.get(value)
    if cached is not None:
        return cached
    from packaging.markers import InvalidMarker, Marker

    try:
        marker = Marker(value)
    except InvalidMarker as err:
        raise InputError(f"invalid marker {value!r}: {err}", path=path, line=line) from None
    _MARKERS[value] = marker
    return marker


def specifier_of(value: object, path: Path, line: int | None) -> SpecifierSet | None:
    """A PEP 440 specifier set, or None when absent."""
    if value is None or value == "":
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not isinstance(value, str):
        raise InputError(f"version specifier must be a string, not {value!r}", path=path, line=line)
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        raise InputError(f"invalid version specifier {value!r}", path=path, line=line) from None


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
    """The last path segment of a URL or path, without query or fragment."""
    if not isinstance(url_or_name, str) or not url_or_name:
        return None
    return url_or_name.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def split_files(names: list[str]) -> tuple[tuple[str, ...], str | None]:
    """Wheel names and the (first) sdist name among distribution file names."""
    wheels = tuple(n for n in names if n.endswith(".whl"))
    sdists = [n for n in names if n.endswith((".tar.gz", ".zip", ".tar.bz2", ".tgz"))]
    return wheels, (sdists[0] if sdists else None)


def caret_tilde_to_pep440(spec: str) -> str:
    """Poetry constraint syntax (``^3.11``, ``~3.11``, ``3.11.*``, ``>=3.8 || ^4``) to PEP 440.

    ``||`` alternatives cannot be one SpecifierSet: the loosest lower bound is kept.
    """
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
