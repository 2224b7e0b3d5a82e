"""One target, start to end: compile, judge the build, test the artifacts, publish them."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from krakend_tools.build.compile import REPAIR_FAILED, REQUIRES_MISSING, BuildFailed, Compiled, compile_target
from krakend_tools.build.options import BuildOptions, Events
from krakend_tools.build.plans import Plan
from krakend_tools.build.requirements import build_system, missing_in_log, uses_default_builder
from krakend_tools.build.staging import Staging, publish
from krakend_tools.build.verdicts import (
    compiler_errors,
    error_line,
    human_size,
    lost_extensions,
    repair_verdict,
    wheel_version_problem,
)
from krakend_tools.report import Finding, FindingKind


def build_target(plan: Plan, opts: BuildOptions, events: Events, cancel: threading.Event) -> Finding:
    """Build, collect, repair, test and publish one target. Never leaves a container behind."""
    start = time.monotonic()
    finding = Finding(name=str(plan.target), kind=FindingKind.TARGET, ok=False, details=_plan_details(plan))
    staging = Staging(str(plan.target), plan.out_dir, events)
    try:
        try:
            built = compile_target(plan, opts, staging, cancel)
        except BuildFailed as err:
            finding.message = str(err)
            return finding
        finding.details["build_time"] = round(time.monotonic() - start, 2)
        failed = build_failure(built, plan, opts) or _lost(built.files, plan, opts, built.log, staging)
        if failed:
            finding.message = failed
            return finding
        _test_and_publish(finding, built.files, plan, opts, staging, cancel)
        return finding
    finally:
        finding.details["elapsed"] = round(time.monotonic() - start, 2)
        staging.close(finding)
        events.step(finding.name, "OK" if finding.ok else "KO")


def _plan_details(plan: Plan) -> dict[str, Any]:
    """What a target's finding says about its plan before the build."""
    return {
        "builder": plan.builder,
        "runtime": plan.runtime,
        "engine": plan.engine.url,
        "arm64": ("cross" if plan.cross else "emulate") if plan.target.arch == "arm64" else None,
        "zig_target": plan.zig_target,
        "wheel_plat": plan.wheel_plat,
        "out": str(plan.out_dir),
        "test": "skipped",
        "warnings": plan.warnings,
        "build_time": None,
    }


def build_failure(built: Compiled, plan: Plan, opts: BuildOptions) -> str | None:
    """Why the build failed, in one line (None when it wrote artifacts): timeout, compiler
    error, a wheel too new for the gateway's libc, build requirements still missing."""
    if built.code is None:
        return f"build timed out after {opts.timeout:g}s"
    if built.code == REPAIR_FAILED:  # a wheel with no extension left is not auditwheel's fault
        lost = lost_extensions([], opts.plugin_dir, built.log) if compiler_errors(built.log) else None
        return lost or repair_verdict(built.files, plan.manifest.platform.libc, plan.wheel_plat, built.log)
    if built.code == REQUIRES_MISSING:
        return f"build requirements still missing offline: {', '.join(missing_in_log(built.log))}"
    if built.code != 0:
        return f"build failed (exit {built.code}): {error_line(built.log)}"
    if not built.files:
        return "the build command wrote nothing to /out"
    return None


def _lost(files: list[Path], plan: Plan, opts: BuildOptions, log: str, staging: Staging) -> str | None:
    """A build that lost its extensions or its version: KO, or a warning when accepted."""
    lost = lost_extensions(files, opts.plugin_dir, log) if uses_default_builder(opts.command) else None
    lost = lost or wheel_version_problem(files, build_system(opts.plugin_dir).requires)
    if lost and not opts.allow_missing_extensions:
        return lost + " (accept with --allow-missing-extensions)"
    if lost:
        plan.warnings.append(f"warning: {lost}")
        staging.step(f"warning: {lost}")
    return None


def _test_and_publish(
    finding: Finding, files: list[Path], plan: Plan, opts: BuildOptions, staging: Staging, cancel: threading.Event
) -> None:
    """Test the artifacts in the runtime image (unless ``--no-test``), then move them into the
    target's folder; ``finding`` says what was built and how the test went."""
    from krakend_tools.build.import_check import import_verdict

    main = next((f for f in files if f.suffix == ".whl"), files[0])
    finding.file = str(plan.out_dir / main.name)
    finding.details.update(artifact=main.name, size=main.stat().st_size, files=[f.name for f in files])
    ok, message = True, f"built {main.name} ({human_size(main.stat().st_size)})"
    if plan.runtime is not None and not cancel.is_set():
        staging.step("testing")
        verdict = import_verdict(plan, files, opts)
        ok = verdict.ok
        finding.details.update(test="OK" if ok else "KO", test_message=verdict.message, test_details=verdict.details)
        message += f"; test {'OK' if ok else 'KO'}: {verdict.message}"
    if cancel.is_set():
        raise KeyboardInterrupt
    staging.step("writing")
    publish(files, plan.out_dir)
    finding.ok, finding.message = ok, message
    if plan.runtime is None:  # --no-test: built, not proven to load; every format says so
        finding.skipped = "import test not run (--no-test)"
