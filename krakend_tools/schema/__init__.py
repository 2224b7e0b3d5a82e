"""A small JSON Schema validator for the subset our shipped schemas use.

Covers type, required, properties, additionalProperties, items, enum, pattern and
minimum, maximum and maxLength; the tests check the shipped schema against the full ``jsonschema`` package.
:func:`validate` first runs a checker compiled once per schema (a yes/no answer, fast),
and walks the value for the first problem's message only when that says no.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(text: str) -> re.Pattern[str]:
    found = _PATTERNS.get(text)
    if found is None:
        found = _PATTERNS[text] = re.compile(text)
    return found


def validate(value: Any, schema: dict[str, Any]) -> str | None:
    """The first problem found, as ``$.path: what``, or None when ``value`` fits."""
    checker = _CHECKERS.get(id(schema))
    if checker is None or checker[0] is not schema:
        checker = _CHECKERS[id(schema)] = (schema, compile_checker(schema))
    return None if checker[1](value) else _first_problem(value, schema, "$")


_CHECKERS: dict[int, tuple[dict[str, Any], Callable[[Any], bool]]] = {}


def compile_checker(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """A function telling whether a value fits ``schema`` (the same answer as :func:`validate`)."""
    string = _string_checker(schema)
    if string is not None:
        return string
    tests: list[Callable[[Any], bool]] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        types = tuple(t for k in kinds for t in _TYPES[k])
        if {"integer", "number"} & set(kinds) and "boolean" not in kinds:  # JSON's true is no number
            tests.append(lambda v: isinstance(v, types) and not isinstance(v, bool))
        else:
            tests.append(lambda v: isinstance(v, types))
    if "enum" in schema:
        allowed = schema["enum"]
        tests.append(lambda v: v in allowed)
    if "pattern" in schema:
        search = _pattern(schema["pattern"]).search
        tests.append(lambda v: not isinstance(v, str) or search(v) is not None)
    if "minimum" in schema:
        low = schema["minimum"]
        tests.append(lambda v: not _is(v, "number") or v >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        tests.append(lambda v: not _is(v, "number") or v <= high)
    if "maxLength" in schema:
        longest = schema["maxLength"]
        tests.append(lambda v: not isinstance(v, str) or len(v) <= longest)
    if "required" in schema or "properties" in schema or "additionalProperties" in schema:
        tests.append(_object_checker(schema))
    if "items" in schema:
        tests.append(_items_checker(schema["items"]))
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda v: first(v) and second(v)
    return lambda v: all(test(v) for test in tests)


def _plain_string(schema: dict[str, Any]) -> tuple[Callable[[str], object] | None, int] | None:
    """A plain string schema (type, pattern, maxLength) as its pattern's search and its
    longest length (-1: any), else None."""
    if schema.get("type") != "string" or not set(schema) <= {"type", "pattern", "maxLength", "description"}:
        return None
    search = _pattern(schema["pattern"]).search if "pattern" in schema else None
    return search, schema.get("maxLength", -1)


def _string_checker(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """One quick test for a plain string schema, else None."""
    plain = _plain_string(schema)
    if plain is None:
        return None
    search, longest = plain
    return lambda v: type(v) is str and (search is None or search(v) is not None) and (longest < 0 or len(v) <= longest)


def _items_checker(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """The test of a list's items; a list of plain strings is tested in a few C-level passes."""
    plain = _plain_string(schema)
    if plain is None:
        item = compile_checker(schema)
        return lambda v: not isinstance(v, list) or all(map(item, v))
    search, longest = plain

    def strings(v: Any) -> bool:
        if not isinstance(v, list) or not v:
            return True
        if set(map(type, v)) != {str} or (longest >= 0 and max(map(len, v)) > longest):
            return False
        return search is None or all(map(search, v))

    return strings


def _object_checker(schema: dict[str, Any]) -> Callable[[Any], bool]:
    required = set(schema.get("required", []))
    props = {key: compile_checker(sub) for key, sub in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    other = compile_checker(extra) if isinstance(extra, dict) and extra else None
    known = props.keys()
    tests = list(props.items())

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        keys = value.keys()
        if not required <= keys or (extra is False and not keys <= known):
            return False
        for key, test in tests:
            if key in value and not test(value[key]):
                return False
        if other is None:
            return True
        if not props:
            return all(map(other, value.values()))
        return all(other(value[key]) for key in keys - known)

    return check


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.+-]{1,80}")  # a key shown as is in a problem's path


def _shown(value: Any) -> str:
    """A short, escaped quote of a value from the file being checked."""
    from krakend_tools.files import excerpt

    return excerpt(value)


def _first_problem(value: Any, schema: dict[str, Any], where: str) -> str | None:
    """The first problem found, walking ``value`` with ``schema``."""
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is(value, k) for k in kinds):
            return f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: {_shown(value)} is not one of {schema['enum']}"
    if isinstance(value, str) and "pattern" in schema and not _pattern(schema["pattern"]).search(value):
        return f"{where}: {_shown(value)} does not match {schema['pattern']!r}"
    if _is(value, "number") and "minimum" in schema and value < schema["minimum"]:
        return f"{where}: {_shown(value)} is below {schema['minimum']}"
    if _is(value, "number") and "maximum" in schema and value > schema["maximum"]:
        return f"{where}: {_shown(value)} is above {schema['maximum']}"
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        return f"{where}: longer than {schema['maxLength']} characters"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{where}: missing {key!r}"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                sub: Any = props[key]
            elif extra is False:
                return f"{where}: unexpected key {_shown(key)}"
            else:
                sub = extra if isinstance(extra, dict) else None
            inner = f"{where}.{key}" if _PLAIN_KEY.fullmatch(key) else f"{where}[{_shown(key)}]"
            if sub and (problem := _first_problem(item, sub, inner)):
                return problem
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            if problem := _first_problem(item, schema["items"], f"{where}[{i}]"):
                return problem
    return None
