"""check-plugin's rules pinned to exact values, in process, on small hand-made lockfiles: which
of two pins is reported, wheels with a build tag, a prerelease gateway Python."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from krakend_tools.check.job import CheckRequest, _wheel_tags, _why_no_wheel, check_plugin, run_check
from krakend_tools.lockfiles import load_lockfile
from krakend_tools.lockfiles.model import Lockfile
from krakend_tools.manifest.model import Manifest

from .conftest import FIXTURES
from .test_core_rules import gateway, pylock

OWN = [("own", "1.0", ["own-1.0-py3-none-any.whl"])]  # a pylock needs one package


def prerelease_gateway() -> Manifest:
    """The README's gateway, on a release candidate of CPython 3.13."""
    manifest = gateway()
    return replace(manifest, python=replace(manifest.python, version="3.13.0rc1"))


def _findings(lock: Lockfile, manifest: Manifest) -> list[tuple[object, ...]]:
    return [(f.name, f.kind, f.ok, f.message, f.have, f.want, f.line) for f in check_plugin(lock, manifest).findings]


@pytest.mark.parametrize(
    ("first", "second"),
    [("1.16.0", "1.15.0"), ("1.15.0", "1.16.0")],
)
def test_two_pins_are_one_finding_at_the_first_pin_naming_both_in_lock_order(
    tmp_path: Path, first: str, second: str
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"six=={first}\nidna==3.6\nsix=={second}\n")
    assert _findings(load_lockfile(path), gateway()) == [
        ("six", "package", False, "locked at two versions for this target", f"{first}, {second}", None, 1),
        ("idna", "package", True, "same version as the gateway", "3.6", "3.6", 2),
    ]


def test_a_wheel_with_a_build_tag_is_read_by_its_last_three_parts(tmp_path: Path) -> None:
    wheel = "fast-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl"
    lock = load_lockfile(pylock(tmp_path, [("fast", "1.0", [wheel])]))
    (finding,) = check_plugin(lock, gateway()).findings
    assert (finding.kind, finding.ok, finding.details) == ("plugin-only", True, {"wheel": wheel})
    assert finding.message == f"only the plugin brings it; wheel {wheel}"


@pytest.mark.parametrize(
    ("filename", "tags"),
    [
        ("fast-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl", {"cp311-cp311-manylinux_2_17_x86_64"}),
        ("fast-1.0-cp311-abi3-linux_x86_64.whl", {"cp311-abi3-linux_x86_64"}),
        (
            "Fast-1.0-cp311.cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            {
                "cp311-abi3-manylinux_2_17_x86_64",
                "cp311-abi3-manylinux2014_x86_64",
                "cp312-abi3-manylinux_2_17_x86_64",
                "cp312-abi3-manylinux2014_x86_64",
            },
        ),
        ("fast-1.0-x-1-cp311-cp311-linux_x86_64.whl", set()),  # seven parts: no wheel name
        ("fast-1.0-py3-any.whl", set()),  # four parts
        ("fast-1.0--cp311-cp311-linux_x86_64.whl", set()),  # an empty build tag
        ("fast-1.0-py3-none-any.zip", set()),
    ],
)
def test_wheel_tags_by_part_count(filename: str, tags: set[str]) -> None:
    assert _wheel_tags(filename) == tags


@pytest.mark.parametrize(
    ("requires_python", "admitted"),
    [(">=3.12", True), (">=3.13.0rc1", True), ("<3.14", True), (">=3.13", False), ("<3.13", False)],
)
def test_a_prerelease_gateway_python_against_requires_python(
    tmp_path: Path, requires_python: str, admitted: bool
) -> None:
    """3.13.0rc1 comes before 3.13.0: ``>=3.13`` refuses it, ``<3.13`` too (prereleases admitted)."""
    lock = load_lockfile(pylock(tmp_path, OWN, requires_python=requires_python))
    python = [f for f in _findings(lock, prerelease_gateway()) if f[1] == "python"]
    refused = ("python", "python", False, "requires-python does not admit the gateway's Python")
    assert python == ([] if admitted else [(*refused, requires_python, "3.13.0rc1", None)])


@pytest.mark.parametrize(("pin", "refused"), [("3.13", False), ("3.12", True)])
def test_a_compiled_plugins_pinned_minor_against_a_prerelease_gateway(tmp_path: Path, pin: str, refused: bool) -> None:
    (tmp_path / "ext.c").write_text("int x;\n")
    lock = Lockfile(path=tmp_path / "Pipfile.lock", tool="pipenv", packages=[], python_pin=pin)
    expected = ("python", "python", False, "a compiled plugin must be built for the gateway's Python minor version")
    assert _findings(lock, prerelease_gateway()) == ([(*expected, pin, "3.13", None)] if refused else [])


def test_a_pinned_minor_of_a_pure_python_plugin_is_not_checked(tmp_path: Path) -> None:
    lock = Lockfile(path=tmp_path / "Pipfile.lock", tool="pipenv", packages=[], python_pin="3.12")
    assert _findings(lock, gateway()) == []


@pytest.mark.parametrize(
    ("wheel", "reason"),
    [
        (
            "x-1.0-cp311-cp311-manylinux_2_40_x86_64.whl",
            "wheels need GLIBC-2.40 or newer (manylinux_2_40_x86_64), the gateway has GLIBC-2.36",
        ),
        ("x-1.0-cp38.cp39.cp310.cp312-none-any.whl", "no wheel for cp311 (have cp310-none, cp312-none, cp38-none, …)"),
        ("x-1.0-cp38.cp39.cp310-none-any.whl", "no wheel for cp311 (have cp310-none, cp38-none, cp39-none)"),
    ],
)
def test_why_no_wheel_fits(wheel: str, reason: str) -> None:
    assert _why_no_wheel([wheel], gateway()) == reason


@pytest.mark.parametrize("fix", [True, False])
def test_run_check_plans_fixes_only_when_asked(tmp_path: Path, fix: bool) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("idna==3.7\n")
    request = CheckRequest(lockfiles=(path,), manifest=str(FIXTURES / "gateway" / "manifest.json"), fix=fix)
    result = run_check(request)
    assert (result.report.meta.get("fixes"), result.notes) == (
        (
            {
                str(path): [
                    "# warning: requirements.txt: idna==3.7 excludes the gateway's idna 3.6; "
                    "change it first, e.g. to idna==3.6"
                ]
            }
            if fix
            else None
        ),
        [],
    )
