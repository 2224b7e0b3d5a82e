"""Targets, libc versions and the wheel platform tags a host accepts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from krakend_tools.errors import InputError

# Docker-style arch name -> ELF/uname machine name.
ARCH_MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l"}
MACHINE_ARCH = {v: k for k, v in ARCH_MACHINE.items()} | {"i386": "386", "i586": "386"}
FLAVOURS = {"alpine": "musl", "generic": "glibc"}
TARGETS = ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64")
# Every minor below a Python's or a libc's becomes wheel tags (Python minors x libc minors):
# past this, the set would run to millions (today: Python 3.14, glibc 2.42, musl 1.2).
MAX_MINOR = 99


RELR_SINCE = {"glibc": (2, 36), "musl": (1, 2, 4)}  # the first loaders that apply DT_RELR


@dataclass(frozen=True, order=True)
class Libc:
    """A C library: ``glibc`` or ``musl`` and its version as a tuple of ints."""

    family: str
    version: tuple[int, ...]

    @property
    def loads_relr(self) -> bool:
        """Whether its loader applies packed relative relocations (DT_RELR, ``-z
        pack-relative-relocs``): glibc 2.36 and musl 1.2.4 were the first."""
        since = RELR_SINCE.get(self.family)
        return since is None or self.version >= since

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    def __str__(self) -> str:  # GLIBC-2.36 / MUSL-1.2.4, KrakenD's spelling
        return f"{self.family.upper()}-{self.version_text}"

    @classmethod
    def parse(cls, text: str) -> Libc:
        """Parse ``GLIBC-2.36``, ``glibc 2.36``, ``MUSL-1.2.4`` or ``musl_1_2``."""
        # Bounded (3 digits, 4 parts): every minor below the version becomes a wheel tag.
        m = re.fullmatch(r"\s*(glibc|musl)[-_ ]?([0-9]{1,3}(?:[._][0-9]{1,3}){0,3})\s*", text, re.IGNORECASE | re.ASCII)
        if not m:
            raise InputError(f"invalid libc {text[:80]!r}: expected GLIBC-2.36 or MUSL-1.2.4 (at most 3 digits a part)")
        version = tuple(int(p) for p in re.split(r"[._]", m.group(2)))
        if len(version) > 1 and version[1] > MAX_MINOR:
            raise InputError(f"invalid libc {text[:80]!r}: minor version {version[1]} is past {MAX_MINOR}")
        return cls(m.group(1).lower(), version)


@dataclass(frozen=True)
class Target:
    """One platform the gateway ships on, e.g. ``alpine/arm64``."""

    flavour: str  # alpine | generic
    arch: str  # amd64 | arm64

    @property
    def libc_family(self) -> str:
        return FLAVOURS[self.flavour]

    @property
    def machine(self) -> str:
        return ARCH_MACHINE[self.arch]

    @property
    def platform(self) -> str:
        return f"linux/{self.arch}"

    def __str__(self) -> str:
        return f"{self.flavour}/{self.arch}"

    @classmethod
    def parse(cls, text: str) -> Target:
        flavour, _, arch = text.strip().lower().partition("/")
        arch = MACHINE_ARCH.get(arch, arch)
        if flavour not in FLAVOURS or arch not in ("amd64", "arm64"):
            raise InputError(f"invalid target {text!r}: expected one of {', '.join(TARGETS)}")
        return cls(flavour, arch)


def tag_python(version: tuple[int, int]) -> tuple[int, int]:
    """``version`` (major, minor) of a Python whose wheel-tag set stays small: minor at most MAX_MINOR."""
    if version[1] > MAX_MINOR:
        raise InputError(f"Python {version[0]}.{version[1]}: minor version past {MAX_MINOR}")
    return version


def platform_tags(libc: Libc, machine: str) -> list[str]:
    """Wheel platform tags a Linux host with ``libc`` on ``machine`` accepts, best first."""
    tags: list[str] = [f"linux_{machine}"]  # packaging's order: the plain tag first
    if libc.family == "glibc" and len(libc.version) >= 2 and libc.version[0] == 2:
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        for minor in range(libc.version[1], 4, -1):
            tags.append(f"manylinux_2_{minor}_{machine}")
            if minor in legacy and (minor == 17 or machine in ("x86_64", "i686")):
                tags.append(f"{legacy[minor]}_{machine}")
    elif libc.family == "musl" and len(libc.version) >= 2 and libc.version[0] == 1:
        tags.extend(f"musllinux_1_{minor}_{machine}" for minor in range(libc.version[1], -1, -1))
    return tags


def needed_libc(platform_tag: str) -> Libc | None:
    """The minimum libc a wheel platform tag needs (``manylinux_2_34_x86_64`` -> glibc 2.34)."""
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    m = re.match(r"(manylinux|musllinux)_(\d+)_(\d+)_", platform_tag)
    if m:
        family = "glibc" if m.group(1) == "manylinux" else "musl"
        return Libc(family, (int(m.group(2)), int(m.group(3))))
    m = re.match(r"(manylinux1|manylinux2010|manylinux2014)_", platform_tag)
    if m:
        return Libc("glibc", legacy[m.group(1)])
    return None


def tag_machine(platform_tag: str) -> str | None:
    """The CPU a platform tag names, or None for ``any``."""
    if platform_tag == "any":
        return None
    m = re.match(r"(?:manylinux_\d+_\d+|musllinux_\d+_\d+|manylinux\d+|linux)_(.+)$", platform_tag)
    return m.group(1) if m else platform_tag
