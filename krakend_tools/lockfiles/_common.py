"""Helpers shared by the format parsers: names, versions, markers, tables, lines (files: krakend_tools.files)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.errors import InputError
from krakend_tools.files import excerpt, first_line

if TYPE_CHECKING:
    from packaging.markers import Marker
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName
    from packaging.version import Version

_MARKERS: dict[str, Marker] = {}
_NAMES: dict[str, NormalizedName] = {}

# Input limits (documented in the README). The largest real lockfiles are a few MB.
MAX_EXPRESSION = 32_768  # characters of one version, specifier or marker (uv writes long ones)
MAX_DIGITS = 40  # digits in one number of a version (int() of 4,300+ digits fails)
MAX_NESTING = 32  # parentheses in one marker
_LONG_NUMBER = re.compile(rf"[0-9]{{{MAX_DIGITS + 1},}}")


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
