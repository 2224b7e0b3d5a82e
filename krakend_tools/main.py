"""Entry point: dispatch, and turn bad input into one line on stderr with exit code 2."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """``krakend``: check-plugin and test-plugin skip the CLI framework; never a traceback."""
    from krakend_tools.errors import InputError

    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["check-plugin"]:  # the CI gates' fast path: no CLI framework
            from krakend_tools.cli_check import run

            code = run(args[1:])
        elif args[:1] == ["test-plugin"]:
            from krakend_tools.cli_test_plugin import run

            code = run(args[1:])
        else:
            code = _run_typer(args)
    except InputError as err:
        sys.stderr.write(f"krakend: error: {err}\n")
        code = 2
    except KeyboardInterrupt:
        sys.stderr.write("krakend: interrupted\n")
        code = 130
    except BrokenPipeError:
        code = 1
    sys.exit(code)


def _run_typer(args: list[str]) -> int:
    import typer
    from typer._click.exceptions import UsageError

    from krakend_tools.cli import app, register_optional_commands

    register_optional_commands()
    try:
        code = typer.main.get_command(app).main(args=args, prog_name="krakend", standalone_mode=False)
    except UsageError as err:
        where = f"krakend {err.ctx.info_name}" if err.ctx and err.ctx.parent else "krakend"
        sys.stderr.write(f"{where}: error: {err.format_message()} (see --help)\n")
        return 2
    except typer.Abort:
        sys.stderr.write("krakend: aborted\n")
        return 130
    return code if isinstance(code, int) else 0
