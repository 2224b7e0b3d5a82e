"""The ELF reader on files built by hand (tests/elf_image.py): every fact it reports, exactly,
for each word size, byte order and table layout the loader knows."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from krakend_tools.elf import ElfError, ElfFacts, VersionNeed, libc_of, machine_name, read_elf_bytes
from tests.elf_image import (
    DT_GNU_HASH,
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRSZ,
    DT_STRTAB,
    DT_SYMENT,
    DT_VERNEED,
    DT_VERNEEDNUM,
    PT_LOAD,
    STB_GLOBAL,
    STB_GNU_UNIQUE,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STV_DEFAULT,
    STV_HIDDEN,
    Image,
)

LAYOUTS = [(64, True), (64, False), (32, True), (32, False)]
LAYOUT_IDS = ["64-little", "64-big", "32-little", "32-big"]


def read(image: Image, **build: bool) -> ElfFacts:
    return read_elf_bytes(image.build(**build), "plug.so")


def refusal(data: bytes) -> str:
    with pytest.raises(ElfError) as caught:
        read_elf_bytes(data, "plug.so")
    return caught.value.reason


def info(bind: int) -> int:
    return bind << 4 | STT_FUNC


# -- the ELF header -------------------------------------------------------------------------

MACHINES = [
    # (e_machine, bits, little, machine name)
    (183, 64, True, "aarch64"),
    (183, 64, False, "aarch64_be"),
    (62, 64, True, "x86_64"),
    (62, 32, True, "x32"),
    (3, 32, True, "i686"),
    (40, 32, True, "armv7l"),
    (21, 64, True, "ppc64le"),
    (21, 64, False, "ppc64"),
    (20, 32, False, "ppc"),
    (22, 64, False, "s390x"),
    (243, 64, True, "riscv64"),
    (243, 32, True, "riscv32"),
    (258, 64, True, "loongarch64"),
    (8, 32, False, "mips"),
    (8, 32, True, "mipsel"),
    (8, 64, False, "mips64"),
    (8, 64, True, "mips64el"),
    (9999, 64, True, "em_9999"),
]


@pytest.mark.parametrize(("e_machine", "bits", "little", "name"), MACHINES, ids=[m[3] for m in MACHINES])
def test_machine_class_and_byte_order_from_the_header(e_machine: int, bits: int, little: bool, name: str) -> None:
    facts = read(Image(bits, little, machine=e_machine))
    endianness = "little" if little else "big"
    assert (facts.e_machine, facts.elf_class, facts.endianness, facts.machine) == (e_machine, bits, endianness, name)
    assert machine_name(e_machine, bits, endianness) == name


@pytest.mark.parametrize(
    ("elf_type", "name"), [(0, "NONE"), (1, "REL"), (2, "EXEC"), (3, "DYN"), (4, "CORE"), (0xFE00, "0xfe00")]
)
def test_elf_type_names(elf_type: int, name: str) -> None:
    assert read(Image(elf_type=elf_type)).elf_type == name


def test_a_file_with_no_dynamic_segment_has_no_dynamic_facts() -> None:
    facts = read(Image(64, True, machine=183))
    assert facts.to_dict() == {
        "path": "plug.so",
        "class": 64,
        "endianness": "little",
        "machine": "aarch64",
        "type": "DYN",
        "needed": [],
        "soname": None,
        "interp": None,
        "rpath": [],
        "libc": None,
        "libc_evidence": None,
        "version_needs": [],
        "py_inits": [],
    }
    assert (facts.defined, facts.undefined, facts.version_defs) == ([], [], [])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an ELF file (empty file)"),
        (b"\x7fEL", "not an ELF file (starts with b'\\x7fEL')"),
        (b"MZ\x90\x00rest", "not an ELF file (starts with b'MZ\\x90\\x00')"),
        (b"\x7fELF\x02\x01\x01", "truncated: 7 bytes, shorter than an ELF header"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9, "truncated: 16 bytes, shorter than an ELF header"),
        (b"\x7fELF\x03\x01\x01" + b"\0" * 60, "corrupt ELF header: invalid class 3"),
        (b"\x7fELF\x00\x01\x01" + b"\0" * 60, "corrupt ELF header: invalid class 0"),
        (b"\x7fELF\x02\x03\x01" + b"\0" * 60, "corrupt ELF header: invalid data encoding 3"),
        (b"\x7fELF\x02\x00\x01" + b"\0" * 60, "corrupt ELF header: invalid data encoding 0"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 40, "truncated: 47 bytes, shorter than an ELF header"),
        (b"\x7fELF\x01\x01\x01" + b"\0" * 30, "truncated: 37 bytes, shorter than an ELF header"),
    ],
)
def test_what_is_not_an_elf_header(data: bytes, reason: str) -> None:
    assert refusal(data) == reason


def test_the_shortest_headers_are_read() -> None:
    """64 bytes make a 64-bit header, 52 a 32-bit one: nothing past them is needed."""
    header64 = Image(64).header(0)
    header32 = Image(32).header(0)
    assert (len(header64), len(header32)) == (64, 52)
    assert read_elf_bytes(header64, "a.so").machine == "x86_64"
    assert read_elf_bytes(header32, "a.so").elf_class == 32
    assert refusal(header64[:63]) == "truncated: 63 bytes, shorter than an ELF header"
    assert refusal(header32[:51]) == "truncated: 51 bytes, shorter than an ELF header"


def test_a_program_header_entry_too_small_is_corrupt() -> None:
    data = bytearray(Image().build())
    struct.pack_into("<H", data, 54, 55)  # e_phentsize: one byte short of an Elf64_Phdr
    assert refusal(bytes(data)) == "corrupt ELF header: program header table"
    struct.pack_into("<H", data, 54, 56)
    assert read_elf_bytes(bytes(data), "a.so").machine == "x86_64"


def test_no_program_headers_at_all() -> None:
    data = bytearray(Image().build())
    struct.pack_into("<H", data, 56, 0)  # e_phnum
    assert read_elf_bytes(bytes(data), "a.so").interp is None
    struct.pack_into("<H", data, 56, 1)
    struct.pack_into("<Q", data, 32, 0)  # e_phoff
    assert read_elf_bytes(bytes(data), "a.so").interp is None


def test_a_loaded_segment_past_the_end_is_truncated() -> None:
    image = Image()
    image.segments.append((PT_LOAD, 0x300, 0x40300, 0x101))
    data = image.build()
    assert len(data) == 0x400
    assert refusal(data) == "truncated: a loaded segment ends at byte 1025, the file has 1024 bytes"
    image.segments[0] = (PT_LOAD, 0x300, 0x40300, 0x100)
    assert read(image).needed == []  # ends exactly at the end of the file


# -- PT_INTERP and the C library ------------------------------------------------------------

INTERPRETERS = [
    # (e_machine, bits, little, PT_INTERP, libc)
    (183, 64, True, "/lib/ld-linux-aarch64.so.1", "glibc"),
    (62, 64, True, "/lib64/ld-linux-x86-64.so.2", "glibc"),
    (3, 32, True, "/lib/ld-linux.so.2", "glibc"),
    (40, 32, True, "/lib/ld-linux-armhf.so.3", "glibc"),
    (21, 64, True, "/lib64/ld64.so.2", "glibc"),
    (22, 64, False, "/lib/ld64.so.1", "glibc"),
    (243, 64, True, "/lib/ld-linux-riscv64-lp64d.so.1", "glibc"),
    (62, 64, True, "/lib/ld-musl-x86_64.so.1", "musl"),
    (183, 64, True, "/lib/ld-musl-aarch64.so.1", "musl"),
    (40, 32, True, "/lib/ld-musl-armhf.so.1", "musl"),
    (183, 64, True, "/system/bin/linker64", None),
]


@pytest.mark.parametrize(
    ("e_machine", "bits", "little", "path", "libc"), INTERPRETERS, ids=[i[3] for i in INTERPRETERS]
)
def test_interpreter_of_each_architecture(e_machine: int, bits: int, little: bool, path: str, libc: str) -> None:
    image = Image(bits, little, machine=e_machine)
    image.interp(path.encode())
    facts = read(image)
    assert (facts.interp, facts.libc, facts.libc_evidence) == (path, libc, path if libc else None)


def test_the_first_pt_interp_is_the_one_the_loader_uses() -> None:
    image = Image()
    image.interp(b"/lib/ld-musl-x86_64.so.1")
    image.interp(b"/lib64/ld-linux-x86-64.so.2")
    facts = read(image)
    assert (facts.interp, facts.libc, facts.libc_evidence) == (
        "/lib/ld-musl-x86_64.so.1",
        "musl",
        "/lib/ld-musl-x86_64.so.1",
    )


def test_pt_interp_ends_at_its_first_nul_and_is_bounded() -> None:
    image = Image()
    image.interp(b"/lib/ld-linux.so.2\0trailing")
    assert read(image).interp == "/lib/ld-linux.so.2"
    longest = Image()
    longest.interp(b"/" * 4095)  # 4,096 bytes with its NUL: PATH_MAX
    assert read(longest).interp == "/" * 4095
    over = Image()
    over.interp(b"/" * 4096)
    assert refusal(over.build()) == "corrupt PT_INTERP: 4097 bytes"


@pytest.mark.parametrize(
    ("needed", "interp", "found"),
    [
        (["libc.musl-x86_64.so.1"], None, ("musl", "libc.musl-x86_64.so.1")),
        (["ld-musl-aarch64.so.1"], None, ("musl", "ld-musl-aarch64.so.1")),
        (["libc.so"], None, ("musl", "libc.so")),
        (["libm.so.6", "libc.so.6"], None, ("glibc", "libc.so.6")),
        (["ld-linux-x86-64.so.2"], None, ("glibc", "ld-linux-x86-64.so.2")),
        (["libc.so.6", "libc.musl-x86_64.so.1"], None, ("musl", "libc.musl-x86_64.so.1")),
        (["libc.so.6"], "/lib/ld-musl-x86_64.so.1", ("glibc", "libc.so.6")),
        (["libfoo.so"], "/lib/ld-musl-x86_64.so.1", ("musl", "/lib/ld-musl-x86_64.so.1")),
        (["libc.so.7", "libc.so.6x"], "/lib/ld64.so.1", ("glibc", "/lib/ld64.so.1")),
        (["libc.so.7"], "/lib/ld-linux.so.2", ("glibc", "/lib/ld-linux.so.2")),
        ([], "/usr/lib/ld.so", (None, None)),
        ([], "", (None, None)),
        ([], None, (None, None)),
    ],
)
def test_libc_from_needed_names_then_the_interpreter(
    needed: list[str], interp: str | None, found: tuple[str | None, str | None]
) -> None:
    assert libc_of(needed, interp) == found


# -- the dynamic segment: names -------------------------------------------------------------


@pytest.mark.parametrize(("bits", "little"), LAYOUTS, ids=LAYOUT_IDS)
def test_needed_soname_and_search_paths(bits: int, little: bool) -> None:
    image = Image(bits, little)
    image.strings("libfoo.so.1", "libc.so.6", "plug.so", "$ORIGIN/../lib::/opt/x", "${ORIGIN}", "late.so")
    for tag, name in [
        (DT_NEEDED, "libfoo.so.1"),
        (DT_RPATH, "$ORIGIN/../lib::/opt/x"),
        (DT_SONAME, "plug.so"),
        (DT_NEEDED, "libc.so.6"),
        (DT_RUNPATH, "${ORIGIN}"),
    ]:
        image.tag(tag, image.names[name])
    image.dynamic.append((0, 0))  # DT_NULL: what follows is not read
    image.tag(DT_NEEDED, image.names["late.so"])
    facts = read(image)
    assert facts.needed == ["libfoo.so.1", "libc.so.6"]
    assert facts.soname == "plug.so"
    assert facts.rpath == ["$ORIGIN/../lib", "/opt/x", "${ORIGIN}"]
    assert (facts.libc, facts.libc_evidence) == ("glibc", "libc.so.6")


def test_the_first_of_two_string_tables_counts() -> None:
    image = Image()
    image.strings("first.so")
    image.tag(DT_NEEDED, image.names["first.so"])
    second = image.add(b"\0zzzzz.so\0")
    image.tag(DT_STRTAB, second)
    assert read(image).needed == ["first.so"]


def test_addresses_are_mapped_through_the_loaded_segment() -> None:
    image = Image(base=0x10000)
    image.strings("libfoo.so")
    image.tag(DT_NEEDED, image.names["libfoo.so"])
    assert read(image).needed == ["libfoo.so"]


def test_an_address_outside_every_loaded_segment_is_corrupt() -> None:
    image = Image()
    image.strings("libfoo.so")
    image.tag(DT_NEEDED, image.names["libfoo.so"])
    end = image.base + len(image.build())
    image.dynamic[0] = (DT_STRTAB, end)  # one past the last loaded byte
    assert refusal(image.build()) == f"corrupt dynamic segment: string table address 0x{end:x} is not in the file"
    image.dynamic[0] = (DT_STRTAB, end - 1)  # the last loaded byte: mapped, then the table runs past the end
    assert refusal(image.build()).startswith("truncated or corrupt: dynamic string table at offset")
    below = Image(base=0x10000)
    below.strings("libfoo.so")
    below.dynamic[0] = (DT_STRTAB, 0xFFFF)
    assert refusal(below.build()) == "corrupt dynamic segment: string table address 0xffff is not in the file"


def test_string_table_size_and_presence() -> None:
    bare = Image()
    bare.tag(DT_STRSZ, 10)
    assert read(bare).needed == []  # no string table and no name to read: nothing to say
    nameless = Image()
    nameless.tag(DT_NEEDED, 1)
    assert refusal(nameless.build()) == "corrupt dynamic segment: no string table"
    empty = Image()
    empty.strings("libfoo.so")
    empty.dynamic[1] = (DT_STRSZ, 0)
    assert refusal(empty.build()) == "corrupt dynamic segment: string table size 0"
    huge = Image()
    huge.strings("libfoo.so")
    huge.dynamic[1] = (DT_STRSZ, (1 << 28) + 1)
    assert refusal(huge.build()) == f"corrupt dynamic segment: string table size {(1 << 28) + 1}"


def test_a_name_offset_past_the_string_table_is_corrupt() -> None:
    image = Image()
    image.strings("libfoo.so")
    image.tag(DT_NEEDED, 11)  # the table is 11 bytes: offsets 0..10
    assert refusal(image.build()) == "corrupt string table: offset 11 out of range"
    image.dynamic[-1] = (DT_NEEDED, 10)
    assert read(image).needed == [""]


# -- symbols --------------------------------------------------------------------------------

SYMBOLS = [
    ("PyInit_global", info(STB_GLOBAL), STV_DEFAULT, 7),
    ("PyInit_weak", info(STB_WEAK), STV_DEFAULT, 7),
    ("PyInit_local", info(STB_LOCAL), STV_DEFAULT, 7),
    ("PyInit_hidden", info(STB_GLOBAL), STV_HIDDEN, 7),
    ("PyInit_unique", info(STB_GNU_UNIQUE), STV_DEFAULT, 7),
    ("my_PyInit_x", info(STB_GLOBAL), STV_DEFAULT, 7),
    ("PyLong_FromLong", info(STB_GLOBAL), STV_DEFAULT, 0),
    ("_Py_Dealloc", info(STB_WEAK), STV_DEFAULT, 0),
    ("PyInit_imported", info(STB_GLOBAL), STV_DEFAULT, 0),
    ("Py", info(STB_GLOBAL), STV_DEFAULT, 7),
    ("malloc", info(STB_GLOBAL), STV_DEFAULT, 0),
    ("P", info(STB_GLOBAL), STV_DEFAULT, 0),
]
NAMES = [s[0] for s in SYMBOLS]


@pytest.mark.parametrize(("bits", "little"), LAYOUTS, ids=LAYOUT_IDS)
def test_defined_and_undefined_python_symbols(bits: int, little: bool) -> None:
    """Defined: a PyInit_ that is not local (weak, hidden and unique ones too: only the
    binding is read). Undefined: every Py*/_Py* name; other names are not decoded."""
    image = Image(bits, little)
    image.strings(*NAMES)
    image.symbols(SYMBOLS)
    image.sysv_hash(len(SYMBOLS) + 1)
    facts = read(image)
    assert facts.defined == ["PyInit_global", "PyInit_weak", "PyInit_hidden", "PyInit_unique"]
    assert facts.undefined == ["PyLong_FromLong", "_Py_Dealloc", "PyInit_imported"]
    assert facts.py_inits == facts.defined


def test_symbols_past_the_hash_count_are_not_read() -> None:
    image = Image()
    image.strings(*NAMES)
    image.symbols(SYMBOLS)
    image.sysv_hash(3)  # the null symbol, PyInit_global, PyInit_weak
    assert read(image).defined == ["PyInit_global", "PyInit_weak"]


def test_no_hash_table_means_no_symbols() -> None:
    image = Image()
    image.strings(*NAMES)
    image.symbols(SYMBOLS)
    assert (read(image).defined, read(image).undefined) == ([], [])


def test_symbols_are_skipped_when_not_asked_for(tmp_path: Path) -> None:
    from krakend_tools.elf import read_elf

    image = Image()
    image.strings(*NAMES)
    image.symbols(SYMBOLS)
    image.sysv_hash(len(SYMBOLS) + 1)
    path = tmp_path / "plug.so"
    path.write_bytes(image.build())
    assert read_elf(path, symbols=False).defined == []
    assert read_elf(path).defined == ["PyInit_global", "PyInit_weak", "PyInit_hidden", "PyInit_unique"]


def test_symbol_entry_size_and_hash_bounds() -> None:
    image = Image()
    image.strings(*NAMES)
    image.symbols(SYMBOLS)
    image.tag(DT_SYMENT, 23)
    image.sysv_hash(2)
    assert refusal(image.build()) == "corrupt dynamic segment: symbol size 23"
    image.dynamic[3] = (DT_SYMENT, 24)
    assert read(image).defined == ["PyInit_global"]
    small = Image(32)
    small.strings(*NAMES)
    small.symbols(SYMBOLS)
    small.tag(DT_SYMENT, 16)
    small.sysv_hash(2)
    assert read(small).defined == ["PyInit_global"]
    huge = Image()
    huge.strings(*NAMES)
    huge.symbols(SYMBOLS)
    huge.tag(4, huge.add(struct.pack("<II", 1, (1 << 21) + 1)))
    assert refusal(huge.build()) == f"corrupt hash table: {(1 << 21) + 1} symbols"


def test_a_symbol_name_past_the_string_table_is_corrupt() -> None:
    image = Image()
    image.strings("PyInit_a")
    image.symbols([("PyInit_a", info(STB_GLOBAL), 0, 7)])
    image.sysv_hash(2)
    data = bytearray(image.build())
    symtab = dict(image.dynamic)[6] - image.base
    struct.pack_into("<I", data, symtab + 24, 10)  # the table is 10 bytes: offsets 0..9
    assert refusal(bytes(data)) == "corrupt string table: offset 10 out of range"


# -- the GNU hash table ---------------------------------------------------------------------


def gnu_image(bits: int, little: bool, symoffset: int, buckets: list[int], chain: list[int]) -> Image:
    """Symbols 1..6 named PyInit_s1..PyInit_s6 (all defined), counted by a GNU hash table."""
    image = Image(bits, little)
    names = [f"PyInit_s{i}" for i in range(1, 7)]
    image.strings(*names)
    image.symbols([(name, info(STB_GLOBAL), 0, 7) for name in names])
    image.gnu_hash(symoffset, buckets, chain, bloom=2)
    return image


@pytest.mark.parametrize(("bits", "little"), LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize(
    ("symoffset", "buckets", "chain", "count"),
    [
        (3, [0, 0], [], 3),  # every bucket empty: the symbols below symoffset only
        (2, [0, 0, 0], [1], 2),
        (1, [1], [1], 2),  # one chain of one symbol (its end marker at once)
        (1, [1, 0], [0, 1], 3),  # an empty bucket beside a chain of two
        (2, [2, 0, 4], [0, 1, 0, 0, 1], 7),  # the highest bucket's chain ends last
        (1, [2, 1], [1, 0, 2, 3], 5),  # the chain of the highest bucket start is walked
        (4, [4], [0x100, 0xFF], 6),  # end markers are the low bit of each word
    ],
)
def test_gnu_hash_counts_to_the_end_of_the_last_chain(
    bits: int, little: bool, symoffset: int, buckets: list[int], chain: list[int], count: int
) -> None:
    facts = read(gnu_image(bits, little, symoffset, buckets, chain))
    assert facts.defined == [f"PyInit_s{i}" for i in range(1, count)]


def test_a_gnu_hash_chain_longer_than_a_block() -> None:
    """The chain is read 4,096 words at a time, then 16,384: the marker is found in any block."""
    for length in (4095, 4096, 4097, 20480, 20481):
        image = Image()
        image.strings("PyInit_a")
        image.symbols([("PyInit_a", info(STB_GLOBAL), 0, 7)])
        image.gnu_hash(1, [1], [0] * (length - 1) + [1])
        data = image.build()
        facts = read_elf_bytes(data + b"\0" * 24 * length, "plug.so")  # room for the symbols counted
        assert facts.defined == ["PyInit_a"], length


def test_a_gnu_hash_chain_without_an_end_is_corrupt() -> None:
    image = Image()
    image.strings("PyInit_a")
    image.symbols([("PyInit_a", info(STB_GLOBAL), 0, 7)])
    image.gnu_hash(1, [1], [0, 2, 0x100])  # the table is the end of the file
    assert refusal(image.build()) == "corrupt GNU hash table: a chain runs past the end of the file"


@pytest.mark.parametrize(
    ("nbuckets", "symoffset", "bloom"), [((1 << 21) + 1, 0, 0), (0, (1 << 21) + 1, 0), (0, 0, (1 << 21) + 1)]
)
def test_gnu_hash_header_bounds(nbuckets: int, symoffset: int, bloom: int) -> None:
    image = Image()
    image.strings("PyInit_a")
    image.symbols([("PyInit_a", info(STB_GLOBAL), 0, 7)])
    image.tag(DT_GNU_HASH, image.add(struct.pack("<IIII", nbuckets, symoffset, bloom, 6)))
    assert refusal(image.build()) == "corrupt GNU hash table"


# -- symbol versions ------------------------------------------------------------------------


def versioned(bits: int, little: bool) -> Image:
    """Needs GLIBC_2.17 (weak) and GLIBC_2.34 of libc.so.6 and FOO_1 of libfoo.so; defines
    its own base name and LIB_1.0, LIB_2.0."""
    image = Image(bits, little)
    image.strings(
        "libc.so.6", "GLIBC_2.17", "GLIBC_2.34", "libfoo.so", "FOO_1", "plug.so", "LIB_1.0", "LIB_2.0",
        "memcpy", "stat64", "foo_init", "PyList_New", "free",
    )  # fmt: skip
    image.symbols([(name, info(STB_GLOBAL), 0, 0) for name in ("memcpy", "stat64", "foo_init", "PyList_New", "free")])
    image.sysv_hash(6)
    image.versym([0, 0x8003, 2, 4, 3, 1])  # the hidden bit (0x8000) is not part of the index
    image.verneed(
        [
            ("libc.so.6", [("GLIBC_2.17", 2, 2), ("GLIBC_2.34", 0, 3)]),
            ("libfoo.so", [("FOO_1", 1, 4)]),
        ]
    )
    image.verdef([("plug.so", 1, 1), ("LIB_1.0", 0, 1), ("LIB_2.0", 0, 1), ("LIB_1.0", 0, 0)])
    return image


@pytest.mark.parametrize(("bits", "little"), LAYOUTS, ids=LAYOUT_IDS)
def test_version_needs_with_their_symbols(bits: int, little: bool) -> None:
    facts = read(versioned(bits, little))
    assert facts.version_needs == [
        VersionNeed("libc.so.6", "GLIBC_2.17", ["stat64"], weak=True),
        VersionNeed("libc.so.6", "GLIBC_2.34", ["PyList_New", "memcpy"], weak=False),
        VersionNeed("libfoo.so", "FOO_1", ["foo_init"], weak=False),
    ]
    assert facts.undefined == ["PyList_New"]
    assert facts.version_defs == ["LIB_1.0", "LIB_2.0"]  # the base (its own name) and a def without aux left out


def test_version_needs_without_symbols_when_not_asked(tmp_path: Path) -> None:
    from krakend_tools.elf import read_elf

    path = tmp_path / "plug.so"
    path.write_bytes(versioned(64, True).build())
    facts = read_elf(path, symbols=False)
    assert [(n.version, n.symbols) for n in facts.version_needs] == [
        ("GLIBC_2.17", []),
        ("GLIBC_2.34", []),
        ("FOO_1", []),
    ]
    assert facts.version_defs == ["LIB_1.0", "LIB_2.0"]


def test_the_first_need_of_a_version_index_counts() -> None:
    image = Image()
    image.strings("libc.so.6", "GLIBC_2.17", "GLIBC_2.34")
    image.verneed([("libc.so.6", [("GLIBC_2.17", 0, 2), ("GLIBC_2.34", 0, 2)])])
    assert read(image).version_needs == [VersionNeed("libc.so.6", "GLIBC_2.17", [], weak=False)]


def test_verneed_count_bounds_the_walk() -> None:
    image = Image()
    image.strings("libc.so.6", "libm.so.6", "GLIBC_2.17", "GLIBC_2.29")
    image.verneed([("libc.so.6", [("GLIBC_2.17", 0, 2)]), ("libm.so.6", [("GLIBC_2.29", 0, 3)])])
    image.dynamic[-1] = (DT_VERNEEDNUM, 1)
    assert [n.library for n in read(image).version_needs] == ["libc.so.6"]
    image.dynamic = [entry for entry in image.dynamic if entry[0] != DT_VERNEEDNUM]
    assert [n.library for n in read(image).version_needs] == ["libc.so.6", "libm.so.6"]  # to the chain's end


def test_a_version_chain_past_the_file_is_corrupt() -> None:
    image = Image()
    image.strings("libc.so.6", "GLIBC_2.17")
    image.verneed([("libc.so.6", [("GLIBC_2.17", 0, 2)])])
    data = bytearray(image.build())
    verneed = dict(image.dynamic)[DT_VERNEED] - image.base
    struct.pack_into("<I", data, verneed + 8, len(data) - verneed - 15)  # vn_aux: 15 bytes before the end
    at, size = len(data) - 15, len(data)
    assert size == 1080
    assert (
        refusal(bytes(data))
        == f"truncated or corrupt: vernaux at offset {at}+16 is past the end of the file ({size} bytes)"
    )


# -- edges a one-character change would move -------------------------------------------------


def test_an_address_at_the_very_start_of_a_segment() -> None:
    image = Image()
    table = image.add(b"\0libfoo.so\0")
    image.segments.append((PT_LOAD, table, 0x900000, 11))  # the table is exactly this segment
    image.dynamic += [(DT_STRTAB, 0x900000), (DT_STRSZ, 11), (DT_NEEDED, 1)]
    assert read(image).needed == ["libfoo.so"]


def test_names_at_the_ends_of_the_string_table() -> None:
    image = Image()
    image.tag(DT_STRTAB, image.add(b"\0libfoo.so\0libbar.so"))  # the last name without its NUL
    image.tag(DT_STRSZ, 20)
    image.dynamic += [(DT_NEEDED, 0), (DT_NEEDED, 11), (DT_NEEDED, 1)]
    assert read(image).needed == ["", "libbar.so", "libfoo.so"]


def test_a_string_table_of_one_byte_and_one_without_a_size() -> None:
    image = Image()
    image.tag(DT_STRTAB, image.add(b"\0"))
    image.tag(DT_STRSZ, 1)
    image.tag(DT_NEEDED, 0)
    assert read(image).needed == [""]
    unsized = Image()
    unsized.tag(DT_STRTAB, unsized.add(b"\0libfoo.so\0"))
    unsized.tag(DT_NEEDED, 1)
    assert refusal(unsized.build()) == "corrupt dynamic segment: string table size 0"


def test_a_symbol_table_without_a_hash_table_is_not_read() -> None:
    image = Image()
    image.strings("libfoo.so")
    image.tag(DT_NEEDED, image.names["libfoo.so"])
    image.tag(6, len(image.build()) - 1)  # DT_SYMTAB at the last byte: nothing to read there
    assert read(image).needed == ["libfoo.so"]


def test_symbol_versions_as_the_last_table_of_the_file() -> None:
    """Two bytes per symbol are read, no more."""
    image = Image()
    image.strings("libc.so.6", "GLIBC_2.34", "memcpy")
    image.symbols([("memcpy", info(STB_GLOBAL), 0, 0)])
    image.sysv_hash(2)
    image.verneed([("libc.so.6", [("GLIBC_2.34", 0, 2)])])
    image.versym([0, 2])
    data = image.build()
    assert data.endswith(struct.pack("<HH", 0, 2))
    assert read_elf_bytes(data, "a.so").version_needs == [VersionNeed("libc.so.6", "GLIBC_2.34", ["memcpy"])]


def test_gnu_hash_with_no_bucket_at_all() -> None:
    facts = read(gnu_image(64, True, 1, [], [1, 1]))
    assert facts.defined == []


def test_a_gnu_hash_chain_cut_inside_its_last_word() -> None:
    image = Image()
    image.strings("PyInit_a")
    image.symbols([("PyInit_a", info(STB_GLOBAL), 0, 7)])
    image.gnu_hash(1, [1], [0, 0])
    assert refusal(image.build() + b"\0\0") == "corrupt GNU hash table: a chain runs past the end of the file"


def test_program_headers_at_offset_zero_or_none_are_not_read() -> None:
    image = Image()
    image.interp(b"/lib/ld-musl-x86_64.so.1")
    image.strings("libfoo.so")
    image.tag(DT_NEEDED, image.names["libfoo.so"])
    data = bytearray(image.build())
    struct.pack_into("<Q", data, 32, 0)  # e_phoff 0: no table, whatever e_phnum says
    facts = read_elf_bytes(bytes(data), "a.so")
    assert (facts.interp, facts.needed) == (None, [])


def test_the_display_path_and_unreadable_files(tmp_path: Path) -> None:
    from krakend_tools.elf import is_elf, read_elf

    path = tmp_path / "plug.so"
    path.write_bytes(Image().build())
    assert read_elf(path).path == str(path)
    assert read_elf(path, "shown/plug.so").path == "shown/plug.so"
    assert read_elf(path, "").path == ""
    with pytest.raises(ElfError) as caught:
        read_elf(tmp_path / "missing.so")
    assert caught.value.reason == "cannot read: No such file or directory"
    assert (is_elf(path), is_elf(tmp_path / "missing.so"), is_elf(tmp_path)) == (True, False, False)
    (tmp_path / "text.so").write_bytes(b"\x7fEL")
    (tmp_path / "elf4.so").write_bytes(b"\x7fELF")
    assert (is_elf(tmp_path / "text.so"), is_elf(tmp_path / "elf4.so")) == (False, True)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2])
def test_a_wheel_member_reads_as_the_file(tmp_path: Path, method: int) -> None:
    from krakend_tools.elf import read_elf_member

    data = versioned(64, True).build()
    wheel = tmp_path / "plug.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("first.txt", b"x" * 100)
        member = zipfile.ZipInfo("plug/mod.so")
        member.compress_type = method
        member.extra = struct.pack("<HH", 0xCAFE, 6) + b"padded"  # a local extra field to skip
        zf.writestr(member, data)
    with zipfile.ZipFile(wheel) as zf:
        facts = read_elf_member(zf, zf.getinfo("plug/mod.so"), "plug/mod.so")
    assert facts == read_elf_bytes(data, "plug/mod.so")
    assert facts.version_defs == ["LIB_1.0", "LIB_2.0"]


def test_a_wheel_member_with_a_broken_local_header(tmp_path: Path) -> None:
    from krakend_tools.elf import read_elf_member

    wheel = tmp_path / "plug.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("plug/mod.so", Image().build())
    raw = bytearray(wheel.read_bytes())
    raw[0:4] = b"PK\x05\x06"
    wheel.write_bytes(bytes(raw))
    with zipfile.ZipFile(wheel) as zf, pytest.raises(ElfError) as caught:
        read_elf_member(zf, zf.getinfo("plug/mod.so"), "plug/mod.so")
    assert caught.value.reason == "corrupt zip member: bad local header"


def test_the_abi_each_uname_machine_needs() -> None:
    from krakend_tools.elf import MACHINE_ABI

    assert MACHINE_ABI == {
        "x86_64": (62, 64, "little"),
        "amd64": (62, 64, "little"),
        "aarch64": (183, 64, "little"),
        "arm64": (183, 64, "little"),
        "aarch64_be": (183, 64, "big"),
        "i386": (3, 32, "little"),
        "i486": (3, 32, "little"),
        "i586": (3, 32, "little"),
        "i686": (3, 32, "little"),
        "armv6l": (40, 32, "little"),
        "armv7l": (40, 32, "little"),
        "armv8l": (40, 32, "little"),
        "ppc64le": (21, 64, "little"),
        "ppc64": (21, 64, "big"),
        "ppc": (20, 32, "big"),
        "s390x": (22, 64, "big"),
        "riscv64": (243, 64, "little"),
        "loongarch64": (258, 64, "little"),
        "mips": (8, 32, "big"),
        "mipsel": (8, 32, "little"),
        "mips64": (8, 64, "big"),
        "mips64el": (8, 64, "little"),
    }
    aliases = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "i486": "i686", "i586": "i686"}
    aliases |= {"armv6l": "armv7l", "armv8l": "armv7l"}
    for machine, abi in MACHINE_ABI.items():
        assert machine_name(*abi) == aliases.get(machine, machine)


def test_the_version_definition_count_bounds_the_walk() -> None:
    image = versioned(64, True)
    image.dynamic = [(tag, 2 if tag == 0x6FFFFFFD else value) for tag, value in image.dynamic]
    assert read(image).version_defs == ["LIB_1.0"]


def test_a_budget_of_entries() -> None:
    from krakend_tools.elf import Budget

    budget = Budget(2, "stop here")
    budget.spend()
    budget.spend()
    assert budget.entries == 0
    with pytest.raises(ElfError) as caught:
        budget.spend()
    assert caught.value.reason == "stop here"
    assert Budget(5).refusal == "more than 5 version table entries in all the files: not read"
    assert Budget().entries == 1 << 20
