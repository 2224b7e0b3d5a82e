"""Read the few ELF facts a loader cares about, fast and without executing anything.

The file is read the way the dynamic loader reads it: ELF header, program headers, the
PT_DYNAMIC segment and the tables it points to (dynamic strings and symbols, symbol hash
table, ``.gnu.version`` and ``.gnu.version_r``). Section headers, code and debug
information are never read, so a wheel member is only inflated up to its dynamic segment.
"""

from __future__ import annotations

import array
import os
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

ELF_MAGIC = b"\x7fELF"

# e_machine -> uname machine name (the 32/64-bit and endianness variants are resolved below).
_MACHINES: dict[int, str] = {
    3: "i686",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "armv7l",
    62: "x86_64",
    183: "aarch64",
    243: "riscv64",
    258: "loongarch64",
}
# uname machine -> (e_machine, ELF class, endianness) it needs.
MACHINE_ABI: dict[str, tuple[int, int, str]] = {
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

_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NEEDED, _DT_HASH, _DT_STRTAB, _DT_SYMTAB, _DT_STRSZ, _DT_SYMENT = 1, 4, 5, 6, 10, 11
_DT_SONAME, _DT_RPATH, _DT_RUNPATH, _DT_RELR = 14, 15, 29, 36
_DT_GNU_HASH, _DT_VERSYM, _DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFEF5, 0x6FFFFFF0, 0x6FFFFFFE, 0x6FFFFFFF
_DT_VERDEF, _DT_VERDEFNUM = 0x6FFFFFFC, 0x6FFFFFFD
_SHN_UNDEF = 0
_STB_LOCAL = 0
_ELF_TYPES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}
_MAX_TABLE = 1 << 16  # sanity bound on header and version table entry counts
_MAX_VERSIONS = 1 << 15  # a symbol's version index has 15 bits: no table names more versions
MAX_VERSION_ENTRIES = 1 << 20  # version-table entries walked in all the files of one plugin (~1 s)
_MAX_SYMBOLS = 1 << 21  # dynamic symbols (the largest real libraries have a few 100,000)
_MAX_BYTES = 1 << 28
_LOW_BIT = bytes(i & 1 for i in range(256))
_PY_IMPORTS = (b"Py", b"_Py")  # the C-API names the stable-ABI check reads
_MAX_INTERP = 4096  # PATH_MAX: a longer PT_INTERP is corrupt
_MAX_INFLATE = 1 << 28  # bytes of a compressed wheel member inflated (in memory) to read it


class ElfError(Exception):
    """A file that is not a readable ELF object; ``reason`` is one line for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VersionNeed(NamedTuple):
    """One ``.gnu.version_r`` requirement: ``GLIBC_2.27`` from ``libc.so.6``.

    ``weak`` (VER_FLG_WEAK): the loader only warns when the version is missing.
    """

    library: str
    version: str
    symbols: list[str]
    weak: bool = False


@dataclass
class ElfFacts:
    """What the dynamic loader will look at in one ELF file."""

    path: str
    elf_class: int  # 32 | 64
    endianness: str  # little | big
    e_machine: int
    machine: str  # x86_64, aarch64, i686, armv7l ... or "em_<n>"
    elf_type: str  # DYN, EXEC, REL ...
    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    interp: str | None = None
    rpath: list[str] = field(default_factory=list)
    libc: str | None = None  # glibc | musl | None (no libc dependency seen)
    libc_evidence: str | None = None  # the DT_NEEDED / PT_INTERP entry libc was inferred from
    version_needs: list[VersionNeed] = field(default_factory=list)
    version_defs: list[str] = field(default_factory=list)  # versions it exports: GLIBC_2.34 ...
    # Only the symbols a check reads are decoded (memory stays small on huge libraries):
    defined: list[str] = field(default_factory=list)  # the PyInit_* functions it exports
    undefined: list[str] = field(default_factory=list)  # the Py* / _Py* names it imports
    relr: bool = False  # packed relative relocations (DT_RELR): glibc 2.36 / musl 1.2.4 load them

    @property
    def py_inits(self) -> list[str]:
        """Defined ``PyInit_*`` symbols."""
        return [name for name in self.defined if name.startswith("PyInit_")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts (symbol lists are left out, except ``PyInit_*``)."""
        return {
            "path": self.path,
            "class": self.elf_class,
            "endianness": self.endianness,
            "machine": self.machine,
            "type": self.elf_type,
            "needed": self.needed,
            "soname": self.soname,
            "interp": self.interp,
            "rpath": self.rpath,
            "libc": self.libc,
            "libc_evidence": self.libc_evidence,
            "version_needs": [
                {"library": n.library, "version": n.version, "symbols": n.symbols, "weak": n.weak}
                for n in self.version_needs
            ],
            "py_inits": self.py_inits,
        }


class Budget:
    """Entries a walk may still take; past them, :class:`ElfError` with ``refusal``. One per
    check of a plugin bounds the total of its files (each file is bounded by its size)."""

    def __init__(self, entries: int = MAX_VERSION_ENTRIES, refusal: str = "") -> None:
        self.entries = entries
        self.refusal = refusal or f"more than {entries} version table entries in all the files: not read"

    def spend(self) -> None:
        self.entries -= 1
        if self.entries < 0:
            raise ElfError(self.refusal)


class _Reader:
    """Bounds-checked random reads; every failure is an :class:`ElfError`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.shared = Budget()  # version entries, shared with the other files of a check

    def read(self, offset: int, length: int, what: str) -> bytes:
        if length == 0:
            return b""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfError(
                f"truncated or corrupt: {what} at offset {offset}+{length} "
                f"is past the end of the file ({self.size} bytes)"
            )
        data = self._fetch(offset, length)
        if len(data) != length:
            raise ElfError(f"truncated: short read of {what}")
        return data

    def _fetch(self, offset: int, length: int) -> bytes:
        raise NotImplementedError


class _FileReader(_Reader):
    def __init__(self, fh: IO[bytes], size: int, base: int = 0) -> None:
        super().__init__(size)
        self.fh, self.base = fh, base

    def _fetch(self, offset: int, length: int) -> bytes:
        self.fh.seek(self.base + offset)
        return self.fh.read(length)


class _BytesReader(_Reader):
    def __init__(self, data: bytes) -> None:
        super().__init__(len(data))
        self.data = data

    def _fetch(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


class _InflateReader(_Reader):
    """A deflated zip member, inflated only as far as the reads go."""

    CHUNK = 1 << 16

    def __init__(self, fh: IO[bytes], start: int, compressed: int, size: int) -> None:
        super().__init__(size)
        self.limit = min(size, _MAX_INFLATE)
        self.fh, self.pos, self.left = fh, start, compressed
        self.inflater = zlib.decompressobj(-15)
        self.buf = bytearray()

    def _fetch(self, offset: int, length: int) -> bytes:
        end = offset + length
        if end > self.limit:
            raise ElfError(
                f"reading byte {end} of a compressed member: over the {_MAX_INFLATE >> 20} MiB inflate limit"
            )
        while len(self.buf) < end and (self.left or self.inflater.unconsumed_tail):
            if self.inflater.unconsumed_tail:
                chunk = self.inflater.unconsumed_tail
            else:
                self.fh.seek(self.pos)
                chunk = self.fh.read(min(self.CHUNK, self.left))
                if not chunk:
                    break
                self.pos += len(chunk)
                self.left -= len(chunk)
            try:
                self.buf += self.inflater.decompress(chunk, max(end - len(self.buf), self.CHUNK))
            except zlib.error as err:
                raise ElfError(f"corrupt compressed data: {err}") from None
        return bytes(self.buf[offset:end])


class _Strings:
    """The dynamic string table: each name decoded once, and all names together no longer
    than a few times the table (names that overlap without a NUL would make it quadratic)."""

    def __init__(self, table: bytes) -> None:
        self.table = table
        self.names: dict[int, str] = {}
        self.budget = 4 * len(table) + (1 << 20)

    def __call__(self, offset: int) -> str:
        name = self.names.get(offset)
        if name is None:
            name = self.names[offset] = self._decode(offset)
        return name

    def _decode(self, offset: int) -> str:
        table = self.table
        if offset >= len(table):
            raise ElfError(f"corrupt string table: offset {offset} out of range")
        end = table.find(b"\0", offset, offset + self.budget)
        if end < 0:
            end = min(len(table), offset + self.budget)
        self.budget -= end - offset
        if self.budget <= 0:
            raise ElfError("corrupt string table: its names overlap far more than a linker writes")
        return table[offset:end].decode("utf-8", "replace")


def machine_name(e_machine: int, elf_class: int, endianness: str) -> str:
    """The uname-style machine name of an ELF header."""
    name = _MACHINES.get(e_machine)
    if name is None:
        return f"em_{e_machine}"
    if name == "ppc64" and endianness == "little":
        return "ppc64le"
    if name == "aarch64" and endianness == "big":
        return "aarch64_be"
    if name == "mips":
        return ("mips64" if elf_class == 64 else "mips") + ("el" if endianness == "little" else "")
    if name == "riscv64" and elf_class == 32:
        return "riscv32"
    if name == "x86_64" and elf_class == 32:
        return "x32"
    return name


def libc_of(needed: list[str], interp: str | None) -> tuple[str | None, str | None]:
    """(libc family, evidence) inferred from DT_NEEDED and PT_INTERP."""
    for name in needed:
        if name.startswith("libc.musl-") or name.startswith("ld-musl-") or name == "libc.so":
            return "musl", name
    for name in needed:
        if name == "libc.so.6" or name.startswith("ld-linux"):
            return "glibc", name
    if interp:
        base = os.path.basename(interp)
        if base.startswith("ld-musl-"):
            return "musl", interp
        if base.startswith("ld-linux") or base.startswith("ld64.so"):
            return "glibc", interp
    return None, None


_ERRORS = (struct.error, ValueError, IndexError, OverflowError, MemoryError, EOFError)


def _open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file (a FIFO never blocks the open)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ElfError("not a regular file (a FIFO, socket, device or folder)")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_elf(
    path: str | os.PathLike[str], display: str | None = None, *, symbols: bool = True, budget: Budget | None = None
) -> ElfFacts:
    """Parse ``path``; ``display`` is the path recorded in the facts (default: ``path``).
    ``symbols=False`` skips the symbol table (no defined/undefined names, no symbols per
    version need): enough for the needed libraries and the versions a library exports.
    ``budget``: version-table entries shared with the other files of one check."""
    try:
        with _open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            return _parse(_FileReader(fh, size), display if display is not None else str(path), symbols, budget)
    except OSError as err:
        raise ElfError(f"cannot read: {err.strerror or err}") from None
    except _ERRORS as err:
        raise ElfError(f"corrupt ELF file: {err}") from None


def read_elf_bytes(data: bytes, display: str, budget: Budget | None = None) -> ElfFacts:
    """:func:`read_elf` on an in-memory file."""
    try:
        return _parse(_BytesReader(data), display, budget=budget)
    except _ERRORS as err:
        raise ElfError(f"corrupt ELF file: {err}") from None


def read_elf_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, display: str, budget: Budget | None = None) -> ElfFacts:
    """:func:`read_elf` on a zip (wheel) member, inflating no more of it than needed."""
    try:
        reader = _member_reader(zf, info)
        if reader is None:
            if info.file_size > _MAX_INFLATE:
                raise ElfError(f"member over the {_MAX_INFLATE >> 20} MiB limit for its compression method")
            return read_elf_bytes(zf.read(info), display, budget)
        return _parse(reader, display, budget=budget)
    except _ERRORS as err:
        raise ElfError(f"corrupt ELF file: {err}") from None


def _member_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Reader | None:
    """A direct reader for stored or deflated members; None for anything else."""
    fh = zf.fp
    if fh is None or info.flag_bits & 1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise ElfError("corrupt zip member: bad local header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    if info.compress_type == zipfile.ZIP_STORED:
        return _FileReader(fh, info.file_size, start)
    return _InflateReader(fh, start, info.compress_size, info.file_size)


def is_elf(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the ELF magic (unreadable files count as not ELF)."""
    try:
        with _open_regular(path) as fh:
            return fh.read(4) == ELF_MAGIC
    except (OSError, ValueError, ElfError):
        return False


def _parse(r: _Reader, display: str, symbols: bool = True, budget: Budget | None = None) -> ElfFacts:
    """The loader's facts of one file: header, program headers, then the dynamic segment."""
    if budget is not None:
        r.shared = budget
    facts, header = _read_header(r, display)
    image, dynamic = _program_headers(r, facts, header)
    if dynamic is not None:
        _read_dynamic(image, facts, dynamic, symbols)
    facts.libc, facts.libc_evidence = libc_of(facts.needed, facts.interp)
    return facts


class _Header(NamedTuple):
    """The ELF header fields the program header walk needs."""

    e: str  # struct byte-order prefix: "<" or ">"
    is64: bool
    phoff: int
    phentsize: int
    phnum: int


def _read_identification(r: _Reader) -> tuple[bool, str]:
    """(64-bit, endianness) from ``e_ident``, after the magic and size checks."""
    if r.size == 0:
        raise ElfError("not an ELF file (empty file)")
    head = r.read(0, min(r.size, 4), "ELF magic")
    if head != ELF_MAGIC:
        raise ElfError(f"not an ELF file (starts with {head!r})")
    if r.size < 16:
        raise ElfError(f"truncated: {r.size} bytes, shorter than an ELF header")
    ident = r.read(0, 16, "ELF identification")
    if ident[4] not in (1, 2):
        raise ElfError(f"corrupt ELF header: invalid class {ident[4]}")
    if ident[5] not in (1, 2):
        raise ElfError(f"corrupt ELF header: invalid data encoding {ident[5]}")
    return ident[4] == 2, "little" if ident[5] == 1 else "big"


def _read_header(r: _Reader, display: str) -> tuple[ElfFacts, _Header]:
    """The facts the ELF header gives (class, byte order, machine, type) and where the
    program headers are."""
    is64, endianness = _read_identification(r)
    e = "<" if endianness == "little" else ">"
    hdr_fmt = e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    if r.size < 16 + struct.calcsize(hdr_fmt):
        raise ElfError(f"truncated: {r.size} bytes, shorter than an ELF header")
    hdr = struct.unpack(hdr_fmt, r.read(16, struct.calcsize(hdr_fmt), "ELF header"))
    e_type, e_machine, _ver, _entry, phoff, _shoff, _flags, _ehsz, phentsize, phnum = hdr[:10]
    elf_class = 64 if is64 else 32
    facts = ElfFacts(
        display,
        elf_class,
        endianness,
        e_machine,
        machine_name(e_machine, elf_class, endianness),
        _ELF_TYPES.get(e_type, f"0x{e_type:x}"),
    )
    return facts, _Header(e, is64, phoff, phentsize, phnum)


@dataclass
class _Image:
    """One file as the loader maps it: the reader, byte order, word size and loaded segments."""

    r: _Reader
    e: str
    is64: bool
    loads: list[tuple[int, int, int]]  # (vaddr, offset, filesz)

    def at(self, vaddr: int, what: str) -> int:
        """The file offset of the virtual address ``vaddr``."""
        for start, offset, filesz in self.loads:
            if start <= vaddr < start + filesz:
                return offset + vaddr - start
        raise ElfError(f"corrupt dynamic segment: {what} address 0x{vaddr:x} is not in the file")


def _program_headers(r: _Reader, facts: ElfFacts, header: _Header) -> tuple[_Image, tuple[int, int] | None]:
    """The loaded segments and the dynamic segment's (offset, size); the first PT_INTERP
    goes into ``facts.interp``."""
    loads: list[tuple[int, int, int]] = []
    dynamic: tuple[int, int] | None = None
    for p_type, offset, vaddr, filesz in _segments(r, header):
        if p_type == _PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (offset, filesz)
        elif p_type == _PT_INTERP and facts.interp is None:  # the loader uses the first
            facts.interp = _read_interp(r, offset, filesz)
    for _vaddr, offset, filesz in loads:
        if offset + filesz > r.size:
            raise ElfError(f"truncated: a loaded segment ends at byte {offset + filesz}, the file has {r.size} bytes")
    return _Image(r, header.e, header.is64, loads), dynamic


def _segments(r: _Reader, header: _Header) -> Iterator[tuple[int, int, int, int]]:
    """(type, offset, vaddr, filesz) of each program header."""
    if not (header.phoff and header.phnum):
        return
    ph_fmt = header.e + ("IIQQQQQQ" if header.is64 else "IIIIIIII")
    if header.phentsize < struct.calcsize(ph_fmt) or header.phnum > _MAX_TABLE:
        raise ElfError("corrupt ELF header: program header table")
    ptable = r.read(header.phoff, header.phnum * header.phentsize, "program header table")
    for i in range(header.phnum):
        ph = struct.unpack_from(ph_fmt, ptable, i * header.phentsize)
        yield (ph[0], ph[2], ph[3], ph[5]) if header.is64 else (ph[0], ph[1], ph[2], ph[4])


def _read_interp(r: _Reader, offset: int, filesz: int) -> str:
    """The interpreter path a PT_INTERP segment names."""
    if filesz > _MAX_INTERP:
        raise ElfError(f"corrupt PT_INTERP: {filesz} bytes")
    return r.read(offset, filesz, "PT_INTERP").split(b"\0")[0].decode("utf-8", "replace")


class _Dynamic(NamedTuple):
    """The dynamic segment's entries: the first value of each tag, and the string-valued
    entries (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) in order."""

    tags: dict[int, int]
    strings: list[tuple[int, int]]  # (tag, string offset)


def _read_dynamic(image: _Image, facts: ElfFacts, dynamic: tuple[int, int], symbols: bool = True) -> None:
    """Names, version needs and definitions, and the symbols a check reads, into ``facts``."""
    entries = _dynamic_entries(image, dynamic)
    facts.relr = _DT_RELR in entries.tags
    if _DT_STRTAB not in entries.tags:
        if entries.strings:
            raise ElfError("corrupt dynamic segment: no string table")
        return
    name_at = _string_table(image, entries.tags)
    _record_names(facts, entries.strings, name_at)
    need_index = _version_needs(image, entries.tags, name_at)
    users: dict[int, list[str]] = {i: [] for i in need_index}
    if _DT_VERDEF in entries.tags:
        offset = image.at(entries.tags[_DT_VERDEF], "version defs")
        facts.version_defs = _version_defs(image, name_at, offset, entries.tags.get(_DT_VERDEFNUM, _MAX_TABLE))
    if _DT_SYMTAB in entries.tags and symbols:
        _read_symbols(image, entries.tags, name_at, users, facts)
    facts.version_needs = [
        VersionNeed(lib, name, sorted(users[i]), weak) for i, (lib, name, weak) in need_index.items()
    ]


def _dynamic_entries(image: _Image, dynamic: tuple[int, int]) -> _Dynamic:
    """The (tag, value) entries up to DT_NULL."""
    fmt = image.e + ("qQ" if image.is64 else "iI")
    size = struct.calcsize(fmt)
    offset, filesz = dynamic
    entries = _Dynamic({}, [])
    for tag, val in struct.iter_unpack(fmt, image.r.read(offset, filesz - filesz % size, "dynamic segment")):
        if tag == 0:
            break
        if tag in (_DT_NEEDED, _DT_SONAME, _DT_RPATH, _DT_RUNPATH):
            entries.strings.append((tag, val))
        else:
            entries.tags.setdefault(tag, val)
    return entries


def _string_table(image: _Image, tags: dict[int, int]) -> _Strings:
    """The dynamic string table (DT_STRTAB, DT_STRSZ bytes)."""
    strsz = tags.get(_DT_STRSZ, 0)
    if not 0 < strsz <= _MAX_BYTES:
        raise ElfError(f"corrupt dynamic segment: string table size {strsz}")
    return _Strings(image.r.read(image.at(tags[_DT_STRTAB], "string table"), strsz, "dynamic string table"))


def _record_names(facts: ElfFacts, strings: list[tuple[int, int]], name_at: _Strings) -> None:
    """DT_NEEDED, DT_SONAME and the RPATH/RUNPATH folders into ``facts``."""
    for tag, val in strings:
        text = name_at(val)
        if tag == _DT_NEEDED:
            facts.needed.append(text)
        elif tag == _DT_SONAME:
            facts.soname = text
        else:
            facts.rpath.extend(p for p in text.split(":") if p)


def _version_needs(image: _Image, tags: dict[int, int], name_at: _Strings) -> dict[int, tuple[str, str, bool]]:
    """``.gnu.version_r``: versym index -> (library, version name, weak)."""
    need_index: dict[int, tuple[str, str, bool]] = {}
    if _DT_VERNEED not in tags:
        return need_index
    r, e = image.r, image.e
    # 16-byte entries: no more than fit in the file or can be named
    too_many = "corrupt version needs: more entries than the file holds or versions can be named"
    own = Budget(min(r.size // 16 + 1, 2 * _MAX_VERSIONS), too_many)
    off = image.at(tags[_DT_VERNEED], "version needs")
    for _ in range(min(tags.get(_DT_VERNEEDNUM, _MAX_TABLE), _MAX_TABLE)):
        own.spend()
        r.shared.spend()
        _vv, cnt, vfile, vaux, vnext = struct.unpack(e + "HHIII", r.read(off, 16, "verneed"))
        _version_aux(image, off + vaux, cnt, name_at(vfile), name_at, need_index, own)
        if not vnext:
            break
        off += vnext
    return need_index


def _version_aux(
    image: _Image,
    aoff: int,
    count: int,
    library: str,
    name_at: _Strings,
    need_index: dict[int, tuple[str, str, bool]],
    own: Budget,
) -> None:
    """The ``vernaux`` entries of one library's version need into ``need_index``."""
    for _ in range(min(count, _MAX_TABLE)):
        own.spend()
        image.r.shared.spend()
        _h, flags, other, vname, anext = struct.unpack(image.e + "IHHII", image.r.read(aoff, 16, "vernaux"))
        need_index.setdefault(other & 0x7FFF, (library, name_at(vname), bool(flags & 2)))
        if not anext:
            break
        aoff += anext


def _read_symbols(
    image: _Image, tags: dict[int, int], name_at: _Strings, users: dict[int, list[str]], facts: ElfFacts
) -> None:
    """Defined ``PyInit_*`` and undefined ``Py*``/``_Py*`` names into ``facts``; each
    versioned import into the list of the version need it uses (``users``)."""
    sym_fmt = image.e + ("IBBHQQ" if image.is64 else "IIIBBH")
    entsize = tags.get(_DT_SYMENT) or struct.calcsize(sym_fmt)
    if entsize != struct.calcsize(sym_fmt):
        raise ElfError(f"corrupt dynamic segment: symbol size {entsize}")
    count = _symbol_count(image, tags)
    data = image.r.read(image.at(tags[_DT_SYMTAB], "symbol table"), count * entsize, "dynamic symbols")
    versym: array.array[int] | tuple[()] = ()
    if _DT_VERSYM in tags and users and count:
        versym = _uints("H", image.e, image.r.read(image.at(tags[_DT_VERSYM], "versym"), count * 2, "symbol versions"))
    starts, strlen = name_at.table.startswith, len(name_at.table)
    for i, sym in enumerate(struct.iter_unpack(sym_fmt, data)):
        name_off, info, shndx = (sym[0], sym[1], sym[3]) if image.is64 else (sym[0], sym[3], sym[5])
        if not name_off:
            continue
        if name_off >= strlen:
            raise ElfError(f"corrupt string table: offset {name_off} out of range")
        if shndx == _SHN_UNDEF:
            who = users.get(versym[i] & 0x7FFF) if versym else None
            python = starts(_PY_IMPORTS, name_off)
            if who is not None or python:
                name = name_at(name_off)
                if python:
                    facts.undefined.append(name)
                if who is not None:
                    who.append(name)
        elif info >> 4 != _STB_LOCAL and starts(b"PyInit_", name_off):
            facts.defined.append(name_at(name_off))


def _uints(code: str, e: str, data: bytes) -> array.array[int]:
    """``data`` as unsigned ints of the file's byte order (compact: no tuple of int objects)."""
    values = array.array(code)
    values.frombytes(data[: len(data) - len(data) % values.itemsize])
    if (e == "<") != (sys.byteorder == "little"):
        values.byteswap()
    return values


def _version_defs(image: _Image, name_at: _Strings, off: int, count: int) -> list[str]:
    """Names of the versions a library defines (``.gnu.version_d``), its own name left out."""
    r, e = image.r, image.e
    names: list[str] = []
    for _ in range(min(count, _MAX_VERSIONS, r.size // 20 + 1)):
        r.shared.spend()
        _v, flags, _ndx, cnt, _hash, aux, nxt = struct.unpack(e + "HHHHIII", r.read(off, 20, "verdef"))
        if cnt and not flags & 1:  # VER_FLG_BASE names the file itself
            (name, _anext) = struct.unpack(e + "II", r.read(off + aux, 8, "verdaux"))
            names.append(name_at(name))
        if not nxt:
            break
        off += nxt
    return names


def _symbol_count(image: _Image, tags: dict[int, int]) -> int:
    """Number of dynamic symbols, from DT_HASH or DT_GNU_HASH (as the loader knows it)."""
    if _DT_HASH in tags:
        hash_at = image.at(tags[_DT_HASH], "hash")
        _nbucket, nchain = struct.unpack(image.e + "II", image.r.read(hash_at, 8, "hash"))
        if nchain > _MAX_SYMBOLS:
            raise ElfError(f"corrupt hash table: {nchain} symbols")
        return int(nchain)
    if _DT_GNU_HASH not in tags:
        return 0
    return _gnu_hash_count(image, image.at(tags[_DT_GNU_HASH], "GNU hash"))


def _gnu_hash_count(image: _Image, base: int) -> int:
    """Symbols a GNU hash table covers: one past the end of its highest bucket's chain."""
    r, e = image.r, image.e
    nbuckets, symoffset, bloom_size, _shift = struct.unpack(e + "IIII", r.read(base, 16, "GNU hash"))
    if nbuckets > _MAX_SYMBOLS or bloom_size > _MAX_SYMBOLS or symoffset > _MAX_SYMBOLS:
        raise ElfError("corrupt GNU hash table")
    buckets_at = base + 16 + bloom_size * (8 if image.is64 else 4)
    buckets = _uints("I", e, r.read(buckets_at, 4 * nbuckets, "GNU hash"))
    last = max(buckets, default=0)
    if last < symoffset:
        return int(symoffset)
    return _chain_end(r, e, last, buckets_at + 4 * (nbuckets + last - symoffset))


def _chain_end(r: _Reader, e: str, index: int, chain_at: int) -> int:
    """The symbol index after the end marker (low bit set) of the chain at ``chain_at``,
    read a block at a time, within the file."""
    block = 4096
    while index < _MAX_SYMBOLS and chain_at < r.size:
        count = min(block, (r.size - chain_at) // 4, _MAX_SYMBOLS - index)
        if count <= 0:
            break
        data = r.read(chain_at, 4 * count, "GNU hash chain")
        low = data[0::4] if e == "<" else data[3::4]  # the low byte of each word
        found = low.translate(_LOW_BIT).find(1)
        if found >= 0:
            return index + found + 1
        index += count
        chain_at += 4 * count
        block = min(block * 4, 1 << 20)
    raise ElfError("corrupt GNU hash table: a chain runs past the end of the file")


def is_library(f: ElfFacts) -> bool:
    """A shared library loaded by path (ctypes, cffi's ABI mode, a dependency), not an
    extension module: it defines no ``PyInit_`` function and uses no Python C API."""
    return not f.py_inits and not f.undefined
