"""Entry point: run the Typer app; bad input is one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from krakend_tools.errors import InputError

COMMANDS = ("version", "check-plugin", "test-plugin", "build")
COMPLETE_VAR = "_KRAKEND_COMPLETE"
# What each shell's completion script (typer's) sets around ``_KRAKEND_COMPLETE=complete_<shell>``.
_SHELL_VARS = {
    "bash": ("COMP_WORDS", "COMP_CWORD"),
    "zsh": ("_TYPER_COMPLETE_ARGS",),
    "fish": ("_TYPER_COMPLETE_ARGS", "_TYPER_COMPLETE_FISH_ACTION"),
    "powershell": ("_TYPER_COMPLETE_ARGS",),
    "pwsh": ("_TYPER_COMPLETE_ARGS",),
}


def main(argv: list[str] | None = None) -> None:
    """``krakend``: alone, the help (exit 0); usage errors ``krakend <cmd>: error: … (see --help)``;
    never a traceback."""
    from krakend_tools.errors import InputError, internal_error, print_input_error

    _open_std_streams()
    args = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in args if a in COMMANDS), "")
    prefix = f"krakend {command}" if command else "krakend"
    for stream in (sys.stdout, sys.stderr):  # undecodable names never crash a renderer
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        with _terminate_as_interrupt():
            _keep_completion_request(args)
            code = _run(args or ["--help"], command)
    except InputError as err:
        code = print_input_error(err, command)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prefix}: interrupted\n")
        code = 130
    except BrokenPipeError:
        code = 1
    except (SystemExit, GeneratorExit):
        raise
    except (OSError, RuntimeError) as exc:
        refused = _refused(exc)
        if refused is None:
            code = internal_error(command, exc)
        else:
            _quiet_stdout()
            code = print_input_error(refused, command)
    except BaseException as exc:  # noqa: BLE001 - a bug: one line and exit 3, never a wall of text
        code = internal_error(command, exc)
    sys.exit(code)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C while a command runs: every cleanup runs (temporary folders,
    child processes) and the exit is 130, as for an interrupt."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open_std_streams() -> None:
    """A standard stream started closed (``2>&-``) becomes /dev/null: every exit keeps its code
    (bad input stays 2, not a crash's 1 or 3) and no file the command opens takes its number."""
    import os

    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, os.fdopen(fd, "r" if fd == 0 else "w", closefd=False))


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_BAD_NAME = (errno.ENAMETOOLONG, errno.ELOOP)


def _refused(exc: OSError | RuntimeError) -> InputError | None:
    """The one line for an error of the machine or of a path given to the command (a full
    disk, a name too long, a symlink loop, a current folder removed); None for a bug."""
    from krakend_tools.errors import InputError

    if isinstance(exc, RuntimeError):  # pathlib's resolve() before Python 3.13
        text = str(exc)
        if type(exc) is RuntimeError and text.startswith("Symlink loop from "):
            return InputError(f"a symlink loop: {text.removeprefix('Symlink loop from ')}")
        return None
    if exc.errno in _NO_ROOM:  # stdout, an output file, a temporary file
        return InputError(f"cannot write: {exc.strerror}", path=exc.filename)
    if exc.errno in _BAD_NAME and exc.filename:
        return InputError(str(exc.strerror), path=exc.filename)
    if _cwd_gone():
        return InputError("the current folder no longer exists")
    return None


def _cwd_gone() -> bool:
    import os

    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _quiet_stdout() -> None:
    """Point a stdout that cannot take what is pending at /dev/null: the interpreter's last
    flush then stays quiet."""
    import os

    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _keep_completion_request(args: list[str]) -> None:
    """Keep ``_KRAKEND_COMPLETE`` only when the shell asks for completion: ``source_<shell>``, or
    ``complete_<shell>`` with the variables that shell's script sets, and no arguments (the scripts
    pass none). Any other value (one left over in a CI environment) is dropped: the command runs,
    never a silent exit 1."""
    import os

    value = os.environ.pop(COMPLETE_VAR, None)
    if value is None or args:
        return
    instruction, _, shell = value.partition("_")
    wanted = _SHELL_VARS.get(shell)
    if wanted is None or instruction not in ("source", "complete"):
        return
    if instruction == "complete" and not all(name in os.environ for name in wanted):
        return
    if instruction == "complete" and shell == "bash" and not os.environ["COMP_CWORD"].isdigit():
        return
    os.environ[COMPLETE_VAR] = value


def _run(args: list[str], command: str = "") -> int:
    """Run the app; for one command's run, an app holding that command alone (faster to build).
    Completion needs them all."""
    import os

    import typer

    from krakend_tools.cli.app import make_app

    app = make_app(command if command and COMPLETE_VAR not in os.environ else None)
    try:
        code = typer.main.get_command(app).main(args=args, prog_name="krakend", standalone_mode=False)
    except typer.Abort:
        sys.stderr.write("krakend: aborted\n")
        return 130
    except Exception as err:
        if not _is_usage_error(err):
            raise
        ctx = getattr(err, "ctx", None)
        where = ctx.command_path if ctx is not None else "krakend"
        from krakend_tools.errors import one_line

        message = one_line(err.format_message())  # type: ignore[attr-defined]
        sys.stderr.write(f"{where}: error: {message} (see --help)\n")
        return 2
    return code if isinstance(code, int) else 0


def _is_usage_error(err: Exception) -> bool:
    """Click's UsageError (exit code 2, ``format_message()``), recognised without importing click
    or typer's private copy of it: typer re-exports only ``BadParameter``, one of its subclasses."""
    return getattr(err, "exit_code", None) == 2 and callable(getattr(err, "format_message", None))
