"""The output formats' registry: every format a Renderer, each imported only when used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from krakend_tools.output import FORMATS, RENDERERS
from krakend_tools.report import Finding, FindingKind, Report

FORMAT_MODULES = [f"krakend_tools.output.{fmt}" for fmt in FORMATS]


def loaded_after(code: str) -> tuple[list[str], str]:
    """The output format modules a fresh interpreter has imported after running ``code``, and
    what ``code`` printed."""
    show = f"import json, sys\nprint(json.dumps([m for m in {FORMAT_MODULES!r} if m in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", f"{code}\n{show}"], capture_output=True, text=True, check=True)
    *printed, last = proc.stdout.splitlines()
    loaded: list[str] = json.loads(last)
    return loaded, "\n".join(printed)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_renders_a_report(fmt: str) -> None:
    report = Report("check-plugin", [Finding("idna", FindingKind.PACKAGE, False, "x", have="1", want="2")])
    assert "idna" in RENDERERS[fmt]().render(report)


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_one_format_imports_no_other(fmt: str) -> None:
    code = f"from krakend_tools.output import RENDERERS\nRENDERERS[{fmt!r}]()"
    assert loaded_after(code)[0] == [f"krakend_tools.output.{fmt}"]


def test_the_version_imports_no_format() -> None:
    code = "\n".join(
        [
            "import runpy, sys",
            "sys.argv = ['krakend', '--version']",
            "try:",
            "    runpy.run_module('krakend_tools', run_name='__main__')",
            "except SystemExit:",
            "    pass",
        ]
    )
    loaded, printed = loaded_after(code)
    assert printed.startswith("krakend-tools ") and loaded == []
