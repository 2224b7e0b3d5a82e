"""The import phase: the probe in a fresh process, and every way a plugin can go wrong."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from krakend_tools.plugin_test import import_phase as importtest
from krakend_tools.plugin_test import supervise
from krakend_tools.plugin_test.import_phase import LocalRunner, import_test, parse_probe_output
from krakend_tools.plugin_test.supervise import Completed
from tests.conftest import alive

SRC = Path(__file__).resolve().parent.parent / "fixtures" / "plugins_src"
sys.path.insert(0, str(SRC))
import build  # noqa: E402  (fixtures/plugins_src/build.py)

ALL = ["server", "client", "modifier"]


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("import-phase")
    build.copy_sources(folder)
    return folder


@pytest.fixture(scope="module")
def runner() -> LocalRunner:
    return LocalRunner(sys.executable)


@pytest.fixture(scope="module")
def bare() -> LocalRunner:
    """The fallback where bubblewrap cannot run: host processes, killed by hand."""
    return LocalRunner(sys.executable, sandbox=False)


def probe(
    runner: LocalRunner, plugins: Path, module: str, timeout: float = 20, types: list[str] | None = None
) -> importtest.ProbeOutcome:
    return import_test(runner, [str(plugins)], module, types or ALL, timeout)


def test_good_plugin_registers_everything(runner: LocalRunner, plugins: Path) -> None:
    out = probe(runner, plugins, "good_plugin")
    assert out.error is None
    assert out.file == str(plugins / "good_plugin.py")
    assert out.python == ".".join(map(str, sys.version_info[:3]))
    assert out.results["server"].registered == ["good-auth", "good-headers"]
    assert out.results["client"].registered == ["good-client"]
    assert out.results["modifier"].registered == ["good-modifier"]
    assert all(r.ok for r in out.results.values())
    assert "good plugin: logger registered" in out.stderr  # register_logger was called


def test_segfault_at_import(runner: LocalRunner, plugins: Path) -> None:
    out = probe(runner, plugins, "hostile_segfault")
    assert out.error == "killed by SIGSEGV during import"
    assert out.returncode == -11 and out.results == {}


def test_segfault_while_registering(runner: LocalRunner, plugins: Path) -> None:
    out = probe(runner, plugins, "hostile_segfault_register")
    assert out.error == "killed by SIGSEGV while registering the server plugin"


def test_hang_is_cut_at_the_timeout(runner: LocalRunner, plugins: Path) -> None:
    start = time.monotonic()
    out = probe(runner, plugins, "hostile_hang", timeout=1)
    assert out.error == "timed out after 1s"
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("module", ["hostile_os_exit", "hostile_sys_exit"])
def test_exit_at_import(runner: LocalRunner, plugins: Path, module: str) -> None:
    assert probe(runner, plugins, module).error == "exited with code 3 during import"


def test_exception_reports_its_last_line_and_keeps_stderr(runner: LocalRunner, plugins: Path) -> None:
    out = probe(runner, plugins, "hostile_raises")
    assert out.error == "RuntimeError: missing KRAKEND_PLUGIN_TOKEN"
    assert "Traceback (most recent call last)" in out.stderr
    assert "plugin init failed:" in out.stderr


def test_plugin_stdout_does_not_break_the_json(runner: LocalRunner, plugins: Path) -> None:
    out = probe(runner, plugins, "hostile_noisy")
    assert out.error is None
    assert out.results["server"].registered == ["noisy"]
    assert "raw fd 1 noise" in out.stderr and "registering from stdout" in out.stderr


def test_children_spawned_by_the_plugin_are_killed(bare: LocalRunner, tmp_path: Path) -> None:
    shutil.copy(SRC / "hostile_spawner.py", tmp_path)
    out = probe(bare, tmp_path, "hostile_spawner", types=["server"])
    pid = int((tmp_path / "hostile_spawner.pid").read_text())
    assert out.results["server"].ok  # it loads: leaving a process behind is not a KO
    assert out.leftovers == 1
    assert not alive(pid), f"the plugin's child {pid} outlived the probe"
    assert not Path(f"/proc/{pid}").exists(), f"the plugin's child {pid} was not reaped"


def test_hung_plugin_children_are_killed_too(bare: LocalRunner, tmp_path: Path) -> None:
    src = (SRC / "hostile_spawner.py").read_text() + "\nwhile True:\n    pass\n"
    (tmp_path / "spawn_and_hang.py").write_text(src)
    out = probe(bare, tmp_path, "spawn_and_hang", timeout=1, types=["server"])
    pid = int((tmp_path / "spawn_and_hang.pid").read_text())
    assert out.error == "timed out after 1s"
    assert not alive(pid)


def test_missing_module(runner: LocalRunner, plugins: Path) -> None:
    out = probe(runner, plugins, "no_such_plugin")
    assert out.error == "ModuleNotFoundError: No module named 'no_such_plugin'"


def test_probe_runs_in_a_scratch_folder(tmp_path: Path) -> None:
    (tmp_path / "cwd_plugin.py").write_text(
        "import os\nCWD = os.getcwd()\nLEFT = sorted(os.listdir(CWD))\n"
        "open('litter.txt', 'w').write('x')\nos.mkdir('litter-dir')\n"
        "class HandlerRegisterer:\n"
        "    def register_handlers(self, register):\n"
        "        register(CWD, lambda c, n: n)\n"
        "        register('found:' + ','.join(LEFT), lambda c, n: n)\n"
    )
    own = LocalRunner(sys.executable, sandbox=False)
    first = probe(own, tmp_path, "cwd_plugin", types=["server"]).results["server"].registered
    second = probe(own, tmp_path, "cwd_plugin", types=["server"]).results["server"].registered
    cwd = first[0]
    assert cwd != os.getcwd() and "krakend-probe-" in cwd
    assert second[1] == "found:"  # a fresh folder each probe
    assert not Path(cwd).exists() and not Path(second[0]).exists()  # each gone when its probe returned


@pytest.mark.skipif(supervise.find_sandbox().bwrap is None, reason="bubblewrap cannot run here")
def test_a_sandboxed_probe_writes_only_in_its_own_tmpfs(tmp_path: Path) -> None:
    (tmp_path / "cwd_plugin.py").write_text(
        "import os\nCWD = os.getcwd()\nLEFT = sorted(os.listdir(CWD))\n"
        "open('litter.txt', 'w').write('x')\n"
        "try:\n    open(__file__ + '.new', 'w')\nexcept OSError as e:\n    RO = type(e).__name__\n"
        "class HandlerRegisterer:\n"
        "    def register_handlers(self, register):\n"
        "        register(CWD, lambda c, n: n)\n"
        "        register('found:' + ','.join(LEFT), lambda c, n: n)\n"
        "        register('artifact:' + RO, lambda c, n: n)\n"
    )
    own = LocalRunner(sys.executable)
    first = probe(own, tmp_path, "cwd_plugin", types=["server"]).results["server"].registered
    second = probe(own, tmp_path, "cwd_plugin", types=["server"]).results["server"].registered
    assert first == second == [supervise.SANDBOX_CWD, "found:", "artifact:OSError"]
    assert not Path(supervise.SANDBOX_CWD).exists()  # a tmpfs inside the sandbox only
    assert not (tmp_path / "cwd_plugin.py.new").exists()


def test_probe_needs_only_the_stdlib(plugins: Path) -> None:
    """The probe script runs as-is under another interpreter, without krakend_tools."""
    other = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.access(p, os.X_OK)), sys.executable)
    argv = importtest.probe_argv(other, str(importtest.PROBE_PATH), [str(plugins)], "good_plugin", ["client"])
    assert argv[:2] == [other, "-I"] and str(importtest.PROBE_PATH.parent) in argv
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["module"] == "good_plugin" and data["error"] is None
    assert data["results"]["client"] == {
        "ok": True,
        "registered": ["good-client"],
        "error": None,
        "problems": [],
        "hooks": [],
    }


def test_probe_usage_error_is_not_blamed_on_the_plugin(runner: LocalRunner) -> None:
    completed = runner.run([sys.executable, "-I", str(importtest.PROBE_PATH), "--bogus"], 10)
    assert completed.returncode == 64
    out = parse_probe_output(completed, "x")
    assert out.error is not None and out.error.startswith("the probe failed (exit 64)")


def test_interpreter_that_does_not_exist() -> None:
    out = import_test(LocalRunner("/nonexistent/python3"), ["/tmp"], "x", ["server"], 5)
    assert out.error is not None and "cannot run /nonexistent/python3" in out.error


def test_parse_reads_the_last_json_line() -> None:
    line = json.dumps(
        {
            "module": "m",
            "file": "/p/m.py",
            "python": "3.11.7",
            "error": None,
            "results": {"server": {"ok": True, "registered": ["a"], "error": None}},
        }
    )
    out = parse_probe_output(Completed(0, "noise\n" + line + "\n", ""), "m")
    assert out.error is None and out.results["server"].registered == ["a"]
    killed = parse_probe_output(Completed(-9, "", importtest.MARKER + "m\n"), "m")
    assert killed.error == "killed by SIGKILL during import"
