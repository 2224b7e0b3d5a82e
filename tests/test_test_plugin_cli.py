"""``krakend test-plugin`` end to end: the real CLI in a subprocess on real plugins."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from tests.conftest import krakend_argv, run_krakend

SRC = Path(__file__).resolve().parent.parent / "fixtures" / "plugins_src"
sys.path.insert(0, str(SRC))
import build  # noqa: E402  (fixtures/plugins_src/build.py)

EXT = build.EXT_SUFFIX
WRONG_SUFFIX = re.sub(r"cpython-\d+", "cpython-39", EXT)  # the same platform, Python 3.9
HOST_MACHINE = platform.machine()
OTHER = ("aarch64", "arm64") if HOST_MACHINE == "x86_64" else ("x86_64", "amd64")
HOSTILE = {
    "hostile_segfault.py": "killed by SIGSEGV during import",
    "hostile_hang.py": "timed out after 2s",
    "hostile_os_exit.py": "exited with code 3 during import",
    "hostile_sys_exit.py": "exited with code 3 during import",
    "hostile_raises.py": "RuntimeError: missing KRAKEND_PLUGIN_TOKEN",
    "missing_registerer.py": "The plugin does not contain a HandlerRegisterer.",
    "registerer_without_method.py": "HandlerRegisterer does not implement register_handlers(register)",
}


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The C and Cython plugins, built for this interpreter, plus a wrong-suffix copy."""
    out = tmp_path_factory.mktemp("compiled")
    cext = build.build_c(out / "c")
    wrong = build.build_c(out / "wrong", suffix=WRONG_SUFFIX)
    cython = build.build_cython(out / "cy", tmp_path_factory.mktemp("cython-work"))
    return {"c": cext, "wrong": wrong, "cython": cython}


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sources")
    build.copy_sources(folder)
    return folder


def lines(proc: object) -> list[str]:
    """stdout lines after the first, which names the manifest used."""
    out = str(getattr(proc, "stdout", "")).splitlines()
    assert out and out[0].startswith("manifest: "), out
    return out[1:]


def test_good_plugin_all_types(sources: Path, host_manifest: Path) -> None:
    good = str(sources / "good_plugin.py")
    proc = run_krakend("test-plugin", "-scm", "--manifest", str(host_manifest), good)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = lines(proc)
    assert out[:3] == [
        f"[OK] SERVER\t{good} (registered: good-auth, good-headers)",
        f"[OK] CLIENT\t{good} (registered: good-client)",
        f"[OK] MODIFIER\t{good} (registered: good-modifier)",
    ]
    assert re.fullmatch(r"\[OK\] 1 tested plugin\(s\) in \d+\.\d\ds", out[3]), out[3]
    assert len(out) == 4


def test_c_extension(compiled: dict[str, Path], host_manifest: Path) -> None:
    so = str(compiled["c"])
    proc = run_krakend("test-plugin", "-s", "-c", "-m", "--manifest", str(host_manifest), so)
    assert proc.returncode == 1
    out = lines(proc)
    assert out[0] == f"[OK] SERVER\t{so} (registered: c-handler)"
    assert out[1] == f"[KO] CLIENT\t{so}: The plugin does not contain a ClientRegisterer."
    assert out[2] == f"[OK] MODIFIER\t{so} (registered: c-modifier)"
    assert re.fullmatch(r"\[KO\] 1 tested plugin\(s\) in \d+\.\d\ds\.", out[3]), out[3]
    assert out[4] == "1 plugin(s) failed."


def test_cython_plugin(compiled: dict[str, Path], host_manifest: Path) -> None:
    so = str(compiled["cython"])
    proc = run_krakend("test-plugin", "-sc", "--manifest", str(host_manifest), so)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines(proc)[:2] == [
        f"[OK] SERVER\t{so} (registered: cy-server)",
        f"[OK] CLIENT\t{so} (registered: cy-client)",
    ]


def test_wrong_suffix_is_caught_before_import(compiled: dict[str, Path], host_manifest: Path) -> None:
    so = str(compiled["wrong"])
    proc = run_krakend("test-plugin", "-s", "-o", "json", "--manifest", str(host_manifest), so)
    assert proc.returncode == 1
    finding = json.loads(proc.stdout)["findings"][0]
    assert not finding["ok"]
    assert WRONG_SUFFIX in finding["message"]
    assert finding["details"]["phase"] == "static"
    assert "probes" not in finding["details"]  # never imported


def test_hostile_plugins_in_parallel(sources: Path, host_manifest: Path) -> None:
    args = [str(sources / name) for name in HOSTILE]
    start = time.monotonic()
    proc = run_krakend("test-plugin", "-s", "-j", "4", "--timeout", "2", "--manifest", str(host_manifest), *args)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1
    out = lines(proc)
    for path, (name, message) in zip(args, HOSTILE.items(), strict=True):
        assert f"[KO] SERVER\t{path}: {message}" in out, (name, out)
    assert out[-2].startswith(f"[KO] {len(HOSTILE)} tested plugin(s) in ")
    assert out[-1] == f"{len(HOSTILE)} plugin(s) failed."
    assert elapsed < 15, f"one hang must not serialize the rest ({elapsed:.1f}s)"


def test_child_process_is_gone_when_the_command_returns(tmp_path: Path, host_manifest: Path) -> None:
    shutil.copy(SRC / "hostile_spawner.py", tmp_path)
    (tmp_path / "bin").mkdir()  # a PATH with sleep but no bwrap: the unsandboxed fallback, whose plugin writes here
    (tmp_path / "bin" / "sleep").symlink_to(str(shutil.which("sleep")))
    args = ("-s", "-o", "json", "--manifest", str(host_manifest), str(tmp_path / "hostile_spawner.py"))
    proc = run_krakend("test-plugin", *args, env={"PATH": str(tmp_path / "bin")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pid = int((tmp_path / "hostile_spawner.pid").read_text())
    assert not Path(f"/proc/{pid}").exists(), f"pid {pid} started by the plugin is still there"
    probes = json.loads(proc.stdout)["artifacts"][0]["probes"]
    assert probes[0]["leftover_processes"] == 1


def test_no_type_flag_is_a_usage_error(sources: Path) -> None:
    proc = run_krakend("test-plugin", str(sources / "good_plugin.py"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "krakend test-plugin: error: at least one plugin type is required: -s, -c or -m (or types in [tool.krakend])\n"
    )


def test_missing_artifact_is_an_input_error(tmp_path: Path, host_manifest: Path) -> None:
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(tmp_path / "nope.so"))
    assert proc.returncode == 2
    assert "nope.so: no such file or directory" in proc.stderr


def test_json_keeps_stderr_and_registrations(sources: Path, host_manifest: Path) -> None:
    proc = run_krakend(
        "test-plugin",
        "-sc",
        "-o",
        "json",
        "--manifest",
        str(host_manifest),
        str(sources / "hostile_raises.py"),
        str(sources / "good_plugin.py"),
    )
    data = json.loads(proc.stdout)
    assert proc.returncode == 1 and data["failures"] == 2
    assert data["meta"]["tested"] == 2 and data["meta"]["failed"] == 1
    raised = data["findings"][0]
    assert raised["kind"] == "server" and not raised["ok"]
    assert data["artifacts"][0]["name"] == raised["name"]
    assert "Traceback" in data["artifacts"][0]["probes"][0]["stderr"]
    good = data["findings"][3]
    assert good["kind"] == "client" and good["ok"]
    assert good["details"]["registered"] == ["good-client"]


def test_junit_has_one_case_per_artifact_and_type(sources: Path, host_manifest: Path) -> None:
    proc = run_krakend(
        "test-plugin", "-scm", "-o", "junit", "--manifest", str(host_manifest), str(sources / "missing_registerer.py")
    )
    suite = ET.fromstring(proc.stdout).find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        "krakend test-plugin",
        "3",
        "3",
        "0",
    )
    artifact = str(sources / "missing_registerer.py")
    cases = suite.findall("testcase")
    assert [dict(c.attrib) for c in cases] == [
        {"classname": f"test-plugin.{kind}", "name": artifact, "file": artifact}
        for kind in ("server", "client", "modifier")
    ]
    messages = [c.find("failure").get("message") for c in cases]  # type: ignore[union-attr]
    assert messages == [
        "The plugin does not contain a HandlerRegisterer.",
        "The plugin does not contain a ClientRegisterer.",
        "The plugin does not contain a ModifierRegisterer.",
    ]


def test_plugin_folder_with_pattern(tmp_path: Path, compiled: dict[str, Path], host_manifest: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    shutil.copy(compiled["c"], folder)
    shutil.copy(compiled["cython"], folder)
    shutil.copy(SRC / "good_plugin.py", folder)  # does not match ".so"
    nested = folder / "more"
    nested.mkdir()
    shutil.copy(compiled["c"], nested)  # not scanned: the scan is not recursive
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(folder))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = lines(proc)
    assert out[:2] == [
        f"[OK] SERVER\t{folder / compiled['c'].name} (registered: c-handler)",
        f"[OK] SERVER\t{folder / compiled['cython'].name} (registered: cy-server)",
    ]
    assert out[2].startswith("[OK] 2 tested plugin(s)")
    proc = run_krakend("test-plugin", "-s", "--pattern", "good", "--manifest", str(host_manifest), str(folder))
    assert lines(proc)[0] == f"[OK] SERVER\t{folder / 'good_plugin.py'} (registered: good-auth, good-headers)"


def test_wheel_is_unpacked_and_cleaned(tmp_path: Path, compiled: dict[str, Path], host_manifest: Path) -> None:
    wheel = tmp_path / "cext_plugin-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(compiled["c"], compiled["c"].name)
        zf.writestr("cext_plugin-1.0.dist-info/METADATA", "Name: cext-plugin\nVersion: 1.0\n")
        zf.writestr("cext_plugin-1.0.dist-info/top_level.txt", "cext_plugin\n")
    before = set(Path("/tmp").glob("krakend-wheel-*"))
    proc = run_krakend("test-plugin", "-m", "-o", "json", "--manifest", str(host_manifest), str(wheel))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    finding = data["findings"][0]
    assert finding["message"] == "registered: c-modifier"
    assert data["artifacts"][0]["artifact_kind"] == "wheel"
    assert set(Path("/tmp").glob("krakend-wheel-*")) <= before
    # no path into the temporary folder, gone after the run
    assert "krakend-wheel-" not in proc.stdout
    assert data["artifacts"][0]["probes"][0]["file"].startswith(str(wheel))


def test_package_folder(tmp_path: Path, host_manifest: Path) -> None:
    package = tmp_path / "my_plugin"
    package.mkdir()
    shutil.copy(SRC / "good_plugin.py", package / "impl.py")
    (package / "__init__.py").write_text("from .impl import ModifierRegisterer\n")
    proc = run_krakend("test-plugin", "-m", "--manifest", str(host_manifest), str(package))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines(proc)[0] == f"[OK] MODIFIER\t{package} (registered: good-modifier)"


@pytest.fixture
def foreign_manifest(host_manifest: Path, tmp_path: Path) -> Path:
    """The host's manifest moved to another architecture: its interpreter cannot run here."""
    data = json.loads(host_manifest.read_text())
    data["platform"].update(arch=OTHER[1], machine=OTHER[0])
    for key in ("soabi", "ext_suffix"):
        data["python"][key] = data["python"][key].replace(HOST_MACHINE, OTHER[0])
    data["marker_environment"]["platform_machine"] = OTHER[0]  # a manifest that contradicts itself is refused
    data["tags"] = [tag.replace(HOST_MACHINE, OTHER[0]) for tag in data["tags"]]
    path = tmp_path / "arm64.json"
    path.write_text(json.dumps(data))
    return path


def test_import_that_cannot_run_is_a_ko(sources: Path, compiled: dict[str, Path], foreign_manifest: Path) -> None:
    """A gateway whose interpreter cannot run here: never a pass, in any format."""
    good, so = str(sources / "good_plugin.py"), str(compiled["c"])
    proc = run_krakend("test-plugin", "-s", "--manifest", str(foreign_manifest), good, so)
    out = lines(proc)
    assert proc.returncode == 1
    assert out[0].startswith(f"[KO] SERVER\t{good}: import phase cannot run: the gateway (linux/{OTHER[1]}")
    assert "cannot run on this host (linux/" in out[0]
    assert out[1].startswith("\trun the import phase with --python PATH")
    assert "--image IMAGE or --target TARGET" in out[1] and "--static-only" in out[1]
    assert out[2].startswith(f"[KO] SERVER\t{so}: ")
    assert f"gateway is {OTHER[0]}" in out[2]
    proc = run_krakend("test-plugin", "-s", "-o", "json", "--manifest", str(foreign_manifest), good)
    data = json.loads(proc.stdout)
    assert proc.returncode == 1 and data["ok"] is False
    assert data["meta"]["import_phase"] == "not-run"
    assert data["findings"][0]["problems"][1].startswith("run the import phase with --python")
    for fmt, needle in (("junit", "<failure"), ("github", "::error ")):
        proc = run_krakend("test-plugin", "-s", "-o", fmt, "--manifest", str(foreign_manifest), good)
        assert proc.returncode == 1 and needle in proc.stdout and "import phase cannot run" in proc.stdout


def test_static_only_says_so_in_every_format(
    sources: Path, compiled: dict[str, Path], foreign_manifest: Path, host_manifest: Path
) -> None:
    so = str(compiled["c"])
    proc = run_krakend("test-plugin", "-s", "--static-only", "--manifest", str(host_manifest), so)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines(proc)[0] == f"[OK] SERVER\t{so} (static only)"
    proc = run_krakend("test-plugin", "-sc", "--static-only", "-o", "junit", "--manifest", str(host_manifest), so)
    suite = ET.fromstring(proc.stdout).find("testsuite")
    assert suite is not None and suite.get("skipped") == "2" and suite.get("failures") == "0"
    imports = [c for c in suite.iter("testcase") if c.get("classname", "").endswith(".import")]
    assert len(imports) == 2 and all(c.find("skipped") is not None for c in imports)
    statics = [c for c in suite.iter("testcase") if c.get("classname", "").endswith(".static")]
    assert len(statics) == 2 and all(len(c) == 0 for c in statics)
    proc = run_krakend("test-plugin", "-s", "--static-only", "-o", "github", "--manifest", str(host_manifest), so)
    assert proc.returncode == 0
    assert any(x.startswith("::warning file=") and "--static-only" in x for x in proc.stdout.splitlines())
    proc = run_krakend("test-plugin", "-s", "--static-only", "-o", "json", "--manifest", str(host_manifest), so)
    data = json.loads(proc.stdout)
    assert data["meta"]["import_phase"] == "static-only"
    assert data["findings"][0]["skipped"] == "import phase not run (--static-only)"
    # the static phase still fails what it can see: another CPU
    proc = run_krakend("test-plugin", "-s", "--static-only", "--manifest", str(foreign_manifest), so)
    assert proc.returncode == 1 and f"gateway is {OTHER[0]}" in proc.stdout
    proc = run_krakend(
        "test-plugin", "-s", "--static-only", "--python", sys.executable, "--manifest", str(host_manifest), so
    )
    assert proc.returncode == 2 and "--static-only" in proc.stderr


def test_python_option_picks_the_interpreter(sources: Path, host_manifest: Path) -> None:
    proc = run_krakend(
        "test-plugin",
        "-c",
        "-o",
        "json",
        "--python",
        sys.executable,
        "--manifest",
        str(host_manifest),
        str(sources / "good_plugin.py"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["meta"]["runner"] == f"local {sys.executable}"


def test_python_option_rejects_another_abi(sources: Path, foreign_manifest: Path) -> None:
    proc = run_krakend(
        "test-plugin",
        "-c",
        "--python",
        sys.executable,
        "--manifest",
        str(foreign_manifest),
        str(sources / "good_plugin.py"),
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"krakend test-plugin: error: --python {sys.executable} is cpython-")
    assert proc.stderr.rstrip().endswith(f"-{OTHER[0]}-linux-gnu")


def test_github_annotations_point_at_the_artifact(sources: Path, host_manifest: Path) -> None:
    path = str(sources / "hostile_os_exit.py")
    proc = run_krakend("test-plugin", "-s", "-o", "github", "--manifest", str(host_manifest), path)
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith("::error file=")
    assert "exited with code 3 during import" in first


def test_no_manifest_is_an_input_error_and_host_is_explicit(sources: Path) -> None:
    proc = run_krakend("test-plugin", "-s", str(sources / "good_plugin.py"), cwd=sources)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert all(w in proc.stderr for w in ("--manifest", "$KRAKEND_MANIFEST", "[tool.krakend]"))
    proc = run_krakend("test-plugin", "-s", "--manifest", "host", str(sources / "good_plugin.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("manifest: host (gateway; Python ")
    assert lines(proc)[0].endswith("(registered: good-auth, good-headers)")


def test_terminating_the_command_kills_running_probes(tmp_path: Path, host_manifest: Path) -> None:
    src = (SRC / "hostile_spawner.py").read_text() + "\nwhile True:\n    pass\n"
    (tmp_path / "spawn_and_hang.py").write_text(src)
    (tmp_path / "bin").mkdir()  # a PATH with sleep but no bwrap: the unsandboxed fallback, whose plugin writes here
    (tmp_path / "bin" / "sleep").symlink_to(str(shutil.which("sleep")))
    env = {**os.environ, "NO_COLOR": "1", "PATH": str(tmp_path / "bin")}
    proc = subprocess.Popen(
        [
            *krakend_argv(),
            "test-plugin",
            "-s",
            "--manifest",
            str(host_manifest),
            str(tmp_path / "spawn_and_hang.py"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    pid_file = tmp_path / "spawn_and_hang.pid"
    deadline = time.monotonic() + 20
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_file.exists(), "the plugin never started"
    time.sleep(0.2)  # the pid file is written right after the child starts
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    proc.communicate(timeout=20)
    assert time.monotonic() - start < 5, "SIGTERM waited for the 30s import timeout"
    assert proc.returncode == 130
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert (
        not Path(f"/proc/{child}").exists()
        or Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    ), f"the plugin's child {child} survived the command"
