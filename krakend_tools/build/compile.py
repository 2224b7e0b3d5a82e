"""Compile one target in a fresh builder container: the source (cross files, build requirements)
in, the build command run offline, ``/out`` back into the staging folder."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from krakend_tools.build import requirements as buildreqs
from krakend_tools.build.options import BuildOptions
from krakend_tools.build.plans import Plan
from krakend_tools.build.source import is_python_project, source_tar, untar_artifacts
from krakend_tools.build.staging import Staging
from krakend_tools.containers.engine import first_file

if TYPE_CHECKING:
    from krakend_tools.containers.engine import Container

DEFAULT_COMMAND = ("krakend-build-wheel", "/src", "/out")
BEFORE_BUILD = (  # [tool.krakend.build] before-build, then the build command ("$@")
    'echo "+ before-build: $KRAKEND_BEFORE_BUILD"; sh -c "$KRAKEND_BEFORE_BUILD" || '
    '{ code=$?; echo "krakend: error: before-build failed (exit $code)"; exit $code; }; exec "$@"'
)
REPAIR_FAILED = 5  # krakend-run: auditwheel could not repair a wheel to the policy
REQUIRES_MISSING = 6  # krakend-build-wheel: the backend needs a build requirement not fetched
CCACHE_STATS = "/tmp/krakend-ccache.log"  # the builder's CCACHE_STATSLOG: one build's compilations


class BuildFailed(Exception):
    """A target's build cannot run or finish; the message is its KO line."""


@dataclass
class Compiled:
    """What the builder gave back: its exit code (None: timed out), its log, the files of ``/out``."""

    code: int | None
    log: str
    files: list[Path] = field(default_factory=list)


def compile_target(plan: Plan, opts: BuildOptions, staging: Staging, cancel: threading.Event) -> Compiled:
    """Run the build in a fresh builder container; once more when the backend asks for more
    build requirements than ``[build-system] requires`` (``get_requires_for_build_wheel``)."""
    command = builder_command(opts)
    # with --network, krakend-build-wheel runs pip wheel, which fetches them itself
    wants = not opts.network and buildreqs.uses_default_builder(opts.command) and is_python_project(opts.plugin_dir)
    requires = buildreqs.build_system(opts.plugin_dir).requires if wants else []
    for attempt in (1, 2):
        staging.log(
            f"# {staging.name}: {plan.builder} ({plan.builder_platform}) on {plan.engine.url} $ {' '.join(command)}"
        )
        tar = requires_tar(plan, requires, staging) if wants else None
        staging.step("compiling")
        result = _run_builder(plan, opts, command, staging, cancel, tar)
        more = [r for r in buildreqs.missing_in_log(result.log) if r not in requires]
        if result.code != REQUIRES_MISSING or not more or attempt == 2:
            return result
        requires = requires + more
    raise AssertionError("unreachable")


def builder_command(opts: BuildOptions) -> list[str]:
    """``krakend-run`` [before-build] then the build command (default: build a wheel)."""
    command = ["sh", "-c", opts.command] if opts.command else list(DEFAULT_COMMAND)
    if opts.before_build:
        command = ["sh", "-c", BEFORE_BUILD, "sh", *command]
    return ["krakend-run", *command]


def build_env(plan: Plan, opts: BuildOptions) -> dict[str, str]:
    """The builder's environment: the project's variables, then the target's ``KRAKEND_*``."""
    env = {
        **opts.environment,
        "SRC": "/src",
        "OUT": "/out",
        "KRAKEND_TARGET": str(plan.target),
        "PIP_CACHE_DIR": "/cache/pip",
        "KRAKEND_NETWORK": "1" if opts.network else "0",
        "KRAKEND_ZIG_TARGET": plan.zig_target,
    }
    if plan.wheel_plat:
        env["KRAKEND_WHEEL_PLAT"] = plan.wheel_plat
    if plan.cross:
        env["KRAKEND_CROSS"] = plan.target.machine
    if opts.before_build:
        env["KRAKEND_BEFORE_BUILD"] = opts.before_build
    return env


def requires_tar(plan: Plan, requires: list[str], staging: Staging) -> bytes:
    """The build requirements' wheels for the builder's interpreter, fetched here (cached)."""
    from krakend_tools.cache import FetchError

    builder = plan.builder_manifest or plan.manifest
    try:
        folder = buildreqs.fetch(requires, builder, staging.step)
    except FetchError as err:
        where = f"{buildreqs.platform_tags(builder)[0]}, Python {builder.python.version}"
        raise BuildFailed(f"a build requirement cannot be fetched for the builder ({where}): {err}") from None
    staging.log(f"# build requirements: {', '.join(requires)} ({len(list(folder.glob('*.whl')))} wheels, offline)")
    return buildreqs.as_tar(folder, requires)


def compiler_cache_use(stats_log: bytes) -> tuple[int, int] | None:
    """(hits, compilations) of one build, from ccache's stats log (``# file`` then the counters
    of one call); None when nothing was compiled (links and preprocessing are not counted)."""
    calls = stats_log.decode(errors="replace").split("\n# ")
    counted = [set(call.splitlines()[1:]) for call in calls if call.strip()]
    hits = sum(1 for c in counted if c & {"direct_cache_hit", "preprocessed_cache_hit"})
    compiled = hits + sum(1 for c in counted if "cache_miss" in c)
    return (hits, compiled) if compiled else None


def _run_builder(
    plan: Plan,
    opts: BuildOptions,
    command: list[str],
    staging: Staging,
    cancel: threading.Event,
    requires: bytes | None,
) -> Compiled:
    """One builder container, removed after: the build's exit code, log and artifacts."""
    from krakend_tools.containers.images import cache_volume

    with plan.engine.container(
        plan.builder,
        command,
        platform=plan.builder_platform,
        network=opts.network or "none",
        environment=build_env(plan, opts),
        volumes={cache_volume(): {"bind": "/cache", "mode": "rw"}},
        working_dir="/src",
    ) as box:
        return _compile_in(box, plan, opts, staging, cancel, requires)


def _compile_in(
    box: Container, plan: Plan, opts: BuildOptions, staging: Staging, cancel: threading.Event, requires: bytes | None
) -> Compiled:
    """Copy the source (cross files, build requirements) in, run the build, copy ``/out`` back."""
    box.copy_into(source_tar(opts.plugin_dir, [plan.out_dir.parent]))
    for extra in (plan.cross_files, requires):
        if extra:
            box.copy_into(extra)
    if cancel.is_set():
        raise KeyboardInterrupt
    result = box.run(timeout=opts.timeout, on_line=staging.log)
    stats = box.copy_out(CCACHE_STATS)  # None: no compiler ran
    reused = compiler_cache_use(first_file(stats) or b"") if stats else None
    if reused:
        staging.log(f"# compiler cache: {reused[0]} of {reused[1]} compilations reused (ccache)")
    files: list[Path] = []
    if result.exit_code in (0, REPAIR_FAILED):
        staging.step("collecting")
        produced = staging.folder / "artifacts"
        shutil.rmtree(produced, ignore_errors=True)
        produced.mkdir()
        files = untar_artifacts(box.copy_out("/out/.") or b"", produced)
    return Compiled(None if result.timed_out else result.exit_code, result.log, files)
