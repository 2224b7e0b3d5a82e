"""Defaults and messages a new user meets: a manifest of the tool's own environment is said
to be one, a gateway that embeds CPython gets a manifest from what the introspection script
printed inside it, a --from-lock manifest never makes test-plugin claim the host lacks an
interpreter it has, and no message points at this repository's scripts/ (not in the wheel)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, gateway_manifest, krakend_argv, run_krakend

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin")
PLUGIN = """class HandlerRegisterer:
    def register_handlers(self, register):
        register("x", lambda extra_config, next_handler: next_handler)
"""


def _interpreter_of_the_cli() -> str:
    """The interpreter the CLI under test runs on (the wheel's venv, or this one)."""
    return krakend_argv()[0]


def test_a_manifest_of_the_tools_own_environment_says_so() -> None:
    proc = run_krakend("version", "-o", "json")
    assert proc.returncode == 0
    assert "krakend-tools" in json.loads(proc.stdout)["distributions"]
    (note,) = proc.stderr.splitlines()
    assert note.startswith(f"note: {_interpreter_of_the_cli()} has krakend-tools installed: this manifest lists")
    assert "krakend version --python GATEWAY_PYTHON -o json" in note


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no /usr/bin/python3")
def test_a_gateway_interpreter_without_the_tool_gets_no_note() -> None:
    assert SYSTEM_PYTHON is not None
    probe = subprocess.run([SYSTEM_PYTHON, "-I", "-c", "import krakend_tools"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the system Python has krakend-tools installed")
    proc = run_krakend("version", "--python", SYSTEM_PYTHON, "-o", "json")
    assert proc.returncode == 0 and proc.stderr == ""


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no /usr/bin/python3")
def test_facts_printed_inside_an_embedding_gateway_make_its_manifest(tmp_path: Path) -> None:
    """A gateway that embeds CPython has no ``python`` to pass to --python: it runs the
    stdlib-only introspection script (here through runpy, as an embedded interpreter would)
    and --facts turns what it printed into the same manifest --python makes."""
    assert SYSTEM_PYTHON is not None
    script = ROOT / "krakend_tools" / "manifest" / "introspect.py"
    embedded = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"
    facts = subprocess.run([SYSTEM_PYTHON, "-I", "-c", embedded, str(script)], capture_output=True, check=True)
    (tmp_path / "facts.json").write_bytes(facts.stdout)
    via_facts = run_krakend("version", "-o", "json", "--facts", str(tmp_path / "facts.json"), "--gateway-name", "gw")
    via_python = run_krakend("version", "-o", "json", "--python", SYSTEM_PYTHON, "--gateway-name", "gw")
    assert via_facts.returncode == 0, via_facts.stderr
    one, other = json.loads(via_facts.stdout), json.loads(via_python.stdout)
    assert one["python"] == other["python"] and one["platform"] == other["platform"]
    assert one["gateway"]["name"] == "gw"
    (tmp_path / "bad.json").write_text('{"implementation": "pypy"}')
    bad = run_krakend("version", "--facts", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "not a CPython" in bad.stderr


@pytest.mark.parametrize("python", ["3.11.7", "3.12.4"])
def test_a_from_lock_manifest_never_claims_the_interpreter_is_missing_unchecked(tmp_path: Path, python: str) -> None:
    manifest = gateway_manifest(tmp_path, python=python)
    plugin = tmp_path / "plug.py"
    plugin.write_text(PLUGIN)
    proc = run_krakend("test-plugin", "-s", "--manifest", str(manifest), str(plugin))
    assert proc.returncode == 1
    assert "is not on this host" not in proc.stdout
    assert "the manifest names no interpreter (as one made by --from-lock)" in proc.stdout
    cli_soabi = subprocess.run(
        [_interpreter_of_the_cli(), "-c", "import sysconfig; print(sysconfig.get_config_var('SOABI'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    want = json.loads(manifest.read_text())["python"]["soabi"]
    if cli_soabi == want:
        assert f"is {want}" in proc.stdout and "none of this host's" not in proc.stdout
    else:
        assert f"none of this host's is known to be {want}" in proc.stdout


def test_no_message_of_the_package_points_at_this_repositorys_scripts() -> None:
    """scripts/ is not in the wheel: a user who installed it has no such folder."""
    in_wheel = [*(ROOT / "krakend_tools").rglob("*"), *(ROOT / "builders").rglob("*")]
    shipped = [p for p in in_wheel if p.is_file() and p.suffix in (".py", ".json", ".sh", "")]
    offenders = [str(p.relative_to(ROOT)) for p in shipped if b"scripts/" in p.read_bytes()]
    assert offenders == []


@pytest.mark.parametrize(("python", "code"), [("3.7.17", 2), ("3.8.0", 0)])
def test_a_from_lock_gateway_older_than_the_oldest_python_read_says_so(python: str, code: int) -> None:
    gateway_lock = str(ROOT / "fixtures" / "gateway" / "uv.lock")
    args = ["--from-lock", gateway_lock, "--target", "generic/amd64", "--python-version", python]
    proc = run_krakend("version", "-o", "json", *args)
    assert proc.returncode == code, proc.stderr
    if code:
        assert proc.stdout == "" and proc.stderr == (
            f"krakend version: error: Python {python} is older than 3.8, the oldest krakend-tools reads\n"
        )
