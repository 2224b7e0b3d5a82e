"""The result every command returns and every output format renders."""

from __future__ import annotations

from collections.abc import Mapping
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
    ignored: str | None = None  # a KO accepted with --ignore / ignore = [...]: its reason ("" if none given)


@dataclass
class Report:
    command: str  # check-plugin | test-plugin | build
    findings: list[Finding]
    elapsed: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[Finding]:
        """KO findings that count: not ignored."""
        return [f for f in self.findings if not f.ok and f.ignored is None]

    @property
    def ignored(self) -> list[Finding]:
        """KO findings accepted by an ignore rule; still reported, with their reason."""
        return [f for f in self.findings if not f.ok and f.ignored is not None]

    def apply_ignores(self, ignores: Mapping[str, str]) -> None:
        """Mark KO findings named in ``ignores`` (NAME -> reason) as ignored.

        A name matches a finding's name as written, as a normalized package name, or as the
        file name of an artifact path."""
        if not ignores:
            return
        from packaging.utils import canonicalize_name

        wanted: dict[str, str] = {canonicalize_name(name): reason for name, reason in ignores.items()}
        wanted.update(ignores)
        for f in self.findings:
            if f.ok:
                continue
            keys: tuple[str, ...] = (f.name, canonicalize_name(f.name), f.name.rsplit("/", 1)[-1])
            for key in keys:
                if key in wanted:
                    f.ignored = wanted[key]
                    break

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1
