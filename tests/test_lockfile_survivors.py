"""The lockfile readers' helpers pinned to exact values on small hand-made input: nesting and
name checks, messages without a package name, requirements detection, includes, via lists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from packaging.version import Version

from krakend_tools.errors import InputError
from krakend_tools.lockfiles import load_lockfile, poetry, requirements
from krakend_tools.lockfiles._common import check_expression, name_of, version_of
from krakend_tools.lockfiles._pyproject import declared_roots
from krakend_tools.lockfiles.model import RUNTIME, Edge, LockedPackage, Lockfile
from krakend_tools.lockfiles.select import select as select_packages

from .test_lockfiles import LINUX


def test_a_marker_nested_33_deep_is_refused_with_its_depth() -> None:
    value = "(" * 33 + "a" + ")" * 33
    with pytest.raises(InputError, match=r"^marker nested too deeply \(33 parentheses\)$"):
        check_expression(value, "marker", None, None)


def test_a_closed_pair_before_33_deep_does_not_hide_the_depth() -> None:
    value = "()" + "(" * 33 + "a" + ")" * 33
    with pytest.raises(InputError, match=r"^marker nested too deeply \(33 parentheses\)$"):
        check_expression(value, "marker", None, None)


def test_32_deep_and_many_flat_parentheses_pass() -> None:
    check_expression("(" * 32 + "a" + ")" * 32, "marker", None, None)
    check_expression("(a)" * 40, "marker", None, None)
    check_expression("((a))" * 20, "marker", None, None)


def test_a_name_that_is_not_a_string_is_an_input_error() -> None:
    with pytest.raises(InputError, match="package name must be a string"):
        name_of(["requests"], Path("x.lock"), None)
    with pytest.raises(InputError, match="package name must be a string"):
        name_of({"a": 1}, Path("x.lock"), None)


def test_version_messages_without_a_name_say_a_package() -> None:
    where = Path("x.lock")
    with pytest.raises(InputError, match="version of a package must be a string"):
        version_of(3, where, None)
    with pytest.raises(InputError, match=r"version of a package too long"):
        version_of("1" * 40_000, where, None)
    with pytest.raises(InputError, match=r"invalid version 'nope!' for a package"):
        version_of("nope!", where, None)


def test_requirements_detection_needs_one_requirement_line() -> None:
    assert requirements.matches(Path("deps"), "requests==2.0\n") is True
    assert requirements.matches(Path("deps"), "# only a comment\n\n") is False
    assert requirements.matches(Path("deps"), "") is False


def test_a_wildcard_pin_is_no_version_and_an_exact_pin_with_extras_is() -> None:
    lock = requirements.parse(Path("/nonexistent/deps.txt"), "a>=0.5,==1.0\nb>=1,==2.*\n")
    got = {p.name: (None if p.version is None else str(p.version)) for p in lock.packages}
    assert got == {"a": "1.0", "b": None}


def test_a_via_written_without_its_space_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    text = "a==1.0\n    #via-r requirements.in\nb==2.0\n    # via a\n"
    lock = requirements.parse(path, text)
    assert [(p.name, p.direct) for p in lock.packages] == [("a", True), ("b", False)]


def _chain(tmp_path: Path, files: int) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    for k in range(1, files + 1):
        nxt = f"-r f{k + 1}.txt\n" if k < files else ""
        (tmp_path / f"f{k}.txt").write_text(f"p{k}==1.0\n{nxt}")
    top = tmp_path / "requirements.txt"
    top.write_text("-r f1.txt\n")
    return top


def test_includes_32_deep_are_read(tmp_path: Path) -> None:
    top = _chain(tmp_path, 32)
    lock = requirements.parse(top, top.read_text())
    assert len(lock.packages) == 32


def test_includes_33_deep_are_refused(tmp_path: Path) -> None:
    top = _chain(tmp_path, 33)
    with pytest.raises(InputError, match="-r/-c includes nested more than 32 deep"):
        requirements.parse(top, top.read_text())


def test_an_include_whose_stat_fails_without_errno_names_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (tmp_path / "inc.txt").write_text("a==1.0\n")
    top = tmp_path / "requirements.txt"
    top.write_text("-r inc.txt\n")
    real_stat = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "inc.txt":
            raise ValueError("stat refused")
        return real_stat(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "stat", stat)
    with pytest.raises(InputError, match=r"cannot read included file 'inc.txt': stat refused"):
        requirements.parse(top, top.read_text())


def test_a_dependency_group_includes_another() -> None:
    pyproject = {"dependency-groups": {"test": ["pytest>=8", {"include-group": "lint"}], "lint": ["ruff"]}}
    groups, extras = declared_roots(pyproject)
    assert sorted(e.target for e in groups["test"]) == ["pytest", "ruff"]
    assert [e.target for e in groups["lint"]] == ["ruff"]
    assert extras == {}


def _graph(packages: list[LockedPackage], **fields: object) -> Lockfile:
    return Lockfile(path=Path("demo.lock"), tool="uv", packages=packages, project="demo", **fields)  # type: ignore[arg-type]


def _names(packages: list[LockedPackage]) -> list[tuple[str, str | None]]:
    return [(p.name, None if p.version is None else str(p.version)) for p in packages]


def test_a_package_reached_again_with_a_new_extra_follows_that_extra() -> None:
    packages = [LockedPackage(n, Version("1.0")) for n in ("a", "b", "c")]
    lock = _graph(
        packages,
        roots={RUNTIME: [Edge("b"), Edge("a")]},  # walked last first: a plain, then b -> a[x]
        edges={"b": [Edge("a", extras=frozenset({"x"}))]},
        extra_edges={"a": {"x": [Edge("c")]}},
    )
    assert _names(select_packages(lock, LINUX)) == [("a", "1.0"), ("b", "1.0"), ("c", "1.0")]


def test_one_name_at_two_versions_takes_the_highest() -> None:
    both = [LockedPackage("a", Version("1.0")), LockedPackage("a", Version("2.0"))]
    lock = _graph(both, roots={RUNTIME: [Edge("a")]})
    assert _names(select_packages(lock, LINUX)) == [("a", "2.0")]


def test_one_name_with_an_unversioned_entry_takes_them_all() -> None:
    lock = _graph([LockedPackage("a", None), LockedPackage("a", Version("2.0"))], roots={RUNTIME: [Edge("a")]})
    assert _names(select_packages(lock, LINUX)) == [("a", None), ("a", "2.0")]


def test_an_include_under_proc_is_a_special_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    top = tmp_path / "requirements.txt"
    top.write_text("-r /proc/self/status\n")
    with pytest.raises(InputError, match=r"not a regular file \(/proc/[0-9]+/status is a special file\), not read"):
        requirements.parse(top, top.read_text())


def test_the_project_root_is_the_nearest_folder_with_a_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (tmp_path / "shared.txt").write_text("six==1.16.0\n")
    (tmp_path / "sub").mkdir()
    top = tmp_path / "sub" / "requirements.txt"
    top.write_text("-r ../shared.txt\n")
    assert requirements.project_root(top) == Path(os.path.realpath(tmp_path))
    assert _names(requirements.parse(top, top.read_text()).packages) == [("six", "1.16.0")]


@pytest.mark.parametrize("value", [None, 3, "", " ", "*", " * "])
def test_a_poetry_python_range_that_says_nothing_is_none(value: object) -> None:
    assert poetry._python_range(value) is None


def test_a_poetry_python_range_is_read() -> None:
    assert str(poetry._python_range(">=3.9")) == ">=3.9"


PDM_SIX = '[[package]]\nname = "six"\nversion = "1.16.0"\n'


def test_a_flat_pdm_lock_is_not_walked(tmp_path: Path) -> None:
    path = tmp_path / "pdm.lock"
    path.write_text(
        '[metadata]\ngroups = ["default"]\nstrategy = ["inherit_metadata"]\nlock_version = "4.5.0"\n\n'
        + PDM_SIX
        + 'groups = ["default"]\n'
    )
    lock = load_lockfile(path)
    assert (lock.notes, lock.roots, _names(lock.packages)) == ([], {}, [("six", "1.16.0")])


@pytest.mark.parametrize(
    "fields",
    ['groups = ["dev"]\n', "marker = \"python_version >= '3'\"\n"],
)
def test_a_pdm_lock_with_a_group_or_a_marker_per_package_is_not_walked(tmp_path: Path, fields: str) -> None:
    path = tmp_path / "pdm.lock"
    path.write_text('[metadata]\nlock_version = "4.0"\ncontent_hash = "sha256:00"\n\n' + PDM_SIX + fields)
    lock = load_lockfile(path)
    assert (lock.notes, lock.roots) == ([], {})


def test_a_pdm_lock_without_groups_or_markers_nor_pyproject_says_so(tmp_path: Path) -> None:
    path = tmp_path / "pdm.lock"
    path.write_text('[metadata]\nlock_version = "4.0"\ncontent_hash = "sha256:00"\n\n' + PDM_SIX)
    (note,) = load_lockfile(path).notes
    assert note.startswith("no pyproject.toml beside this lock_version '4.0' lock")
