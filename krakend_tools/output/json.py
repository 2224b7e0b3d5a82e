"""Machine-readable result: the whole report as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from krakend_tools.report import Report


def render(report: Report) -> str:
    data = {
        "command": report.command,
        "ok": report.ok,
        "failures": len(report.failures),
        "elapsed": round(report.elapsed, 3),
        "meta": report.meta,
        "findings": [asdict(f) for f in report.findings],
    }
    return json.dumps(data, indent=2, default=str) + "\n"
