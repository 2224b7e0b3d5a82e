"""check-plugin's messages and details pinned on small hand-made lockfiles: the list of defined
groups in the unknown-group refusal, an unpinned KO's details, why no wheel fits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from krakend_tools.check.job import _why_no_wheel, check_plugin, refuse_unknown_groups
from krakend_tools.errors import InputError
from krakend_tools.lockfiles import load_lockfile

from .test_core_rules import gateway, pylock

OWN = [("own", "1.0", ["own-1.0-py3-none-any.whl"])]


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (10, "'g00', 'g01', 'g02', 'g03', 'g04', 'g05', 'g06', 'g07', 'g08', 'g09'"),
        (11, "'g00', 'g01', 'g02', 'g03', 'g04', 'g05', 'g06', 'g07', 'g08', 'g09' and 1 more"),
        (12, "'g00', 'g01', 'g02', 'g03', 'g04', 'g05', 'g06', 'g07', 'g08', 'g09' and 2 more"),
    ],
)
def test_an_unknown_group_names_the_first_ten_defined(tmp_path: Path, count: int, shown: str) -> None:
    lock = replace(load_lockfile(pylock(tmp_path, OWN)), groups_defined=frozenset(f"g{i:02}" for i in range(count)))
    with pytest.raises(InputError) as err:
        refuse_unknown_groups([lock], ["nope"])
    assert str(err.value) == f"{lock.path}: group 'nope' is not defined by the project (defined: {shown})"


def test_an_unpinned_requirement_that_excludes_the_gateways_version_is_a_direct_ko(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("idna>=4\n")
    (finding,) = check_plugin(load_lockfile(path), gateway()).findings
    assert (finding.name, finding.ok, finding.details) == ("idna", False, {"pinned": False, "direct": True})


@pytest.mark.parametrize(
    ("wheel", "reason"),
    [
        (
            "x-1.0-cp311-cp311-musllinux_1_1_x86_64.whl",
            "wheels need musl (musllinux_1_1_x86_64), the gateway has GLIBC-2.36",
        ),
        ("x-1.0-cp311-cp311-linux_x86_64.whl", "no wheel for the gateway's platform (have linux_x86_64)"),
        (
            "x-1.0-cp311-cp311-manylinux_2_17_aarch64.whl",
            "wheels are for aarch64, the gateway runs x86_64",
        ),
        (
            "x-1.0-cp311-abi3-manylinux_2_40_x86_64.whl",
            "wheels need GLIBC-2.40 or newer (manylinux_2_40_x86_64), the gateway has GLIBC-2.36",
        ),
    ],
)
def test_why_no_wheel_fits_the_gateway(wheel: str, reason: str) -> None:
    assert _why_no_wheel([wheel], gateway()) == reason
