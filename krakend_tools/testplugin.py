"""``test-plugin``: will this compiled plugin load in the gateway? Static checks, then import.

For each artifact the static phase (:func:`krakend_tools.static.check_tree`) reads the
files without running them; any problem is a KO and the import is skipped. Then, when
the gateway's interpreter can run here (or in a runtime image), each module is imported
and registered by the probe in an isolated process. One finding per artifact and type.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from krakend_tools.artifacts import DEFAULT_PATTERN, Artifact, expand
from krakend_tools.contract import KINDS, REGISTERERS, TYPES
from krakend_tools.errors import InputError
from krakend_tools.importtest import (
    DEFAULT_TIMEOUT,
    LocalRunner,
    ProbeOutcome,
    Runner,
    TypeResult,
    import_test,
)
from krakend_tools.manifest import Manifest
from krakend_tools.report import Finding, Report


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


def _host_libc_family() -> str:
    return "glibc" if platform.libc_ver()[0] == "glibc" else "musl"


def _soabi_of(python: str) -> str:
    """``SOABI`` of another interpreter; InputError when it does not run."""
    code = "import sysconfig; print(sysconfig.get_config_var('SOABI') or '')"
    try:
        proc = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InputError(f"cannot run {python}: {err}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot run {python}: {last}")
    return proc.stdout.strip()


def _gateway_label(manifest: Manifest) -> str:
    plat = manifest.platform
    return (
        f"linux/{plat.arch} {plat.libc_family} {plat.libc_version}, {manifest.python.soabi or manifest.python.version}"
    ).replace("  ", " ")


def plan_import(manifest: Manifest, python: str | None = None) -> ImportPlan:
    """Pick the local interpreter that *is* the gateway's, or say why there is none."""
    want = manifest.python.soabi
    if python is not None:
        have = _soabi_of(python)
        if want and have != want:
            raise InputError(f"--python {python} is {have or 'unknown'}, the manifest's gateway is {want}")
        return ImportPlan(LocalRunner(python, manifest.site_packages))
    from krakend_tools.platforms import MACHINE_ARCH

    host = f"linux/{MACHINE_ARCH.get(platform.machine(), platform.machine())} {_host_libc_family()}"
    plat = manifest.platform
    if plat.machine != platform.machine() or plat.libc_family != _host_libc_family():
        return ImportPlan(
            None, f"the gateway ({_gateway_label(manifest)}) cannot run on this host ({host}); use --image or --python"
        )
    exe = manifest.python.executable
    if (
        exe
        and os.path.exists(exe)
        and os.path.exists(sys.executable)
        and os.path.samefile(exe, sys.executable)
        and sysconfig.get_config_var("SOABI") == want
    ):
        return ImportPlan(LocalRunner(sys.executable, manifest.site_packages))
    if exe and os.access(exe, os.X_OK):
        try:
            if _soabi_of(exe) == want:
                return ImportPlan(LocalRunner(exe, manifest.site_packages))
        except InputError:
            pass
    return ImportPlan(None, f"the gateway's interpreter ({exe or want}) is not on this host; use --python or --image")


def static_phase(artifact: Artifact, manifest: Manifest) -> tuple[list[str], dict[str, Any]]:
    """One-line problems and the static facts (ELF files, extension modules) for -o json."""
    from krakend_tools import static

    if artifact.root.is_file() and artifact.root.suffix != ".so":
        return [], {}  # a .py file: nothing compiled to read
    result = static.check_tree(artifact.root, manifest)
    problems = list(result.problems)
    facts = result.to_dict()
    facts.pop("root", None)
    facts.pop("ok", None)
    return problems, {"static": facts}


def check_artifact(
    artifact: Artifact, manifest: Manifest, types: Sequence[str], plan: ImportPlan, timeout: float
) -> ArtifactResult:
    """Static phase, then (if clean and possible) the import phase, for one artifact."""
    res = ArtifactResult(artifact)
    if artifact.error:
        res.problems = [artifact.error]
        return res
    res.problems, res.static = static_phase(artifact, manifest)
    if res.problems:
        return res
    if plan.runner is None:
        res.skipped = plan.skipped
        return res
    for module in artifact.modules:
        outcome = import_test(plan.runner, [str(artifact.import_path)], module, types, timeout)
        res.outcomes.append(outcome)
        if outcome.error:
            break
    return res


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


def findings_for(res: ArtifactResult, types: Sequence[str]) -> list[Finding]:
    """One finding per requested type for an artifact."""
    art = res.artifact
    base: dict[str, Any] = {"artifact_kind": art.kind, "modules": art.modules, **res.static}
    findings = []
    for kind in types:
        details = dict(base)
        finding = Finding(name=art.name, kind=KINDS[kind], ok=False, file=art.name, details=details)
        findings.append(finding)
        if res.problems:
            finding.message = res.problems[0]
            details.update(phase="static", problems=res.problems)
            continue
        if res.skipped:
            finding.ok = True
            finding.message = f"static checks passed; import skipped: {res.skipped}"
            details.update(phase="static", import_skipped=res.skipped)
            continue
        details["phase"] = "import"
        details["probes"] = [_probe_details(o) for o in res.outcomes]
        broken = next((o for o in res.outcomes if o.error), None)
        if broken is not None:
            finding.message = broken.error or ""
            continue
        merged = _merge(res.outcomes, kind)
        details["registered"] = merged.registered
        finding.ok = merged.ok
        finding.message = f"registered: {', '.join(merged.registered)}" if merged.ok else merged.error or "failed"
    return findings


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


def _parallel(
    arts: list[Artifact], manifest: Manifest, kinds: list[str], plan: ImportPlan, timeout: float, workers: int
) -> list[ArtifactResult]:
    """check_artifact over a thread pool; on Ctrl-C the running probes are killed at once."""
    pool = ThreadPoolExecutor(max_workers=min(workers, len(arts)))
    try:
        results = list(pool.map(lambda a: check_artifact(a, manifest, kinds, plan, timeout), arts))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        abort = getattr(plan.runner, "abort", None)
        if callable(abort):
            abort()
        pool.shutdown(wait=True)
        raise
    pool.shutdown()
    return results


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
) -> Report:
    """Test every artifact for every plugin type; the report has one finding per pair."""
    start = time.monotonic()
    if not types:
        raise InputError("at least one plugin type is required: -s, -c or -m")
    if timeout <= 0:
        raise InputError("--timeout must be positive")
    kinds = [t for t in TYPES if t in types]
    plan = ImportPlan(runner) if runner is not None else plan_import(manifest, python)
    workers = max(1, jobs or os.cpu_count() or 1)
    restore = _terminate_as_interrupt()
    try:
        with expand(list(artifacts), pattern) as arts:
            if workers == 1 or len(arts) == 1:
                results = [check_artifact(a, manifest, kinds, plan, timeout) for a in arts]
            else:
                results = _parallel(arts, manifest, kinds, plan, timeout, workers)
            findings = [f for r in results for f in findings_for(r, kinds)]
    finally:
        restore()
        close = getattr(plan.runner, "close", None)
        if runner is None and callable(close):
            close()
    failed = {f.name for f in findings if not f.ok}
    meta: dict[str, Any] = {
        "tested": len(results),
        "failed": len(failed),
        "types": kinds,
        "import_phase": "skipped" if plan.runner is None else "run",
        "runner": plan.runner.description if plan.runner is not None else None,
        "gateway": _gateway_label(manifest),
        "timeout": timeout,
        "jobs": workers,
    }
    if plan.skipped:
        meta["import_skipped"] = plan.skipped
    return Report("test-plugin", findings, time.monotonic() - start, meta)
