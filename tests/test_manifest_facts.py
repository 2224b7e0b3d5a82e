"""manifest.facts: a saved introspection output (``version --facts``) is checked, and what is
wrong is said of the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from krakend_tools.errors import InputError
from krakend_tools.manifest import introspect
from krakend_tools.manifest.facts import checked_facts, facts_file, from_facts


def _refusal(path: Path, content: str) -> str:
    path.write_text(content)
    with pytest.raises(InputError) as err:
        facts_file(path)
    return str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("hello\n", "{path}:1: invalid JSON: Expecting value (column 1)"),
        ("[1, 2]", "{path}: not introspection facts: a JSON list, not an object"),
        ('{"implementation": "pypy"}', "{path}: facts of implementation 'pypy', not a CPython interpreter"),
        ("{}", "{path}: facts of implementation None, not a CPython interpreter"),
        (
            '{"implementation": "cpython"}',
            "{path}: not the facts of a CPython interpreter (unexpected introspection output)",
        ),
    ],
)
def test_a_bad_facts_file_is_one_line_about_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "facts.json"
    assert _refusal(path, content) == message.format(path=path)


def test_a_facts_file_makes_the_manifest_the_interpreter_makes(tmp_path: Path) -> None:
    facts = introspect.facts()
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    assert from_facts(facts_file(path)) == from_facts(facts)


def test_an_interpreter_printing_no_facts_is_worded_for_the_interpreter() -> None:
    with pytest.raises(InputError) as err:
        checked_facts(b"hello", "/bin/echo")
    assert str(err.value) == "/bin/echo is not a CPython interpreter (its introspection printed no CPython facts)"
