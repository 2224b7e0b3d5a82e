"""The local import phase in bubblewrap, its fallback, and hostile plugins that try to reach the host."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import sysconfig
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from krakend_tools.plugin_test import import_phase as importtest
from krakend_tools.plugin_test._probe import krakend_probe
from krakend_tools.plugin_test.import_phase import LocalRunner, ProbeOutcome, TypeResult, import_test
from krakend_tools.plugin_test.supervise import find_sandbox
from tests.conftest import krakend_argv, run_krakend

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
OK_RESULT = '{"ok": True, "registered": ["forged"], "error": None, "problems": [], "hooks": []}'
SECRETS = r"""
import gc, re, sys, types
HEX = re.compile(r"^[0-9a-f]{32} ?$")
def secrets_in(roots):
    found, seen, stack = set(), set(), [(r, 0) for r in roots]
    while stack:
        obj, depth = stack.pop()
        if depth > 6 or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            if HEX.match(obj):
                found.add(obj.strip())
            continue
        if isinstance(obj, dict):
            items = list(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            items = list(obj)
        elif isinstance(obj, types.FunctionType):
            items = [obj.__defaults__, obj.__kwdefaults__, *(c.cell_contents for c in obj.__closure__ or ())]
        elif isinstance(obj, types.FrameType):
            items = [obj.f_locals, obj.f_back]
        else:
            items = [getattr(obj, "__dict__", None)]
        stack += [(item, depth + 1) for item in items]
    return found
def frames():
    f, out = sys._getframe(0), []
    while f is not None:
        out += [f.f_locals, f.f_globals]
        f = f.f_back
    return out
"""

# Each: a plugin with no valid registration that tries every way (of this probe and the one
# before it) to make the probe say it passed.
TAMPERING = {
    "(a) import the probe by name and patch it": """
        try:
            import krakend_probe
        except ImportError:
            krakend_probe = None
        if krakend_probe is not None:
            krakend_probe.register_type = lambda *a, **k: OK
            krakend_probe.verdict = lambda *a, **k: OK
            krakend_probe.call_registerer = lambda *a, **k: (None, [])
        """,
    "(a) patch the probe's functions found through the frames": """
        import sys
        f = sys._getframe(0)
        while f is not None:
            for name, fake in (("register_type", lambda *a, **k: OK), ("verdict", lambda *a, **k: OK),
                               ("call_registerer", lambda *a, **k: (None, []))):
                if name in f.f_globals:
                    f.f_globals[name] = fake
            f = f.f_back
        """,
    "(a) swap the code of probe functions found through gc": """
        import gc
        def ok(*a, **k):
            return {"ok": True, "registered": ["forged"], "error": None, "problems": [], "hooks": []}
        for obj in gc.get_objects():
            if getattr(obj, "__name__", "") in ("register_type", "verdict") and hasattr(obj, "__code__"):
                obj.__code__ = ok.__code__
        """,
    "(a) rewrite what register leads to after a bad call": """
        class HandlerRegisterer:
            def register_handlers(self, register):
                register("", None)  # a problem: a KO unless the record of it is undone
                if hasattr(register, "problems"):
                    register.problems.clear()
                    register.names.append("forged")
                if hasattr(register, "__kwdefaults__"):
                    register.__kwdefaults__ = {"_audit": lambda *a: None}
                    register.__globals__["verdict"] = lambda *a, **k: OK
                    register("forged", lambda c, n: n)
        """,
    "(b) the secret from the frames, a success record, then exit 0": """
        for secret in secrets_in(frames()):
            forge(secret)
        os._exit(0)
        """,
    "(b) the secret through gc, a success record, then exit 0": """
        for secret in secrets_in(gc.get_objects()):
            forge(secret)
        os._exit(0)
        """,
    "(b) the secret found by a forked child, its success record last, then exit 0": """
        child = os.fork()
        if child == 0:
            for secret in secrets_in(gc.get_objects() + frames()):
                forge(secret)
            os._exit(0)
        os.waitpid(child, 0)
        os._exit(0)
        """,
    "(b) objects whose methods look for the secret from inside the probe, then exit 0": """
        class Sneaky(str):
            def grab(self):
                for secret in secrets_in(frames()):
                    forge(secret)
                    os._exit(0)  # one forged record, and no result of the probe's own
            def __eq__(self, other):
                self.grab()
                return str.__eq__(self, other)
            def __hash__(self):
                self.grab()
                return str.__hash__(self)
            def __format__(self, spec):
                self.grab()
                return str.__format__(self, spec)
            def __repr__(self):
                self.grab()
                return str.__repr__(self)
            def strip(self, *a):
                self.grab()
                return str.strip(self, *a)
        class Factory:
            def __getattr__(self, name):
                Sneaky().grab()
                raise AttributeError(name)
            def __call__(self, *a):
                return None
        class HandlerRegisterer:
            def register_handlers(self, register):
                sys.audit(Sneaky("os.kill"), Sneaky("1"), Sneaky("9"))
                sys.audit("krakend.probe", Sneaky("register"), (Sneaky("x"), Factory()), {Sneaky("y"): Factory()})
                register(Sneaky("forged"), Factory())
                os._exit(0)
        """,
    "(b) events that tell the probe's hook of a registration": """
        import sys
        sys.audit("krakend.probe", "registering", "server")
        sys.audit("krakend.probe", "register", ("forged", lambda c, n: n), {})
        sys.audit("krakend.probe", "registered", "server", None, ())
        sys.audit("krakend.probe", "done")
        """,
}


@pytest.mark.parametrize("attack", sorted(TAMPERING))
def test_a_plugin_cannot_make_the_probe_report_a_pass(runner: LocalRunner, tmp_path: Path, attack: str) -> None:
    prelude = FORGED_RESULT + SECRETS + f"OK = {OK_RESULT}\n"
    (tmp_path / "tamper.py").write_text(prelude + textwrap.dedent(TAMPERING[attack]))
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
    """/proc/PPID/fd/N: the CLI itself when there is no sandbox, the sandbox's init in it."""
    path = plugin(
        tmp_path,
        "proc_writer",
        """
        import os
        for pid in (os.getppid(), 1):
            for fd in range(10):
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
    int boxed = getppid() == 1;  /* the sandbox's init is its parent: never attack a host by mistake */
#ifdef STOP_ALL
    if (boxed) {
    kill(getppid(), SIGSTOP);
    everyone(SIGSTOP);
    for (;;) pause();
    }
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
    """In C nothing in-process stops it: the sandbox shows it no process of the host (the
    plugin attacks only when its parent is the sandbox's init, so a broken sandbox fails the
    test instead of stopping the machine)."""
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
    assert not running("--module\0holder\0")


def running(marker: str) -> list[int]:
    """Host processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@needs_sandbox
def test_terminating_the_cli_kills_a_sandboxed_probe_and_its_children(tmp_path: Path, host_manifest: Path) -> None:
    marker = f"krakend-test-{os.getpid()}-{time.monotonic_ns()}"
    path = plugin(
        tmp_path, "spawn_and_hang", f"import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 300; : {marker}'])\n"
    )
    path.write_text(path.read_text() + "\nwhile True:\n    pass\n")
    argv = [*krakend_argv(), "test-plugin", "-s", "--manifest", str(host_manifest), str(path)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + 20
    while not running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running(marker), "the plugin's child never started"
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    proc.communicate(timeout=20)
    assert time.monotonic() - start < 5 and proc.returncode == 130
    time.sleep(0.2)
    assert not running(marker), "the plugin's child outlived the command"


def test_the_fallback_says_so_in_every_output(tmp_path: Path, host_manifest: Path) -> None:
    """A PATH without bwrap: the import still runs, and every format carries the warning
    (SARIF lists KO results only, so it has no place for it yet)."""
    path = plugin(tmp_path, "plain", "")
    for output in ("text", "json", "junit", "github"):
        args = ("test-plugin", "-s", "--manifest", str(host_manifest), "-o", output, str(path))
        proc = run_krakend(*args, env={"PATH": str(tmp_path)})
        assert proc.returncode == 0, proc.stderr
        assert NOT_SANDBOXED in proc.stdout, output
    if find_sandbox().bwrap is not None:  # and a sandboxed run has no such warning
        proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(path))
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


@needs_sandbox
def test_what_a_sandboxed_plugin_sees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its own processes only, no network, no environment, no other temporary files, a capped
    address space; the folders it is given, read-only."""
    monkeypatch.setenv("KRAKEND_TEST_SECRET", "host-only")
    (tmp_path / "neighbour.txt").write_text("another run's file")
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    plugin(
        artifact,
        "looker",
        f"""
        import os, resource, socket
        FACTS = {{
            "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "neighbour": os.path.exists({str(tmp_path / "neighbour.txt")!r}),
            "secret": os.environ.get("KRAKEND_TEST_SECRET"),
            "as": resource.getrlimit(resource.RLIMIT_AS),
            "interfaces": sorted(name for _, name in socket.if_nameindex()),
        }}
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=2)
        except OSError as err:
            FACTS["connect"] = type(err).__name__
        """,
    )
    (artifact / "looker.py").write_text(
        (artifact / "looker.py").read_text().replace('register("ok"', "register(repr(FACTS)")
    )
    out = import_test(LocalRunner(sys.executable), [str(artifact)], "looker", ["server"], 20)
    assert out.error is None, out
    facts = ast.literal_eval(out.results["server"].registered[0])
    assert facts["pids"] == [1, 2]  # the sandbox's init and the probe
    assert facts["neighbour"] is False and facts["secret"] is None
    assert facts["as"] == (importtest.MEMORY_CAP, importtest.MEMORY_CAP)
    assert facts["interfaces"] == ["lo"] and facts["connect"] == "ConnectionRefusedError"


@pytest.mark.parametrize(
    ("path", "cwd", "flagged"),
    [
        ("/proc/1/fd/1", "/", True),
        ("1/fd/1", "/proc", True),
        ("/proc/self/../1/mem", "/", True),
        ("/proc/7/task/7/fd/2", "/", True),
        (b"/proc/1/root/etc/passwd", "/", True),
        ("/proc/self/fd/1", "/", False),
        ("/proc/42/fd/1", "/", False),  # the probe's own pid
        ("/proc/1/status", "/", False),
        ("/tmp/proc/1/fd/1", "/", False),
    ],
)
def test_which_proc_paths_the_probe_refuses(path: str | bytes, cwd: str, flagged: bool) -> None:
    assert (krakend_probe._proc_of_another(path, 42, lambda: cwd) is not None) is flagged
