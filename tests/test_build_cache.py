"""A rebuild reuses the compiled objects of an earlier build (ccache in the builders' cache
volume), and the build log says how many: a real engine, real compilations."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from krakend_tools.build.compile import compiler_cache_use
from tests.test_build_real import STAMP_C, _build, _project

PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "cache-probe"
version = "1.0"

[tool.setuptools]
packages = ["cache_probe"]
ext-modules = [
  {name = "cache_probe._stamp", sources = ["src/stamp.c"]},
  {name = "cache_probe._other", sources = ["src/other.c"]},
]
"""


def _reused(log: str) -> tuple[int, int]:
    found = re.search(r"# compiler cache: (\d+) of (\d+) compilations reused \(ccache\)", log)
    assert found, log[-3000:]
    return int(found[1]), int(found[2])


@pytest.mark.parametrize("target", ["generic/amd64", "alpine/arm64"])
@pytest.mark.docker
@pytest.mark.slow
def test_a_rebuild_reuses_the_compiled_objects(docker_env: dict[str, str], tmp_path: Path, target: str) -> None:
    """Two extensions whose sources no earlier build compiled (a fresh token): the first build
    compiles both, the second reuses both; a source whose code changed is compiled again, the
    other reused (a changed comment would not be: ccache compares the preprocessed code)."""
    token = uuid.uuid4().hex
    mark = f'const char *cache_probe_token = "{token}";\n'  # in the code: comments are not compared
    other = STAMP_C.replace("_stamp", "_other") + mark
    project = _project(
        tmp_path / "p",
        {
            "pyproject.toml": PYPROJECT,
            "src/stamp.c": STAMP_C + mark,
            "src/other.c": other,
            "cache_probe/__init__.py": "",
        },
    )
    flavour_arch = target.replace("/", "-")
    uses = []
    for attempt in range(3):
        if attempt == 2:
            (project / "src" / "other.c").write_text(other + "int cache_probe_changed = 1;\n")
        report = _build(project, tmp_path / f"out{attempt}", docker_env, "-t", target, "--no-test")
        assert report["exit"] == 0, report
        uses.append(_reused((tmp_path / f"out{attempt}" / flavour_arch / "build.log").read_text()))
    assert uses == [(0, 2), (2, 2), (1, 2)]


def test_cache_use_counts_compilations_not_links() -> None:
    """ccache's stats log: a section per call; links and failed preprocessing are not compilations."""
    log = (
        b"# a.c\ndirect_cache_miss\npreprocessor_error\n"
        b"# a.c\ncache_miss\ndirect_cache_miss\nlocal_storage_miss\n"
        b"# b.c\ndirect_cache_hit\nlocal_storage_hit\n"
        b"# c.c\npreprocessed_cache_hit\n"
        b"# x.so\ncalled_for_link\n"
    )
    assert compiler_cache_use(log) == (2, 3)
    assert compiler_cache_use(b"# x.so\ncalled_for_link\n") is None
    assert compiler_cache_use(b"") is None
