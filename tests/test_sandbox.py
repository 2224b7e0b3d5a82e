"""The local import phase in bubblewrap, its fallback, and hostile plugins that try to reach the host."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from krakend_tools.importtest import LocalRunner, import_test

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces and /proc")

REGISTER = """
class HandlerRegisterer:
    def register_handlers(self, register):
        register("ok", lambda cfg, nxt: nxt)
"""


def plugin(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body) + REGISTER)
    return path


def test_a_link_planted_in_place_of_the_scratch_folder_is_never_followed(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("mine")
    (canary / "sub").mkdir()
    (canary / "sub" / "keep.txt").write_text("mine too")
    plugin(
        tmp_path,
        "swap_cwd",
        f"""
        import os
        cwd = os.getcwd()
        os.rename(cwd, cwd + "-moved")
        os.symlink({str(canary)!r}, cwd)
        """,
    )
    runner = LocalRunner(sys.executable)
    try:
        import_test(runner, [str(tmp_path)], "swap_cwd", ["server"], 20)
    finally:
        runner.close()
    assert (canary / "keep.txt").read_text() == "mine"
    assert (canary / "sub" / "keep.txt").read_text() == "mine too"
