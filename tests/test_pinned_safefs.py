"""Private temporary folders removed whole, never through a link planted in them (safefs.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from krakend_tools.safefs import private_folder


def test_private_folder_is_private_and_removed_whole(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    with private_folder("krakend-pinned-") as folder:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert folder.name.startswith("krakend-pinned-")
        deep = folder / "a" / "b" / "c"
        deep.mkdir(parents=True)
        (deep / "file").write_text("x")
        (folder / "a" / "sibling").mkdir()
        (folder / "a" / "b" / "link").symlink_to(outside)
        (deep / "file-link").symlink_to(outside / "keep")
        os.chmod(folder / "a" / "b", 0o500)
        os.chmod(deep, 0)
    assert not folder.exists()
    assert [p.name for p in outside.iterdir()] == ["keep"]


def test_a_link_put_in_its_place_goes_not_what_it_points_at(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    with private_folder("krakend-pinned-") as folder:
        moved = tmp_path / "moved"
        folder.rename(moved)
        (moved / "inside").write_text("x")
        folder.symlink_to(outside)
    assert not folder.is_symlink() and not moved.exists()
    assert [p.name for p in outside.iterdir()] == ["keep"]
