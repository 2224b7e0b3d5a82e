"""The import phase: run the probe (``_probe/krakend_probe.py``) in a fresh, isolated process and read what happened.

This module is the probe's protocol, the seam between *what* to run and *where*:
:func:`probe_argv` builds the command, a :class:`Runner` runs it (here: :class:`LocalRunner`,
supervised by :mod:`krakend_tools.plugin_test.supervise`; the Docker engine adds one for
runtime images) and :func:`parse_probe_output` turns exit status and output into a
:class:`ProbeOutcome`, believing no record it cannot check.
"""

from __future__ import annotations

import json
import os
import posixpath
import secrets
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from krakend_tools.plugin_test.contract import TYPES
from krakend_tools.plugin_test.supervise import Completed, Supervisor, interpreter_dirs, last_error_line

PROBE_PATH = Path(__file__).with_name("_probe") / "krakend_probe.py"
# Imported rather than run as a script, so its compiled bytecode is reused (~4 ms a probe);
# its folder leaves sys.path before the plugin is imported.
_BOOT = "import sys; sys.path.insert(0, sys.argv.pop(1)); __import__('krakend_probe').run()"
DEFAULT_TIMEOUT = 30.0  # seconds of import phase per artifact (all its modules together)
MEMORY_CAP = 4 << 30  # bytes of address space a probe may map (RLIMIT_AS)
STDERR_KEEP = 20_000  # characters of the probe's stderr kept for -o json
MAX_NAMES = 1000  # registered names kept per type
MAX_TEXT = 2000  # characters kept of one string of a probe record
MARKER = "krakend-probe: importing "  # probe.MARKER
REGISTERING = "krakend-probe: registering "  # probe.REGISTERING


@dataclass
class TypeResult:
    """One plugin type's registration, as the probe saw it."""

    ok: bool
    registered: list[str] = field(default_factory=list)
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)


@dataclass
class ProbeOutcome:
    """One module's import and registration, or why it never got that far."""

    module: str
    error: str | None  # import failed, crashed, hung or exited: the one-line reason
    results: dict[str, TypeResult] = field(default_factory=dict)
    file: str | None = None
    python: str | None = None
    returncode: int | None = None
    stderr: str = ""
    elapsed: float = 0.0
    leftovers: int = 0


class Runner(Protocol):
    """Where probes run. ``run_probe`` is all ``test-plugin`` calls."""

    description: str  # e.g. "local /usr/bin/python3.11" or "docker image:tag"

    def run_probe(
        self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float, libraries: Sequence[str] = ()
    ) -> Completed:
        """Run the probe for ``module`` with ``paths`` (host paths) first on sys.path.
        ``libraries``: library files outside ``paths`` that the plugin loads through
        ``$ORIGIN``; a runner that moves ``paths`` keeps them at the same place relative to
        ``paths``."""
        ...


def probe_argv(
    python: str,
    probe_path: str,
    paths: Sequence[str],
    module: str,
    types: Sequence[str],
    secret_stdin: bool = False,
    memory: int = 0,
    overlay: Sequence[str] = (),
) -> list[str]:
    """``python -I -c BOOT PROBE_DIR [--secret-stdin] [--memory B] --path P... [--overlay O...]
    --module M --type T...``: ``overlay`` folders come after the interpreter's own packages."""
    argv = [python, "-I", "-c", _BOOT, posixpath.dirname(probe_path)]
    if secret_stdin:
        argv.append("--secret-stdin")
    if memory:
        argv += ["--memory", str(memory)]
    for path in paths:
        argv += ["--path", path]
    for folder in overlay:
        argv += ["--overlay", folder]
    argv += ["--module", module]
    for kind in types:
        argv += ["--type", kind]
    return argv


class LocalRunner(Supervisor):
    """Runs probes with a local interpreter, supervised (see :class:`Supervisor`)."""

    def __init__(
        self,
        python: str,
        site_packages: Sequence[str] = (),
        probe_path: str | None = None,
        sandbox: bool | None = None,
        overlay: Sequence[str] = (),
    ) -> None:
        super().__init__(sandbox)
        self.python = python
        self.site_packages = [p for p in site_packages if os.path.isdir(p)]
        self.overlay = [p for p in overlay if os.path.isdir(p)]  # after the gateway's packages, read-only
        self.probe_path = probe_path or str(PROBE_PATH)
        self.description = f"local {python}"
        if self.bwrap:  # the interpreter's prefixes, asked now, before probes run in threads
            self.reads = [*interpreter_dirs(python), os.path.dirname(self.probe_path)]

    def run_probe(
        self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float, libraries: Sequence[str] = ()
    ) -> Completed:
        everything = [*paths, *self.site_packages]
        argv = probe_argv(self.python, self.probe_path, everything, module, types, True, MEMORY_CAP, self.overlay)
        completed = self.run(argv, timeout, secrets.token_hex(16), [*everything, *self.overlay, *libraries])
        completed.roots = tuple(paths)
        return completed


def _json_line(stdout: str) -> Any:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except (ValueError, RecursionError):
                return None
    return None


def _clean(value: object, what: str) -> str:
    """A string of a probe record, fit for any renderer: lone surrogates escaped, cut."""
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."


def _optional(value: object, what: str) -> str | None:
    return None if value is None else _clean(value, what)


def _strings(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return [_clean(v, what) for v in value[:MAX_NAMES]]


def _record(data: object, outcome: ProbeOutcome, types: Sequence[str] | None) -> None:
    """Fill ``outcome`` from the probe's result record; ValueError when it is malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError("no results")
    outcome.module = _optional(data.get("module"), "module") or outcome.module
    outcome.file = _optional(data.get("file"), "file")
    outcome.python = _optional(data.get("python"), "python")
    outcome.error = _optional(data.get("error"), "error")
    for kind, res in data["results"].items():
        if kind not in TYPES or (types and kind not in types):
            raise ValueError(f"unexpected plugin type {kind!r}")
        if not isinstance(res, dict) or not isinstance(res.get("ok", False), bool):
            raise ValueError(f"result of {kind} is malformed")
        outcome.results[kind] = TypeResult(
            ok=res.get("ok") is True,
            registered=_strings(res.get("registered"), "registered"),
            error=_optional(res.get("error"), "error"),
            problems=_strings(res.get("problems"), "problems"),
            hooks=_strings(res.get("hooks"), "hooks"),
        )


def _result_records(stdout: str) -> int:
    return sum(1 for line in stdout.splitlines() if line.startswith("{"))


def _tampering(stdout: str) -> str | None:
    """What the probe's hook caught the plugin reaching for, if anything (its first record)."""
    for line in stdout.splitlines():
        if line.startswith("tampered "):
            return line[len("tampered ") :]
    return None


def _inside(path: str, roots: Sequence[str]) -> bool:
    here = posixpath.normpath(path)
    return any(here == (top := posixpath.normpath(root)) or here.startswith(top.rstrip("/") + "/") for root in roots)


def _unlike_the_request(
    outcome: ProbeOutcome, module: str, types: Sequence[str] | None, roots: Sequence[str]
) -> str | None:
    """Why a result record does not fit what the CLI asked for and knows; None when it does."""
    if module and outcome.module != module:
        return f"the probe's record names module {outcome.module!r}, not {module!r}"
    if outcome.error is None and types and sorted(outcome.results) != sorted(set(types)):
        return "the probe's record does not hold exactly the plugin types asked for"
    if roots and outcome.error is None and outcome.file is not None and not _inside(outcome.file, roots):
        return f"{module} was imported from {outcome.file}, outside the artifact"
    return None


def _channel_phase(stdout: str) -> str | None:
    """The phase the probe's own records reached: None before ``importing``."""
    phase = None
    for line in stdout.splitlines():
        if line.startswith("importing "):
            phase = " during import"
        elif line.startswith("registering "):
            phase = f" while registering the {line.split(' ', 2)[1]} plugin"
    return phase


def _phase(stderr: str) -> str:
    """``" during import"`` or ``" while registering the server plugin"``, from the marks."""
    at = stderr.rfind(REGISTERING)
    rest = stderr[at + len(REGISTERING) :].split() if at >= 0 else []
    return f" while registering the {rest[0]} plugin" if rest else " during import"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def parse_probe_output(
    completed: Completed, module: str = "", timeout: float | None = None, types: Sequence[str] | None = None
) -> ProbeOutcome:
    """Read a probe's result record, or explain a crash, hang or exit without one.

    The record counts only when the probe exited with status 0: a plugin that prints a
    record and dies is reported by how it died. With an authenticated channel (the local
    runner's secret), the phase comes from the probe's own records, never from stderr, and
    a ``tampered`` record is a KO whatever follows (a crash or hang is told as such). A
    record must name the module and the types asked for, and a file inside
    ``completed.roots``."""
    stderr = completed.stderr[-STDERR_KEEP:]
    outcome = ProbeOutcome(
        module,
        None,
        returncode=completed.returncode,
        stderr=stderr.encode("utf-8", "backslashreplace").decode(),
        elapsed=completed.elapsed,
        leftovers=completed.leftovers,
    )
    untrusted = _untrusted_channel(completed, timeout)
    if untrusted is not None:
        outcome.error = untrusted
    elif completed.returncode == 0 and (data := _json_line(completed.stdout)) is not None:
        _read_result(data, outcome, module, types, completed.roots)
    else:
        outcome.error = _how_it_ended(completed, stderr)
    if outcome.error is not None:
        outcome.error = _clean(outcome.error, "error")
    return outcome


def _untrusted_channel(completed: Completed, timeout: float | None) -> str | None:
    """Why no record of this run can be believed: tampering, a hang, or forged records."""
    rc = completed.returncode
    tampered = _tampering(completed.stdout) if completed.authenticated and rc == 0 else None
    if tampered is not None and not completed.timed_out:
        return f"the plugin tampered with the probe: {tampered}"
    if completed.timed_out:
        return f"timed out after {timeout:g}s" if timeout is not None else "timed out"
    if completed.authenticated and rc == 0 and (count := _result_records(completed.stdout)) > 1:
        return f"the probe's channel holds {count} result records: the plugin forged some"
    return None


def _read_result(
    data: object, outcome: ProbeOutcome, module: str, types: Sequence[str] | None, roots: Sequence[str]
) -> None:
    """Fill ``outcome`` from the result record, or set its error when the record is
    malformed or does not fit the request."""
    try:
        _record(data, outcome, types)
    except ValueError as err:
        outcome.results.clear()
        outcome.error = f"the probe's result record is malformed ({err})"
    unlike = _unlike_the_request(outcome, module, types, roots)
    if unlike is not None:
        outcome.results.clear()
        outcome.error = unlike


def _how_it_ended(completed: Completed, stderr: str) -> str:
    """The one-line reason of a probe that ended without a result record."""
    rc = completed.returncode
    if completed.authenticated:
        phase = _channel_phase(completed.stdout)
    else:
        phase = _phase(completed.stderr) if MARKER in completed.stderr else None
    if rc is None:
        return stderr.strip() or "the probe could not start"
    if phase is None:
        return f"the probe failed (exit {rc}): {last_error_line(stderr)}"
    if rc < 0:
        return f"killed by {signal_name(-rc)}{phase}"
    return f"exited with code {rc}{phase}"


def import_test(
    runner: Runner,
    paths: Sequence[str],
    module: str,
    types: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
    libraries: Sequence[str] = (),
    left: float | None = None,
) -> ProbeOutcome:
    """Probe ``module`` with ``runner``: the whole import phase for one module. ``left``: what
    remains of the artifact's ``timeout`` (its modules share it), when not all of it."""
    budget = timeout if left is None else left
    if budget <= 0:
        return ProbeOutcome(module, f"timed out after {timeout:g}s")
    completed = runner.run_probe(paths, module, types, budget, libraries)
    return parse_probe_output(completed, module, timeout, types)
