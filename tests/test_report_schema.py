"""The result schema describes what the commands emit: the kinds, and test-plugin's and build's
gateway environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from krakend_tools.plugin_test.gateway_env import GatewayEnv, Overlay, Pin
from krakend_tools.report import RESULT_SCHEMA_PATH, FindingKind

from .conftest import run_krakend

SCHEMA: dict[str, Any] = json.loads(RESULT_SCHEMA_PATH.read_text())
PLUGIN = """\
class HandlerRegisterer:
    def register_handlers(self, register):
        register("my-handler", lambda extra_config, next_handler: next_handler)
"""


def test_the_schema_lists_every_kind() -> None:
    assert SCHEMA["$defs"]["finding"]["properties"]["kind"]["enum"] == list(FindingKind)


def test_a_real_test_plugin_result_fits_with_its_gateway_environment(tmp_path: Path) -> None:
    """A local import run: the gateway interpreter's site-packages and the interpreter itself."""
    (tmp_path / "myplug.py").write_text(PLUGIN)
    proc = run_krakend("test-plugin", "-s", "--manifest", "host", "-o", "json", "myplug.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(result)
    env = result["meta"]["gateway_environment"]
    assert env["image"] is None and env["python"] and env["site_packages"]


def test_a_gateway_image_with_an_overlay_fits() -> None:
    """What build and a container run record: the image's packages and the plugin's overlay."""
    overlay = Overlay(
        "uv.lock",
        packages=[Pin("toolz", "0.12.1")],
        from_gateway=[Pin("idna", "3.6")],
        skipped=["my-lib"],
        missing={Pin("numpy", "2.0.0"): "no matching distribution"},
    )
    env = GatewayEnv("krakend-tools/gateway:x", installed=[Pin("idna", "3.7")], overlay=overlay)
    meta_schema = {**SCHEMA["properties"]["meta"]["properties"]["gateway_environment"], "$defs": SCHEMA["$defs"]}
    jsonschema.Draft202012Validator(meta_schema).validate(env.to_dict())
    invalid = {**env.to_dict(), "overlay": {**overlay.to_dict(), "extra": 1}}
    assert not jsonschema.Draft202012Validator(meta_schema).is_valid(invalid)
