"""The result every command returns and every output format renders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from krakend_tools.escape import shown

RESULT_SCHEMA_VERSION = 1
SHARED_MISMATCH = "the gateway has another version"  # the message of a plain version mismatch
RESULT_SCHEMA_PATH = Path(__file__).with_name("schema") / "result.schema.json"


class FindingKind(StrEnum):
    """What a finding checked: one vocabulary over every command."""

    PYTHON = "python"  # check-plugin: the lockfile's Python
    PLATFORM = "platform"  # check-plugin: no locked file fits the gateway's platform
    PACKAGE = "package"  # check-plugin: a package the gateway also has
    PLUGIN_ONLY = "plugin-only"  # check-plugin: a package only the plugin brings
    SERVER = "server"  # test-plugin: one per plugin type
    CLIENT = "client"
    MODIFIER = "modifier"
    TARGET = "target"  # build: one per target


class LockfileMeta(TypedDict):
    """check-plugin: one lockfile checked (``meta.lockfiles``)."""

    path: str
    tool: str
    lock_version: str | None
    packages: int  # selected for the gateway's target
    failures: int
    manifest: NotRequired[dict[str, Any]]  # the summary of the manifest it was checked against


class Meta(TypedDict, total=False):
    """What a report was checked against and how the run went (``meta`` of the JSON result,
    ``krakend_tools/schema/result.schema.json``); each command fills its own keys."""

    manifest: dict[str, Any] | None  # every command: the manifest's summary; None when lockfiles differ
    # check-plugin
    lockfiles: list[LockfileMeta]
    fixes: dict[str, list[str]]  # -f: lockfile -> the printed fix lines
    # test-plugin
    tested: int
    failed: int
    types: list[str]
    import_phase: Literal["run", "not-run", "static-only"]
    import_not_run: str  # why the import phase could not run
    runner: str | None
    gateway: str
    timeout: float
    gateway_environment: dict[str, Any]
    # build (jobs: test-plugin too)
    jobs: int
    targets: list[str]
    arm64: str
    network: str
    plugin: str
    engine: str
    engines: dict[str, str]


@dataclass
class Finding:
    """One checked item: a package (check-plugin), an artifact and plugin type
    (test-plugin) or a target (build)."""

    name: str  # package name, artifact path or target
    kind: FindingKind
    ok: bool
    message: str = ""  # one line: why it is KO (the decisive reason), or what was seen when OK
    have: str | None = None
    want: str | None = None
    file: str | None = None  # where to point an annotation (lockfile, artifact)
    line: int | None = None
    fix: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # every reason, the decisive one first
    warnings: list[str] = field(default_factory=list)  # what could not be known: not a pass
    skipped: str | None = None  # a part that was not run, and why (e.g. --static-only)
    details: dict[str, Any] = field(default_factory=dict)  # extra facts for -o json
    ignored: str | None = None  # a KO accepted with --ignore / ignore = [...]: its reason ("" if none given)


@dataclass
class Report:
    command: str  # check-plugin | test-plugin | build
    findings: list[Finding]
    elapsed: float = 0.0
    meta: Meta = field(default_factory=Meta)
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # test-plugin: static facts, once each

    @property
    def failures(self) -> list[Finding]:
        """KO findings that count: not ignored."""
        return [f for f in self.findings if not f.ok and f.ignored is None]

    @property
    def ignored(self) -> list[Finding]:
        """KO findings accepted by an ignore rule; still reported, with their reason."""
        return [f for f in self.findings if not f.ok and f.ignored is not None]

    def apply_ignores(self, ignores: Mapping[str, str]) -> list[str]:
        """Mark KO findings named in ``ignores`` (NAME -> reason) as ignored; the names that
        matched no KO (a stale accepted mismatch, a typo), in the order given.

        A name matches a finding's name as written, as a normalized package name, or as the
        file name of an artifact path."""
        if not ignores:
            return []
        from packaging.utils import canonicalize_name

        wanted: dict[str, str] = {canonicalize_name(name): reason for name, reason in ignores.items()}
        wanted.update(ignores)
        used: set[str] = set()
        for f in self.findings:
            if f.ok:
                continue
            keys: tuple[str, ...] = (f.name, canonicalize_name(f.name), f.name.rsplit("/", 1)[-1])
            for key in keys:
                if key in wanted:
                    f.ignored = wanted[key]
                    used.add(key)
                    break
        return [name for name in ignores if name not in used and canonicalize_name(name) not in used]

    @property
    def fixes(self) -> dict[str, list[str]]:
        """check-plugin ``-f``: each lockfile's fix lines (none: empty)."""
        fixes: dict[str, list[str]] = self.meta.get("fixes") or {}
        return fixes

    @property
    def lockfile_paths(self) -> list[str]:
        """check-plugin: the lockfiles checked, in order."""
        return [entry["path"] for entry in self.meta.get("lockfiles") or []]

    @property
    def manifest_sources(self) -> list[str | None]:
        """The files of the manifests the report was checked against: its own and each lockfile's."""
        used = [self.meta.get("manifest")] + [entry.get("manifest") for entry in self.meta.get("lockfiles") or []]
        return [m.get("source") for m in used if isinstance(m, dict)]

    @property
    def tested(self) -> int | None:
        """test-plugin: how many artifacts were tested (None: not recorded)."""
        tested = self.meta.get("tested")
        return None if tested is None else int(tested)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def escaped(self) -> Report:
        """A copy whose every string (names, paths, messages, meta) is :func:`~krakend_tools.escape.shown`:
        what a text-like format renders, so nothing from a plugin, lockfile or manifest reaches it raw."""
        findings = [Finding(**_escaped(vars(f))) for f in self.findings]
        return Report(self.command, findings, self.elapsed, _escaped(self.meta), _escaped(self.artifacts))

    def to_dict(self) -> dict[str, Any]:
        """The JSON result (``krakend_tools/schema/result.schema.json``)."""
        data: dict[str, Any] = {
            "schema_version": RESULT_SCHEMA_VERSION,
            "command": self.command,
            "ok": self.ok,
            "failures": len(self.failures),
            "warnings": sum(len(f.warnings) for f in self.findings),
            "elapsed": round(self.elapsed, 3),
            "meta": self.meta,
            "findings": [dict(vars(f)) for f in self.findings],  # asdict's deep copy: a third of a big run
        }
        if self.artifacts:
            data["artifacts"] = self.artifacts
        return data


def _escaped(value: Any) -> Any:
    """``value`` with every string in it (keys too) escaped by :func:`~krakend_tools.escape.shown`."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def manifest_line(meta: Meta) -> str | None:
    """``manifest: gateway.json (krakend 2.7; Python 3.11.7 cpython-311-…; linux/amd64 glibc 2.36)``
    from ``meta["manifest"]``; None when the report has none."""
    m = meta.get("manifest")
    if not isinstance(m, dict):
        return None
    gw = m.get("gateway") or {}
    gateway = " ".join(str(x) for x in (gw.get("name"), gw.get("version")) if x) or "gateway"
    python = f"Python {m.get('python')} {m.get('soabi') or ''}".rstrip()
    return f"manifest: {m.get('source')} ({gateway}; {python}; {m.get('platform')} {m.get('libc')})"


def manifest_lines(meta: Meta) -> list[str]:
    """The manifest line, or, when the lockfiles of one check-plugin run were checked against
    different manifests (each project's own), one ``LOCKFILE: manifest: …`` line each."""
    one = manifest_line(meta)
    if one:
        return [one]
    lines = []
    for entry in meta.get("lockfiles", []):
        line = manifest_line({"manifest": entry.get("manifest")})
        if line:
            lines.append(f"{entry['path']}: {line}")
    return lines
