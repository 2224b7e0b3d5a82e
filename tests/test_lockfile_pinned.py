"""The lockfile readers pinned to exact values, in process, on small hand-made files: Poetry's
caret, tilde and ``||`` constraints, sdist names, ``-c`` constraints, ``extra !=`` markers."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from krakend_tools.check.lockfiles import READERS, load_lockfile
from krakend_tools.check.lockfiles._common import caret_tilde_to_pep440, split_files
from krakend_tools.check.lockfiles.model import LockedPackage, LockfileReader

from .test_lockfiles import LINUX

REGISTRY = 'source = { registry = "https://registry.invalid/simple" }'


def _pins(packages: list[LockedPackage]) -> list[tuple[str, str | None]]:
    return [(p.name, None if p.version is None else str(p.version)) for p in packages]


@pytest.mark.parametrize("name", list(READERS))
def test_every_registered_reader_is_its_format_module(name: str) -> None:
    reader: LockfileReader = READERS[name]()
    assert reader.__name__ == f"krakend_tools.check.lockfiles.{name}"  # type: ignore[attr-defined]
    assert {"pipfile": "pipenv"}.get(name, name) == reader.TOOL


@pytest.mark.parametrize(
    ("poetry", "pep440"),
    [
        ("^0.2.3", ">=0.2.3,<0.3"),
        ("^0.0.3", ">=0.0.3,<0.0.4"),
        ("^0", ">=0,<1"),
        ("^0.0", ">=0.0,<0.1"),
        ("^1.2.3", ">=1.2.3,<2"),
        ("^3.11", ">=3.11,<4"),
        ("~1.2.3", ">=1.2.3,<1.3"),
        ("~1", ">=1,<2"),
        ("~=1.2", "~=1.2"),
        ("3.11.*", "==3.11.*"),
        ("1.0", "==1.0"),
        (">= 3.8, < 4", ">=3.8,<4"),
        ("*", ""),
        # alternatives: the first bare lower bound, else the first alternative
        (">=3.8 || ^4", ">=3.8"),
        ("^2 || >=3.1", ">=3.1"),
        ("^3.8 || ^4", ">=3.8,<4"),
        ("* || ^1", ""),
    ],
)
def test_poetry_constraints_to_pep440(poetry: str, pep440: str) -> None:
    assert caret_tilde_to_pep440(poetry) == pep440


def _poetry_lock(folder: Path, python_versions: str) -> Path:
    path = folder / "poetry.lock"
    path.write_text(
        f"""[[package]]
name = "legacy-pkg"
version = "1.0"
description = ""
optional = false
python-versions = "*"
groups = ["main"]
files = [
    {{file = "legacy_pkg-1.0-py3-none-any.whl", hash = "sha256:00"}},
    {{file = "legacy-pkg-1.0.zip", hash = "sha256:00"}},
    {{file = "legacy-pkg-1.0.tar.gz", hash = "sha256:00"}},
]

[[package]]
name = "zip-only"
version = "2.0"
description = ""
optional = false
python-versions = "*"
groups = ["main"]
files = [
    {{file = "zip_only-2.0.exe", hash = "sha256:00"}},
    {{file = "zip_only-2.0.zip", hash = "sha256:00"}},
]

[metadata]
lock-version = "2.1"
python-versions = "{python_versions}"
content-hash = "0"
"""
    )
    return path


@pytest.mark.parametrize(
    ("python_versions", "specifier"),
    [("^0.2.3", ">=0.2.3,<0.3"), ("^0", ">=0,<1"), ("^3.8 || ^4", ">=3.8,<4"), (">=3.8 || ^4", ">=3.8")],
)
def test_a_poetry_locks_python_range(tmp_path: Path, python_versions: str, specifier: str) -> None:
    lock = load_lockfile(_poetry_lock(tmp_path, python_versions))
    assert lock.requires_python == SpecifierSet(specifier)


def test_a_poetry_lock_without_a_python_range(tmp_path: Path) -> None:
    assert load_lockfile(_poetry_lock(tmp_path, "*")).requires_python is None


def test_zip_sdists_among_poetry_file_names(tmp_path: Path) -> None:
    lock = load_lockfile(_poetry_lock(tmp_path, "^3.11"))
    assert [(p.name, p.wheels, p.sdist, p.has_file_names) for p in lock.packages] == [
        ("legacy-pkg", ("legacy_pkg-1.0-py3-none-any.whl",), "legacy-pkg-1.0.zip", True),
        ("zip-only", (), "zip_only-2.0.zip", True),
    ]


@pytest.mark.parametrize(
    ("names", "split"),
    [
        (["a-1.0.zip", "a-1.0-py3-none-any.whl", "a-1.0.tar.gz"], (("a-1.0-py3-none-any.whl",), "a-1.0.zip")),
        (["a-1.0.tar.bz2", "a-1.0.tgz"], ((), "a-1.0.tar.bz2")),
        (["a-1.0.tgz"], ((), "a-1.0.tgz")),
        (["a-1.0.exe", "a-1.0.egg"], ((), None)),
    ],
)
def test_split_files(names: list[str], split: tuple[tuple[str, ...], str | None]) -> None:
    assert split_files(names) == split


def test_constraints_pin_only_what_is_unpinned_and_listed(tmp_path: Path) -> None:
    """``-c`` gives its first version to a requirement without a pin; a pin stays, a name found
    only among the constraints is no package, and ``-r`` inside a constraints file constrains."""
    (tmp_path / "requirements.txt").write_text("-c constraints.txt\nsix==1.16.0\nidna>=3.0\nclick\ncertifi\n")
    (tmp_path / "constraints.txt").write_text("six==1.15.0\nidna==3.6\nidna==3.7\nattrs==23.1.0\n-r more.txt\n")
    (tmp_path / "more.txt").write_text("click==8.1.7\n")
    lock = load_lockfile(tmp_path / "requirements.txt")
    assert _pins(lock.packages) == [("six", "1.16.0"), ("idna", "3.6"), ("click", "8.1.7"), ("certifi", None)]
    assert [(p.line, None if p.specifier is None else str(p.specifier)) for p in lock.packages] == [
        (2, None),
        (3, ">=3.0"),
        (4, ""),
        (5, ""),
    ]


def test_a_constraint_given_before_its_file_still_pins(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("idna\n-c constraints.txt\n")
    (tmp_path / "constraints.txt").write_text("idna==3.6\n")
    assert _pins(load_lockfile(tmp_path / "requirements.txt").packages) == [("idna", "3.6")]


def test_extra_not_equal_in_a_flat_lock_holds_whatever_the_extras(tmp_path: Path) -> None:
    """Flat markers are evaluated once per extra and once with none: ``extra != 'x'`` holds
    with no extra, so its package is taken with or without ``x``."""
    (tmp_path / "requirements.txt").write_text("certifi==2024.2.2 ; extra != 'x'\nidna==3.6 ; extra == 'x'\n")
    lock = load_lockfile(tmp_path / "requirements.txt")
    assert _pins(lock.select(LINUX)) == [("certifi", "2024.2.2")]
    assert _pins(lock.select(LINUX, extras=["x"])) == [("certifi", "2024.2.2"), ("idna", "3.6")]


UV_LOCK = f"""version = 1
requires-python = ">=3.11"

[[package]]
name = "app"
version = "1.0"
source = {{ editable = "." }}
dependencies = [
    {{ name = "cpu-only", marker = "extra != 'gpu'" }},
    {{ name = "gpu-only", marker = "extra == 'gpu'" }},
    {{ name = "both" }},
]

[package.optional-dependencies]
gpu = [{{ name = "cuda" }}]

[[package]]
name = "cpu-only"
version = "1.0"
{REGISTRY}

[[package]]
name = "gpu-only"
version = "2.0"
{REGISTRY}

[[package]]
name = "both"
version = "3.0"
{REGISTRY}

[[package]]
name = "cuda"
version = "12.0"
{REGISTRY}
"""


def test_uv_extra_tests_become_set_membership(tmp_path: Path) -> None:
    """uv's ``extra == 'x'`` / ``extra != 'x'`` on an edge test the set of extras asked for."""
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    lock = load_lockfile(tmp_path / "uv.lock")
    assert [str(e.marker) for e in lock.roots["main"]] == ['"gpu" not in extras', '"gpu" in extras', "None"]
    assert _pins(lock.select(LINUX)) == [("cpu-only", "1.0"), ("both", "3.0")]
    assert _pins(lock.select(LINUX, extras=["gpu"])) == [("gpu-only", "2.0"), ("both", "3.0"), ("cuda", "12.0")]
