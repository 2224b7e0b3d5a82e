"""A small JSON Schema validator for the subset our shipped schemas use.

Covers type, required, properties, additionalProperties, items, enum, pattern and
minimum; the tests check the shipped schema against the full ``jsonschema`` package.
"""

from __future__ import annotations

import re
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


def validate(value: Any, schema: dict[str, Any], where: str = "$") -> str | None:
    """The first problem found, as ``$.path: what``, or None when ``value`` fits."""
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is(value, k) for k in kinds):
            return f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: {value!r} is not one of {schema['enum']}"
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return f"{where}: {value!r} does not match {schema['pattern']}"
    if _is(value, "number") and "minimum" in schema and value < schema["minimum"]:
        return f"{where}: {value} is below {schema['minimum']}"
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
                return f"{where}: unexpected key {key!r}"
            else:
                sub = extra if isinstance(extra, dict) else None
            if sub and (problem := validate(item, sub, f"{where}.{key}")):
                return problem
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            if problem := validate(item, schema["items"], f"{where}[{i}]"):
                return problem
    return None
