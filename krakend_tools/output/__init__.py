"""One module per output format, each a :class:`Renderer`; ``-o FORMAT[=FILE]`` here."""

from __future__ import annotations

import errno
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, TextIO

from krakend_tools.errors import InputError, print_note

if TYPE_CHECKING:
    from krakend_tools.report import Report


class Renderer(Protocol):
    """An output format: the module that renders a report as the text of one consumer."""

    def render(self, report: Report) -> str: ...


def _text() -> Renderer:
    from krakend_tools.output import text

    return text


def _json() -> Renderer:
    from krakend_tools.output import json

    return json


def _junit() -> Renderer:
    from krakend_tools.output import junit

    return junit


def _github() -> Renderer:
    from krakend_tools.output import github

    return github


def _sarif() -> Renderer:
    from krakend_tools.output import sarif

    return sarif


# Format name -> its renderer, imported on first use: one format never imports another.
RENDERERS: Final[dict[str, Callable[[], Renderer]]] = {
    "text": _text,
    "json": _json,
    "junit": _junit,
    "github": _github,
    "sarif": _sarif,
}
FORMATS: Final = tuple(RENDERERS)
# Formats only a CI runner reads, and the variable that says the run is on one: from a
# [tool.krakend] outputs default they apply there only (a -o on the command line always).
CI_ONLY = {"github": "GITHUB_ACTIONS"}


@dataclass(frozen=True)
class OutputSpec:
    """One consumer of the result: a format, written to a file or (``file=None``) to stdout.
    ``within``: the folder a config's output must stay in (None: the command line's, anywhere)."""

    format: str
    file: Path | None = None
    within: Path | None = None
    skipped: str | None = None  # why this consumer is not written this run (said on stderr)

    @classmethod
    def parse(cls, text: str, root: Path | None = None, confined: bool = False) -> OutputSpec:
        """``FORMAT`` or ``FORMAT=FILE``; a relative FILE is relative to ``root`` (default: cwd).
        ``confined`` (a config's ``outputs``): FILE must be relative and stay inside ``root``."""
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
        if "\0" in file:
            raise InputError(f"-o {text!r}: a file name cannot hold a NUL character")
        path = Path(file)
        if root is not None and not path.is_absolute():
            path = root / path
        within = (root or Path.cwd()).resolve() if confined else None
        if within is not None and Path(file).is_absolute():
            raise InputError(f"[tool.krakend] outputs: {text!r} is an absolute path; a project's outputs stay in it")
        spec = cls(name, path, within)
        spec.check_confined()
        _check_folders(text, path.parent)
        return spec

    def check_confined(self) -> None:
        """A config's output file whose real path (links, ``..`` resolved) leaves its project, or
        goes into a hidden folder of it (``.git/hooks``, ``.venv``, ``.github``): InputError."""
        if self.within is None or self.file is None:
            return
        real = self.file.resolve()
        if not real.is_relative_to(self.within):
            raise InputError(f"[tool.krakend] outputs: {self.file} is outside the project folder {self.within}")
        if any(part.startswith(".") for part in real.relative_to(self.within).parts[:-1]):
            raise InputError(f"[tool.krakend] outputs: {self.file} is in a hidden folder of the project")


def _check_folders(text: str, folder: Path) -> None:
    """The folders of an output file may be missing (they are made, as pytest's ``--junitxml``
    does), but the nearest one that exists must be a folder."""
    for existing in (folder, *folder.parents):
        if existing.exists():
            if not existing.is_dir():
                raise InputError(f"-o {text}: {existing} is not a folder")
            return


def parse_outputs(texts: Iterable[str], root: Path | None = None, confined: bool = False) -> list[OutputSpec]:
    """Every ``-o``; ``text`` on stdout when none is given; at most one may use stdout, and no
    two name one file (whatever the spelling). ``confined`` (a config's ``outputs``): a CI-only
    format is skipped, visibly, where no CI runner is detected, and text takes its stdout."""
    specs = [OutputSpec.parse(t, root, confined) for t in texts] or [OutputSpec("text")]
    if confined:
        specs = _outside_ci(specs)
    if sum(1 for s in specs if s.file is None and not s.skipped) > 1:
        raise InputError("only one -o may write to stdout; give the others a file: -o FORMAT=FILE")
    files = [s.file for s in specs if s.file is not None and not _special(s.file)]  # /dev/null twice is fine
    for i, file in enumerate(files):
        other = next((f for f in files[:i] if _same_file(f, file)), None)
        if other is not None:
            raise InputError(f"two outputs write one file: {other} and {file}")
    return specs


def _outside_ci(specs: list[OutputSpec]) -> list[OutputSpec]:
    """``specs`` with each CI-only format marked skipped unless its runner's variable says
    ``true``; text on stdout when the stdout one was skipped."""
    out: list[OutputSpec] = []
    for spec in specs:
        variable = CI_ONLY.get(spec.format)
        if variable is not None and os.environ.get(variable, "").lower() != "true":
            why = f"[tool.krakend] outputs: {spec.format} not written: ${variable} is not true (no CI runner)"
            out.append(OutputSpec(spec.format, spec.file, spec.within, skipped=why))
        else:
            out.append(spec)
    if any(s.skipped and s.file is None for s in out) and not any(s.file is None and not s.skipped for s in out):
        out.append(OutputSpec("text"))
    return out


TextRenderer = Callable[["Report", TextIO, bool], None]


def emit(
    report: Report,
    specs: Iterable[OutputSpec],
    text: TextRenderer | None = None,
    inputs: Iterable[Path | str | None] = (),
) -> int:
    """Write ``report`` to every consumer (regular files atomically; a device or FIFO such as
    ``/dev/null`` is written to, never replaced); the report's exit code.

    ``text(report, stream, rich)`` replaces the plain text renderer (``build`` has its table).
    An output naming one of the command's ``inputs`` is refused before anything is written.
    A consumer that cannot be written (a full disk, a read-only folder, a FIFO nobody reads)
    is an InputError."""
    specs = list(specs)
    refuse_overwriting(specs, [*inputs, *report.manifest_sources])
    for spec in specs:
        if spec.skipped:
            print_note(f"note: {spec.skipped}")
            continue
        spec.check_confined()  # again: a link may have appeared since the command started
        try:
            _emit_one(report, spec, text)
        except BrokenPipeError:
            raise
        except OSError as err:
            where = spec.file if spec.file is not None else "standard output"
            raise InputError(f"cannot write {where}: {err.strerror or err}") from None
    return report.exit_code


def refuse_overwriting(specs: Iterable[OutputSpec], inputs: Iterable[Path | str | None]) -> None:
    """InputError when an output file is one of ``inputs`` (a lockfile, a manifest, an artifact)."""
    given = [Path(p) for p in inputs if p is not None and str(p) not in ("", "host")]
    for spec in specs:
        source = next((p for p in given if spec.file is not None and _same_file(spec.file, p)), None)
        if source is not None:
            raise InputError(f"-o {spec.format}={spec.file} would overwrite an input of the command: {source}")


def _special(path: Path) -> bool:
    """A device or FIFO: written to in place, never replaced."""
    return path.exists() and not path.is_file()


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: one real path, or one inode (a hard link)."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _emit_one(report: Report, spec: OutputSpec, text: TextRenderer | None) -> None:
    if spec.file is None:
        _write(report, spec.format, sys.stdout, text, _rich(sys.stdout))
        sys.stdout.flush()
        return
    if _special(spec.file):  # /dev/null, a FIFO
        with os.fdopen(_open_special(spec.file), "w", encoding="utf-8") as fh:
            _write(report, spec.format, fh, text, False)
        return
    spec.file.parent.mkdir(parents=True, exist_ok=True)  # made with the umask's rights
    tmp = spec.file.with_name(f".{spec.file.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)  # the umask applies
    try:
        _keep_mode(fd, spec.file)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            _write(report, spec.format, fh, text, False)
        os.replace(tmp, spec.file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _keep_mode(fd: int, path: Path) -> None:
    """A file replaced keeps who may read and write it (as ``>`` would), never an execute bit:
    a report is no program. A new one has the umask's."""
    with suppress(FileNotFoundError):
        os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode) & 0o666)


def _open_special(path: Path) -> int:
    """A device or FIFO opened for writing without waiting: a FIFO nobody reads is an InputError."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ENXIO and stat.S_ISFIFO(os.stat(path).st_mode):
            raise InputError(f"cannot write {path}: a FIFO with no reader") from None
        raise
    os.set_blocking(fd, True)
    return fd


def _rich(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _write(report: Report, fmt: str, stream: TextIO, text: TextRenderer | None, rich: bool) -> None:
    if fmt == "text" and text is not None:
        text(report, stream, rich)
    elif fmt == "text" and rich:
        from krakend_tools.output.text import print_rich

        print_rich(report)
    else:
        stream.write(RENDERERS[fmt]().render(report))
