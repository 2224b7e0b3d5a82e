"""Read the few ELF facts a loader cares about, fast and without executing anything.

Only the ELF header, the section/program header tables and the dynamic sections
(``.dynamic``, ``.dynsym``, ``.gnu.version``, ``.gnu.version_r`` and their string tables)
are read; everything else in the file is skipped.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

ELF_MAGIC = b"\x7fELF"

# e_machine -> uname machine name (the 32/64-bit and endianness variants are resolved below).
_MACHINES: dict[int, str] = {
    3: "i686", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "armv7l",
    62: "x86_64", 183: "aarch64", 243: "riscv64", 258: "loongarch64",
}
# uname machine -> (e_machine, ELF class, endianness) it needs.
MACHINE_ABI: dict[str, tuple[int, int, str]] = {
    "x86_64": (62, 64, "little"), "amd64": (62, 64, "little"),
    "aarch64": (183, 64, "little"), "arm64": (183, 64, "little"),
    "aarch64_be": (183, 64, "big"),
    "i386": (3, 32, "little"), "i486": (3, 32, "little"), "i586": (3, 32, "little"),
    "i686": (3, 32, "little"),
    "armv6l": (40, 32, "little"), "armv7l": (40, 32, "little"), "armv8l": (40, 32, "little"),
    "ppc64le": (21, 64, "little"), "ppc64": (21, 64, "big"), "ppc": (20, 32, "big"),
    "s390x": (22, 64, "big"), "riscv64": (243, 64, "little"),
    "loongarch64": (258, 64, "little"),
    "mips": (8, 32, "big"), "mipsel": (8, 32, "little"),
    "mips64": (8, 64, "big"), "mips64el": (8, 64, "little"),
}

_SHT_DYNAMIC = 6
_SHT_DYNSYM = 11
_SHT_GNU_VERNEED = 0x6FFFFFFE
_SHT_GNU_VERSYM = 0x6FFFFFFF
_PT_INTERP = 3
_DT_NEEDED, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 1, 14, 15, 29
_SHN_UNDEF = 0
_STB_LOCAL = 0
_ELF_TYPES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}
_MAX_TABLE = 1 << 16  # sanity bound on header and version table entry counts


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
    defined: list[str] = field(default_factory=list)
    undefined: list[str] = field(default_factory=list)

    @property
    def py_inits(self) -> list[str]:
        """Defined ``PyInit_*`` symbols."""
        return [name for name in self.defined if name.startswith("PyInit_")]

    @property
    def has_py_init(self) -> bool:
        return bool(self.py_inits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts (symbol lists are left out, except ``PyInit_*``)."""
        return {
            "path": self.path, "class": self.elf_class, "endianness": self.endianness,
            "machine": self.machine, "type": self.elf_type, "needed": self.needed,
            "soname": self.soname, "interp": self.interp, "rpath": self.rpath,
            "libc": self.libc, "libc_evidence": self.libc_evidence,
            "version_needs": [{"library": n.library, "version": n.version, "symbols": n.symbols,
                               "weak": n.weak} for n in self.version_needs],
            "py_inits": self.py_inits,
        }


class _Reader:
    """Bounds-checked reads from an open file; every failure is an :class:`ElfError`."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size

    def read(self, offset: int, length: int, what: str) -> bytes:
        if length == 0:
            return b""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfError(f"truncated or corrupt: {what} at offset {offset}+{length} "
                           f"is past the end of the file ({self.size} bytes)")
        self.fh.seek(offset)
        data = self.fh.read(length)
        if len(data) != length:
            raise ElfError(f"truncated: short read of {what}")
        return data


def _cstr(table: bytes, offset: int) -> str:
    if offset >= len(table):
        raise ElfError(f"corrupt string table: offset {offset} out of range")
    end = table.find(b"\0", offset)
    return table[offset:end if end >= 0 else len(table)].decode("utf-8", "replace")


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


def read_elf(path: str | os.PathLike[str], display: str | None = None) -> ElfFacts:
    """Parse ``path``; ``display`` is the path recorded in the facts (default: ``path``)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return _parse(_Reader(fh, size), display if display is not None else str(path))
    except ElfError:
        raise
    except OSError as err:
        raise ElfError(f"cannot read: {err.strerror or err}") from None
    except (struct.error, ValueError, IndexError, OverflowError, MemoryError) as err:
        raise ElfError(f"corrupt ELF file: {err}") from None


def read_elf_bytes(data: bytes, display: str) -> ElfFacts:
    """:func:`read_elf` on an in-memory file (e.g. a wheel member)."""
    try:
        return _parse(_Reader(io.BytesIO(data), len(data)), display)
    except (struct.error, ValueError, IndexError, OverflowError, MemoryError) as err:
        raise ElfError(f"corrupt ELF file: {err}") from None


def is_elf(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the ELF magic (unreadable files count as not ELF)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == ELF_MAGIC
    except OSError:
        return False


def _parse(r: _Reader, display: str) -> ElfFacts:
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
    is64 = ident[4] == 2
    endianness = "little" if ident[5] == 1 else "big"
    e = "<" if endianness == "little" else ">"
    hdr_fmt = e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    if r.size < 16 + struct.calcsize(hdr_fmt):
        raise ElfError(f"truncated: {r.size} bytes, shorter than an ELF header")
    hdr = struct.unpack(hdr_fmt, r.read(16, struct.calcsize(hdr_fmt), "ELF header"))
    e_type, e_machine, _ver, _entry, phoff, shoff, _flags, _ehsz, phentsize, phnum, \
        shentsize, shnum, _shstrndx = hdr
    elf_class = 64 if is64 else 32
    facts = ElfFacts(display, elf_class, endianness, e_machine,
                     machine_name(e_machine, elf_class, endianness),
                     _ELF_TYPES.get(e_type, f"0x{e_type:x}"))

    sh_fmt = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    sh_size = struct.calcsize(sh_fmt)
    sections: list[tuple[int, ...]] = []
    if shoff:
        if shentsize < sh_size:
            raise ElfError(f"corrupt ELF header: section header size {shentsize}")
        if shnum == 0:  # extended numbering: the real count is in section 0's sh_size
            shnum = struct.unpack(sh_fmt, r.read(shoff, sh_size, "section header 0"))[5]
        if shnum > _MAX_TABLE:
            raise ElfError(f"corrupt ELF header: {shnum} sections")
        table = r.read(shoff, shnum * shentsize, "section header table")
        sections = [struct.unpack_from(sh_fmt, table, i * shentsize) for i in range(shnum)]

    if phoff and phnum:
        ph_fmt = e + ("IIQQQQQQ" if is64 else "IIIIIIII")
        ph_size = struct.calcsize(ph_fmt)
        if phentsize < ph_size or phnum > _MAX_TABLE:
            raise ElfError("corrupt ELF header: program header table")
        ptable = r.read(phoff, phnum * phentsize, "program header table")
        for i in range(phnum):
            ph = struct.unpack_from(ph_fmt, ptable, i * phentsize)
            if ph[0] == _PT_INTERP:
                off, filesz = (ph[2], ph[5]) if is64 else (ph[1], ph[4])
                facts.interp = r.read(off, filesz, "PT_INTERP").split(b"\0")[0].decode(
                    "utf-8", "replace")

    def strtab(link: int) -> bytes:
        if not 0 < link < len(sections):
            raise ElfError(f"corrupt section header: string table link {link}")
        s = sections[link]
        return r.read(s[4], s[5], "string table")

    by_type: dict[int, tuple[int, ...]] = {}
    for s in sections:
        if s[1] in (_SHT_DYNAMIC, _SHT_DYNSYM, _SHT_GNU_VERNEED, _SHT_GNU_VERSYM):
            by_type.setdefault(s[1], s)

    dyn = by_type.get(_SHT_DYNAMIC)
    if dyn is not None:
        dstr = strtab(dyn[6])
        fmt = e + ("qQ" if is64 else "iI")
        data = r.read(dyn[4], dyn[5] - dyn[5] % struct.calcsize(fmt), ".dynamic")
        for tag, val in struct.iter_unpack(fmt, data):
            if tag == 0:
                break
            if tag == _DT_NEEDED:
                facts.needed.append(_cstr(dstr, val))
            elif tag == _DT_SONAME:
                facts.soname = _cstr(dstr, val)
            elif tag in (_DT_RPATH, _DT_RUNPATH):
                facts.rpath.extend(p for p in _cstr(dstr, val).split(":") if p)
    facts.libc, facts.libc_evidence = libc_of(facts.needed, facts.interp)

    # Version requirements: versym index -> (library, version name).
    need_index: dict[int, tuple[str, str, bool]] = {}
    order: list[int] = []
    vr = by_type.get(_SHT_GNU_VERNEED)
    if vr is not None:
        vstr = strtab(vr[6])
        data = r.read(vr[4], vr[5], ".gnu.version_r")
        off, seen = 0, 0
        while seen < min(vr[7] or _MAX_TABLE, _MAX_TABLE):
            _vv, cnt, vfile, vaux, vnext = struct.unpack_from(e + "HHIII", data, off)
            library = _cstr(vstr, vfile)
            aoff = off + vaux
            for _ in range(min(cnt, _MAX_TABLE)):
                _h, flags, other, vname, anext = struct.unpack_from(e + "IHHII", data, aoff)
                need_index[other & 0x7FFF] = (library, _cstr(vstr, vname), bool(flags & 2))
                order.append(other & 0x7FFF)
                if not anext:
                    break
                aoff += anext
            seen += 1
            if not vnext:
                break
            off += vnext
    users: dict[int, list[str]] = {i: [] for i in order}

    ds = by_type.get(_SHT_DYNSYM)
    if ds is not None:
        sstr = strtab(ds[6])
        fmt = e + ("IBBHQQ" if is64 else "IIIBBH")
        entsize = struct.calcsize(fmt)
        count = ds[5] // entsize
        data = r.read(ds[4], count * entsize, ".dynsym")
        versym: tuple[int, ...] = ()
        vs = by_type.get(_SHT_GNU_VERSYM)
        if vs is not None and users:
            n = min(count, vs[5] // 2)
            versym = struct.unpack(f"{e}{n}H", r.read(vs[4], n * 2, ".gnu.version"))
        defined, undefined = facts.defined, facts.undefined
        for i, sym in enumerate(struct.iter_unpack(fmt, data)):
            if is64:
                name_off, info, _other, shndx = sym[0], sym[1], sym[2], sym[3]
            else:
                name_off, info, _other, shndx = sym[0], sym[3], sym[4], sym[5]
            if not name_off:
                continue
            name = _cstr(sstr, name_off)
            if shndx == _SHN_UNDEF:
                undefined.append(name)
                if i < len(versym):
                    who = users.get(versym[i] & 0x7FFF)
                    if who is not None:
                        who.append(name)
            elif info >> 4 != _STB_LOCAL:
                defined.append(name)
    facts.version_needs = [
        VersionNeed(need_index[i][0], need_index[i][1], sorted(users[i]), need_index[i][2])
        for i in dict.fromkeys(order)]
    return facts

