"""SARIF 2.1.0 for code-scanning dashboards: a rule per kind of finding, a result per KO
(ignored ones carry an external suppression with the reason), located at the lockfile line
or the artifact path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from krakend_tools import __version__
from krakend_tools.escape import shown, unforged_json
from krakend_tools.report import Finding, Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULES = {
    "python": "The lockfile's Python does not fit the gateway's interpreter",
    "platform": "No locked file fits the gateway's platform (CPU, libc, Python ABI)",
    "package": "A package the gateway also has is locked at another version",
    "plugin-only": "A package only the plugin brings",
    "SERVER": "The artifact does not load as a server (handler) plugin",
    "CLIENT": "The artifact does not load as an HTTP client plugin",
    "MODIFIER": "The artifact does not load as a request/response modifier plugin",
    "TARGET": "The plugin does not build or load for this target",
}


def rule_id(kind: str) -> str:
    return f"krakend/{kind.lower()}"


def _uri(file: str) -> str:
    """A relative path stays relative (with ``/``); an absolute one below the current folder is made
    relative, any other becomes a ``file://`` URI; percent-encoded (RFC 3986) byte by byte."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return "file://" + quote(_bytes(path.as_posix()), safe="/")
    return quote(_bytes(path.as_posix()), safe="/")


def _bytes(name: str) -> bytes:
    """The bytes of a file name (an undecodable one's own bytes; a lone surrogate from JSON as-is)."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    text = [f"{f.name}: {f.message or 'incompatible'}"]
    if f.have is not None or f.want is not None:
        text.append(f"have: {f.have}, want: {f.want}")
    text += [f"fix: {c}" for c in f.fix]
    result: dict[str, Any] = {
        "ruleId": rule_id(f.kind),
        "ruleIndex": index[f.kind],
        "level": "error",
        "message": {"text": shown("; ".join(text))},
        "properties": {"name": f.name, "have": f.have, "want": f.want},
    }
    if f.file:
        location: dict[str, Any] = {"artifactLocation": {"uri": _uri(f.file)}}
        if f.line:
            location["region"] = {"startLine": f.line}
        result["locations"] = [{"physicalLocation": location}]
    if f.ignored is not None:
        result["suppressions"] = [{"kind": "external", "justification": f.ignored or "no reason given"}]
    return result


def render(report: Report) -> str:
    kinds = list(dict.fromkeys(f.kind for f in report.findings if not f.ok))
    index = {kind: i for i, kind in enumerate(kinds)}
    rules = [
        {
            "id": rule_id(kind),
            "name": kind,
            "shortDescription": {"text": RULES.get(kind, f"krakend {report.command}: {kind}")},
            "defaultConfiguration": {"level": "error"},
        }
        for kind in kinds
    ]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "krakend-tools", "version": __version__, "rules": rules}},
        "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code}],
        "results": [_result(f, index) for f in report.findings if not f.ok],
        "properties": {"command": report.command, "checked": len(report.findings)},
    }
    fixes = report.meta.get("fixes")
    if fixes:
        run["properties"]["fixes"] = fixes
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return unforged_json(json.dumps(log, indent=2)) + "\n"
