"""The static phase's verdicts, exactly: the stable ABI at the gateway's own version, the
``$ORIGIN``/``${ORIGIN}`` search paths, and the order problems are reported in. ElfFacts are
made by hand (the checker's seam); the ``$ORIGIN`` walk reads files built by tests/elf_image.py."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

from krakend_tools.elf import ElfFacts, VersionNeed
from krakend_tools.manifest import model as mf
from krakend_tools.manifest.model import Library, Manifest
from krakend_tools.plugin_test.static_phase import (
    StaticResult,
    _Checker,
    _evaluate,
    _search_dirs,
    check_tree,
    stable_abi_table,
)
from tests.elf_image import DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME, Image

from .conftest import FIXTURES

ABI3 = "mod.abi3.so"


def gateway() -> Manifest:
    """CPython 3.11.7 (abi3), glibc 2.36, x86_64; its library list not complete."""
    return mf.load(str(FIXTURES / "gateway" / "manifest.json"))


def facts(path: str, **fields: object) -> ElfFacts:
    found = ElfFacts(path, 64, "little", 62, "x86_64", "DYN", libc="glibc", libc_evidence="libc.so.6")
    for name, value in fields.items():
        setattr(found, name, value)
    return found


# -- the stable ABI -------------------------------------------------------------------------


def test_the_stable_abi_table_knows_when_each_symbol_came() -> None:
    table = stable_abi_table()
    assert table["PyBuffer_FillInfo"] == (3, 11)
    assert table["PyErr_GetRaisedException"] == (3, 12)
    assert table["PyErr_SetFromWindowsErr"] is None
    assert "_PyObject_GC_Malloc" not in table


def test_a_stable_abi_symbol_of_exactly_the_gateways_version_is_allowed() -> None:
    module = facts(ABI3, defined=["PyInit_mod"], undefined=["PyBuffer_FillInfo", "PyLong_FromLong"])
    assert _Checker(gateway()).stable_abi(module) == []
    result = StaticResult("x")
    _Checker(gateway()).python(module, Path(ABI3), result)
    assert (result.problems, result.modules) == ([], ["mod"])


def test_a_stable_abi_symbol_one_version_later_is_a_ko() -> None:
    module = facts(ABI3, defined=["PyInit_mod"], undefined=["PyErr_GetRaisedException", "PyBuffer_FillInfo"])
    expected = [
        "mod.abi3.so: abi3 module uses symbols outside Python 3.11's stable ABI: "
        "PyErr_GetRaisedException (added in 3.12)"
    ]
    assert _Checker(gateway()).stable_abi(module) == expected
    result = StaticResult("x")
    _Checker(gateway()).python(module, Path(ABI3), result)
    assert (result.problems, result.modules) == (expected, ["mod"])
    newer = gateway()
    newer.python.version = "3.12.1"
    assert _Checker(newer).stable_abi(module) == []


def test_every_kind_of_stable_abi_problem_sorted_and_cut_at_three() -> None:
    module = facts(
        ABI3,
        defined=["PyInit_mod"],
        undefined=[
            "_Py_Internal",
            "PyErr_SetFromWindowsErr",
            "PyDict_GetItemRef",
            "PyErr_GetRaisedException",
            "PyErr_GetRaisedException",
            "malloc",
        ],
    )
    assert _Checker(gateway()).stable_abi(module) == [
        "mod.abi3.so: abi3 module uses symbols outside Python 3.11's stable ABI: "
        "PyDict_GetItemRef (added in 3.13), PyErr_GetRaisedException (added in 3.12), "
        "PyErr_SetFromWindowsErr (not available on this platform) and 1 more"
    ]
    module.undefined = ["_Py_Internal", "PyErr_SetFromWindowsErr", "PyDict_GetItemRef"]
    assert _Checker(gateway()).stable_abi(module) == [
        "mod.abi3.so: abi3 module uses symbols outside Python 3.11's stable ABI: "
        "PyDict_GetItemRef (added in 3.13), PyErr_SetFromWindowsErr (not available on this platform), "
        "_Py_Internal (not in the stable ABI)"
    ]


def test_only_abi3_modules_are_held_to_the_stable_abi() -> None:
    module = facts("mod.cpython-311-x86_64-linux-gnu.so", defined=["PyInit_mod"], undefined=["PyDict_GetItemRef"])
    result = StaticResult("x")
    _Checker(gateway()).python(module, Path(module.path), result)
    assert (result.problems, result.modules) == ([], ["mod"])


# -- $ORIGIN --------------------------------------------------------------------------------


def test_origin_in_both_spellings_is_the_files_folder() -> None:
    module = facts(
        "pkg/sub/m.so", rpath=["$ORIGIN/../lib", "${ORIGIN}/x/./y", "/opt/abs", "$ORIGIN", "lib", "$ORIGINAL"]
    )
    assert _search_dirs(Path("pkg/sub/m.so"), module) == ["pkg/lib", "pkg/sub/x/y", "pkg/sub", "pkg/subAL"]
    assert _search_dirs(Path("m.so"), facts("m.so", rpath=["$ORIGIN/../lib", "${ORIGIN}"])) == ["../lib", "."]


def elf_file(path: Path, needed: Sequence[str] = (), rpath: str | None = None, runpath: str | None = None) -> None:
    image = Image()
    names = [*needed, *(p for p in (rpath, runpath) if p is not None), path.name]
    image.strings(*names)
    for name in needed:
        image.tag(DT_NEEDED, image.names[name])
    if rpath is not None:
        image.tag(DT_RPATH, image.names[rpath])
    if runpath is not None:
        image.tag(DT_RUNPATH, image.names[runpath])
    image.tag(DT_SONAME, image.names[path.name])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image.build())


def test_libraries_beside_the_plugin_are_found_through_origin(tmp_path: Path) -> None:
    root = tmp_path / "plugin"
    elf_file(root / "pkg" / "a.so", ["libx.so.1"], runpath="$ORIGIN/../../vendor")
    elf_file(root / "pkg" / "sub" / "b.so", ["liby.so.2"], rpath="${ORIGIN}/../../../vendor2")
    elf_file(root / "pkg" / "c.so", ["libz.so.3"], runpath=str(tmp_path / "vendor3"))
    elf_file(tmp_path / "vendor" / "libx.so.1")
    elf_file(tmp_path / "vendor2" / "liby.so.2")
    elf_file(tmp_path / "vendor3" / "libz.so.3")
    elf_file(tmp_path / "vendor" / "libunused.so.1")
    result = check_tree(root, gateway())
    assert [f.path for f in result.files] == [
        "../vendor/libx.so.1",
        "../vendor2/liby.so.2",
        "pkg/a.so",
        "pkg/c.so",
        "pkg/sub/b.so",
    ]
    assert result.problems == []
    assert result.warnings == [
        "needs libz.so.3 (in pkg/c.so): the manifest does not list all the gateway's libraries, "
        "so whether it has it is unknown"
    ]  # an absolute RUNPATH is the gateway's business, not followed


# -- the order of problems ------------------------------------------------------------------


def test_problems_come_in_the_order_a_user_should_read_them() -> None:
    """Cannot load at all (CPU, libc), the newest missing version of each library, libraries
    the gateway lacks, libpython, Python-level problems, then the older missing versions,
    whatever order the files come in."""
    manifest = copy.deepcopy(gateway())
    manifest.libraries_complete = True
    manifest.libraries["libfoo.so.1"] = Library("/usr/lib/libfoo.so.1", ["FOO_1.0", "FOO_1.2"])
    glibc = [
        VersionNeed("libc.so.6", "GLIBC_2.37", ["y"]),
        VersionNeed("libc.so.6", "GLIBC_2.38", ["x"]),
        VersionNeed("libfoo.so.1", "FOO_2.0", ["foo"]),
    ]
    parsed = [
        (facts("z_arm.so", e_machine=183, machine="aarch64"), Path("z_arm.so")),
        (facts("y_musl.so", libc="musl", libc_evidence="libc.musl-x86_64.so.1"), Path("y_musl.so")),
        (facts("a.so", version_needs=glibc, needed=["libc.so.6", "libfoo.so.1"]), Path("a.so")),
        (facts("b.so", needed=["libabsent.so.1"]), Path("b.so")),
        (facts("c.so", needed=["libpython3.11.so.1.0"]), Path("c.so")),
        (facts("d.cpython-310-x86_64-linux-gnu.so", defined=["PyInit_d"]), Path("d.cpython-310-x86_64-linux-gnu.so")),
    ]
    result = StaticResult("x")
    _evaluate(result, parsed, manifest)
    assert result.problems == [
        "y_musl.so links musl (libc.musl-x86_64.so.1), gateway has glibc 2.36",
        "z_arm.so is aarch64, gateway is x86_64",
        "needs GLIBC_2.38 (x in a.so), gateway has 2.36; needs FOO_2.0 (foo in a.so), gateway's libfoo.so.1 has 1.2",
        "needs libabsent.so.1 (in b.so), which the gateway does not have",
        "c.so links libpython3.11.so.1.0: the gateway provides Python itself, build the extension without "
        "linking libpython",
        "d.cpython-310-x86_64-linux-gnu.so: suffix .cpython-310-x86_64-linux-gnu.so is for another Python "
        "(gateway: .cpython-311-x86_64-linux-gnu.so, abi3)",
        "also needs GLIBC_2.37 (y in a.so), gateway has 2.36",
    ]
    assert [f.path for f in result.files] == [
        "a.so",
        "b.so",
        "c.so",
        "d.cpython-310-x86_64-linux-gnu.so",
        "y_musl.so",
        "z_arm.so",
    ]
    assert result.libraries == ["a.so", "b.so", "c.so", "y_musl.so", "z_arm.so"]
    assert result.notes == [
        "5 shared libraries with no PyInit_ and no Python C-API use (loaded by path: ctypes, cffi) "
        "checked as libraries, not imported"
    ]
    assert (result.modules, result.warnings) == ([], [])


# -- names, machines and symbol lists ---------------------------------------------------------


def test_module_names_from_their_place_in_the_tree() -> None:
    from krakend_tools.plugin_test.static_phase import _module_name

    cases = {
        "mod.so": "mod",
        "pkg/sub/mod.cpython-311-x86_64-linux-gnu.so": "pkg.sub.mod",
        "plug-1.0.data/platlib/pkg/mod.so": "pkg.mod",
        "plug-1.0.data/purelib/mod.abi3.so": "mod",
        "plug-1.0.data/headers/mod.so": "headers.mod",
        "a.data/mod.so": "mod",
        "my-lib/pkg/mod.so": "pkg.mod",
        "pkg/my-lib/mod.so": "mod",
    }
    assert {rel: _module_name(Path(rel)) for rel in cases} == cases


def test_machines_the_abi_table_does_not_know() -> None:
    manifest = gateway()
    manifest.platform.machine = "sparc64"
    checker = _Checker(manifest)
    assert checker.arch(facts("a.so", e_machine=43, machine="em_43")) == []
    assert checker.arch(facts("b.so", e_machine=43, machine="sparc64")) == []
    assert checker.arch(facts("c.so")) == ["c.so is x86_64, gateway is sparc64"]


def test_a_known_machine_of_the_wrong_class() -> None:
    x32 = facts("m.so", elf_class=32, machine="x32")
    assert _Checker(gateway()).arch(x32) == [
        "m.so is 32-bit little-endian (x32), gateway is x86_64 (64-bit little-endian)"
    ]
    assert _Checker(gateway()).arch(facts("m.so")) == []


def test_symbol_lists_are_cut_after_three() -> None:
    from krakend_tools.plugin_test.static_phase import _version_problems

    three = VersionNeed("libc.so.6", "GLIBC_2.38", ["c", "a", "b"])
    assert _version_problems([(three, "gateway has 2.36", "m.so")]) == (
        ["needs GLIBC_2.38 (a, b, c in m.so), gateway has 2.36"],
        [],
    )
    four = three._replace(symbols=["d", "c", "a", "b"])
    assert _version_problems([(four, "gateway has 2.36", "m.so")]) == (
        ["needs GLIBC_2.38 (a, b, c and 1 more in m.so), gateway has 2.36"],
        [],
    )


def test_a_librarys_versions_are_compared_within_their_family() -> None:
    manifest = gateway()
    manifest.libraries["libfoo.so.1"] = Library("/usr/lib/libfoo.so.1", ["FOO_1.0", "BAR_9.0", "nonumber"])
    checker = _Checker(manifest)
    needs = [
        VersionNeed("libfoo.so.1", "FOO_2.0", ["f"]),
        VersionNeed("libfoo.so.1", "BAZ_1.0", ["g"]),
        VersionNeed("libfoo.so.1", "weird", ["h"]),
        VersionNeed("libfoo.so.1", "BAR_9.0", ["i"]),
    ]
    assert [has for _need, has in checker.missing_versions(facts("m.so", version_needs=needs), set())] == [
        "gateway's libfoo.so.1 has 1.0",
        "gateway's libfoo.so.1 has no BAZ version",
        "gateway's libfoo.so.1 has no weird version",
    ]


def test_a_result_is_ok_without_problems_only() -> None:
    result = StaticResult("x", warnings=["w"], notes=["n"])
    assert result.ok and result.to_dict()["ok"] is True
    result.problems.append("p")
    assert not result.ok and result.to_dict()["ok"] is False


def test_musl_answers_for_its_own_library_names() -> None:
    """musl's loader serves libc, libpthread, libm ... itself; on glibc they must be there."""
    musl = gateway()
    musl.libraries_complete = True
    musl.libraries = {}
    musl.platform.libc_family = "musl"
    module = facts("m.so", libc="musl", libc_evidence="libc.musl-x86_64.so.1", needed=["libpthread.so.0", "libz.so.1"])
    result = StaticResult("x")
    _evaluate(result, [(module, Path("m.so"))], musl)
    assert result.problems == ["needs libz.so.1 (in m.so), which the gateway does not have"]
    glibc = gateway()
    glibc.libraries_complete = True
    glibc.libraries = {}
    result = StaticResult("x")
    _evaluate(result, [(facts("m.so", needed=["libpthread.so.0"]), Path("m.so"))], glibc)
    assert result.problems == ["needs libpthread.so.0 (in m.so), which the gateway does not have"]
