"""Text from plugins, lockfiles, manifests and ELF files, made safe to show.

No control character, terminal escape (ESC, CSI, OSC, C1), bidi override, line separator or
undecodable byte reaches an output raw: each is written as a Python-style escape (``\\x1b``,
``\\n``, ``\\u202e``; a byte that was not UTF-8 as ``\\xNN``). No output line can be taken for a
GitHub Actions workflow command: the runner reads one at a line's start (``::cmd``, after
whitespace) and the legacy ``##[cmd]`` anywhere in a line.
"""

from __future__ import annotations

import re

# C0, DEL, C1, the bidi controls, the line/paragraph separators, surrogates, XML's U+FFFE/U+FFFF.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_COMMAND_START = re.compile(r"^(\s*):(?=:)")
_LEGACY_COMMAND = "##["


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (a surrogateescape'd file name)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with every character a terminal, an XML file or a UTF-8 file cannot take raw
    written as an escape; ordinary text is returned unchanged."""
    return _UNSAFE.sub(_escape, text)


def unforged(line: str, colon: str = "\\x3a", hash_: str = "\\x23") -> str:
    """``line`` that no CI runner reads as a workflow command: the first ``:`` of a leading
    ``::`` and the second ``#`` of ``##[`` are written as ``colon``/``hash_`` (the escapes of the
    format at hand: ``\\x3a`` in text, ``&#58;`` in XML)."""
    line = _COMMAND_START.sub(lambda m: m.group(1) + colon, line, count=1)
    return line.replace(_LEGACY_COMMAND, f"#{hash_}[")


def unforged_lines(text: str, colon: str = "\\x3a", hash_: str = "\\x23") -> str:
    """:func:`unforged` on every line of ``text``."""
    return "\n".join(unforged(line, colon, hash_) for line in text.split("\n"))


def unforged_json(text: str) -> str:
    """JSON text (``json.dumps``, ASCII) with the legacy ``##[`` written ``#\\u0023[``: the same data.
    (No line of indented JSON can start with ``::``: each starts with a quote or a bracket.)"""
    return text.replace(_LEGACY_COMMAND, "#\\u0023[")
