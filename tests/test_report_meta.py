"""What the renderers read of a report's meta, through the report's typed accessors."""

from __future__ import annotations

from typing import Any

from krakend_tools.report import LockfileMeta, Meta, Report, manifest_lines

GATEWAY: dict[str, Any] = {
    "source": "gateway.json",
    "gateway": {"name": "krakend", "version": "2.7"},
    "python": "3.11.7",
    "soabi": "cpython-311-x86_64-linux-gnu",
    "platform": "linux/amd64",
    "libc": "glibc 2.36",
}
OTHER = {**GATEWAY, "source": "b/gateway.json", "gateway": {}}
USED = "Python 3.11.7 cpython-311-x86_64-linux-gnu; linux/amd64 glibc 2.36"


def lockfile(path: str, manifest: dict[str, Any]) -> LockfileMeta:
    return {"path": path, "tool": "uv", "lock_version": "1", "packages": 1, "failures": 0, "manifest": manifest}


def check_meta(manifest: dict[str, Any] | None) -> Meta:
    lockfiles = [lockfile("a/uv.lock", GATEWAY), lockfile("b/uv.lock", OTHER)]
    return {"manifest": manifest, "lockfiles": lockfiles, "fixes": {"a/uv.lock": ["uv lock"]}}


def test_a_check_reports_its_lockfiles_fixes_and_manifests() -> None:
    report = Report("check-plugin", [], meta=check_meta(None))
    assert report.lockfile_paths == ["a/uv.lock", "b/uv.lock"]
    assert report.fixes == {"a/uv.lock": ["uv lock"]}
    assert report.manifest_sources == ["gateway.json", "b/gateway.json"]
    assert report.tested is None
    assert manifest_lines(report.meta) == [
        f"a/uv.lock: manifest: gateway.json (krakend 2.7; {USED})",
        f"b/uv.lock: manifest: b/gateway.json (gateway; {USED})",
    ]


def test_one_manifest_for_all_is_one_line() -> None:
    report = Report("check-plugin", [], meta=check_meta(GATEWAY))
    assert report.manifest_sources == ["gateway.json", "gateway.json", "b/gateway.json"]
    assert manifest_lines(report.meta) == [f"manifest: gateway.json (krakend 2.7; {USED})"]


def test_an_empty_meta_has_nothing() -> None:
    report = Report("build", [])
    assert (report.lockfile_paths, report.fixes, report.manifest_sources, report.tested) == ([], {}, [], None)
    assert manifest_lines(report.meta) == []
    assert Report("test-plugin", [], meta={"tested": 3}).tested == 3
