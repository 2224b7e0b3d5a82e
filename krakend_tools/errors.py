"""The one exception type that means "bad input": the CLI prints it on one line and exits 2."""


class InputError(Exception):
    """Bad usage or unreadable input; ``str(err)`` is the whole user-facing message."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


def internal_error(command: str, exc: BaseException) -> int:
    """A bug, not bad input: save the traceback to a file, print one line, return exit code 3."""
    import sys
    import tempfile
    import traceback

    prefix = f"krakend {command}" if command else "krakend"
    first = (traceback.format_exception_only(exc)[-1].strip().splitlines() or [type(exc).__name__])[0]
    with tempfile.NamedTemporaryFile("w", prefix="krakend-traceback-", suffix=".txt", delete=False) as fh:
        fh.write("".join(traceback.format_exception(exc)))
    sys.stderr.write(f"{prefix}: internal error: {first}; full traceback in {fh.name}\n")
    return 3
