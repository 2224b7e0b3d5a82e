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
