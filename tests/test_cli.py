"""The top level of the CLI, as a user meets it: help, version, completion, error lines.

``KRAKEND_TEST_PYTHON`` runs these against another interpreter (tests/test_typer_floor.py
points it at a venv holding the lowest typer that pyproject.toml allows)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from krakend_tools import __version__

ROOT = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("KRAKEND_TEST_PYTHON", sys.executable)
COMMANDS = ["version", "check-plugin", "test-plugin", "build"]


def krakend(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT), "COLUMNS": "100", **(env or {})}
    full_env.pop("KRAKEND_MANIFEST", None)
    return subprocess.run(
        [PYTHON, "-m", "krakend_tools", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60
    )


def test_no_arguments_prints_help_and_exits_0() -> None:
    proc = krakend()
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("Usage: krakend [OPTIONS] COMMAND [ARGS]...")
    for command in COMMANDS:
        assert f"  {command} " in proc.stdout


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_flags_at_the_top(flag: str) -> None:
    proc = krakend(flag)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == krakend().stdout


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_flags_on_every_command_one_style(command: str, flag: str) -> None:
    proc = krakend(command, flag)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith(f"Usage: krakend {command} [OPTIONS]")
    assert "  -h, --help " in proc.stdout


def test_version_flag() -> None:
    proc = krakend("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"krakend-tools {__version__}\n", "")


def test_same_long_option_same_meaning() -> None:
    """--python is an interpreter path everywhere; check-plugin's version override is --python-version."""
    for command in ("version", "test-plugin"):
        assert "--python PATH" in krakend(command, "--help").stdout
    check = krakend("check-plugin", "--help").stdout
    assert "-g, --python-version X.Y[.Z]" in check and "--python " not in check


def test_unknown_command_is_one_line() -> None:
    proc = krakend("nope")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("krakend: error: ") and "nope" in proc.stderr
    assert proc.stderr.endswith(" (see --help)\n")


@pytest.mark.parametrize("command", COMMANDS)
def test_usage_error_prefix_names_the_command(command: str) -> None:
    proc = krakend(command, "--no-such-option")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"krakend {command}: error: ")
    assert "--no-such-option" in proc.stderr and proc.stderr.endswith(" (see --help)\n")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["test-plugin"], "ARTIFACT"),  # a missing argument
        (["test-plugin", "-s", "-j", "0", "x.so"], "-j"),  # a bad value
        (["check-plugin", "-o", "yaml"], "yaml"),  # a bad output format
        (["check-plugin", "-o", "json", "-o", "text"], "stdout"),  # two outputs on stdout
    ],
)
def test_bad_values_are_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    proc = krakend(*args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"krakend {args[0]}: error: ") and needle in proc.stderr


def test_input_error_prefix(tmp_path: Path) -> None:
    proc = krakend("check-plugin", "-s", str(tmp_path / "missing.lock"), "--manifest", "host")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("krakend check-plugin: error: ")


def test_version_facts_names_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    """``--facts FILE`` on a file that is no introspection output: one line about the file."""
    (tmp_path / "facts.txt").write_text("not json\n")
    proc = krakend("version", "--facts", "facts.txt", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "krakend version: error: facts.txt:1: invalid JSON: Expecting value (column 1)\n"


def test_shell_completion_of_commands_and_options() -> None:
    env = {"_KRAKEND_COMPLETE": "complete_bash", "COMP_WORDS": "krakend che", "COMP_CWORD": "1"}
    assert krakend(env=env).stdout.split() == ["check-plugin"]
    env = {"_KRAKEND_COMPLETE": "complete_bash", "COMP_WORDS": "krakend test-plugin --st", "COMP_CWORD": "2"}
    assert krakend(env=env).stdout.split() == ["--static-only"]
    script = krakend("--show-completion", "bash")
    assert script.returncode == 0 and "_KRAKEND_COMPLETE=complete_bash" in script.stdout


def test_internal_error_is_one_line_exit_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from krakend_tools.cli import main as entry

    def boom(args: list[str], command: str = "") -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(entry, "_run", boom)
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["check-plugin", "-s", "x.lock"])
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("krakend check-plugin: internal error: KeyError: 'a bug'; ")
    saved = Path(err.rsplit("full traceback in ", 1)[1].strip())
    try:
        assert "Traceback (most recent call last)" in saved.read_text() and "boom" in saved.read_text()
    finally:
        saved.unlink()
