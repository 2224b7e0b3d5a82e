"""``krakend build``: compile a plugin in the builder image of each target, then test it.

The order of the work, one module each: :mod:`.options` (what is asked), :mod:`.source` (what
the builder gets), :mod:`.plans` (each target's images), :mod:`.compile` (the builder run),
:mod:`.verdicts` (why a build failed), :mod:`.import_check` (the import test), :mod:`.staging`
(the log and publishing), :mod:`.target` (one target, start to end); here: checking the
request, and running the targets on their engines. The core returns a :class:`Report` with
one :class:`Finding` per target; all it says while working goes through the ``events``
callbacks (the CLI draws progress from them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from krakend_tools.build.options import BuildOptions, Events
from krakend_tools.build.plans import Plan, preflight, prepare
from krakend_tools.build.source import EXCLUDE, MAX_SOURCE_BYTES, is_python_project, source_size
from krakend_tools.build.target import build_target
from krakend_tools.errors import InputError
from krakend_tools.manifest.platforms import Target
from krakend_tools.plugin_test.contract import TYPES
from krakend_tools.report import Finding, Meta, Report

if TYPE_CHECKING:
    from krakend_tools.containers.engine import Engine

T = TypeVar("T")
R = TypeVar("R")


def build(opts: BuildOptions, events: Events | None = None, engine: Engine | None = None) -> Report:
    """Build every target of ``opts``; one finding per target. Ctrl-C cleans up and re-raises."""
    events = events or Events()
    start = time.monotonic()
    validate(opts)
    engines = _connect(opts, engine)
    cancel = threading.Event()
    try:
        preflight(engines, opts)
        findings = _run_engines(engines, opts, events, cancel, start)
    except BaseException:
        cancel.set()
        for eng in engines.values():
            eng.cleanup()
        raise
    return Report("build", findings, time.monotonic() - start, _meta(opts, engines))


def validate(opts: BuildOptions) -> None:
    """Refuse a request no target could build: before any engine is asked."""
    if not opts.plugin_dir.is_dir():
        raise InputError("not a folder", path=opts.plugin_dir)
    if opts.out is None:  # the project's dist/ may come from a pull request: a link there could point anywhere
        project = opts.plugin_dir.resolve()
        for out_dir in (opts.plugin_dir / "dist" / f"{t.flavour}-{t.arch}" for t in opts.targets):
            if not out_dir.resolve().is_relative_to(project):
                raise InputError(f"links outside the project ({out_dir.resolve()}): give --out", path=out_dir)
    if opts.command is None and not is_python_project(opts.plugin_dir):
        raise InputError(
            "not a Python project: no pyproject.toml or setup.py (or give the build command: --command)",
            path=opts.plugin_dir,
        )
    if source_size(opts.plugin_dir, MAX_SOURCE_BYTES) > MAX_SOURCE_BYTES:
        raise InputError(
            f"the plugin's source is over {MAX_SOURCE_BYTES >> 20} MiB (without {', '.join(sorted(EXCLUDE))}):"
            " is this the plugin's folder?",
            path=opts.plugin_dir,
        )
    _validate_values(opts)


def _validate_values(opts: BuildOptions) -> None:
    if opts.arm64 not in ("cross", "emulate"):
        raise InputError(f"--arm64 must be cross or emulate, not {opts.arm64!r}")
    if opts.timeout <= 0 or opts.jobs < 1:
        raise InputError("--timeout and -j must be positive")
    bad = [t for t in opts.types if t not in TYPES]
    if bad:
        raise InputError(f"unknown plugin type {bad[0]!r}: expected server, client or modifier")


def _connect(opts: BuildOptions, engine: Engine | None) -> dict[str | None, Engine]:
    """The default engine (key None) and each ``--engine`` a target names."""
    from krakend_tools.containers.engine import connect

    engines: dict[str | None, Engine] = {None: engine or connect()}
    for url in dict.fromkeys(opts.engines.get(str(t)) for t in opts.targets):
        if url is not None:
            engines[url] = connect(url)
    return engines


def _run_engines(
    engines: dict[str | None, Engine], opts: BuildOptions, events: Events, cancel: threading.Event, start: float
) -> list[Finding]:
    """Each engine prepares and builds its targets; different engines in parallel."""
    groups: dict[str | None, list[Target]] = {}
    for target in opts.targets:
        groups.setdefault(opts.engines.get(str(target)), []).append(target)

    def run(key: str | None) -> list[Finding]:
        began = round(time.monotonic() - start, 2)
        found = _run_plans(prepare(engines[key], groups[key], opts, events), opts, events, cancel)
        for f in found:  # when this engine's work ran, relative to the start of the build
            f.details["window"] = [began, round(time.monotonic() - start, 2)]
        return found

    findings = [f for found in _in_parallel(run, list(groups), len(groups)) for f in found]
    order = [str(t) for t in opts.targets]
    return sorted(findings, key=lambda f: order.index(f.name))


def _run_plans(plans: list[Plan], opts: BuildOptions, events: Events, cancel: threading.Event) -> list[Finding]:
    """The targets of one engine, ``-j`` at a time."""
    return _in_parallel(lambda plan: build_target(plan, opts, events, cancel), plans, opts.jobs)


def _in_parallel(work: Callable[[T], R], items: list[T], jobs: int) -> list[R]:
    """``work`` on each item, ``jobs`` at a time, results in the items' order; on an error (or
    Ctrl-C) the work not yet started is dropped."""
    if jobs == 1 or len(items) <= 1:
        return [work(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(items)))
    try:
        futures = [pool.submit(work, item) for item in items]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _meta(opts: BuildOptions, engines: dict[str | None, Engine]) -> Meta:
    """The report's ``meta``: what was built, where and how."""
    return {
        "targets": [str(t) for t in opts.targets],
        "arm64": opts.arm64,
        "network": opts.network or "none",
        "jobs": opts.jobs,
        "plugin": str(opts.plugin_dir),
        "engine": engines[None].url,
        "engines": {str(t): engines[opts.engines.get(str(t))].url for t in opts.targets},
        "manifest": opts.manifest.summary() if opts.manifest is not None else None,
    }
