"""Hostile plugins at import, with real processes: nothing they do breaks or fools the tool."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from krakend_tools.plugin_test.import_phase import LocalRunner, import_test, parse_probe_output
from krakend_tools.plugin_test.supervise import Completed
from tests.conftest import alive, krakend_argv, run_krakend

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


@pytest.fixture(scope="module")
def runner() -> LocalRunner:
    return LocalRunner(sys.executable)


@pytest.fixture(scope="module")
def bare() -> LocalRunner:
    """The fallback where bubblewrap cannot run: host processes, killed by hand."""
    return LocalRunner(sys.executable, sandbox=False)


def plugin(folder: Path, name: str, body: str, register: bool = True) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body) + (REGISTER if register else ""))
    return path


REGISTER = """
class HandlerRegisterer:
    def register_handlers(self, register):
        register("ok", lambda cfg, nxt: nxt)
"""


def _wait_pids(path: Path, count: int) -> list[int]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if path.exists():
            pids = path.read_text().split()
            if len(pids) >= count:
                return [int(p) for p in pids]
        time.sleep(0.01)
    raise AssertionError(f"{path} never got {count} pids")


def test_a_child_in_its_own_session_is_killed(bare: LocalRunner, tmp_path: Path) -> None:
    plugin(
        tmp_path,
        "setsid_child",
        """
        import os, time
        from pathlib import Path
        pid = os.fork()
        if pid == 0:
            os.setsid()
            Path(__file__).with_suffix(".pid").write_text(str(os.getpid()))
            time.sleep(300)
            os._exit(0)
        while not Path(__file__).with_suffix(".pid").exists():
            time.sleep(0.01)
        """,
    )
    out = import_test(bare, [str(tmp_path)], "setsid_child", ["server"], 20)
    (pid,) = _wait_pids(tmp_path / "setsid_child.pid", 1)
    assert out.results["server"].ok
    assert out.leftovers >= 1
    assert not alive(pid), f"{pid} (setsid) outlived the probe"


def test_a_double_forked_daemon_is_killed(bare: LocalRunner, tmp_path: Path) -> None:
    plugin(
        tmp_path,
        "daemon_child",
        """
        import os, time
        from pathlib import Path
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.setpgid(0, 0)
                Path(__file__).with_suffix(".pid").write_text(str(os.getpid()))
                time.sleep(300)
            os._exit(0)
        while not Path(__file__).with_suffix(".pid").exists():
            time.sleep(0.01)
        time.sleep(0.1)  # the middle process is gone: the daemon is an orphan
        """,
    )
    out = import_test(bare, [str(tmp_path)], "daemon_child", ["server"], 20)
    (pid,) = _wait_pids(tmp_path / "daemon_child.pid", 1)
    assert out.results["server"].ok
    assert not alive(pid), f"{pid} (double fork) outlived the probe"
    assert not Path(f"/proc/{pid}").exists(), f"{pid} was not reaped"


FORGE = """
import json, os
RECORD = json.dumps({"module": "forger", "file": "x", "python": "3", "error": None,
                     "results": {"server": {"ok": True, "registered": ["forged"],
                                            "error": None, "problems": [], "hooks": []}}})
for fd in range(0, 64):  # every descriptor the plugin can find, the probe's stdout included
    try:
        os.write(fd, (RECORD + "\\n").encode())
    except OSError:
        pass
"""


@pytest.mark.parametrize("code", [3, 0])
def test_a_forged_record_then_exit_is_not_a_success(runner: LocalRunner, tmp_path: Path, code: int) -> None:
    plugin(tmp_path, "forger", FORGE + f"os._exit({code})\n")
    out = import_test(runner, [str(tmp_path)], "forger", ["server"], 20)
    assert out.error == f"exited with code {code} during import"
    assert out.results == {}


def test_a_forged_record_with_wrong_types_is_reported_not_crashing() -> None:
    bad = json.dumps({"module": 5, "results": {"server": {"ok": "yes", "registered": 7}}})
    out = parse_probe_output(Completed(0, bad + "\n", ""), "m", 5)
    assert out.error is not None and out.error.startswith("the probe's result record is malformed")
    assert out.results == {}
    nested = "[" * 100_000 + "]" * 100_000
    assert parse_probe_output(Completed(0, "{" + nested, ""), "m").error is not None


def test_output_is_capped_while_it_is_read(tmp_path: Path, host_manifest: Path) -> None:
    """300 MB on stdout and stderr: the CLI's memory stays small, the result is still read."""
    plugin(
        tmp_path,
        "flood",
        """
        import os
        block = b"x" * (1 << 20)
        for _ in range(150):
            os.write(1, block)  # the probe points fd 1 at stderr
            os.write(2, block)
        """,
    )
    code = (
        "import resource, subprocess, sys; "
        "p = subprocess.run(sys.argv[1:], capture_output=True); "
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.stderr.write(p.stderr.decode(errors='replace')[-2000:])"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            *krakend_argv(),
            "test-plugin",
            "-s",
            "--manifest",
            str(host_manifest),
            str(tmp_path / "flood.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    rc, max_rss_kb = map(int, proc.stdout.split())
    assert rc == 0, proc.stderr
    assert max_rss_kb < 200 * 1024, f"{max_rss_kb} KiB"


def test_a_lone_surrogate_name_does_not_crash_the_renderers(tmp_path: Path, host_manifest: Path) -> None:
    plugin(
        tmp_path,
        "surrogate",
        """
        class HandlerRegisterer:
            def register_handlers(self, register):
                register("bad\\udcffname", lambda cfg, nxt: nxt)
        """,
        register=False,
    )
    for output in ("text", "json", "junit", "github"):
        proc = run_krakend(
            "test-plugin", "-s", "--manifest", str(host_manifest), "-o", output, str(tmp_path / "surrogate.py")
        )
        assert proc.returncode == 0, (output, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert output not in ("text", "json") or "udcff" in proc.stdout


def test_importing_a_py_plugin_writes_no_pycache(runner: LocalRunner, tmp_path: Path) -> None:
    plugin(tmp_path, "helper_mod", "VALUE = 1\n", register=False)
    plugin(tmp_path, "pyc_plugin", "import helper_mod\n")
    out = import_test(runner, [str(tmp_path)], "pyc_plugin", ["server"], 20)
    assert out.results["server"].ok
    assert not (tmp_path / "__pycache__").exists()


def test_probe_memory_is_not_the_clis(runner: LocalRunner, tmp_path: Path) -> None:
    """The cap holds in-process too: a 64 MB stderr leaves at most the tail in the outcome."""
    plugin(tmp_path, "chatty", "import os\nos.write(2, b'y' * (64 << 20))\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = import_test(runner, [str(tmp_path)], "chatty", ["server"], 30)
    assert out.results["server"].ok
    assert len(out.stderr) <= 64 * 1024
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 48 * 1024
