"""Machine-readable result: the whole report as JSON (``schema/result.schema.json``)."""

from __future__ import annotations

import json

from krakend_tools.escape import unforged_json
from krakend_tools.report import Report


def render(report: Report) -> str:
    """ASCII JSON (every other character a ``\\u`` escape); no line a workflow command."""
    return unforged_json(json.dumps(report.to_dict(), indent=2, default=str)) + "\n"
