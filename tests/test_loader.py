"""The gateway-side loader: scan like KrakenD, open each plugin alone, return every error."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from krakend_tools.plugin_test import loader

SRC = Path(__file__).resolve().parent.parent / "fixtures" / "plugins_src"
sys.path.insert(0, str(SRC))
import build  # noqa: E402  (fixtures/plugins_src/build.py)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A plugin folder: good, broken and irrelevant entries, plus a nested plugin."""
    names = [
        "good_plugin.py",
        "missing_registerer.py",
        "hostile_raises.py",
        "hostile_sys_exit.py",
        "registerer_raises.py",
        "bad_registrations.py",
    ]
    for name in names:
        shutil.copy(SRC / name, tmp_path / f"plug_{name}")
    (tmp_path / "README.txt").write_text("not a plugin")
    nested = tmp_path / "nested_plug_dir"
    nested.mkdir()
    shutil.copy(SRC / "good_plugin.py", nested / "plug_nested.py")
    return tmp_path


def test_scan_is_sorted_filtered_and_not_recursive(folder: Path) -> None:
    found = [p.name for p in loader.scan(folder, "plug_")]
    assert found == sorted(found)
    assert "plug_good_plugin.py" in found
    assert "README.txt" not in found
    assert "nested_plug_dir" not in found  # a folder that is not a package
    assert all(p.parent == folder for p in loader.scan(folder, "plug_"))


def test_load_collects_every_error_and_counts_the_rest(folder: Path) -> None:
    result = loader.load(folder, "plug_")
    paths = [str(p) for p in loader.scan(folder, "plug_")]
    assert result.scanned == paths
    assert result.loaded == 1
    assert result.registered["server"] == ["good-auth", "good-headers"]
    assert result.registered["client"] == ["good-client"]
    assert result.registered["modifier"] == ["good-modifier"]
    assert callable(result.factories["client"]["good-client"])
    assert len(result.errors) == 5
    by_file = {e.split(" (", 1)[1].split("): ", 1)[0]: e for e in result.errors}
    for k, path in enumerate(paths):
        if path.endswith("plug_good_plugin.py"):
            assert path not in by_file
            continue
        assert by_file[path].startswith(f"plugin #{k} ({path}): ")
    assert by_file[str(folder / "plug_hostile_raises.py")].endswith("RuntimeError: missing KRAKEND_PLUGIN_TOKEN")
    assert by_file[str(folder / "plug_hostile_sys_exit.py")].endswith("exited with code 3 during import")
    assert "does not contain any of HandlerRegisterer" in by_file[str(folder / "plug_missing_registerer.py")]
    assert by_file[str(folder / "plug_registerer_raises.py")].endswith(
        "ClientRegisterer.register_clients raised ValueError: no backend configured"
    )
    assert "registered twice" in by_file[str(folder / "plug_bad_registrations.py")]
    assert not result.ok


def test_load_only_the_requested_types(folder: Path) -> None:
    result = loader.load(folder, "plug_good", types=["client"])
    assert result.loaded == 1 and result.errors == []
    assert result.registered == {"server": [], "client": ["good-client"], "modifier": []}


def test_a_failed_plugin_leaves_no_module_behind(folder: Path) -> None:
    loader.load(folder, "plug_hostile_raises")
    assert "plug_hostile_raises" not in sys.modules


def test_load_compiled_extension_and_package(tmp_path: Path) -> None:
    build.build_c(tmp_path, name="loader_cext")
    package = tmp_path / "loader_pkg"
    package.mkdir()
    (package / "impl.py").write_text((SRC / "good_plugin.py").read_text())
    (package / "__init__.py").write_text("from .impl import ClientRegisterer\n")
    result = loader.load(tmp_path, "loader_")
    assert result.errors == []
    assert result.loaded == 2
    assert result.registered["server"] == ["c-handler"]
    assert result.registered["modifier"] == ["c-modifier"]
    assert result.registered["client"] == ["good-client"]


def test_empty_folder_loads_nothing(tmp_path: Path) -> None:
    result = loader.load(tmp_path, ".so")
    assert (result.loaded, result.errors, result.scanned) == (0, [], [])
