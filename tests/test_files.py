"""krakend_tools.files: the one bounded reader every input file goes through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from krakend_tools.errors import InputError
from krakend_tools.files import load_json, read_pyproject, read_text, read_toml


def test_read_text_drops_bom_and_decodes(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfname = 1\n")
    assert read_text(path, "file") == "name = 1\n"


def test_read_text_refuses_past_limit_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.lock"
    path.write_bytes(b"x" * 11)
    with pytest.raises(InputError) as err:
        read_text(path, "lockfile", limit=10)
    assert str(err.value) == f"{path}: lockfile too large: 11 bytes (limit 10)"


def test_read_text_refuses_fifo_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    with pytest.raises(InputError) as err:
        read_text(path, "manifest")
    assert str(err.value) == f"{path}: not a regular file (a FIFO, socket or device), not a manifest"


def test_read_text_refuses_directory_missing_and_non_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"ok\xff")
    cases = {
        tmp_path: "is a directory, not a file",
        tmp_path / "none": "no such file",
        bad: "not UTF-8 text: invalid byte at offset 2",
    }
    for path, message in cases.items():
        with pytest.raises(InputError) as err:
            read_text(path, "file")
        assert str(err.value) == f"{path}: {message}"


def test_read_pyproject_parses_and_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.krakend]\ntypes = ["server"]\n')
    assert read_pyproject(path) == {"tool": {"krakend": {"types": ["server"]}}}
    assert read_toml(path)[1].st_uid == os.geteuid()
    path.write_text("[tool.krakend]\ntypes = [\n")
    with pytest.raises(InputError) as err:
        read_pyproject(path)
    assert str(err.value).startswith(f"{path}:3: invalid TOML:")


def test_read_pyproject_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("# " + "x" * 100 + "\n")
    monkeypatch.setattr("krakend_tools.files.MAX_FILE_BYTES", 50)
    with pytest.raises(InputError) as err:
        read_pyproject(path)
    assert str(err.value) == f"{path}: pyproject.toml too large: 103 bytes (limit 50)"


def test_load_json_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load_json(tmp_path / "m.json", "{\n  nope")
    expected = "invalid JSON: Expecting property name enclosed in double quotes (column 3)"
    assert str(err.value) == f"{tmp_path / 'm.json'}:2: {expected}"
    with pytest.raises(InputError) as err:
        load_json("m.json", "[" * 100_000)
    assert str(err.value) == "m.json: invalid JSON: nested too deeply"
