"""Behaviours of the core that a one-line change would break: each test pins one down.

The lockfile cases are real pylock.toml files parsed by our reader; the static-phase cases feed
ElfFacts (our own seam) to the checker, since a weak version need or a renamed bundled library
is not something a test-time compile produces on demand."""

from __future__ import annotations

import copy
from pathlib import Path

from krakend_tools.check.job import check_plugin, is_compiled_project
from krakend_tools.elf import ElfFacts, VersionNeed
from krakend_tools.lockfiles import load_lockfile
from krakend_tools.manifest import model as mf
from krakend_tools.manifest.model import Library, Manifest
from krakend_tools.manifest.platforms import Libc, platform_tags
from krakend_tools.plugin_test.static_phase import StaticResult, _Checker, _evaluate, _version_problems

from .conftest import FIXTURES

HOST = "https://registry.invalid/f"


def gateway() -> Manifest:
    """The README's gateway: CPython 3.11.7, generic (glibc 2.36) x86_64."""
    return mf.load(str(FIXTURES / "gateway" / "manifest.json"))


def pylock(folder: Path, packages: list[tuple[str, str, list[str]]], requires_python: str = ">=3.11") -> Path:
    """A pylock.toml holding ``(name, version, wheel file names)``."""
    out = [f'lock-version = "1.0"\ncreated-by = "pip"\nrequires-python = "{requires_python}"\n']
    for name, version, wheels in packages:
        files = ", ".join(f'{{ url = "{HOST}/{w}", hashes = {{ sha256 = "{"0" * 64}" }} }}' for w in wheels)
        out.append(f'[[packages]]\nname = "{name}"\nversion = "{version}"\nwheels = [{files}]\n')
    path = folder / "pylock.toml"
    path.write_text("\n".join(out))
    return path


def test_the_best_of_two_fitting_wheels_is_chosen(tmp_path: Path) -> None:
    best = "fast-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    worse = "fast-1.0-py3-none-any.whl"
    lock = load_lockfile(pylock(tmp_path, [("fast", "1.0", [worse, best])]))
    (finding,) = check_plugin(lock, gateway()).findings
    assert finding.ok and finding.details["wheel"] == best
    assert finding.message == f"only the plugin brings it; wheel {best}"


def test_a_gateway_version_that_is_not_pep440_is_compared_as_text(tmp_path: Path) -> None:
    manifest = gateway()
    manifest.distributions["idna"] = "3.6-custom-build!"
    lock = load_lockfile(pylock(tmp_path, [("idna", "3.6", ["idna-3.6-py3-none-any.whl"])]))
    (finding,) = check_plugin(lock, manifest).findings
    assert (finding.kind, finding.ok, finding.have, finding.want) == ("package", False, "3.6", "3.6-custom-build!")


def test_findings_come_in_rule_order(tmp_path: Path) -> None:
    """Python first, then platform, then shared packages, then plugin-only, whatever the names."""
    lock = load_lockfile(
        pylock(
            tmp_path,
            [
                ("aaa-own", "1.0", ["aaa_own-1.0-py3-none-any.whl"]),
                ("idna", "3.7", ["idna-3.7-py3-none-any.whl"]),
                ("zzz-native", "1.0", ["zzz_native-1.0-cp311-cp311-manylinux_2_17_aarch64.whl"]),
            ],
            requires_python=">=3.12",
        )
    )
    findings = check_plugin(lock, gateway()).findings
    assert [(f.kind, f.name, f.ok) for f in findings] == [
        ("python", "python", False),
        ("platform", "zzz-native", False),
        ("package", "idna", False),
        ("plugin-only", "aaa-own", True),
    ]


def test_sources_in_a_subfolder_mark_a_compiled_project(tmp_path: Path) -> None:
    assert not is_compiled_project(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "fast.pyx").write_text("def f(): pass\n")
    assert is_compiled_project(tmp_path)


def elf(path: str, needs: list[VersionNeed] | None = None, soname: str | None = None) -> ElfFacts:
    return ElfFacts(path, 64, "little", 62, "x86_64", "DYN", libc="glibc", version_needs=needs or [], soname=soname)


def no_library_data(libc_version: str) -> Manifest:
    manifest = copy.deepcopy(gateway())
    manifest.libraries = {}
    manifest.platform.libc_version = libc_version
    return manifest


def versions(checker: _Checker, facts: ElfFacts) -> list[str]:
    """The symbol-version problems of one file, the decisive one first."""
    newest, older = _version_problems([(n, has, facts.path) for n, has in checker.missing_versions(facts, set())])
    return newest + older


def test_weak_version_needs_are_skipped() -> None:
    checker = _Checker(no_library_data("2.17"))
    need = VersionNeed("libc.so.6", "GLIBC_2.34", ["dlopen"], weak=False)
    assert versions(checker, elf("m.so", [need])) == ["needs GLIBC_2.34 (dlopen in m.so), gateway has 2.17"]
    weak = need._replace(weak=True)
    assert versions(checker, elf("m.so", [weak])) == []


def test_named_glibc_versions_have_their_release() -> None:
    need = VersionNeed("libc.so.6", "GLIBC_ABI_DT_RELR", ["x"])
    assert versions(_Checker(no_library_data("2.35")), elf("m.so", [need])) == [
        "needs GLIBC_ABI_DT_RELR (x in m.so), gateway has 2.35"
    ]
    assert versions(_Checker(no_library_data("2.36")), elf("m.so", [need])) == []


def test_a_bundled_library_is_matched_by_its_soname() -> None:
    """auditwheel renames bundled libraries (libfoo-1a2b3c.so.1); modules still need them by soname."""
    manifest = copy.deepcopy(gateway())
    manifest.libraries = {"libfoo.so.1": Library("/usr/lib/libfoo.so.1", ["FOO_1.0"])}
    module = elf("pkg/mod.so", [VersionNeed("libfoo.so.1", "FOO_2.0", ["foo_new"])])
    bundled = elf("pkg.libs/libfoo-1a2b3c.so.1", soname="libfoo.so.1")
    alone = StaticResult("x")
    _evaluate(alone, [(copy.deepcopy(module), Path("pkg/mod.so"))], manifest)
    assert any("FOO_2.0" in p for p in alone.problems)  # the gateway's libfoo is too old ...
    result = StaticResult("x")
    _evaluate(result, [(module, Path("pkg/mod.so")), (bundled, Path("pkg.libs/libfoo-1a2b3c.so.1"))], manifest)
    assert not any("FOO_2.0" in p for p in result.problems)  # ... but the plugin brings its own


def test_manylinux2014_tags_for_aarch64() -> None:
    tags = platform_tags(Libc("glibc", (2, 28)), "aarch64")
    assert "manylinux2014_aarch64" in tags and "manylinux_2_17_aarch64" in tags
    assert (
        tags.index("manylinux_2_17_aarch64")
        < tags.index("manylinux2014_aarch64")
        < tags.index("manylinux_2_16_aarch64")
    )
    assert "manylinux2010_aarch64" not in tags and "manylinux1_aarch64" not in tags
