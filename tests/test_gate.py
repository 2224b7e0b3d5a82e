"""The CI gate never passes without having checked: the manifest is explicit, an import that
cannot run is a KO, libraries the gateway lacks are found, the decisive reason comes first,
several lockfiles are told apart, and the JSON result follows its shipped schema.

Everything runs on files compiled here (Debian: gcc, python3-dev; libssl3 and libsqlite3-0,
present on any Debian with Python) and on the repository's real lockfiles.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from krakend_tools.config import find_config
from krakend_tools.errors import InputError
from krakend_tools.manifest import model as mf
from krakend_tools.manifest.from_lock import from_lock
from krakend_tools.manifest.platforms import Target
from krakend_tools.manifest.resolve import resolve
from krakend_tools.plugin_test.static_phase import check_tree, version_key
from krakend_tools.report import RESULT_SCHEMA_PATH

from .conftest import FIXTURES, ROOT, gateway_manifest, run_krakend
from .test_static import CI, PY_INCLUDE, SRC, need

EXT = sysconfig.get_config_var("EXT_SUFFIX")
GEO = FIXTURES / "plugins" / "geo-lookup"
CSV = FIXTURES / "plugins" / "csv-export"
# What the geo-lookup lockfiles pin (the bundled gateway wants other versions of these).
GEO_PINS = {
    "certifi": "2026.10.18",
    "charset-normalizer": "3.5.2",
    "idna": "3.20",
    "requests": "2.32.5",
    "urllib3": "2.8.0",
}


def cc(out: Path, source: str, *flags: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [need("gcc"), "-shared", "-fPIC", "-O1", "-o", str(out), str(SRC / source), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return out


def python_h() -> str:
    if not (Path(PY_INCLUDE) / "Python.h").is_file():
        message = f"no Python.h in {PY_INCLUDE} (Debian: apt-get install python3-dev)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return f"-I{PY_INCLUDE}"


def validate_result(data: dict[str, Any]) -> None:
    """A real -o json output against the shipped result schema (full jsonschema)."""
    import jsonschema

    jsonschema.validate(data, json.loads(RESULT_SCHEMA_PATH.read_text()))


def capped_manifest(source: Path, out: Path, top: str) -> Path:
    """The real host manifest made into a glibc ``top`` one: libc version and the libc
    libraries' GLIBC_ symbol versions cut at ``top``."""
    data = json.loads(source.read_text())
    limit = version_key(f"GLIBC_{top}")
    assert limit is not None
    data["platform"]["libc"]["version"] = top
    for lib in data["libraries"].values():
        lib["symbol_versions"] = [
            v for v in lib["symbol_versions"] if (k := version_key(v)) is None or k[0] != "GLIBC" or k[1] <= limit[1]
        ]
    out.write_text(json.dumps(data))
    return out


@pytest.fixture(scope="module")
def host_data(host_manifest: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(host_manifest.read_text())
    if data["platform"]["machine"] != "x86_64" or data["platform"]["libc"]["family"] != "glibc":
        pytest.skip("the compiled-fixture tests expect a glibc x86_64 host")
    return data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, host_data: dict[str, Any]) -> dict[str, Path]:
    """libtiny.so.1 and the usestiny plugin linked against it, three ways:
    ``alone``: the module only; ``bundled``: ``pkg/usestiny…so`` with RUNPATH
    ``$ORIGIN/../pkg.libs`` and the library there (as auditwheel repairs a wheel)."""
    base = tmp_path_factory.mktemp("tiny")
    lib = cc(base / "build" / "libtiny.so.1", "tinylib.c", "-Wl,-soname,libtiny.so.1")
    flags = [python_h(), f"-L{lib.parent}", "-l:libtiny.so.1"]
    alone = cc(base / "alone" / f"usestiny{EXT}", "usestiny.c", *flags)
    bundled = base / "bundled"
    cc(bundled / "pkg" / f"usestiny{EXT}", "usestiny.c", *flags, "-Wl,-rpath,$ORIGIN/../pkg.libs")
    (bundled / "pkg.libs").mkdir()
    shutil.copy(lib, bundled / "pkg.libs" / "libtiny.so.1")
    return {"lib": lib, "alone": alone, "bundled": bundled, "module": bundled / "pkg" / f"usestiny{EXT}"}


# -- manifest resolution -------------------------------------------------------------------


def test_resolution_order(tmp_path: Path, host_manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "repo"
    (project / "plugin" / "deep").mkdir(parents=True)
    shutil.copy(host_manifest, project / "gw.json")
    (project / "pyproject.toml").write_text('[tool.krakend]\nmanifest = "gw.json"\n')
    other = tmp_path / "other.json"
    shutil.copy(FIXTURES / "gateway" / "manifest.json", other)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KRAKEND_MANIFEST", raising=False)
    # pyproject: nearest upward from start, the path relative to that pyproject
    found = resolve(None, project / "plugin" / "deep")
    assert found.source == str(project / "gw.json")
    config = find_config(project / "plugin" / "deep")
    assert config is not None and config.root == project and config.table == {"manifest": "gw.json"}
    # $KRAKEND_MANIFEST beats the pyproject; the option beats both; "host" is this interpreter
    monkeypatch.setenv("KRAKEND_MANIFEST", str(other))
    assert resolve(None, project).source == str(other)
    assert resolve(str(host_manifest), project).source == str(host_manifest)
    assert resolve("host", project).source == "host"
    monkeypatch.delenv("KRAKEND_MANIFEST")
    # nothing anywhere: one line naming the three ways
    with pytest.raises(InputError) as err:
        resolve(None, tmp_path)
    assert "--manifest" in str(err.value) and "$KRAKEND_MANIFEST" in str(err.value)
    assert "[tool.krakend]" in str(err.value) and "\n" not in str(err.value)
    (project / "pyproject.toml").write_text('[tool.krakend]\nmanifest = "missing.json"\n')
    with pytest.raises(InputError, match="missing.json"):
        resolve(None, project)
    assert find_config(tmp_path) is None


def test_bad_project_config_is_one_line_exit_2(tmp_path: Path) -> None:
    shutil.copy(GEO / "uv.lock", tmp_path / "uv.lock")
    for text, needle in (
        ("[tool.krakend\n", "invalid TOML"),
        ("[tool.krakend]\nmanifest = 3\n", "manifest must be a string"),
        ('[tool.krakend]\nmanifest = "nope.json"\n', "no such file"),
    ):
        (tmp_path / "pyproject.toml").write_text(text)
        proc = run_krakend("check-plugin", "-s", str(tmp_path / "uv.lock"), cwd=tmp_path)
        assert proc.returncode == 2 and needle in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
        assert str(tmp_path / "pyproject.toml") in proc.stderr


def test_check_plugin_without_a_manifest_exits_2(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    shutil.copy(GEO / "uv.lock", lock)
    proc = run_krakend("check-plugin", "-s", str(lock), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("krakend check-plugin: error: no gateway manifest: ")
    assert proc.stderr.count("\n") == 1
    # the same lockfile with a [tool.krakend] manifest next to it: really checked, and said so
    shutil.copy(FIXTURES / "gateway" / "manifest.json", tmp_path / "gateway.json")
    (tmp_path / "pyproject.toml").write_text('[tool.krakend]\nmanifest = "gateway.json"\n')
    proc = run_krakend("check-plugin", "-s", str(lock), cwd=ROOT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    gw = json.loads((tmp_path / "gateway.json").read_text())
    used = next(line for line in proc.stdout.splitlines() if line.startswith("manifest: "))
    assert used.startswith(f"manifest: {tmp_path / 'gateway.json'} ({gw['gateway']['name']} ")
    assert "linux/amd64 glibc" in used


def test_every_format_names_the_manifest(tmp_path: Path) -> None:
    manifest = FIXTURES / "gateway" / "manifest.json"
    lock = str(GEO / "uv.lock")
    for fmt, needle in (
        ("text", f"manifest: {manifest} ("),
        ("junit", 'name="manifest" value="manifest: '),
        ("github", f"manifest: {manifest} ("),
    ):
        proc = run_krakend("check-plugin", "-s", lock, "--manifest", str(manifest), "-o", fmt)
        assert proc.returncode == 1 and needle in proc.stdout, (fmt, proc.stdout)
    proc = run_krakend("check-plugin", "-s", lock, "--manifest", str(manifest), "-o", "json")
    data = json.loads(proc.stdout)
    validate_result(data)
    gw = json.loads(manifest.read_text())
    assert data["meta"]["manifest"]["source"] == str(manifest)
    assert data["meta"]["manifest"]["gateway"] == gw["gateway"]
    assert data["meta"]["manifest"]["python"] == gw["python"]["version"]


# -- several lockfiles -----------------------------------------------------------------------


def test_several_lockfiles_are_grouped(tmp_path: Path) -> None:
    manifest = str(FIXTURES / "gateway" / "manifest.json")
    a, b = GEO / "poetry.lock", CSV / "poetry.lock"
    proc = run_krakend("check-plugin", str(a), str(b), "--manifest", manifest)
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    first, second = out.index(f"{a}: 5 incompatibilities"), out.index(f"{b}: 0 incompatibilities")
    assert out[0] == "5 incompatibilities found" and first == 1 < second  # the verdict first
    assert all(line.startswith("  ") for line in out[first + 1 : second])
    assert "  urllib3" in out[first + 1 : second]
    proc = run_krakend("check-plugin", str(a), str(b), "--manifest", manifest, "-o", "json")
    data = json.loads(proc.stdout)
    validate_result(data)
    assert [entry["path"] for entry in data["meta"]["lockfiles"]] == [str(a), str(b)]
    assert [entry["failures"] for entry in data["meta"]["lockfiles"]] == [5, 0]
    assert {f["file"] for f in data["findings"]} == {str(a), str(b)}
    assert all(f["file"] == str(a) for f in data["findings"] if not f["ok"])


# -- libraries the gateway lacks -----------------------------------------------------------


def test_host_manifest_lists_every_soname_the_loader_resolves(host_data: dict[str, Any]) -> None:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    cached = {
        line.split()[0]
        for line in out.splitlines()[1:]
        if "x86-64" in line and not line.split()[0].startswith("ld-musl")
    }  # not for glibc
    libs = host_data["libraries"]
    assert host_data["libraries_complete"] is True
    assert cached <= set(libs), sorted(cached - set(libs))[:5]
    assert "libssl.so.3" in libs and "libsqlite3.so.0" in libs
    assert "OPENSSL_3.0.0" in libs["libssl.so.3"]["symbol_versions"]
    libpython = sysconfig.get_config_var("LDLIBRARY")
    if libpython and libpython.endswith(".so") and sysconfig.get_config_var("Py_ENABLE_SHARED"):
        assert any(name.startswith("libpython") for name in libs)  # Python's own lib dir


def test_from_lock_manifest_has_the_base_set_only(tmp_path: Path) -> None:
    proc = run_krakend(
        "version",
        "-o",
        "json",
        "--from-lock",
        str(FIXTURES / "gateway" / "uv.lock"),
        "--target",
        "alpine/arm64",
        "--python-version",
        "3.12.4",
    )
    data = json.loads(proc.stdout)
    assert data["libraries_complete"] is False
    assert set(data["libraries"]) == {"ld-musl-aarch64.so.1", "libc.musl-aarch64.so.1"}
    manifest = from_lock(FIXTURES / "gateway" / "uv.lock", Target.parse("generic/amd64"), "3.11.7", None)
    assert {"libc.so.6", "libm.so.6", "libpthread.so.0", "ld-linux-x86-64.so.2"} <= set(manifest.libraries)


def test_plugin_needing_a_library_the_gateway_lacks(tiny: dict[str, Path], host_manifest: Path, tmp_path: Path) -> None:
    module = tiny["alone"]
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(module))
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[1] == (
        f"[KO] SERVER\t{module}: needs libtiny.so.1 (in {module.name}), which the gateway does not have"
    )
    # a --from-lock manifest cannot know: a warning, not a pass and not a KO
    gw = gateway_manifest(tmp_path)
    proc = run_krakend("test-plugin", "-s", "--static-only", "--manifest", str(gw), str(module))
    assert proc.returncode == 0, proc.stdout
    out = proc.stdout.splitlines()
    assert out[1] == f"[OK] SERVER\t{module} (static only)"
    assert out[2].startswith(f"\twarning: needs libtiny.so.1 (in {module.name}): the manifest does not list")
    assert out[3].endswith("s (1 with warnings)")
    proc = run_krakend("test-plugin", "-s", "--static-only", "-o", "github", "--manifest", str(gw), str(module))
    assert any(x.startswith("::warning ") and "libtiny.so.1" in x for x in proc.stdout.splitlines())
    proc = run_krakend("test-plugin", "-s", "--static-only", "-o", "json", "--manifest", str(gw), str(module))
    data = json.loads(proc.stdout)
    validate_result(data)
    assert data["warnings"] == 1 and "libtiny.so.1" in data["findings"][0]["warnings"][0]


def test_bundled_library_is_followed_through_origin(tiny: dict[str, Path], host_manifest: Path, tmp_path: Path) -> None:
    folder, module = tiny["bundled"], tiny["module"]
    assert check_tree(folder, mf.load(host_manifest)).ok
    # the loader really finds it there: the import registers the library's number
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(module))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[1] == f"[OK] SERVER\t{module} (registered: tiny-42)"
    # the bundled library's own GLIBC needs count too (gettid: GLIBC_2.30)
    old = capped_manifest(host_manifest, tmp_path / "glibc-2.28.json", "2.28")
    problems = check_tree(module, mf.load(old)).problems
    assert problems == ["needs GLIBC_2.30 (gettid in ../pkg.libs/libtiny.so.1), gateway has 2.28"]
    # without the bundled copy, the same module needs a library the gateway does not have
    (folder / "pkg.libs" / "libtiny.so.1").rename(tmp_path / "libtiny.so.1")
    try:
        assert check_tree(module, mf.load(host_manifest)).problems == [
            f"needs libtiny.so.1 (in {module.name}), which the gateway does not have"
        ]
    finally:
        (tmp_path / "libtiny.so.1").rename(folder / "pkg.libs" / "libtiny.so.1")


def tiny_wheel(tiny: dict[str, Path], folder: Path) -> Path:
    """The bundled usestiny plugin as an auditwheel-style wheel: ``pkg.libs/libtiny.so.1``."""
    import zipfile

    wheel = folder / "usestiny-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(tiny["module"], f"pkg/{tiny['module'].name}")
        zf.write(tiny["lib"], "pkg.libs/libtiny.so.1")
        zf.writestr("pkg/__init__.py", "from .usestiny import HandlerRegisterer\n")
        zf.writestr("usestiny-1.0.dist-info/top_level.txt", "pkg\n")
    return wheel


def test_wheel_with_bundled_library(tiny: dict[str, Path], host_manifest: Path, tmp_path: Path) -> None:
    wheel = tiny_wheel(tiny, tmp_path)
    assert check_tree(wheel, mf.load(host_manifest)).ok
    old = mf.load(capped_manifest(host_manifest, tmp_path / "old.json", "2.28"))
    assert check_tree(wheel, old).problems == ["needs GLIBC_2.30 (gettid in pkg.libs/libtiny.so.1), gateway has 2.28"]


def test_ssl_and_sqlite_against_an_old_gateway(tmp_path: Path, host_manifest: Path) -> None:
    lib = cc(tmp_path / "plugin" / "libssq.so", "sslsqlite.c", "-l:libssl.so.3", "-l:libsqlite3.so.0")
    # an old gateway's real manifest that lacks both: each one is named
    data = json.loads(host_manifest.read_text())
    for name in ("libssl.so.3", "libsqlite3.so.0"):
        data["libraries"].pop(name, None)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert check_tree(lib.parent, mf.load(old)).problems == [
        "needs libsqlite3.so.0 (in libssq.so), which the gateway does not have",
        "needs libssl.so.3 (in libssq.so), which the gateway does not have",
    ]
    assert check_tree(lib.parent, mf.load(host_manifest)).ok
    # a glibc 2.17 manifest made from a lockfile cannot know: warnings, never a silent pass
    legacy = from_lock(FIXTURES / "gateway" / "uv.lock", Target.parse("generic/amd64"), "3.11.7", "GLIBC-2.17")
    result = check_tree(lib.parent, legacy)
    assert result.ok and len(result.warnings) == 2
    assert all("the manifest does not list all the gateway's libraries" in w for w in result.warnings)


# -- the decisive reason first ---------------------------------------------------------------


def test_highest_missing_glibc_version_first(tmp_path: Path, host_manifest: Path) -> None:
    init = tmp_path / "init.c"  # an extension module's entry point: test-plugin tests it as a plugin
    init.write_text("void *PyInit_needs234(void) { return 0; }\n")
    lib = cc(tmp_path / "wheel" / "needs234.so", "needs234.c", str(init))
    old = capped_manifest(host_manifest, tmp_path / "glibc-2.28.json", "2.28")
    problems = check_tree(lib, mf.load(old)).problems
    assert problems[0].startswith("needs GLIBC_2.34 (dlopen, pthread_create, pthread_join in needs234.so)")
    assert problems[0].endswith(", gateway has 2.28")
    assert problems[1:] == ["also needs GLIBC_2.30 (gettid in needs234.so), gateway has 2.28"]
    proc = run_krakend("test-plugin", "-s", "--static-only", "--manifest", str(old), str(lib))
    assert proc.returncode == 1
    out = proc.stdout.splitlines()
    assert out[1] == f"[KO] SERVER\t{lib}: {problems[0]}"
    assert out[2] == f"\t{problems[1]}"
    proc = run_krakend("test-plugin", "-s", "--static-only", "-o", "json", "--manifest", str(old), str(lib))
    data = json.loads(proc.stdout)
    validate_result(data)
    assert data["findings"][0]["problems"] == problems
    # the static facts once per artifact, however many plugin types
    proc = run_krakend("test-plugin", "-scm", "--static-only", "-o", "json", "--manifest", str(old), str(lib))
    data = json.loads(proc.stdout)
    validate_result(data)
    assert len(data["findings"]) == 3 and len(data["artifacts"]) == 1
    assert proc.stdout.count('"version_needs"') == 1
    assert {f["kind"] for f in data["findings"]} == {"server", "client", "modifier"}


# -- build's result ---------------------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.slow
def test_build_result_fits_the_schema_and_names_no_staging_folder(docker_env: dict[str, str], tmp_path: Path) -> None:
    proc = run_krakend(
        "build",
        str(FIXTURES / "example-plugin"),
        "--target",
        "generic/amd64",
        "--out",
        str(tmp_path),
        "-o",
        "json",
        env=docker_env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    validate_result(data)
    assert data["meta"]["manifest"]["source"] == docker_env["KRAKEND_MANIFEST"]  # $KRAKEND_MANIFEST, named
    finding = data["findings"][0]
    assert finding["kind"] == "target" and finding["details"]["test"] == "OK"
    tested = finding["details"]["test_details"]
    assert len(tested["artifacts"]) == 1 and "static" in tested["artifacts"][0]
    assert all("static" not in f["details"] for f in tested["findings"])
    # every path in the result still exists: the staging folder is gone, its name is not shown
    assert f"{tmp_path}/." not in proc.stdout
    assert tested["artifacts"][0]["name"].startswith(str(tmp_path / "generic-amd64"))
    assert Path(tested["artifacts"][0]["name"]).is_file()


@pytest.mark.docker
@pytest.mark.slow
def test_runtime_image_manifest_knows_its_libraries(
    docker_env: dict[str, str], tiny: dict[str, Path], tmp_path: Path
) -> None:
    """Against the manifest the gateway's runtime image carries: the module needing libtiny.so.1
    is a KO before any import; bundled in a wheel, the image's own loader finds it."""
    alone = tiny["alone"]
    proc = run_krakend("test-plugin", "-s", "--target", "generic/amd64", str(alone), env=docker_env, timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith("manifest: image krakend-tools/runtime:")
    assert out[1] == f"[KO] SERVER\t{alone}: needs libtiny.so.1 (in {alone.name}), which the gateway does not have"
    wheel = tiny_wheel(tiny, tmp_path)
    proc = run_krakend("test-plugin", "-s", "--target", "generic/amd64", str(wheel), env=docker_env, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[1] == f"[OK] SERVER\t{wheel} (registered: tiny-42)"


def test_build_without_a_manifest_exits_2(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    shutil.copytree(FIXTURES / "example-plugin", plugin)
    proc = run_krakend("build", str(plugin), "--target", "generic/amd64", cwd=tmp_path)
    assert proc.returncode == 2 and "no gateway manifest" in proc.stderr and proc.stderr.count("\n") == 1


def test_musl_loader_answers_for_its_own_names(tmp_path: Path) -> None:
    """musl's loader maps libc.so, libc.musl-*.so.1, libpthread.so… to itself: a complete
    musl manifest need not list them, another library still has to be there."""
    from .test_static import make_manifest

    need("musl-gcc")
    module = tmp_path / "plugmod.cpython-311-x86_64-linux-musl.so"
    proc = subprocess.run(
        ["musl-gcc", "-shared", "-fPIC", "-o", str(module), str(SRC / "plugmod.c"), python_h(), "-lm"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    manifest = make_manifest("x86_64", "musl", "1.2.4")
    manifest.libraries_complete = True
    assert check_tree(module, manifest).ok
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    shutil.copy(module, tiny / module.name)
    lib = tmp_path / "libtiny.so.1"
    subprocess.run(
        ["musl-gcc", "-shared", "-fPIC", "-o", str(lib), "-Wl,-soname,libtiny.so.1", "-x", "c", "-"],
        input="int tiny_answer(void) { return 42; }\n",
        text=True,
        check=True,
    )
    user = tiny / "user.so"
    subprocess.run(
        ["musl-gcc", "-shared", "-fPIC", "-o", str(user), "-x", "c", "-", f"-L{tmp_path}", "-l:libtiny.so.1"],
        input="int tiny_answer(void);\nint f(void) { return tiny_answer(); }\n",
        text=True,
        check=True,
    )
    assert check_tree(tiny, manifest).problems == ["needs libtiny.so.1 (in user.so), which the gateway does not have"]


def test_each_lockfile_is_checked_against_its_own_projects_manifest(tmp_path: Path) -> None:
    """pre-commit passes the lockfiles of several plugins at once: each is checked against the
    manifest its own pyproject names, never against another project's."""
    gw = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    lenient = dict(
        gw, gateway={"name": "new-gateway", "version": "2.0"}, distributions={**gw["distributions"], **GEO_PINS}
    )
    for name, manifest in (("old", gw), ("new", lenient)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "gateway.json").write_text(json.dumps(manifest))
        (tmp_path / name / "pyproject.toml").write_text('[tool.krakend]\nmanifest = "gateway.json"\n')
        shutil.copy(GEO / "poetry.lock", tmp_path / name / "poetry.lock")
    new, old = str(tmp_path / "new" / "poetry.lock"), str(tmp_path / "old" / "poetry.lock")
    proc = run_krakend("check-plugin", new, old, "-o", "json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    validate_result(data)
    assert data["meta"]["manifest"] is None
    entries = {e["path"]: e for e in data["meta"]["lockfiles"]}
    assert entries[new]["failures"] == 0 and entries[old]["failures"] == 5
    assert entries[new]["manifest"]["gateway"]["name"] == "new-gateway"
    assert entries[old]["manifest"]["gateway"]["name"] == gw["gateway"]["name"]
    proc = run_krakend("check-plugin", new, old, cwd=tmp_path)
    out = proc.stdout.splitlines()
    assert f"{new}: manifest: {tmp_path / 'new' / 'gateway.json'} (new-gateway 2.0; " in proc.stdout
    assert out.index(f"{old}: 5 incompatibilities") > out.index(f"{new}: 0 incompatibilities")
    # --manifest (or $KRAKEND_MANIFEST) is one manifest for all
    proc = run_krakend(
        "check-plugin", new, old, "--manifest", str(tmp_path / "new" / "gateway.json"), "-o", "json", cwd=tmp_path
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["meta"]["manifest"]["gateway"]["name"] == "new-gateway"
