"""One module per output format, each with ``render(report) -> str``; ``-o FORMAT[=FILE]`` here."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from krakend_tools.errors import InputError

if TYPE_CHECKING:
    from krakend_tools.report import Report

FORMATS = ("text", "json", "junit", "github", "sarif")


@dataclass(frozen=True)
class OutputSpec:
    """One consumer of the result: a format, written to a file or (``file=None``) to stdout."""

    format: str
    file: Path | None = None

    @classmethod
    def parse(cls, text: str, root: Path | None = None) -> OutputSpec:
        """``FORMAT`` or ``FORMAT=FILE``; a relative FILE is relative to ``root`` (default: cwd)."""
        name, sep, file = text.partition("=")
        name = name.strip().lower()
        if name not in FORMATS:
            raise InputError(
                f"unknown output format {name!r} in {text!r}: expected FORMAT[=FILE], FORMAT one of "
                f"{', '.join(FORMATS)}"
            )
        if not sep:
            return cls(name)
        if not file:
            raise InputError(f"-o {name}=: the file name is empty")
        path = Path(file)
        if root is not None and not path.is_absolute():
            path = root / path
        if not path.parent.is_dir():
            raise InputError(f"-o {text}: folder {path.parent} does not exist")
        return cls(name, path)


def parse_outputs(texts: Iterable[str], root: Path | None = None) -> list[OutputSpec]:
    """Every ``-o``; ``text`` on stdout when none is given; at most one may use stdout."""
    specs = [OutputSpec.parse(t, root) for t in texts] or [OutputSpec("text")]
    if sum(1 for s in specs if s.file is None) > 1:
        raise InputError("only one -o may write to stdout; give the others a file: -o FORMAT=FILE")
    return specs


TextRenderer = Callable[["Report", TextIO, bool], None]


def emit(report: Report, specs: Iterable[OutputSpec], text: TextRenderer | None = None) -> int:
    """Write ``report`` to every consumer (regular files atomically; a device or FIFO such as
    ``/dev/null`` is written to, never replaced); the report's exit code.

    ``text(report, stream, rich)`` replaces the plain text renderer (``build`` has its table).
    A consumer that cannot be written (a full disk, a read-only folder) is an InputError."""
    for spec in specs:
        try:
            _emit_one(report, spec, text)
        except BrokenPipeError:
            raise
        except OSError as err:
            where = spec.file if spec.file is not None else "standard output"
            raise InputError(f"cannot write {where}: {err.strerror or err}") from None
    return report.exit_code


def _emit_one(report: Report, spec: OutputSpec, text: TextRenderer | None) -> None:
    if spec.file is None:
        _write(report, spec.format, sys.stdout, text, _rich(sys.stdout))
        sys.stdout.flush()
        return
    if spec.file.exists() and not spec.file.is_file():  # /dev/null, a FIFO: written, never replaced
        with open(spec.file, "w", encoding="utf-8") as fh:
            _write(report, spec.format, fh, text, False)
        return
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{spec.file.name}.", dir=spec.file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            _write(report, spec.format, fh, text, False)
        os.replace(tmp, spec.file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rich(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _write(report: Report, fmt: str, stream: TextIO, text: TextRenderer | None, rich: bool) -> None:
    from importlib import import_module

    if fmt == "text" and text is not None:
        text(report, stream, rich)
        return
    module = import_module(f"krakend_tools.output.{fmt}")
    if fmt == "text" and rich:
        module.print_rich(report)
    else:
        stream.write(module.render(report))
