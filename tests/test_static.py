"""Static phase of test-plugin, on files compiled here and on real third-party wheels.

Debian packages: gcc g++ binutils musl-tools gcc-aarch64-linux-gnu python3-dev (Python.h of
the interpreter running the tests; the x86_64 headers also serve the aarch64 cross build).
Wheels: ``scripts/fetch-wheels.sh .cache/wheels`` (or ``$KRAKEND_WHEELS``). A missing tool or
wheel cache skips the tests that need it, except with ``CI=true``, where it fails them.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sysconfig
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from krakend_tools.elf import ElfError, ElfFacts, is_elf, read_elf
from krakend_tools.manifest.facts import from_facts, introspect
from krakend_tools.manifest.from_lock import target_environment
from krakend_tools.manifest.model import Library, Manifest
from krakend_tools.manifest.platforms import Target
from krakend_tools.plugin_test.static_phase import check_tree, check_wheel, version_key

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "fixtures" / "elf"
PY_INCLUDE = sysconfig.get_paths()["include"]
CI = os.environ.get("CI", "").lower() == "true"


def need(tool: str) -> str:
    """Path of ``tool``; skip (or fail under CI=true) when it is not installed."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (apt-get install the packages listed in this file)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def compile_to(out: Path, compiler: str, sources: list[str], *flags: str) -> Path:
    cmd = [need(compiler), "-shared", "-fPIC", "-O1", "-o", str(out), *[str(SRC / s) for s in sources], *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return out


def make_manifest(
    machine: str = "x86_64",
    family: str = "glibc",
    libc: str = "2.36",
    python: str = "3.11.7",
    libraries: dict[str, str] | None = None,
) -> Manifest:
    """A gateway manifest for any target (like ``from_lock`` builds, no libraries unless given)."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}[machine]
    target = Target("alpine" if family == "musl" else "generic", arch)
    major, minor = python.split(".")[:2]
    multiarch = f"{machine}-linux-{'musl' if family == 'musl' else 'gnu'}"
    return from_facts(
        {
            "implementation": "cpython",
            "version": python,
            "soabi": f"cpython-{major}{minor}-{multiarch}",
            "ext_suffix": f".cpython-{major}{minor}-{multiarch}.so",
            "free_threaded": False,
            "debug": False,
            "executable": None,
            "machine": machine,
            "libc_family": family,
            "libc_version": libc,
            "marker_environment": target_environment(target, python),
            "distributions": {},
            "libraries": libraries or {},
            "site_packages": [],
            "libraries_complete": False,
        }
    )


def capped(manifest: Manifest, soname: str, prefix: str, top: str) -> Manifest:
    """A copy whose ``soname`` exports ``prefix`` versions only up to ``top``."""
    limit = version_key(f"{prefix}_{top}")
    assert limit is not None
    out = copy.deepcopy(manifest)
    lib = out.libraries[soname]
    lib.symbol_versions = [
        v for v in lib.symbol_versions if (k := version_key(v)) is None or k[0] != prefix or k[1] <= limit[1]
    ]
    return out


@pytest.fixture(scope="session")
def host() -> Manifest:
    """This machine's manifest: glibc x86_64, with its real libraries' symbol versions."""
    manifest = from_facts(introspect(None))
    if manifest.platform.machine != "x86_64" or manifest.platform.libc_family != "glibc":
        pytest.skip("the compiled-fixture tests expect a glibc x86_64 host")
    return manifest


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``build(kind)`` compiles one fixture once per session and returns its folder."""
    base = tmp_path_factory.mktemp("elf")
    py = f"-I{PY_INCLUDE}"
    # kind -> (compiler, sources, output file name, flags)
    recipes: dict[str, tuple[str, list[str], str, list[str]]] = {
        "gnu": ("gcc", ["plugmod.c"], "plugmod.cpython-311-x86_64-linux-gnu.so", [py]),
        "abi3": ("gcc", ["plugmod.c"], "plugmod.abi3.so", [py, "-DPy_LIMITED_API=0x030B0000"]),
        "abi3-extra": ("gcc", ["plugmod.c"], "plugmod.abi3.so", [py, "-DEXTRA_API"]),
        # musl-gcc only swaps the C library; CPython's headers are libc-neutral here.
        "musl": ("musl-gcc", ["plugmod.c"], "plugmod.cpython-311-x86_64-linux-musl.so", [py]),
        # The x86_64 headers serve: pyconfig.h sizes are the same on aarch64 (LP64).
        "aarch64": ("aarch64-linux-gnu-gcc", ["plugmod.c"], "plugmod.cpython-311-aarch64-linux-gnu.so", [py]),
        "newglibc": ("gcc", ["newglibc.c"], "libnewglibc.so.1", ["-Wl,-soname,libnewglibc.so.1"]),
        "newglibc-aarch64": ("aarch64-linux-gnu-gcc", ["newglibc.c"], "libnewglibc.so.1", []),
        "cxx": ("g++", ["cxxlib.cpp"], "libcxx.so", []),
    }
    built: dict[str, Path] = {}

    def _build(kind: str) -> Path:
        if not (Path(PY_INCLUDE) / "Python.h").is_file():
            message = f"no Python.h in {PY_INCLUDE} (Debian: apt-get install python3-dev)"
            if CI:
                pytest.fail(message)
            pytest.skip(message)
        if kind not in built:
            folder = base / kind
            folder.mkdir()
            if kind == "libpython":
                fake = compile_to(
                    folder / "libpython3.11.so.1.0", "gcc", ["fakepython.c"], "-Wl,-soname,libpython3.11.so.1.0"
                )
                compile_to(
                    folder / "plugmod.cpython-311-x86_64-linux-gnu.so",
                    "gcc",
                    ["plugmod.c"],
                    py,
                    f"-L{folder}",
                    "-Wl,--no-as-needed",
                    f"-l:{fake.name}",
                )
                fake.unlink()
            else:
                compiler, sources, name, flags = recipes[kind]
                compile_to(folder / name, compiler, sources, *flags)
            built[kind] = folder
        return built[kind]

    return _build


# -- readelf: the reference the facts are compared with ---------------------------------

READELF_MACHINES = {
    "Advanced Micro Devices X86-64": "x86_64",
    "AArch64": "aarch64",
    "Intel 80386": "i686",
    "ARM": "armv7l",
}


def readelf(path: Path, *flags: str) -> str:
    proc = subprocess.run([need("readelf"), "-W", *flags, str(path)], capture_output=True, text=True, check=True)
    return proc.stdout


def readelf_facts(path: Path) -> dict[str, object]:
    """Machine, class, NEEDED, SONAME, interpreter and version needs as readelf reports them."""
    header = readelf(path, "-h")
    machine = re.search(r"Machine:\s+(.+)", header)
    cls = re.search(r"Class:\s+ELF(\d+)", header)
    data = re.search(r"Data:\s+.*(little|big) endian", header)
    assert machine and cls and data
    dynamic = readelf(path, "-d")
    interp = re.search(r"Requesting program interpreter: (.+)\]", readelf(path, "-l"))
    needs: set[tuple[str, str]] = set()
    current = None
    in_needs = False
    for line in readelf(path, "-V").splitlines():
        if line.startswith("Version needs section"):
            in_needs = True
        elif line.startswith("Version") and "section" in line:
            in_needs = False
        elif in_needs and (m := re.search(r"File: (\S+)", line)):
            current = m.group(1)
        elif in_needs and current and (m := re.search(r"Name: (\S+)", line)):
            needs.add((current, m.group(1)))
    users: set[tuple[str, str]] = set()
    for line in readelf(path, "--dyn-syms").splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[6] == "UND" and "@" in cols[7]:
            name, _, version = cols[7].partition("@")
            users.add((name, version.lstrip("@")))
    return {
        "machine": READELF_MACHINES.get(machine.group(1).strip(), machine.group(1).strip()),
        "class": int(cls.group(1)),
        "endianness": data.group(1),
        "needed": re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic),
        "soname": (re.findall(r"\(SONAME\)\s+Library soname: \[(.+?)\]", dynamic) or [None])[0],
        "interp": interp.group(1) if interp else None,
        "needs": needs,
        "users": users,
    }


def our_facts(facts: ElfFacts) -> dict[str, object]:
    return {
        "machine": facts.machine,
        "class": facts.elf_class,
        "endianness": facts.endianness,
        "needed": facts.needed,
        "soname": facts.soname,
        "interp": facts.interp,
        "needs": {(n.library, n.version) for n in facts.version_needs},
        "users": {(s, n.version) for n in facts.version_needs for s in n.symbols},
    }


# -- real wheels ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheel file name -> unpacked folder, for every cached third-party wheel."""
    cache = Path(os.environ.get("KRAKEND_WHEELS") or ROOT / ".cache" / "wheels")
    found = sorted(cache.glob("*.whl"))
    if len(found) < 10:
        message = f"no wheel cache in {cache}: run scripts/fetch-wheels.sh {cache}"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("wheels")
    out: dict[str, Path] = {}
    for wheel in found:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(base / wheel.stem)
        out[wheel.name] = base / wheel.stem
    return out


def wheel_target(name: str) -> tuple[str, str]:
    """(machine, libc family) a wheel file name is built for."""
    return ("aarch64" if "aarch64" in name else "x86_64", "musl" if "musllinux" in name else "glibc")


def elf_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_elf(p))


def test_wheel_facts_match_readelf(wheels: dict[str, Path]) -> None:
    checked = 0
    for folder in wheels.values():
        for path in elf_files(folder):
            assert our_facts(read_elf(path)) == readelf_facts(path), path
            checked += 1
    assert checked >= 20


def test_wheel_libc_and_machine_follow_the_tag(wheels: dict[str, Path]) -> None:
    for name, folder in wheels.items():
        machine, family = wheel_target(name)
        files = [read_elf(p) for p in elf_files(folder)]
        assert files, name
        assert {f.machine for f in files} == {machine}, name
        # a ctypes library that calls nothing links no libc (pycryptodome has some); a module does
        assert {f.libc for f in files if f.py_inits} | {f.libc for f in files if f.libc} == {family}, name
        if family == "musl":
            assert all(f.libc_evidence.startswith("libc.musl-") for f in files if f.libc_evidence), name


def test_wheels_pass_on_their_own_target(wheels: dict[str, Path]) -> None:
    for name, folder in wheels.items():
        machine, family = wheel_target(name)
        result = check_tree(folder, make_manifest(machine, family, "1.2.4" if family == "musl" else "2.36"))
        assert result.ok, (name, result.problems)
        assert result.modules or result.libraries, name
        assert all(" checked as libraries, not imported" in n for n in result.notes), name


def test_wheels_fail_on_another_target(wheels: dict[str, Path]) -> None:
    for name, folder in wheels.items():
        machine, family = wheel_target(name)
        other = "aarch64" if machine == "x86_64" else "x86_64"
        result = check_tree(folder, make_manifest(other, family))
        assert any(f" is {machine}, gateway is {other}" in p for p in result.problems), name
        flipped = "glibc" if family == "musl" else "musl"
        result = check_tree(folder, make_manifest(machine, flipped, "1.2.4" if flipped == "musl" else "2.36"))
        assert any(f" links {family} (" in p for p in result.problems), name


def test_repaired_wheel_resolves_bundled_libraries(wheels: dict[str, Path], tmp_path: Path) -> None:
    name = next(n for n in wheels if n.startswith("pyzmq") and "musllinux_1_2_x86_64" in n)
    folder = wheels[name]
    files = [read_elf(p) for p in elf_files(folder)]
    # auditwheel renamed libgcc_s; libstdc++ and libzmq need GCC_ versions from the copy.
    needs = {(n.library, n.version) for f in files for n in f.version_needs}
    assert needs and {lib for lib, _ in needs} <= {f.soname for f in files}
    assert all(lib.startswith("libgcc_s-") for lib, _ in needs)
    # A gateway library of that very name lacking those versions does not matter...
    manifest = make_manifest("x86_64", "musl", "1.2.4")
    manifest.libraries = {lib: Library("/lib/" + lib, ["GCC_3.0"]) for lib, _ in needs}
    assert check_tree(folder, manifest).ok
    # ... unless the copy is not in the tree.
    stdcxx = next((folder / "pyzmq.libs").glob("libstdc++-*"))
    shutil.copy(stdcxx, tmp_path)
    problems = check_tree(tmp_path, manifest).problems
    assert problems and all(
        re.fullmatch(
            rf"(also )?needs GCC_[\d.]+ \(.+ in {re.escape(stdcxx.name)}\),"
            r" gateway's libgcc_s-\w+\.so\.1 has 3\.0",
            p,
        )
        for p in problems
    ), problems
    # the newest missing version is the KO line, the older ones follow
    versions = [version_key(m.group(1)) for p in problems if (m := re.search(r"needs (GCC_[\d.]+)", p))]
    assert problems[0].startswith("needs ") and all(p.startswith("also needs ") for p in problems[1:])
    assert versions[0] == max(v for v in versions if v), problems


def test_real_wheels_needed_libraries(wheels: dict[str, Path], host: Manifest, tmp_path: Path) -> None:
    """Every needed soname is followed: against this host's complete manifest the x86_64 glibc
    wheels need nothing missing; pyzmq's bundled libzmq (RPATH $ORIGIN/../../../pyzmq.libs)
    answers its module's need, and libzmq's own need of libstdc++.so.6 is a warning where the
    manifest cannot know."""
    glibc = {n: f for n, f in wheels.items() if wheel_target(n) == ("x86_64", "glibc")}
    assert glibc
    for name, folder in glibc.items():
        result = check_tree(folder, host)
        assert result.ok and result.warnings == [], (name, result.problems, result.warnings)
    name = next(n for n in glibc if n.startswith("pyzmq"))
    unknown = check_tree(glibc[name], make_manifest("x86_64", "glibc", "2.36")).warnings
    assert len(unknown) == 1 and re.fullmatch(
        r"needs libstdc\+\+\.so\.6 \(in pyzmq\.libs/libzmq-\w+\.so"
        r"\.[\d.]+\): the manifest does not list .*",
        unknown[0],
    ), unknown
    shutil.copytree(glibc[name], tmp_path / "pyzmq", ignore=shutil.ignore_patterns("pyzmq.libs"))
    problems = check_tree(tmp_path / "pyzmq", host).problems
    assert len(problems) == 1 and re.fullmatch(
        r"needs libzmq-\w+\.so\.[\d.]+ \(in zmq/backend/cython/_zmq\.cpython-311-x86_64-linux-gnu\.so\), "
        r"which the gateway does not have",
        problems[0],
    ), problems


def test_manylinux_tag_matches_glibc_needs(wheels: dict[str, Path]) -> None:
    """No per-library data (a cross-target manifest): GLIBC_ needs vs the libc version."""
    name = next(n for n in wheels if n.startswith("cryptography") and "manylinux_2_28_x86_64" in n)
    assert check_tree(wheels[name], make_manifest("x86_64", "glibc", "2.28")).ok
    problems = check_tree(wheels[name], make_manifest("x86_64", "glibc", "2.27")).problems
    assert problems == ["needs GLIBC_2.28 (statx in cryptography/hazmat/bindings/_rust.abi3.so), gateway has 2.27"]


def test_abi3_wheels_against_older_pythons(wheels: dict[str, Path]) -> None:
    crypto = next(n for n in wheels if n.startswith("cryptography-") and "x86_64" in n)
    bcrypt = next(n for n in wheels if n.startswith("bcrypt-") and "x86_64" in n)
    assert check_tree(wheels[crypto], make_manifest(python="3.11.0")).ok  # cp311-abi3
    problems = check_tree(wheels[crypto], make_manifest(python="3.10.0")).problems
    assert len(problems) == 1 and "outside Python 3.10's stable ABI" in problems[0]
    assert "PyBuffer_Release (added in 3.11)" in problems[0]
    assert check_tree(wheels[bcrypt], make_manifest("x86_64", "musl", "1.2.4", python="3.9.0")).ok  # cp39-abi3
    problems = check_tree(wheels[bcrypt], make_manifest("x86_64", "musl", "1.2.4", python="3.8.0")).problems
    assert problems and "PyCMethod_New (added in 3.9)" in problems[0]


def test_wrong_python_suffix_on_real_wheel(wheels: dict[str, Path]) -> None:
    name = next(n for n in wheels if n.startswith("msgpack") and "musllinux_1_2_x86_64" in n)
    problems = check_tree(wheels[name], make_manifest("x86_64", "musl", "1.2.4", python="3.12.1")).problems
    assert problems == [
        "msgpack/_cmsgpack.cpython-311-x86_64-linux-musl.so: suffix "
        ".cpython-311-x86_64-linux-musl.so is for another Python "
        "(gateway: .cpython-312-x86_64-linux-musl.so, abi3)"
    ]


def test_check_wheel_reads_the_zip(wheels: dict[str, Path]) -> None:
    cache = Path(os.environ.get("KRAKEND_WHEELS") or ROOT / ".cache" / "wheels")
    wheel = next(cache.glob("markupsafe-*manylinux*x86_64.whl"))
    result = check_wheel(wheel, make_manifest())
    assert result.ok and result.modules == ["markupsafe._speedups"]
    assert result.root == str(wheel)
    assert check_tree(wheel, make_manifest()).to_dict() == result.to_dict()
    assert [f.path for f in result.files] == ["markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so"]


def test_check_wheel_equals_check_tree(wheels: dict[str, Path]) -> None:
    """In-memory wheel reading gives the same facts and verdict as the unpacked folder."""
    cache = Path(os.environ.get("KRAKEND_WHEELS") or ROOT / ".cache" / "wheels")
    for manifest in (make_manifest(), make_manifest("aarch64", "musl", "1.2.4", python="3.9.1")):
        for name, folder in wheels.items():
            from_zip = check_wheel(cache / name, manifest)
            from_dir = check_tree(folder, manifest)
            assert [f.to_dict() for f in from_zip.files] == [f.to_dict() for f in from_dir.files]
            assert from_zip.problems == from_dir.problems, name
            assert from_zip.modules == from_dir.modules, name


def test_unreadable_wheel_is_an_input_error(tmp_path: Path) -> None:
    from krakend_tools.errors import InputError

    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    bad.write_text("not a zip")
    with pytest.raises(InputError, match="cannot read wheel"):
        check_wheel(bad, make_manifest())


# -- files compiled here ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gnu", "abi3", "musl", "aarch64", "newglibc", "cxx", "libpython"])
def test_compiled_facts_match_readelf(build: Callable[[str], Path], kind: str) -> None:
    for path in elf_files(build(kind)):
        assert our_facts(read_elf(path)) == readelf_facts(path)


def test_plugin_module_passes(build: Callable[[str], Path], host: Manifest) -> None:
    folder = build("gnu")
    shutil.copy(SRC / "plugmod_registerers.py", folder)
    result = check_tree(folder, host)
    assert result.ok, result.problems
    assert result.modules == ["plugmod"]
    assert [f.py_inits for f in result.files] == [["PyInit_plugmod"]]
    single = check_tree(folder / "plugmod.cpython-311-x86_64-linux-gnu.so", host)
    assert single.ok and single.modules == ["plugmod"]
    assert single.to_dict()["files"][0]["machine"] == "x86_64"


def test_abi3_module(build: Callable[[str], Path]) -> None:
    assert check_tree(build("abi3"), make_manifest(python="3.11.0")).ok
    problems = check_tree(build("abi3-extra"), make_manifest(python="3.10.0")).problems
    assert problems == [
        "plugmod.abi3.so: abi3 module uses symbols outside Python 3.10's stable "
        "ABI: PyType_GetName (added in 3.11), _PyObject_GetDictPtr (not in the "
        "stable ABI)"
    ]


def test_abi3_suffix_refused_by_free_threaded_python(build: Callable[[str], Path]) -> None:
    manifest = make_manifest(python="3.13.0")
    manifest.python.ext_suffix = ".cpython-313t-x86_64-linux-gnu.so"
    manifest.python.abi_tags = ["cp313t", "none"]
    assert check_tree(build("abi3"), manifest).problems == [
        "plugmod.abi3.so: suffix .abi3.so is for another Python (gateway: .cpython-313t-x86_64-linux-gnu.so, no abi3)"
    ]


def test_module_name_must_match_pyinit(build: Callable[[str], Path], tmp_path: Path) -> None:
    shutil.copy(
        build("gnu") / "plugmod.cpython-311-x86_64-linux-gnu.so", tmp_path / "other.cpython-311-x86_64-linux-gnu.so"
    )
    result = check_tree(tmp_path, make_manifest())
    assert result.problems == [
        "other.cpython-311-x86_64-linux-gnu.so: no PyInit_other, so 'import other' fails (it defines PyInit_plugmod)"
    ]
    assert result.modules == []


def test_plain_so_module_is_accepted(build: Callable[[str], Path], tmp_path: Path) -> None:
    pkg = tmp_path / "pkg" / "sub"
    pkg.mkdir(parents=True)
    shutil.copy(build("gnu") / "plugmod.cpython-311-x86_64-linux-gnu.so", pkg / "plugmod.so")
    result = check_tree(tmp_path, make_manifest())
    assert result.ok and result.modules == ["pkg.sub.plugmod"]


def test_wheel_data_platlib_module_name(build: Callable[[str], Path], tmp_path: Path) -> None:
    platlib = tmp_path / "plug-1.0.data" / "platlib"
    platlib.mkdir(parents=True)
    shutil.copy(build("gnu") / "plugmod.cpython-311-x86_64-linux-gnu.so", platlib)
    result = check_tree(tmp_path, make_manifest())
    assert result.modules == ["plugmod"]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["ok"] is True and data["files"][0]["py_inits"] == ["PyInit_plugmod"]


def test_other_python_suffix(build: Callable[[str], Path], tmp_path: Path) -> None:
    shutil.copy(
        build("gnu") / "plugmod.cpython-311-x86_64-linux-gnu.so", tmp_path / "plugmod.cpython-312-x86_64-linux-gnu.so"
    )
    assert check_tree(tmp_path, make_manifest()).problems == [
        "plugmod.cpython-312-x86_64-linux-gnu.so: suffix .cpython-312-x86_64-linux-gnu.so is for "
        "another Python (gateway: .cpython-311-x86_64-linux-gnu.so, abi3)"
    ]


def test_extension_with_a_suffix_no_python_imports(build: Callable[[str], Path], tmp_path: Path) -> None:
    """It defines PyInit_plugmod, so it is meant as a module; a plain library is left alone."""
    shutil.copy(build("gnu") / "plugmod.cpython-311-x86_64-linux-gnu.so", tmp_path / "plugmod.x86_64.so")
    assert check_tree(tmp_path, make_manifest()).problems == [
        "plugmod.x86_64.so: suffix .x86_64.so is for no Python: the import system does not look "
        "at it (gateway: .cpython-311-x86_64-linux-gnu.so, abi3)"
    ]


def test_aarch64_module_on_x86_64_gateway(build: Callable[[str], Path], host: Manifest) -> None:
    problems = check_tree(build("aarch64"), host).problems
    assert problems == [
        "plugmod.cpython-311-aarch64-linux-gnu.so is aarch64, gateway is x86_64",
        "plugmod.cpython-311-aarch64-linux-gnu.so: suffix .cpython-311-aarch64-linux-gnu.so is "
        "for another platform (gateway: .cpython-311-x86_64-linux-gnu.so, abi3)",
    ]
    assert check_tree(build("aarch64"), make_manifest("aarch64")).ok


def test_musl_module_on_glibc_gateway(build: Callable[[str], Path], host: Manifest) -> None:
    facts = read_elf(build("musl") / "plugmod.cpython-311-x86_64-linux-musl.so")
    assert (facts.libc, facts.libc_evidence) == ("musl", "libc.so")
    problems = check_tree(build("musl"), host).problems
    assert problems[0] == ("plugmod.cpython-311-x86_64-linux-musl.so links musl (libc.so), gateway has glibc 2.36")
    assert check_tree(build("musl"), make_manifest("x86_64", "musl", "1.2.4")).ok


def test_new_glibc_symbol_named(build: Callable[[str], Path], host: Manifest) -> None:
    folder = build("newglibc")
    facts = read_elf(folder / "libnewglibc.so.1")
    assert ("libc.so.6", "GLIBC_2.27", ["memfd_create"], False) in facts.version_needs
    assert check_tree(folder, host).ok
    old = capped(host, "libc.so.6", "GLIBC", "2.26")
    assert check_tree(folder, old).problems == ["needs GLIBC_2.27 (memfd_create in libnewglibc.so.1), gateway has 2.26"]
    # Versions compare as numbers: 2.27 > 2.3 although "2.27" < "2.3" as text.
    assert check_tree(folder, make_manifest(libc="2.3")).problems == [
        "needs GLIBC_2.27 (memfd_create in libnewglibc.so.1), gateway has 2.3"
    ]
    assert check_tree(folder, make_manifest(libc="2.27")).ok
    assert check_tree(build("newglibc-aarch64"), make_manifest("aarch64", libc="2.17")).problems == [
        "needs GLIBC_2.27 (memfd_create in libnewglibc.so.1), gateway has 2.17"
    ]


def test_glibcxx_needs(build: Callable[[str], Path], host: Manifest, tmp_path: Path) -> None:
    folder = build("cxx")
    facts = read_elf(folder / "libcxx.so")
    assert any(n.library == "libstdc++.so.6" and n.version == "GLIBCXX_3.4.21" for n in facts.version_needs)
    assert check_tree(folder, host).ok
    old = capped(host, "libstdc++.so.6", "GLIBCXX", "3.4.20")
    problems = check_tree(folder, old).problems
    assert len(problems) == 1
    assert re.fullmatch(
        r"needs GLIBCXX_3\.4\.21 \(.+ in libcxx\.so\), "
        r"gateway's libstdc\+\+\.so\.6 has 3\.4\.20",
        problems[0],
    ), problems
    # Bundled next to it (as auditwheel does), the library's own copy answers the need.
    shutil.copy(folder / "libcxx.so", tmp_path)
    (tmp_path / "cxx.libs").mkdir()
    shutil.copy(host.libraries["libstdc++.so.6"].path, tmp_path / "cxx.libs" / "libstdc++.so.6")
    assert check_tree(tmp_path, old).ok


def test_libpython_link_is_flagged(build: Callable[[str], Path]) -> None:
    assert check_tree(build("libpython"), make_manifest()).problems == [
        "plugmod.cpython-311-x86_64-linux-gnu.so links libpython3.11.so.1.0: the gateway "
        "provides Python itself, build the extension without linking libpython"
    ]


# -- broken files -------------------------------------------------------------------------


def test_broken_files(build: Callable[[str], Path], tmp_path: Path) -> None:
    good = (build("gnu") / "plugmod.cpython-311-x86_64-linux-gnu.so").read_bytes()
    (tmp_path / "text.cpython-311-x86_64-linux-gnu.so").write_text("not a library\n")
    (tmp_path / "empty.so").write_bytes(b"")
    (tmp_path / "short.so.1").write_bytes(good[:40])
    (tmp_path / "cut.abi3.so").write_bytes(good[:200])
    (tmp_path / "badclass.so").write_bytes(good[:4] + b"\x07" + good[5:])
    (tmp_path / "notes.txt").write_text("ignored: neither ELF nor a .so name\n")
    (tmp_path / "helper").write_bytes(good[:1000])  # ELF by magic, whatever its name
    problems = check_tree(tmp_path, make_manifest()).problems
    assert len(problems) == 6, problems
    assert problems[0] == "badclass.so: corrupt ELF header: invalid class 7"
    assert re.fullmatch(
        r"cut\.abi3\.so: truncated or corrupt: program header table at offset "
        r"64\+\d+ is past the end of the file \(200 bytes\)",
        problems[1],
    )
    assert problems[2] == "empty.so: not an ELF file (empty file)"
    assert re.fullmatch(
        r"helper: truncated: a loaded segment ends at byte \d+, the file has "
        r"1000 bytes",
        problems[3],
    ), problems[3]
    assert problems[4] == "short.so.1: truncated: 40 bytes, shorter than an ELF header"
    assert problems[5] == ("text.cpython-311-x86_64-linux-gnu.so: not an ELF file (starts with b'not ')")
    for name in ("text.cpython-311-x86_64-linux-gnu.so", "cut.abi3.so", "badclass.so"):
        with pytest.raises(ElfError):
            read_elf(tmp_path / name)


def test_garbage_after_a_valid_header(build: Callable[[str], Path], tmp_path: Path) -> None:
    """Every section offset scrambled: a clear ElfError, never a traceback from the parser."""
    data = bytearray((build("gnu") / "plugmod.cpython-311-x86_64-linux-gnu.so").read_bytes())
    for seed in range(64):
        broken = bytearray(data)
        for i in range(64 + seed * 7, len(broken), 97 + seed):
            broken[i] = (broken[i] * 31 + seed) & 0xFF
        path = tmp_path / f"scrambled{seed}.so"
        path.write_bytes(bytes(broken))
        try:
            read_elf(path)
        except ElfError as err:
            assert err.reason and "\n" not in err.reason


def test_every_truncation_is_an_elf_error(build: Callable[[str], Path], tmp_path: Path) -> None:
    """Cut anywhere: a clear ElfError, or (cut after every loaded segment, where the loader
    does not look: section headers, non-dynamic symbols) the same facts as the whole file."""
    whole = build("newglibc") / "libnewglibc.so.1"
    data, full = whole.read_bytes(), read_elf(whole, "cut.so")
    path = tmp_path / "cut.so"
    errors = 0
    for length in range(0, len(data), 37):
        path.write_bytes(data[:length])
        try:
            facts = read_elf(path, "cut.so")
        except ElfError as err:
            errors += 1
            assert re.match(r"(not an ELF file \(empty file\)|truncated)", err.reason), err.reason
        else:
            assert facts == full
    assert errors > len(data) // 37 // 2


def test_missing_root_is_an_input_error(tmp_path: Path) -> None:
    from krakend_tools.errors import InputError

    with pytest.raises(InputError):
        check_tree(tmp_path / "nope", make_manifest())
