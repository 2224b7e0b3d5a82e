"""The lockfile readers pinned to exact values, in process, on small hand-made files: Poetry's
caret, tilde and ``||`` constraints, sdist names, ``-c`` constraints, ``extra !=`` markers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from krakend_tools.errors import InputError
from krakend_tools.lockfiles import READERS, load_lockfile
from krakend_tools.lockfiles._common import caret_tilde_to_pep440, name_of, split_files, version_of
from krakend_tools.lockfiles.model import Edge, LockedPackage, LockfileReader
from krakend_tools.lockfiles.select import known_groups
from krakend_tools.lockfiles.select import select as select_packages

from .test_lockfiles import LINUX

REGISTRY = 'source = { registry = "https://registry.invalid/simple" }'


def _pins(packages: list[LockedPackage]) -> list[tuple[str, str | None]]:
    return [(p.name, None if p.version is None else str(p.version)) for p in packages]


@pytest.mark.parametrize("name", list(READERS))
def test_every_registered_reader_is_its_format_module(name: str) -> None:
    reader: LockfileReader = READERS[name]()
    assert reader.__name__ == f"krakend_tools.lockfiles.{name}"  # type: ignore[attr-defined]
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
    assert _pins(select_packages(lock, LINUX)) == [("certifi", "2024.2.2")]
    assert _pins(select_packages(lock, LINUX, extras=["x"])) == [("certifi", "2024.2.2"), ("idna", "3.6")]


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
    assert _pins(select_packages(lock, LINUX)) == [("cpu-only", "1.0"), ("both", "3.0")]
    assert _pins(select_packages(lock, LINUX, extras=["gpu"])) == [
        ("gpu-only", "2.0"),
        ("both", "3.0"),
        ("cuda", "12.0"),
    ]


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda: name_of(["x"], Path("l"), 3), "l:3: package name must be a string, not list"),
        (lambda: version_of("1.0!x", Path("l"), None), "l: invalid version '1.0!x' for a package"),
        (lambda: version_of(3, Path("l"), 2), "l:2: version of a package must be a string, not 3"),
        (
            lambda: version_of("1" * 41, Path("l"), 2),
            "l:2: version of a package has a number of more than 40 digits",
        ),
    ],
)
def test_bad_names_and_versions(read: Callable[[], object], message: str) -> None:
    with pytest.raises(InputError) as caught:
        read()
    assert str(caught.value) == message


def test_edges_and_packages_are_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        Edge("x").target = "y"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        LockedPackage("x", None).name = "y"  # type: ignore[misc]


def test_a_later_edge_with_an_extra_follows_that_extra(tmp_path: Path) -> None:
    """``lib`` reached first without extras, then as ``lib[fast]``: the extra's edges are followed."""
    (tmp_path / "uv.lock").write_text(
        f"""version = 1
requires-python = ">=3.11"

[[package]]
name = "app"
version = "1.0"
source = {{ editable = "." }}
dependencies = [{{ name = "lib", extra = ["fast"] }}, {{ name = "lib" }}]

[[package]]
name = "lib"
version = "1.0"
{REGISTRY}

[package.optional-dependencies]
fast = [{{ name = "speedup" }}]

[[package]]
name = "speedup"
version = "2.0"
{REGISTRY}
"""
    )
    assert _pins(select_packages(load_lockfile(tmp_path / "uv.lock"), LINUX)) == [("lib", "1.0"), ("speedup", "2.0")]


def test_known_groups_take_the_pyprojects_groups_not_its_extras(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\n[project.optional-dependencies]\nfancy = ["rich"]\n'
        '[dependency-groups]\nlint = ["ruff"]\n'
    )
    assert known_groups(load_lockfile(tmp_path / "uv.lock")) == frozenset({"main", "default", "gpu", "lint"})


@pytest.mark.parametrize(
    ("pyproject", "project"),
    [('[project]\nname = "My_App"\n', "my-app"), ('[tool.poetry]\nname = "Old_App"\n', "old-app")],
)
def test_a_poetry_locks_project_from_either_table(tmp_path: Path, pyproject: str, project: str) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    assert load_lockfile(_poetry_lock(tmp_path, "^3.11")).project == project


def test_pipfile_sources(tmp_path: Path) -> None:
    path = tmp_path / "Pipfile.lock"
    path.write_text(
        '{"_meta": {"pipfile-spec": 6, "requires": {}}, "default": {'
        '"six": {"version": "==1.16.0"}, "local": {"path": "."}, "wheel": {"file": "w-1.0-py3-none-any.whl"}, '
        '"vcs": {"git": "git+https://example.invalid/vcs.git"}, "remote": {"url": "https://example.invalid/r.zip"}}}'
    )
    lock = load_lockfile(path)
    assert [(p.name, p.source) for p in lock.packages] == [
        ("six", "registry"),
        ("local", "path"),
        ("wheel", "path"),
        ("vcs", "git"),
        ("remote", "url"),
    ]


def test_a_pipfile_lock_that_is_no_object(tmp_path: Path) -> None:
    path = tmp_path / "Pipfile.lock"
    path.write_text("[]")
    with pytest.raises(InputError) as caught:
        load_lockfile(path)
    assert (str(caught.value), caught.value.line) == (f"{path}:1: a Pipfile.lock must be a JSON object", 1)


def test_a_pylock_wheel_comes_from_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text(
        'lock-version = "1.0"\ncreated-by = "pip"\n[[packages]]\nname = "six"\nversion = "1.16.0"\n'
        'wheels = [{ url = "https://registry.invalid/six-1.16.0-py3-none-any.whl", hashes = { sha256 = "00" } }]\n'
    )
    assert [(p.name, p.source) for p in load_lockfile(path).packages] == [("six", "registry")]


def test_a_wildcard_pin_is_a_range(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six>=1.0,==1.*\n")
    (pkg,) = load_lockfile(tmp_path / "requirements.txt").packages
    assert (pkg.version, str(pkg.specifier)) == (None, "==1.*,>=1.0")


@pytest.mark.parametrize(("depth", "refused"), [(32, False), (33, True)])
def test_includes_nest_32_deep(tmp_path: Path, depth: int, refused: bool) -> None:
    for level in range(depth):
        (tmp_path / f"r{level}.txt").write_text(f"-r r{level + 1}.txt\n")
    (tmp_path / f"r{depth}.txt").write_text("six==1.16.0\n")
    if not refused:
        assert _pins(load_lockfile(tmp_path / "r0.txt").packages) == [("six", "1.16.0")]
        return
    with pytest.raises(InputError) as caught:
        load_lockfile(tmp_path / "r0.txt")
    assert str(caught.value).endswith(": -r/-c includes nested more than 32 deep")
