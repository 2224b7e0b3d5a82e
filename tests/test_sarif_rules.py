"""Every kind of finding a command emits has its own SARIF rule, not the generic one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from krakend_tools.output import sarif
from krakend_tools.report import Finding, FindingKind, Report

from .conftest import FIXTURES, gateway_manifest, run_krakend
from .test_outputs import sarif_schema


def specific_rules(log: dict[str, Any]) -> dict[str, str]:
    """ruleId -> rule text of each result, after checking the log against the official schema."""
    import jsonschema

    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    run = log["runs"][0]
    command = run["properties"]["command"]
    rules = {r["id"]: r["shortDescription"]["text"] for r in run["tool"]["driver"]["rules"]}
    used = {r["ruleId"]: rules[r["ruleId"]] for r in run["results"]}
    generic = [rule for rule, text in used.items() if text.startswith(f"krakend {command}: ")]
    assert not generic, f"{command}: generic rule text for {generic}"
    return used


def test_every_kind_has_its_own_rule() -> None:
    assert set(FindingKind) <= set(sarif.RULES)


def test_check_plugin_results_have_their_own_rules(tmp_path: Path) -> None:
    """A lockfile with a Python, a platform and a package KO, through the real command."""
    wheels = [
        ("idna", "3.7", "idna-3.7-py3-none-any.whl"),
        ("zzz-native", "1.0", "zzz_native-1.0-cp311-cp311-manylinux_2_17_aarch64.whl"),
    ]
    lock = ['lock-version = "1.0"\ncreated-by = "pip"\nrequires-python = ">=3.12"\n']
    for name, version, wheel in wheels:
        url = f'{{ url = "https://registry.invalid/f/{wheel}", hashes = {{ sha256 = "{"0" * 64}" }} }}'
        lock.append(f'[[packages]]\nname = "{name}"\nversion = "{version}"\nwheels = [{url}]\n')
    (tmp_path / "pylock.toml").write_text("\n".join(lock))
    manifest = str(FIXTURES / "gateway" / "manifest.json")
    proc = run_krakend("check-plugin", "-s", "pylock.toml", "--manifest", manifest, "-o", "sarif", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    rules = specific_rules(json.loads(proc.stdout))
    assert set(rules) == {"krakend/python", "krakend/platform", "krakend/package"}


def _extension_module() -> str:
    """A compiled extension module of this interpreter's standard library."""
    for name in ("_socket", "select", "_ssl", "_ctypes", "_decimal", "_json"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin and spec.origin.endswith(".so"):
            return spec.origin
    pytest.skip("this interpreter has no compiled stdlib extension module")


def test_test_plugin_results_have_their_own_rules(tmp_path: Path) -> None:
    """A host extension module tested statically against an alpine/arm64 gateway: KO for each type."""
    manifest = gateway_manifest(tmp_path, target="alpine/arm64")
    artifact = _extension_module()
    proc = run_krakend("test-plugin", "-scm", "--static-only", "--manifest", str(manifest), "-o", "sarif", artifact)
    assert proc.returncode == 1, proc.stderr
    rules = specific_rules(json.loads(proc.stdout))
    assert set(rules) == {"krakend/server", "krakend/client", "krakend/modifier"}


def test_build_results_have_their_own_rules() -> None:
    """build's findings, one per target (the command needs Docker: made here as it makes them)."""
    report = Report(
        "build",
        [
            Finding("generic/amd64", FindingKind.TARGET, True, "built", details={"artifact": "dist/p.whl"}),
            Finding("alpine/arm64", FindingKind.TARGET, False, "compile error", details={"log": "b.log"}),
        ],
    )
    rules = specific_rules(json.loads(sarif.render(report)))
    assert rules == {"krakend/target": sarif.RULES["target"]}
