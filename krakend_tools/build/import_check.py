"""A built target's artifacts through test-plugin: static checks on this host, then the import
probe in the gateway environment (the runtime image with the gateway's packages, the plugin
folder's lockfile after them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.build.options import BuildOptions
from krakend_tools.build.plans import Plan
from krakend_tools.plugin_test.contract import TYPES

if TYPE_CHECKING:
    from krakend_tools.report import Finding, Report

TESTABLE = (".whl", ".so", ".py")


@dataclass
class ImportVerdict:
    """The test's outcome: OK or KO, its one line, and test-plugin's findings for the report."""

    ok: bool
    message: str
    details: dict[str, Any]


def import_verdict(plan: Plan, files: list[Path], opts: BuildOptions) -> ImportVerdict:
    """Test-plugin's verdict on ``files`` (in the staging folder) for the target of ``plan``."""
    from krakend_tools.plugin_test import job as testplugin
    from krakend_tools.plugin_test.docker_runner import build_test_runner

    assert plan.runtime is not None
    testable = [f for f in files if f.suffix in TESTABLE]
    if not testable:
        return ImportVerdict(False, "no wheel or extension module in the build output", {})
    runner, manifest, env = build_test_runner(
        plan.engine, plan.runtime, plan.target, plan.manifest, opts.manifest, opts.plugin_dir
    )
    kinds = opts.types or list(TYPES)
    report = testplugin.run([str(f) for f in testable], manifest, kinds, runner=runner, jobs=1, env=env)
    result = _published(report, testable[0].parent, plan.out_dir)
    details: dict[str, Any] = {
        "runner": runner.description,
        "findings": result["findings"],
        "artifacts": result.get("artifacts", []),
        "gateway_environment": env.to_dict(),
    }
    registered = sorted({n for f in report.findings if f.ok for n in f.details.get("registered", [])})
    details["registered"] = registered
    bad = _failures(report, bool(opts.types))
    if bad:
        return ImportVerdict(False, f"{bad[0].kind.lower()}: {bad[0].message} (in {env.describe()})", details)
    what = "registered " + ", ".join(registered) if registered else "imported"
    return ImportVerdict(True, f"{what} in {env.describe()}", details)


def _published(report: Report, staged: Path, out_dir: Path) -> dict[str, Any]:
    """The report as a dict, naming the files' published place (the staging folder is gone after)."""
    text = json.dumps(report.to_dict(), default=str)
    return dict(json.loads(text.replace(json.dumps(str(staged))[1:-1], json.dumps(str(out_dir))[1:-1])))


def _failures(report: Report, types_asked: bool) -> list[Finding]:
    """The failures that make the test KO: all of them for asked types; with every type the
    plugin has, "does not contain a ...Registerer" is none (unless nothing registered at all)."""
    if types_asked:
        return report.failures
    bad = [f for f in report.failures if "does not contain a" not in f.message]
    if not [f for f in report.findings if f.ok]:
        bad = bad or report.failures
    return bad
