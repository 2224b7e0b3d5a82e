"""A small JSON Schema validator for the subset our shipped schemas use.

Covers type, required, properties, additionalProperties, items, enum, pattern and
minimum, maximum and maxLength; the tests check the shipped schema against the full ``jsonschema`` package.
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


def _fast_string(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """A quick test for a plain string schema (type, pattern, maxLength only), else None."""
    if schema.get("type") != "string" or not set(schema) <= {"type", "pattern", "maxLength"}:
        return None
    search = _pattern(schema["pattern"]).search if "pattern" in schema else None
    longest = schema.get("maxLength")
    return lambda v: (
        type(v) is str and (search is None or search(v) is not None) and (longest is None or len(v) <= longest)
    )


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> str | None:
    """The first problem found, as ``$.path: what``, or None when ``value`` fits."""
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is(value, k) for k in kinds):
            return f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        shown = repr(value) if len(repr(value)) <= 80 else type(value).__name__
        return f"{where}: {shown} is not one of {schema['enum']}"
    if isinstance(value, str) and "pattern" in schema and not _pattern(schema["pattern"]).search(value):
        shown = repr(value) if len(value) <= 80 else repr(value[:77]) + "..."
        return f"{where}: {shown} does not match {schema['pattern']!r}"
    if _is(value, "number") and "minimum" in schema and value < schema["minimum"]:
        return f"{where}: {value} is below {schema['minimum']}"
    if _is(value, "number") and "maximum" in schema and value > schema["maximum"]:
        return f"{where}: {value} is above {schema['maximum']}"
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        return f"{where}: longer than {schema['maxLength']} characters"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{where}: missing {key!r}"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        quick = _fast_string(extra) if isinstance(extra, dict) and not props else None
        if quick is not None and all(map(quick, value.values())):
            return None
        for key, item in value.items():
            if key in props:
                sub: Any = props[key]
            elif extra is False:
                return f"{where}: unexpected key {key!r}"
            else:
                sub = extra if isinstance(extra, dict) else None
            if sub and (problem := validate(item, sub, f"{where}.{key}")):
                return problem
    if isinstance(value, list) and "items" in schema:
        quick = _fast_string(schema["items"])
        if quick is not None and all(map(quick, value)):
            return None
        for i, item in enumerate(value):
            if problem := validate(item, schema["items"], f"{where}[{i}]"):
                return problem
    return None
