"""static_phase's import names pinned on hand-made paths: a ``.data`` folder with nothing after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from krakend_tools.plugin_test.static_phase import _module_name


@pytest.mark.parametrize(
    ("rel", "name"),
    [
        ("fast-1.0.data/mod.cpython-311-x86_64-linux-gnu.so", "mod"),
        ("pkg/fast-1.0.data/mod.so", "mod"),
        ("fast-1.0.data/platlib/pkg/mod.so", "pkg.mod"),
        ("fast-1.0.data/scripts/mod.so", "scripts.mod"),
    ],
)
def test_module_name_of_an_extension_under_a_data_folder(rel: str, name: str) -> None:
    assert _module_name(Path(rel)) == name
