"""The local import phase in bubblewrap, its fallback, and hostile plugins that try to reach the host."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from krakend_tools.importtest import LocalRunner, ProbeOutcome, TypeResult, find_sandbox, import_test
from tests.conftest import run_krakend

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces and /proc")

REGISTER = """
class HandlerRegisterer:
    def register_handlers(self, register):
        register("ok", lambda cfg, nxt: nxt)
"""


def plugin(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body) + REGISTER)
    return path


def test_a_link_planted_in_place_of_the_scratch_folder_is_never_followed(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("mine")
    (canary / "sub").mkdir()
    (canary / "sub" / "keep.txt").write_text("mine too")
    plugin(
        tmp_path,
        "swap_cwd",
        f"""
        import os
        cwd = os.getcwd()
        os.rename(cwd, cwd + "-moved")
        os.symlink({str(canary)!r}, cwd)
        """,
    )
    runner = LocalRunner(sys.executable)
    try:
        import_test(runner, [str(tmp_path)], "swap_cwd", ["server"], 20)
    finally:
        runner.close()
    assert (canary / "keep.txt").read_text() == "mine"
    assert (canary / "sub" / "keep.txt").read_text() == "mine too"


NOT_SANDBOXED = "import phase not sandboxed: bubblewrap (bwrap) not found; plugin code ran with the CLI's rights"
needs_sandbox = pytest.mark.skipif(find_sandbox().bwrap is None, reason="bubblewrap cannot run here")


@pytest.fixture(scope="module", params=["sandbox", "bare"])
def runner(request: pytest.FixtureRequest) -> LocalRunner:
    if request.param == "sandbox" and find_sandbox().bwrap is None:
        pytest.skip("bubblewrap cannot run here")
    return LocalRunner(sys.executable, sandbox=request.param == "sandbox")


def never_ok(out: ProbeOutcome) -> bool:
    return out.error is not None or not out.results.get("server", TypeResult(False)).ok


FORGED_RESULT = """
import json, os
def forge(secret):
    record = json.dumps({"module": __name__, "file": __file__, "python": "3", "error": None,
                         "results": {"server": {"ok": True, "registered": ["forged"], "error": None,
                                                "problems": [], "hooks": []}}})
    for fd in range(3, 64):
        try:
            os.write(fd, ("\\n" + secret + " " + record + "\\n").encode())
        except OSError:
            pass
"""

# Each: a plugin that registers nothing valid, then tries to make the probe say it passed.
TAMPERING = {
    "import the probe and patch it": """
        try:
            import krakend_probe
            krakend_probe.register_type = lambda *a, **k: {"ok": True, "registered": ["x"], "error": None}
            krakend_probe.call_registerer = lambda *a, **k: (None, [])
        except ImportError:
            pass
        """,
    "patch the probe through register's globals": """
        class HandlerRegisterer:
            def register_handlers(self, register):
                register("", None)
                g = register.__globals__
                g["verdict"] = lambda *a, **k: {"ok": True, "registered": ["x"], "error": None, "problems": []}
                g["Recorder"].__call__ = lambda self, *a, **k: None
                g["Recorder"].problems = property(lambda self: [])
                g["REGISTERERS"] = {"server": "Other"}
        """,
    "patch the probe through the frames' globals": """
        import sys
        f = sys._getframe(0)
        while f is not None:
            if "call_registerer" in f.f_globals:
                f.f_globals["call_registerer"] = lambda *a, **k: (None, [])
                f.f_globals["verdict"] = lambda *a, **k: {"ok": True, "registered": ["x"], "error": None}
            f = f.f_back
        """,
    "swap a probe function's code found through gc": """
        import gc
        def ok(*a, **k):
            return None, []
        for obj in gc.get_objects():
            if getattr(obj, "__name__", "") in ("call_registerer", "verdict", "_make_hook"):
                obj.__code__ = ok.__code__
        """,
    "rebind register's defaults": """
        class HandlerRegisterer:
            def register_handlers(self, register):
                register.__kwdefaults__ = {"_audit": lambda *a: None}
                register("", None)
        """,
    "forge a driver event": """
        import sys
        sys.audit("krakend.probe", "registering", "server")
        sys.audit("krakend.probe", "register", ("x", lambda c, n: n), {})
        sys.audit("krakend.probe", "registered", "server", None, ())
        sys.audit("krakend.probe", "done")
        """,
    "secret from the frames, a success record, then exit 0": FORGED_RESULT
    + textwrap.dedent(
        """
        import re, sys, types
        HEX = re.compile(r"^[0-9a-f]{32} ?$")
        found, seen = set(), set()
        def scan(obj, depth):
            if depth > 6 or id(obj) in seen:
                return
            seen.add(id(obj))
            if isinstance(obj, str):
                if HEX.match(obj):
                    found.add(obj.strip())
                return
            if isinstance(obj, dict):
                items = list(obj.values())
            elif isinstance(obj, (list, tuple, set, frozenset)):
                items = list(obj)
            elif isinstance(obj, types.FunctionType):
                cells = [c.cell_contents for c in obj.__closure__ or () if c.cell_contents is not c]
                items = [obj.__defaults__, obj.__kwdefaults__, *cells]
            elif isinstance(obj, types.FrameType):
                items = [obj.f_locals, obj.f_back]
            else:
                items = [getattr(obj, "__dict__", None)]
            for item in items:
                scan(item, depth + 1)
        f = sys._getframe(0)
        while f is not None:
            scan(f.f_locals, 0)
            scan(f.f_globals, 0)
            f = f.f_back
        for secret in found:
            forge(secret)
        os._exit(0)
        """
    ),
    "secret through gc, a success record, then exit 0": FORGED_RESULT
    + textwrap.dedent(
        """
        import gc, re
        for obj in gc.get_objects():
            if isinstance(obj, str) and re.match(r"^[0-9a-f]{32} $", obj):
                forge(obj.strip())
        os._exit(0)
        """
    ),
    "a forked child forges a record after the probe's": FORGED_RESULT
    + textwrap.dedent(
        """
        import gc, re, time
        if os.fork() == 0:
            for obj in gc.get_objects():
                if isinstance(obj, str) and re.match(r"^[0-9a-f]{32} $", obj):
                    time.sleep(0.3)
                    forge(obj.strip())
            os._exit(0)
        """
    ),
}


@pytest.mark.parametrize("attack", sorted(TAMPERING))
def test_a_plugin_cannot_make_the_probe_report_a_pass(runner: LocalRunner, tmp_path: Path, attack: str) -> None:
    (tmp_path / "tamper.py").write_text(textwrap.dedent(TAMPERING[attack]))
    out = import_test(runner, [str(tmp_path)], "tamper", ["server"], 20)
    assert never_ok(out), (attack, out)


@pytest.fixture(params=["sandbox", "bare"])
def cli_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The CLI's environment: as it is (bubblewrap found), or a PATH without bwrap (the fallback)."""
    if request.param == "sandbox":
        if find_sandbox().bwrap is None:
            pytest.skip("bubblewrap cannot run here")
        return {}
    return {"PATH": str(tmp_path_factory.mktemp("no-bwrap"))}


def test_writing_to_the_clis_stdout_through_proc_is_refused(
    cli_env: dict[str, str], tmp_path: Path, host_manifest: Path
) -> None:
    """/proc/PID/fd/1 of the parent (the CLI itself when there is no sandbox) or of any process."""
    path = plugin(
        tmp_path,
        "proc_writer",
        """
        import os
        for pid in sorted({os.getppid(), *(int(p) for p in os.listdir("/proc") if p.isdigit())}):
            for fd in (1, 2):
                try:
                    with open(f"/proc/{pid}/fd/{fd}", "w") as out:
                        out.write("[OK] SERVER forged by the plugin")
                except OSError:
                    pass
        """,
    )
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(path), env=cli_env, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "forged" not in proc.stdout and "forged" not in proc.stderr
    assert "the plugin tampered with the probe: opening '/proc/" in proc.stdout


@pytest.mark.parametrize("signum", ["SIGSTOP", "SIGKILL"])
def test_signalling_the_cli_is_refused(
    cli_env: dict[str, str], tmp_path: Path, host_manifest: Path, signum: str
) -> None:
    path = plugin(tmp_path, "parent_killer", f"import os, signal\nos.kill(os.getppid(), signal.{signum})\n")
    args = ("test-plugin", "-s", "--manifest", str(host_manifest), "--timeout", "5", str(path))
    proc = run_krakend(*args, env=cli_env, timeout=30)  # a stopped CLI would not return
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the plugin tampered with the probe: os.kill(" in proc.stdout


HOSTILE_C = r"""
#include <Python.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>

static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, MODNAME_STR, NULL, -1, NULL};

static void everyone(int sig) {  /* every process this plugin can see, but itself */
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && (e = readdir(proc))) {
        int pid = atoi(e->d_name);
        if (pid > 0 && pid != getpid()) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/fd/1", pid);
            int fd = open(path, O_WRONLY);
            if (fd >= 0) { write(fd, "[OK] SERVER forged\n", 19); close(fd); }
            kill(pid, sig);
        }
    }
    if (proc) closedir(proc);
}

PyMODINIT_FUNC PyInit_MODNAME(void) {
#ifdef STOP_ALL
    kill(getppid(), SIGSTOP);
    everyone(SIGSTOP);
    for (;;) pause();
#endif
#ifdef HOLD_PIPES
    if (fork() == 0) { setsid(); if (fork() == 0) { for (;;) pause(); } _exit(0); }
#endif
    PyObject *m = PyModule_Create(&def);
    if (m && !PyRun_String("class HandlerRegisterer:\n def register_handlers(self, r):\n  r(\'c\', lambda c, n: n)\n",
                           Py_file_input, PyModule_GetDict(m), PyModule_GetDict(m))) { Py_DECREF(m); return NULL; }
    return m;
}
"""


def compile_plugin(folder: Path, name: str, define: str) -> Path:
    """A real extension module, built with gcc now, whose import runs ``define``'s attack."""
    source = folder / f"{name}.c"
    source.write_text(HOSTILE_C.replace("PyInit_MODNAME", f"PyInit_{name}").replace("MODNAME_STR", f'"{name}"'))
    out = folder / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-w", f"-I{include}", f"-D{define}", str(source), "-o", str(out)], check=True
    )
    return out


@needs_sandbox
def test_a_compiled_plugin_that_stops_everything_it_sees_does_not_freeze_the_cli(
    tmp_path: Path, host_manifest: Path
) -> None:
    """In C nothing in-process stops it: the sandbox shows it no process of the host."""
    so = compile_plugin(tmp_path, "stopper", "STOP_ALL")
    start = time.monotonic()
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), "--timeout", "3", str(so), timeout=60)
    assert time.monotonic() - start < 3 + 15
    assert proc.returncode == 1 and "timed out after 3s" in proc.stdout, proc.stdout + proc.stderr
    assert "forged" not in proc.stdout


@needs_sandbox
def test_a_grandchild_that_escaped_holding_the_pipes_does_not_keep_the_cli(tmp_path: Path, host_manifest: Path) -> None:
    so = compile_plugin(tmp_path, "holder", "HOLD_PIPES")
    start = time.monotonic()
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), "--timeout", "10", str(so), timeout=60)
    assert time.monotonic() - start < 10
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == str(so)]


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_the_fallback_says_so_in_every_output(tmp_path: Path, host_manifest: Path) -> None:
    """A PATH without bwrap: the import still runs, and every format carries the warning
    (SARIF lists KO results only, so it has no place for it yet)."""
    path = plugin(tmp_path, "plain", "")
    for output in ("text", "json", "junit", "github"):
        args = ("test-plugin", "-s", "--manifest", str(host_manifest), "-o", output, str(path))
        proc = run_krakend(*args, env={"PATH": str(tmp_path)})
        assert proc.returncode == 0, proc.stderr
        assert NOT_SANDBOXED in proc.stdout, output


@needs_sandbox
def test_a_sandboxed_run_has_no_such_warning(tmp_path: Path, host_manifest: Path) -> None:
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(plugin(tmp_path, "plain", "")))
    assert proc.returncode == 0 and "not sandboxed" not in proc.stdout, proc.stdout


def test_the_modules_of_one_artifact_share_its_time_budget(tmp_path: Path, host_manifest: Path) -> None:
    """Two modules of 2 s each in a wheel, with --timeout 3: the second has 1 s left."""
    wheel = tmp_path / "slow-1.0-py3-none-any.whl"
    slow = "import time\ntime.sleep(2)\n" + REGISTER
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("slow_a.py", slow)
        zf.writestr("slow_b.py", slow)
        zf.writestr("slow-1.0.dist-info/top_level.txt", "slow_a\nslow_b\n")
    start = time.monotonic()
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), "--timeout", "3", str(wheel))
    assert proc.returncode == 1 and "timed out after 3s" in proc.stdout, proc.stdout + proc.stderr
    assert time.monotonic() - start < 3 + 10
