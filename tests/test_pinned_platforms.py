"""Exact values of targets, libc versions and wheel platform tags (manifest/platforms.py)."""

from __future__ import annotations

import pytest

from krakend_tools.errors import InputError
from krakend_tools.manifest.platforms import (
    ARCH_MACHINE,
    MACHINE_ARCH,
    Libc,
    Target,
    needed_libc,
    platform_tags,
    tag_machine,
    tag_python,
)


def test_arch_and_machine_names() -> None:
    assert ARCH_MACHINE == {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l"}
    aliases = {"i386": "386", "i586": "386"}
    assert {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", **aliases} == MACHINE_ARCH


@pytest.mark.parametrize(
    ("text", "family", "version"),
    [
        ("GLIBC-2.36", "glibc", (2, 36)),
        ("glibc 2.36", "glibc", (2, 36)),
        ("MUSL-1.2.4", "musl", (1, 2, 4)),
        ("musl_1_2", "musl", (1, 2)),
        (" glibc2.99 ", "glibc", (2, 99)),
        ("glibc-2", "glibc", (2,)),
        ("glibc-120", "glibc", (120,)),
    ],
)
def test_libc_parse(text: str, family: str, version: tuple[int, ...]) -> None:
    assert Libc.parse(text) == Libc(family, version)


def test_libc_minor_past_the_bound() -> None:
    with pytest.raises(InputError) as raised:
        Libc.parse("glibc-2.100")
    assert str(raised.value) == "invalid libc 'glibc-2.100': minor version 100 is past 99"
    with pytest.raises(InputError, match="at most 3 digits a part"):
        Libc.parse("glibc-2.1000")
    with pytest.raises(InputError) as raised:
        Libc.parse("glibc-2." + "9" * 100)
    assert str(raised.value).startswith(f"invalid libc {'glibc-2.' + '9' * 72!r}: expected GLIBC-2.36")
    with pytest.raises(InputError) as raised:
        Libc.parse("glibc 2.100" + " " * 100)
    assert str(raised.value) == f"invalid libc {'glibc 2.100' + ' ' * 69!r}: minor version 100 is past 99"


def test_libc_text_and_order() -> None:
    libc = Libc("musl", (1, 2, 4))
    assert (str(libc), libc.version_text) == ("MUSL-1.2.4", "1.2.4")
    assert Libc("glibc", (2, 17)) < Libc("glibc", (2, 36)) < Libc("musl", (1, 1))
    assert len({Libc("musl", (1, 2)), Libc("musl", (1, 2)), Target("alpine", "amd64"), Target("alpine", "amd64")}) == 2


@pytest.mark.parametrize(
    ("text", "flavour", "arch"),
    [
        ("alpine/amd64", "alpine", "amd64"),
        (" Generic/ARM64 ", "generic", "arm64"),
        ("generic/x86_64", "generic", "amd64"),
        ("alpine/aarch64", "alpine", "arm64"),
    ],
)
def test_target_parse(text: str, flavour: str, arch: str) -> None:
    assert Target.parse(text) == Target(flavour, arch)


@pytest.mark.parametrize("text", ["generic/386", "alpine/i686", "alpine/arm", "debian/amd64", "generic", ""])
def test_target_parse_refuses(text: str) -> None:
    with pytest.raises(InputError) as raised:
        Target.parse(text)
    expected = "expected one of alpine/amd64, alpine/arm64, generic/amd64, generic/arm64"
    assert str(raised.value) == f"invalid target {text!r}: {expected}"


def test_target_properties() -> None:
    alpine, generic = Target("alpine", "arm64"), Target("generic", "amd64")
    assert (alpine.libc_family, alpine.machine, alpine.platform) == ("musl", "aarch64", "linux/arm64")
    assert str(alpine) == "alpine/arm64"
    assert (generic.libc_family, generic.machine, generic.platform) == ("glibc", "x86_64", "linux/amd64")


def test_tag_python_bound() -> None:
    assert tag_python((3, 99)) == (3, 99)
    with pytest.raises(InputError) as raised:
        tag_python((3, 100))
    assert str(raised.value) == "Python 3.100: minor version past 99"


def manylinux(first: int, last: int, machine: str) -> list[str]:
    """``manylinux_2_FIRST`` down to ``manylinux_2_LAST`` on ``machine``."""
    return [f"manylinux_2_{minor}_{machine}" for minor in range(first, last - 1, -1)]


def test_glibc_tags_on_x86_64_name_every_legacy_alias() -> None:
    assert platform_tags(Libc("glibc", (2, 17)), "x86_64") == [
        "linux_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        *manylinux(16, 12, "x86_64"),
        "manylinux2010_x86_64",
        *manylinux(11, 5, "x86_64"),
        "manylinux1_x86_64",
    ]
    assert platform_tags(Libc("glibc", (2, 5)), "i686") == ["linux_i686", "manylinux_2_5_i686", "manylinux1_i686"]


def test_glibc_tags_elsewhere_name_only_manylinux2014() -> None:
    assert platform_tags(Libc("glibc", (2, 17, 1)), "aarch64") == [
        "linux_aarch64",
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
        *manylinux(16, 5, "aarch64"),
    ]


@pytest.mark.parametrize(
    ("libc", "expected"),
    [
        (Libc("glibc", (2, 4)), ["linux_x86_64"]),
        (Libc("glibc", (2,)), ["linux_x86_64"]),
        (Libc("glibc", (3, 1)), ["linux_x86_64"]),
        (Libc("musl", (2, 0)), ["linux_x86_64"]),
        (Libc("musl", (1,)), ["linux_x86_64"]),
        (Libc("musl", (1, 1, 24)), ["linux_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64"]),
        (Libc("musl", (1, 1)), ["linux_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64"]),
        (Libc("glibc", (2, 6)), ["linux_x86_64", "manylinux_2_6_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64"]),
    ],
)
def test_tags_at_the_edges(libc: Libc, expected: list[str]) -> None:
    assert platform_tags(libc, "x86_64") == expected


@pytest.mark.parametrize(
    ("tag", "libc"),
    [
        ("manylinux_2_34_x86_64", Libc("glibc", (2, 34))),
        ("musllinux_1_2_aarch64", Libc("musl", (1, 2))),
        ("manylinux1_i686", Libc("glibc", (2, 5))),
        ("manylinux2010_x86_64", Libc("glibc", (2, 12))),
        ("manylinux2014_aarch64", Libc("glibc", (2, 17))),
        ("linux_x86_64", None),
        ("any", None),
    ],
)
def test_needed_libc(tag: str, libc: Libc | None) -> None:
    assert needed_libc(tag) == libc


@pytest.mark.parametrize(
    ("tag", "machine"),
    [
        ("any", None),
        ("manylinux_2_17_x86_64", "x86_64"),
        ("musllinux_1_1_aarch64", "aarch64"),
        ("manylinux2014_ppc64le", "ppc64le"),
        ("linux_armv7l", "armv7l"),
        ("win_amd64", "win_amd64"),
    ],
)
def test_tag_machine(tag: str, machine: str | None) -> None:
    assert tag_machine(tag) == machine
