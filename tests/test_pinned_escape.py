"""Exact escapes of unsafe text and of forged workflow commands (escape.py)."""

from __future__ import annotations

import pytest

from krakend_tools.escape import shown, unforged, unforged_json, unforged_lines


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("\t\n\r", "\\t\\n\\r"),
        ("\x00\x1b[31m\x1f", "\\x00\\x1b[31m\\x1f"),
        ("\x7f\x80\x9f", "\\x7f\\x80\\x9f"),
        ("\u061c\u200e\u200f", "\\u061c\\u200e\\u200f"),
        ("\u2028\u202e\u2066\u2069", "\\u2028\\u202e\\u2066\\u2069"),
        ("\udc80\udcff", "\\x80\\xff"),  # bytes that were not UTF-8
        ("\udc7f\udd00\ud800\udfff", "\\udc7f\\udd00\\ud800\\udfff"),
        ("\ufffe\uffff", "\\ufffe\\uffff"),
        (" ~\xa0é\u2029x\u206a", " ~\xa0é\\u2029x\u206a"),
    ],
)
def test_shown(raw: str, escaped: str) -> None:
    assert shown(raw) == escaped


@pytest.mark.parametrize(
    ("line", "safe"),
    [
        ("::error::x", "\\x3a:error::x"),
        ("  ::warning", "  \\x3a:warning"),
        (":x::y", ":x::y"),
        ("a::b", "a::b"),
        ("x ##[group] ##[end", "x #\\x23[group] #\\x23[end"),
    ],
)
def test_unforged(line: str, safe: str) -> None:
    assert unforged(line) == safe


def test_unforged_in_another_format() -> None:
    assert unforged("::x ##[y", "&#58;", "&#35;") == "&#58;:x #&#35;[y"
    assert unforged_lines("::a\nb\n ::c") == "\\x3a:a\nb\n \\x3a:c"
    assert unforged_json('["##[x", "::y"]') == '["#\\u0023[x", "::y"]'
