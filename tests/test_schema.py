"""The schema checker compiled once per schema answers as the walking validator does.

:func:`krakend_tools.schema.validate` trusts the compiled checker's yes and walks the value
only for the message of a no: the two must agree on every value, valid or not.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakend_tools.manifest.model import SCHEMA_PATH
from krakend_tools.report import RESULT_SCHEMA_PATH
from krakend_tools.schema import _first_problem, compile_checker, validate

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "fixtures" / "gateway" / "manifest.json").read_text())
SCHEMAS = {"manifest": json.loads(SCHEMA_PATH.read_text()), "result": json.loads(RESULT_SCHEMA_PATH.read_text())}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["3.11", "cp311", "GLIBC_2.17", "x86_64", "musl", "glibc", "cp311-cp311-linux_x86_64"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of ``value`` (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            out += _paths(item, (*prefix, index))
    return out


MANIFEST_PATHS = _paths(MANIFEST)


def _agree(value: Any, schema: dict[str, Any]) -> None:
    fits = compile_checker(schema)(value)
    problem = _first_problem(value, schema, "$")
    assert fits == (problem is None), problem
    assert validate(value, schema) == problem


def test_the_shipped_manifest_fits() -> None:
    assert compile_checker(SCHEMAS["manifest"])(MANIFEST)
    assert validate(MANIFEST, SCHEMAS["manifest"]) is None


@settings(max_examples=400, deadline=None)
@given(
    where=st.sampled_from(MANIFEST_PATHS),
    new=json_values,
    how=st.sampled_from(["replace", "drop", "add"]),
    key=st.sampled_from(["path", "version", "x"]),
)
def test_a_manifest_with_one_node_changed(where: tuple[Any, ...], new: Any, how: str, key: str) -> None:
    """Replace or drop one node of a real manifest, or add a key to it: both answer the same."""
    value = copy.deepcopy(MANIFEST)
    node = value
    for step in where[:-1]:
        node = node[step]
    if how == "add":
        target = node[where[-1]] if where else node
        if not isinstance(target, dict):
            return
        target[key] = new
    elif not where:
        value = new
    elif how == "drop":
        del node[where[-1]]
    else:
        node[where[-1]] = new
    _agree(value, SCHEMAS["manifest"])


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_any_json_value(name: str, value: Any) -> None:
    _agree(value, SCHEMAS[name])


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({**MANIFEST, "tags": [*MANIFEST["tags"], "no tag"]}, "$.tags["),
        ({**MANIFEST, "libraries": {"libc.so.6": {"path": "/lib/libc.so.6"}}}, "missing 'symbol_versions'"),
        ({**MANIFEST, "schema_version": True}, "$.schema_version: expected integer, got bool"),
        ({**MANIFEST, "libraries": {"x.so": {"path": "", "symbol_versions": ["A" * 257]}}}, "longer than 256"),
    ],
)
def test_a_no_names_the_first_problem(value: dict[str, Any], needle: str) -> None:
    problem = validate(value, SCHEMAS["manifest"])
    assert problem is not None and needle in problem
