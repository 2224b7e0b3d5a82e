"""ELF files built by hand, byte by byte, for the reader's tests: an ELF header, program
headers and whatever dynamic tables a test asks for, all in one loaded segment."""

from __future__ import annotations

import struct
from collections.abc import Sequence

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 1, 4, 5, 6, 10, 11
DT_SONAME, DT_RPATH, DT_RUNPATH = 14, 15, 29
DT_GNU_HASH, DT_VERSYM = 0x6FFFFEF5, 0x6FFFFFF0
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFC, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
ADDRESS_TAGS = {DT_HASH, DT_STRTAB, DT_SYMTAB, DT_GNU_HASH, DT_VERSYM, DT_VERDEF, DT_VERNEED}
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
STT_FUNC = 2
STV_DEFAULT, STV_HIDDEN = 0, 2
HEADER_ROOM = 0x200  # the ELF header and up to 8 program headers
DYNAMIC_AT = 0x200  # the dynamic segment: up to 32 entries, before every table
TABLES_AT = 0x400


class Image:
    """One ELF file under construction. Offsets returned by :meth:`add` are file offsets;
    dynamic entries of address tags get ``base`` (the loaded segment's vaddr) added."""

    def __init__(
        self, bits: int = 64, little: bool = True, machine: int = 62, elf_type: int = 3, base: int = 0x10000
    ) -> None:
        self.bits, self.e = bits, "<" if little else ">"
        self.machine, self.elf_type, self.base = machine, elf_type, base
        self.data = bytearray(TABLES_AT)
        self.segments: list[tuple[int, int, int, int]] = []  # (type, offset, vaddr, filesz)
        self.dynamic: list[tuple[int, int]] = []
        self.names: dict[str, int] = {}

    def add(self, blob: bytes) -> int:
        """``blob`` appended (8-byte aligned); its file offset."""
        self.data += b"\0" * (-len(self.data) % 8)
        offset = len(self.data)
        self.data += blob
        return offset

    def tag(self, tag: int, value: int) -> None:
        self.dynamic.append((tag, value + self.base if tag in ADDRESS_TAGS else value))

    def interp(self, path: bytes, size: int | None = None) -> None:
        """A PT_INTERP segment holding ``path`` and its NUL (or ``size`` bytes of it)."""
        blob = path + b"\0"
        offset = self.add(blob)
        self.segments.append((PT_INTERP, offset, offset + self.base, len(blob) if size is None else size))

    def strings(self, *names: str) -> None:
        """The dynamic string table: ``names`` after a leading NUL (offsets in :attr:`names`)."""
        table = bytearray(b"\0")
        for name in names:
            self.names[name] = len(table)
            table += name.encode() + b"\0"
        self.tag(DT_STRTAB, self.add(bytes(table)))
        self.tag(DT_STRSZ, len(table))

    def symbols(self, entries: Sequence[tuple[str, int, int, int]]) -> None:
        """DT_SYMTAB of a null symbol then (name, info, other, shndx) each; shndx 0: undefined."""
        rows = [self.symbol(0, 0, 0, 0)] + [self.symbol(self.names[n], i, o, s) for n, i, o, s in entries]
        self.tag(DT_SYMTAB, self.add(b"".join(rows)))

    def symbol(self, name: int, info: int, other: int, shndx: int) -> bytes:
        if self.bits == 64:
            return struct.pack(self.e + "IBBHQQ", name, info, other, shndx, 0, 0)
        return struct.pack(self.e + "IIIBBH", name, 0, 0, info, other, shndx)

    def sysv_hash(self, nchain: int) -> None:
        self.tag(DT_HASH, self.add(struct.pack(self.e + "II", 1, nchain) + b"\0" * 4 * (1 + nchain)))

    def gnu_hash(self, symoffset: int, buckets: Sequence[int], chain: Sequence[int], bloom: int = 1) -> None:
        word = 8 if self.bits == 64 else 4
        head = struct.pack(self.e + "IIII", len(buckets), symoffset, bloom, 6) + b"\0" * word * bloom
        blob = head + struct.pack(f"{self.e}{len(buckets)}I{len(chain)}I", *buckets, *chain)
        self.tag(DT_GNU_HASH, self.add(blob))

    def versym(self, indexes: Sequence[int]) -> None:
        self.tag(DT_VERSYM, self.add(struct.pack(f"{self.e}{len(indexes)}H", *indexes)))

    def verneed(self, needs: Sequence[tuple[str, Sequence[tuple[str, int, int]]]]) -> None:
        """``.gnu.version_r``: (library, [(version, flags, index)]) each."""
        blob = bytearray()
        for n, (library, versions) in enumerate(needs):
            last = n == len(needs) - 1
            size = 16 + 16 * len(versions)
            blob += struct.pack(self.e + "HHIII", 1, len(versions), self.names[library], 16, 0 if last else size)
            for v, (version, flags, index) in enumerate(versions):
                more = 16 if v < len(versions) - 1 else 0
                blob += struct.pack(self.e + "IHHII", 0, flags, index, self.names[version], more)
        self.tag(DT_VERNEED, self.add(bytes(blob)))
        self.tag(DT_VERNEEDNUM, len(needs))

    def verdef(self, defs: Sequence[tuple[str, int, int]]) -> None:
        """``.gnu.version_d``: (name, flags, aux count) each; each verdaux right after its verdef."""
        blob = bytearray()
        for n, (name, flags, count) in enumerate(defs):
            more = 28 if n < len(defs) - 1 else 0
            blob += struct.pack(self.e + "HHHHIII", 1, flags, n + 1, count, 0, 20, more)
            blob += struct.pack(self.e + "II", self.names[name], 0)
        self.tag(DT_VERDEF, self.add(bytes(blob)))
        self.tag(DT_VERDEFNUM, len(defs))

    def build(self, load: bool = True) -> bytes:
        """The file: one PT_LOAD over all of it first, then the other segments, then
        PT_DYNAMIC (at DYNAMIC_AT, when there are dynamic entries)."""
        data = bytearray(self.data)
        segments = list(self.segments)
        if self.dynamic:
            fmt = self.e + ("qQ" if self.bits == 64 else "iI")
            table = b"".join(struct.pack(fmt, t, v) for t, v in [*self.dynamic, (0, 0)])
            assert len(table) <= TABLES_AT - DYNAMIC_AT
            data[DYNAMIC_AT : DYNAMIC_AT + len(table)] = table
            segments.append((PT_DYNAMIC, DYNAMIC_AT, DYNAMIC_AT + self.base, len(table)))
        if load:
            segments.insert(0, (PT_LOAD, 0, self.base, len(data)))
        header = self.header(len(segments))
        data[: len(header)] = header
        phoff, size = (64, 56) if self.bits == 64 else (52, 32)
        for i, segment in enumerate(segments):
            data[phoff + i * size : phoff + (i + 1) * size] = self.program_header(*segment)
        return bytes(data)

    def header(self, phnum: int) -> bytes:
        ident = b"\x7fELF" + bytes([2 if self.bits == 64 else 1, 1 if self.e == "<" else 2, 1]) + b"\0" * 9
        if self.bits == 64:
            fields = (self.elf_type, self.machine, 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
            return ident + struct.pack(self.e + "HHIQQQIHHHHHH", *fields)
        fields = (self.elf_type, self.machine, 1, 0, 52, 0, 0, 52, 32, phnum, 40, 0, 0)
        return ident + struct.pack(self.e + "HHIIIIIHHHHHH", *fields)

    def program_header(self, kind: int, offset: int, vaddr: int, size: int) -> bytes:
        """A program header whose physical address and memory size differ from the virtual
        address and file size the loader reads (memsz covers a .bss)."""
        paddr, memsz = 0xBAD000, size + 0x1000
        if self.bits == 64:
            return struct.pack(self.e + "IIQQQQQQ", kind, 4, offset, vaddr, paddr, size, memsz, 8)
        return struct.pack(self.e + "IIIIIIII", kind, offset, vaddr, paddr, size, memsz, 4, 4)
