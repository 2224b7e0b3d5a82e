"""``test-plugin``: will this compiled plugin load in the gateway? Static checks, then import.

For each artifact the static phase (:func:`krakend_tools.plugin_test.static_phase.check_tree`) reads the
files without running them; any problem is a KO and the import is skipped. Then each
module is imported and registered by the probe in an isolated process, with the gateway's
interpreter here or in a runtime image; when that cannot run, the plugin is a KO (nothing
was proven), unless ``static_only`` asked for the static phase alone. One finding per
artifact and type; the static facts once per artifact (``Report.artifacts``).
"""

from __future__ import annotations

import functools
import os
import platform
import signal
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Manifest
from krakend_tools.plugin_test.artifacts import DEFAULT_PATTERN, Artifact, expand
from krakend_tools.plugin_test.contract import REGISTERERS, TYPES
from krakend_tools.plugin_test.gateway_env import GatewayEnv, Progress, quiet, requires_problems
from krakend_tools.plugin_test.import_phase import (
    DEFAULT_TIMEOUT,
    LocalRunner,
    ProbeOutcome,
    Runner,
    TypeResult,
    import_test,
)
from krakend_tools.report import Finding, FindingKind, Meta, Report


@dataclass
class ImportPlan:
    """Whether and where the import phase runs."""

    runner: Runner | None
    skipped: str | None = None  # why the import phase cannot run, when it cannot


@dataclass
class ArtifactResult:
    """Everything found about one artifact, before it becomes findings."""

    artifact: Artifact
    problems: list[str] = field(default_factory=list)
    static: dict[str, Any] = field(default_factory=dict)
    outcomes: list[ProbeOutcome] = field(default_factory=list)
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)


Check = Callable[[Artifact], ArtifactResult]  # one artifact's static and import phases


def _host_libc_family() -> str:
    return "glibc" if platform.libc_ver()[0] == "glibc" else "musl"


def _soabi_of(python: str) -> str:
    """``SOABI`` of another interpreter; InputError when it does not run."""
    import re

    from krakend_tools.arguments import path_argument
    from krakend_tools.manifest.introspect import TIMEOUT
    from krakend_tools.subproc import OutputTooLarge, run_bounded

    path_argument(python, "--python")
    code = "import sys, sysconfig; print(sys.implementation.name, sysconfig.get_config_var('SOABI') or '')"
    try:
        rc, out, err = run_bounded([python, "-I", "-c", code], timeout=TIMEOUT, limit=4096)
    except (OSError, TimeoutError, OutputTooLarge) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot run {python}: {reason}") from None
    if rc != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot run {python}: {last}")
    found = re.fullmatch(r"cpython ([A-Za-z0-9_.-]*)", out.decode(errors="replace").strip())
    if found is None:
        raise InputError(f"{python} is not a CPython interpreter")
    return found.group(1)


def _gateway_label(manifest: Manifest) -> str:
    plat = manifest.platform
    return (
        f"linux/{plat.arch} {plat.libc_family} {plat.libc_version}, {manifest.python.soabi or manifest.python.version}"
    ).replace("  ", " ")


def plan_import(manifest: Manifest, python: str | None = None, overlay: Sequence[str] = ()) -> ImportPlan:
    """Pick the local interpreter that *is* the gateway's, or say why there is none;
    ``overlay``: folders of the plugin's own dependencies, after the gateway's packages."""
    want = manifest.python.soabi
    if python is not None:
        have = _soabi_of(python)
        if want and have != want:
            raise InputError(f"--python {python} is {have or 'unknown'}, the manifest's gateway is {want}")
        return ImportPlan(LocalRunner(python, manifest.site_packages, overlay=overlay))
    from krakend_tools.manifest.platforms import MACHINE_ARCH

    host = f"linux/{MACHINE_ARCH.get(platform.machine(), platform.machine())} {_host_libc_family()}"
    plat = manifest.platform
    if plat.machine != platform.machine() or plat.libc_family != _host_libc_family():
        return ImportPlan(None, f"the gateway ({_gateway_label(manifest)}) cannot run on this host ({host})")
    exe = manifest.python.executable
    if (
        exe
        and os.path.exists(exe)
        and os.path.exists(sys.executable)
        and os.path.samefile(exe, sys.executable)
        and sysconfig.get_config_var("SOABI") == want
    ):
        return ImportPlan(LocalRunner(sys.executable, manifest.site_packages, overlay=overlay))
    if exe and os.access(exe, os.X_OK):
        try:
            if _soabi_of(exe) == want:
                return ImportPlan(LocalRunner(exe, manifest.site_packages, overlay=overlay))
        except InputError:
            pass
    if not exe:  # a manifest made from a lockfile (version --from-lock) names no interpreter at all
        return ImportPlan(None, _no_interpreter_named(want))
    return ImportPlan(None, f"the gateway's interpreter ({exe}) is not on this host")


def _no_interpreter_named(want: str | None) -> str:
    """Why a manifest without an executable cannot import here, naming this host's own
    interpreter when it is the gateway's build (SOABI): never "not on this host" unchecked."""
    if want and sysconfig.get_config_var("SOABI") == want:
        return f"the manifest names no interpreter (as one made by --from-lock); this host's {sys.executable} is {want}"
    return (
        f"the manifest names no interpreter (as one made by --from-lock) and none of this host's is known to be {want}"
    )


def static_phase(artifact: Artifact, manifest: Manifest) -> tuple[list[str], list[str], dict[str, Any]]:
    """Problems (decisive first), warnings and the static facts (ELF files, extension modules)."""
    from krakend_tools.plugin_test import static_phase as static

    if artifact.root.is_file() and artifact.root.suffix != ".so":
        return [], [], {}  # a .py file: nothing compiled to read
    result = static.check_tree(artifact.root, manifest)
    facts = result.to_dict()
    facts.pop("root", None)
    facts.pop("ok", None)
    return list(result.problems), list(result.warnings), facts


WAYS_TO_IMPORT = (
    "run the import phase with --python PATH (the gateway's interpreter) or in "
    "its runtime image with --image IMAGE or --target TARGET; or pass "
    "--static-only to run the static checks alone"
)


def check_artifact(
    artifact: Artifact,
    manifest: Manifest,
    types: Sequence[str],
    plan: ImportPlan,
    timeout: float,
    env: GatewayEnv | None = None,
) -> ArtifactResult:
    """Static phase, then what the gateway environment lacks, then (if all is clean and
    possible) the import phase, for one artifact."""
    res = ArtifactResult(artifact)
    if artifact.error:
        res.problems = [artifact.error]
        return res
    res.problems, res.warnings, res.static = static_phase(artifact, manifest)
    if not res.problems:
        res.problems = environment_problems(artifact, manifest, env or GatewayEnv())
        res.warnings += environment_warnings(env or GatewayEnv())
    if res.problems:
        return res
    if plan.runner is None:
        res.skipped = plan.skipped
        return res
    libraries = outside_libraries(artifact, res.static)
    deadline = time.monotonic() + timeout  # one budget for all the artifact's modules
    for module in artifact.modules:
        left = deadline - time.monotonic()
        outcome = import_test(plan.runner, [str(artifact.import_path)], module, types, timeout, libraries, left)
        res.outcomes.append(_relabel(outcome, artifact))
        if outcome.error:
            break
    unsandboxed = getattr(plan.runner, "warning", None)
    if isinstance(unsandboxed, str):
        res.warnings.append(unsandboxed)
    return res


def environment_problems(artifact: Artifact, manifest: Manifest, env: GatewayEnv) -> list[str]:
    """What the plugin needs that the gateway's environment and its overlay do not give:
    a wheel's ``Requires-Dist`` unmet, a locked dependency with no wheel for the target."""
    found = []
    if artifact.kind == "wheel":
        for info in sorted(artifact.import_path.glob("*.dist-info")):
            found += requires_problems(info, manifest, env.overlay)
    return found + env.overlay.problems()


def environment_warnings(env: GatewayEnv) -> list[str]:
    """The gateway's packages the import could not see (no wheel for the target)."""
    return [
        f"the gateway's {pin.name} {pin.version} has no wheel for this target, so the import ran without it ({why})"
        for pin, why in env.missing.items()
    ]


def outside_libraries(artifact: Artifact, static: dict[str, Any]) -> list[str]:
    """The libraries outside the import path that the static phase followed an ``$ORIGIN``
    RPATH/RUNPATH to (``$ORIGIN/../lib`` of a lone module), as the loader names them; a
    wheel holds its own."""
    if artifact.root.suffix == ".whl":
        return []
    base = artifact.root.parent if artifact.root.is_file() else artifact.root
    inside = artifact.import_path.resolve()
    found: list[str] = []
    for entry in static.get("files", []):
        rel = Path(str(entry.get("path", "")))
        path = (base / rel).parent.resolve() / rel.name
        if not path.parent.is_relative_to(inside) and str(path) not in found:
            found.append(str(path))
    return found


def _relabel(outcome: ProbeOutcome, artifact: Artifact) -> ProbeOutcome:
    """Paths that are gone after the run, shown as the user knows them: a path inside the
    probe's container becomes the host path it was mounted from, and a path into a wheel's
    temporary folder a path inside the wheel."""
    replace: list[tuple[str, str]] = []
    base = artifact.import_path
    if outcome.file and not os.path.exists(outcome.file):
        parts = PurePosixPath(outcome.file).parts
        for i in range(1, len(parts)):
            if (base / Path(*parts[i:])).exists():
                replace.append((str(PurePosixPath(*parts[:i])), str(base)))
                break
    if artifact.kind == "wheel":
        replace.append((str(base), artifact.name))

    def fix(text: str | None) -> str | None:
        for old, new in replace:
            text = text.replace(old, new) if text else text
        return text

    outcome.file = fix(outcome.file)
    outcome.error = fix(outcome.error)
    outcome.stderr = fix(outcome.stderr) or ""
    return outcome


def _merge(outcomes: list[ProbeOutcome], kind: str) -> TypeResult:
    """One type's result over an artifact's modules (a wheel may hold several)."""
    missing = f"The plugin does not contain a {REGISTERERS[kind]}."
    found = [o.results[kind] for o in outcomes if kind in o.results]
    present = [r for r in found if r.error != missing]
    if not present:
        return TypeResult(False, error=missing)
    failed = [r for r in present if not r.ok]
    if failed:
        return failed[0]
    names = [n for r in present for n in r.registered]
    return TypeResult(True, registered=names, hooks=[h for r in present for h in r.hooks])


def findings_for(res: ArtifactResult, types: Sequence[str], static_only: bool = False) -> list[Finding]:
    """One finding per requested type for an artifact."""
    art = res.artifact
    findings = []
    for kind in types:
        finding = Finding(name=art.name, kind=FindingKind(kind), ok=False, file=art.name, warnings=list(res.warnings))
        details = finding.details
        findings.append(finding)
        if res.problems:
            finding.message = res.problems[0]
            finding.problems = list(res.problems)
            details["phase"] = "static"
            continue
        if static_only:
            finding.ok = True
            finding.message = "static only"
            finding.skipped = "import phase not run (--static-only)"
            details["phase"] = "static"
            continue
        if res.skipped:
            finding.message = f"import phase cannot run: {res.skipped}"
            finding.problems = [finding.message, WAYS_TO_IMPORT]
            details["phase"] = "import"
            continue
        details["phase"] = "import"
        broken = next((o for o in res.outcomes if o.error), None)
        if broken is not None:
            finding.message = broken.error or ""
            finding.problems = [finding.message]
            continue
        merged = _merge(res.outcomes, kind)
        details["registered"] = merged.registered
        finding.ok = merged.ok
        finding.message = f"registered: {', '.join(merged.registered)}" if merged.ok else merged.error or "failed"
        if not merged.ok:
            finding.problems = [finding.message]
    return findings


def artifact_details(res: ArtifactResult) -> dict[str, Any]:
    """The facts of one artifact for -o json, once however many plugin types were tested."""
    art = res.artifact
    data: dict[str, Any] = {"name": art.name, "artifact_kind": art.kind, "modules": art.modules}
    if res.static:
        data["static"] = res.static
    if res.outcomes:
        data["probes"] = [_probe_details(o) for o in res.outcomes]
    return data


def _probe_details(outcome: ProbeOutcome) -> dict[str, Any]:
    return {
        "module": outcome.module,
        "file": outcome.file,
        "python": outcome.python,
        "returncode": outcome.returncode,
        "elapsed": round(outcome.elapsed, 3),
        "error": outcome.error,
        "stderr": outcome.stderr,
        "leftover_processes": outcome.leftovers,
        "results": {k: vars(v) for k, v in outcome.results.items()},
    }


def _terminate_as_interrupt() -> Callable[[], None]:
    """While probes run, SIGTERM unwinds like Ctrl-C, so they are killed, not orphaned."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _parallel(arts: list[Artifact], check: Check, workers: int, runner: Runner | None) -> list[ArtifactResult]:
    """``check`` over a thread pool; on Ctrl-C the running probes are killed at once."""
    pool = ThreadPoolExecutor(max_workers=min(workers, len(arts)))
    try:
        results = list(pool.map(check, arts))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        abort = getattr(runner, "abort", None)
        if callable(abort):
            abort()
        pool.shutdown(wait=True)
        raise
    pool.shutdown()
    return results


@dataclass(frozen=True)
class PluginTestRequest:
    """One ``test-plugin`` run as asked: the command line's options with ``[tool.krakend]``'s
    defaults filled in, not yet checked (:func:`test_plugin` checks them)."""

    artifacts: Sequence[str]
    types: Sequence[str]  # -s/-c/-m, else types in [tool.krakend]
    start: Path  # where the nearest [tool.krakend] and the default manifest are looked for
    manifest: str | None = None  # --manifest: a path or "host"
    python: str | None = None
    pattern: str = DEFAULT_PATTERN
    jobs: int | None = None
    timeout: float | None = None  # None: DEFAULT_TIMEOUT
    image: str | None = None
    target: str | None = None
    static_only: bool = False
    lock: Path | None = None  # --lock
    config_lock: Path | None = None  # lock in [tool.krakend]: used unless --static-only
    progress: Progress = quiet  # what is fetched or built, and warnings

    def lockfile(self) -> Path | None:
        """The plugin's lockfile this run reads: ``--lock``, else the config's (none when static only)."""
        return self.lock if self.lock is not None else None if self.static_only else self.config_lock


def test_plugin(request: PluginTestRequest) -> Report:
    """The ``test-plugin`` command: check the request, find the gateway and where its
    import runs, then :func:`run`."""
    _check_request(request)
    lockfile = request.lockfile()
    if lockfile is not None and not lockfile.is_file():
        raise InputError("no such lockfile", path=lockfile)
    from krakend_tools.manifest.resolve import resolve

    given = resolve(request.manifest, request.start) if request.manifest is not None else None
    runner, gateway, env = environment(request, given, lockfile)
    return run(
        request.artifacts,
        gateway,
        request.types,
        pattern=request.pattern,
        jobs=request.jobs,
        timeout=request.timeout if request.timeout is not None else DEFAULT_TIMEOUT,
        python=request.python,
        runner=runner,
        static_only=request.static_only,
        env=env,
    )


def _check_request(request: PluginTestRequest) -> None:
    """InputError for plugin types missing or unknown and for options that exclude each other."""
    if not request.types:
        raise InputError("at least one plugin type is required: -s, -c or -m (or types in [tool.krakend])")
    unknown = sorted(set(request.types) - set(TYPES))
    if unknown:
        raise InputError(f"[tool.krakend] types: unknown plugin type {unknown[0]!r} (server, client, modifier)")
    if request.python is not None and (request.image or request.target):
        raise InputError("--python and --image/--target exclude each other")
    if request.static_only and (request.python or request.image or request.target):
        raise InputError("--static-only runs no import: it excludes --python, --image and --target")
    if request.lock is not None and request.static_only:
        raise InputError("--static-only runs no import: --lock has nothing to add to it")


def environment(
    request: PluginTestRequest, manifest: Manifest | None, lockfile: Path | None
) -> tuple[Runner | None, Manifest, GatewayEnv]:
    """Where the import runs and what it sees: in a container, the gateway image (runtime
    image + the manifest's packages) and the manifest to check against (``manifest`` when
    given, else the image's); locally, the gateway interpreter's packages. The lockfile's
    overlay comes after either."""
    from krakend_tools.manifest.resolve import resolve
    from krakend_tools.plugin_test.gateway_env import plugin_overlay

    if request.image is not None or request.target is not None:
        from krakend_tools.plugin_test.docker_runner import gateway_runner

        return gateway_runner(request.target, request.image, manifest, lockfile, request.progress)
    gateway = manifest or resolve(None, request.start)
    env = GatewayEnv(site_packages=list(gateway.site_packages))
    if lockfile is not None:
        env.overlay = plugin_overlay(lockfile, gateway, request.progress)
    return None, gateway, env


def run(
    artifacts: Sequence[str],
    manifest: Manifest,
    types: Sequence[str],
    *,
    pattern: str = DEFAULT_PATTERN,
    jobs: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    python: str | None = None,
    runner: Runner | None = None,
    static_only: bool = False,
    env: GatewayEnv | None = None,
) -> Report:
    """Test every artifact for every plugin type; the report has one finding per pair.

    An import phase that cannot run is a KO, never a pass; ``static_only`` runs the static
    phase alone, on purpose, and every finding says the import was not run. ``env``: the
    gateway's environment and the plugin's overlay (a local run puts the overlay's folder
    after the gateway interpreter's packages)."""
    start = time.monotonic()
    timeout, jobs = _check_arguments(artifacts, types, pattern, timeout, jobs)
    kinds = [t for t in TYPES if t in types]
    plan, env = _import_plan(manifest, python, runner, static_only, env)
    workers = max(1, jobs or os.cpu_count() or 1)
    check = functools.partial(check_artifact, manifest=manifest, types=kinds, plan=plan, timeout=timeout, env=env)
    try:
        results = _test_all(artifacts, pattern, check, workers, plan.runner)
    finally:
        close = getattr(plan.runner, "close", None)
        if runner is None and callable(close):
            close()
    findings = [f for r in results for f in findings_for(r, kinds, static_only)]
    facts = [artifact_details(r) for r in results]
    meta = _meta(manifest, results, findings, kinds, plan, timeout, workers, static_only)
    meta["gateway_environment"] = _environment_meta(env or GatewayEnv(), plan, manifest)
    return Report("test-plugin", findings, time.monotonic() - start, meta, facts)


def _import_plan(
    manifest: Manifest, python: str | None, runner: Runner | None, static_only: bool, env: GatewayEnv | None
) -> tuple[ImportPlan, GatewayEnv | None]:
    """Where the import runs (``runner``, else a local interpreter that is the gateway's),
    and the environment it sees; none of either when ``static_only``."""
    if static_only and (runner is not None or python is not None):
        raise InputError("--static-only runs no import: it excludes --python, --image and --target")
    if static_only:
        return ImportPlan(None), None  # what the import would see does not matter
    overlay = [str(env.overlay.folder)] if env is not None and env.overlay.folder is not None else []
    return ImportPlan(runner) if runner is not None else plan_import(manifest, python, overlay), env


def _check_arguments(
    artifacts: Sequence[str], types: Sequence[str], pattern: str, timeout: float, jobs: int | None
) -> tuple[float, int | None]:
    """InputError for arguments no run can use; the timeout and job count, checked."""
    if not types:
        raise InputError("at least one plugin type is required: -s, -c or -m")
    from krakend_tools import arguments

    timeout = arguments.timeout(timeout)
    jobs = arguments.jobs(jobs)
    for arg in artifacts:
        arguments.path_argument(arg, "artifact")
    if not pattern or "\0" in pattern or "/" in pattern:
        raise InputError(f"invalid --pattern {pattern[:80]!r}: a part of a file name")
    return timeout, jobs


def _test_all(
    artifacts: Sequence[str], pattern: str, check: Check, workers: int, runner: Runner | None
) -> list[ArtifactResult]:
    """Every artifact found in ``artifacts`` checked, in parallel when ``workers`` > 1."""
    restore = _terminate_as_interrupt()
    try:
        with expand(list(artifacts), pattern) as arts:
            if workers == 1 or len(arts) == 1:
                return [check(a) for a in arts]
            return _parallel(arts, check, workers, runner)
    finally:
        restore()


def _meta(
    manifest: Manifest,
    results: list[ArtifactResult],
    findings: list[Finding],
    kinds: list[str],
    plan: ImportPlan,
    timeout: float,
    workers: int,
    static_only: bool,
) -> Meta:
    """The report's meta: the gateway, what was tested and how, and why no import ran."""
    meta: Meta = {
        "manifest": manifest.summary(),
        "tested": len(results),
        "failed": len({f.name for f in findings if not f.ok}),
        "types": kinds,
        "import_phase": "static-only" if static_only else "not-run" if plan.runner is None else "run",
        "runner": plan.runner.description if plan.runner is not None else None,
        "gateway": _gateway_label(manifest),
        "timeout": timeout,
        "jobs": workers,
    }
    if plan.skipped:
        meta["import_not_run"] = plan.skipped
    return meta


def _environment_meta(env: GatewayEnv, plan: ImportPlan, manifest: Manifest) -> dict[str, Any]:
    """What the import's interpreter saw: the gateway image or site-packages, the overlay."""
    data = env.to_dict()
    if env.image is None and isinstance(plan.runner, LocalRunner):
        data["site_packages"] = data["site_packages"] or list(manifest.site_packages)
        data["python"] = plan.runner.python
    return data
