"""Entry point: dispatch, and turn bad input into one line on stderr with exit code 2."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """``krakend``: check-plugin and test-plugin skip the CLI framework; never a traceback."""
    from krakend_tools.errors import InputError, internal_error, print_input_error

    args = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):  # undecodable names never crash a renderer
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
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
        code = print_input_error(err)
    except KeyboardInterrupt:
        sys.stderr.write("krakend: interrupted\n")
        code = 130
    except BrokenPipeError:
        code = 1
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a bug: one line and exit 3, never a wall of text
        code = internal_error(args[0] if args and not args[0].startswith("-") else "", exc)
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
        from krakend_tools.errors import one_line

        sys.stderr.write(f"{where}: error: {one_line(err.format_message())} (see --help)\n")
        return 2
    except typer.Abort:
        sys.stderr.write("krakend: aborted\n")
        return 130
    return code if isinstance(code, int) else 0
