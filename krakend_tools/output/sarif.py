"""SARIF 2.1.0 for code-scanning dashboards: a rule per kind of finding, a result per KO
(ignored ones carry an external suppression with the reason), a warning result (and a tool
execution notification) per thing that could not be verified or was not run; located at the
lockfile line or the artifact path, relative to the repository root."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from krakend_tools import __version__
from krakend_tools.escape import shown, unforged_json
from krakend_tools.output.paths import from_root
from krakend_tools.report import Finding, Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULES: dict[str, str] = {  # keyed by the kinds the commands emit, lower case as rule_id
    "python": "The lockfile's Python does not fit the gateway's interpreter",
    "platform": "No locked file fits the gateway's platform (CPU, libc, Python ABI)",
    "package": "A package the gateway also has is locked at another version",
    "plugin-only": "A package only the plugin brings",
    "server": "The artifact does not load as a server (handler) plugin",
    "client": "The artifact does not load as an HTTP client plugin",
    "modifier": "The artifact does not load as a request/response modifier plugin",
    "target": "The plugin does not build or load for this target",
    "unverified": "Could not be verified, not a pass: what the manifest cannot know, an unpinned package, "
    "an import run without its sandbox",
    "skipped": "A check that was not run",
}


def rule_id(kind: str) -> str:
    return f"krakend/{kind.lower()}"


def _uri(file: str) -> str:
    """The path relative to the repository root (:func:`from_root`), with ``/``; an absolute one
    outside it becomes a ``file://`` URI; percent-encoded (RFC 3986) byte by byte."""
    path = from_root(file)
    if path.startswith("/"):
        return "file://" + quote(_bytes(path), safe="/")
    return quote(_bytes(path), safe="/")


def _bytes(name: str) -> bytes:
    """The bytes of a file name (an undecodable one's own bytes; a lone surrogate from JSON as-is)."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def _location(f: Finding) -> list[dict[str, Any]]:
    if not f.file:
        return []
    location: dict[str, Any] = {"artifactLocation": {"uri": _uri(f.file)}}
    if f.line:
        location["region"] = {"startLine": f.line}
    return [{"physicalLocation": location}]


def _result(f: Finding, index: dict[str, int]) -> dict[str, Any]:
    """A KO: level error (ignored ones suppressed, with their reason)."""
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
        result["locations"] = _location(f)
    if f.ignored is not None:
        result["suppressions"] = [{"kind": "external", "justification": f.ignored or "no reason given"}]
    return result


def _cautions(f: Finding) -> list[tuple[str, str]]:
    """(rule kind, text) of what ``f`` could not verify and of the part of it that was not run."""
    found = [("unverified", w) for w in f.warnings]
    if f.skipped:
        found.append(("skipped", f"not checked: {f.skipped}"))
    return found


def _caution(f: Finding, kind: str, text: str, index: dict[str, int]) -> dict[str, Any]:
    """A warning result: not a failure, never a silent pass."""
    result: dict[str, Any] = {
        "ruleId": rule_id(kind),
        "ruleIndex": index[kind],
        "level": "warning",
        "message": {"text": shown(f"{f.name}: {text}")},
        "properties": {"name": f.name, "kind": f.kind},
    }
    if f.file:
        result["locations"] = _location(f)
    return result


def _notification(f: Finding, text: str) -> dict[str, Any]:
    note: dict[str, Any] = {"level": "warning", "message": {"text": shown(f"{f.name}: {text}")}}
    if f.file:
        note["locations"] = _location(f)
    return note


def render(report: Report) -> str:
    cautions = [(f, kind, text) for f in report.findings for kind, text in _cautions(f)]
    kinds = list(dict.fromkeys([f.kind for f in report.findings if not f.ok] + [kind for _, kind, _ in cautions]))
    index = {kind: i for i, kind in enumerate(kinds)}
    rules = [
        {
            "id": rule_id(kind),
            "name": kind,
            "shortDescription": {"text": RULES.get(kind.lower(), f"krakend {report.command}: {kind}")},
            "defaultConfiguration": {"level": "warning" if kind in ("unverified", "skipped") else "error"},
        }
        for kind in kinds
    ]
    invocation: dict[str, Any] = {"executionSuccessful": True, "exitCode": report.exit_code}
    if cautions:
        invocation["toolExecutionNotifications"] = [_notification(f, text) for f, _, text in cautions]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "krakend-tools", "version": __version__, "rules": rules}},
        "invocations": [invocation],
        "results": [_result(f, index) for f in report.findings if not f.ok]
        + [_caution(f, kind, text, index) for f, kind, text in cautions],
        "properties": {"command": report.command, "checked": len(report.findings)},
    }
    if report.fixes:
        run["properties"]["fixes"] = report.fixes
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return unforged_json(json.dumps(log, indent=2)) + "\n"
