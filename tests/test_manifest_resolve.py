"""manifest.resolve: --manifest, else $KRAKEND_MANIFEST, else [tool.krakend] manifest; never a guess."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from krakend_tools.errors import InputError
from krakend_tools.manifest.facts import from_facts, introspect
from krakend_tools.manifest.resolve import NO_MANIFEST, resolve, resolver
from krakend_tools.manifest.resolve import resolve as resolve_via_model


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose [tool.krakend] names project.json; cli.json and env.json beside it."""
    monkeypatch.delenv("KRAKEND_MANIFEST", raising=False)
    text = from_facts(introspect(None)).to_json()
    for name in ("project.json", "cli.json", "env.json"):
        (tmp_path / name).write_text(text)
    (tmp_path / "pyproject.toml").write_text('[tool.krakend]\nmanifest = "project.json"\n')
    return tmp_path


def test_the_option_wins_then_the_environment_then_the_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve(None, project).source == str(project / "project.json")
    monkeypatch.setenv("KRAKEND_MANIFEST", str(project / "env.json"))
    assert resolve(None, project).source == str(project / "env.json")
    assert resolve(str(project / "cli.json"), project).source == str(project / "cli.json")
    assert resolve("host", project).source == "host"


def test_a_project_manifest_is_relative_to_its_pyproject(project: Path) -> None:
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert resolve(None, deep).source == str(project / "project.json")


def test_a_project_naming_no_file_or_host_is_refused(project: Path) -> None:
    for value in ("nope.json", "host"):
        (project / "pyproject.toml").write_text(f'[tool.krakend]\nmanifest = "{value}"\n')
        with pytest.raises(InputError) as err:
            resolve(None, project)
        assert str(err.value) == f"{project / 'pyproject.toml'}: [tool.krakend] manifest '{value}': no such file"


def test_no_manifest_anywhere_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRAKEND_MANIFEST", raising=False)
    with pytest.raises(InputError) as err:
        resolve(None, tmp_path)
    assert str(err.value) == NO_MANIFEST


def test_a_given_manifest_reads_no_project(project: Path) -> None:
    """With --manifest the project's pyproject.toml is not read: a broken one stops nothing."""
    (project / "pyproject.toml").write_text("[tool.krakend\n")
    assert resolve(str(project / "cli.json"), project).source == str(project / "cli.json")


def test_a_resolver_resolves_each_project_once(project: Path) -> None:
    other = "3.10" if sys.version_info[:2] != (3, 10) else "3.11"  # not this Python's X.Y: patch .0
    manifest_for = resolver(None, python=other)
    first = manifest_for(project)
    assert manifest_for(project) is first and first.python.version == f"{other}.0"


def test_the_model_module_still_serves_the_names_that_moved() -> None:
    assert resolve_via_model is resolve
