"""elf.py's bounds and tables pinned to exact values, in process, on small hand-made bytes:
the CPU table, the version-definition cap, the version budget, the GNU hash bucket bound and
the size limit named for a wheel member that cannot be read in place."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from krakend_tools.elf import (
    MACHINE_ABI,
    Budget,
    ElfError,
    _BytesReader,
    _gnu_hash_count,
    _Image,
    _Strings,
    _version_defs,
    read_elf_member,
)


def test_the_32_bit_x86_machines_are_elfclass32_little_endian() -> None:
    assert {m: MACHINE_ABI[m] for m in ("i386", "i486", "i586", "i686")} == dict.fromkeys(
        ("i386", "i486", "i586", "i686"), (3, 32, "little")
    )


def test_a_budget_takes_exactly_its_entries() -> None:
    budget = Budget(2, "too many")
    budget.spend()
    budget.spend()
    assert budget.entries == 0
    with pytest.raises(ElfError, match="^too many$"):
        budget.spend()


def _image(data: bytes) -> _Image:
    return _Image(_BytesReader(data), "<", True, [])


def test_version_definitions_stop_after_32768_entries() -> None:
    """A symbol's version index has 15 bits: a 32769th definition is never read."""
    skipped = struct.pack("<HHHHIII", 1, 0, 0, 0, 0, 0, 20)  # no name, next entry right after
    last = struct.pack("<HHHHIII", 1, 0, 0, 1, 0, 20, 0) + struct.pack("<II", 1, 0)
    names = _Strings(b"\0late\0")
    assert _version_defs(_image(skipped * 32767 + last), names, 0, 40000) == ["late"]
    assert _version_defs(_image(skipped * 32768 + last), names, 0, 40000) == []


def _gnu_header(nbuckets: int) -> bytes:
    return struct.pack("<IIII", nbuckets, 1, 1, 0) + bytes(8 + 4 + 4)


def test_gnu_hash_bucket_count_bound() -> None:
    limit = 1 << 21
    with pytest.raises(ElfError, match="^corrupt GNU hash table$"):
        _gnu_hash_count(_image(_gnu_header(limit + 1)), 0)
    with pytest.raises(ElfError) as err:  # at the bound: read, and found truncated
        _gnu_hash_count(_image(_gnu_header(limit)), 0)
    assert str(err.value) == (
        f"truncated or corrupt: GNU hash at offset 24+{4 * limit} is past the end of the file (32 bytes)"
    )


def test_a_member_too_large_to_inflate_names_the_limit_in_mib() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("x", b"")
    info = zipfile.ZipInfo("lib.so")
    info.compress_type = zipfile.ZIP_BZIP2
    info.file_size = (1 << 28) + 1
    with zipfile.ZipFile(buffer) as zf, pytest.raises(ElfError) as err:
        read_elf_member(zf, info, "lib.so")
    assert str(err.value) == "member over the 256 MiB limit for its compression method"
