"""The result every command returns and every output format renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Finding:
    """One checked item: a package (check-plugin), an artifact and plugin type
    (test-plugin) or a target (build)."""

    name: str  # package name, artifact path or target
    kind: str  # check: python|platform|package|plugin-only; test: SERVER|CLIENT|MODIFIER
    ok: bool
    message: str = ""  # one line: why it is KO, or what was seen when OK
    have: str | None = None
    want: str | None = None
    file: str | None = None  # where to point an annotation (lockfile, artifact)
    line: int | None = None
    fix: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # extra facts for -o json


@dataclass
class Report:
    command: str  # check-plugin | test-plugin | build
    findings: list[Finding]
    elapsed: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1
