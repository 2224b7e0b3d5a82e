"""krakend_tools.settings: one precedence order (command line > environment > [tool.krakend] >
default), one frozen settings object per command, every $KRAKEND_* variable documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from krakend_tools.errors import InputError
from krakend_tools.settings import CommandLine, Settings, Source, resolve

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = """\
[tool.krakend]
manifest = "project.json"
types = ["server"]
timeout = 30
outputs = ["json=out.json"]
ignore = ["urllib3:project reason", "idna"]
groups = ["dev"]
lock = "uv.lock"

[tool.krakend.test-plugin]
types = ["client", "modifier"]
timeout = 45

[tool.krakend.build]
command = "make wheel"
"""
ENVIRONMENT = {"KRAKEND_MANIFEST": "env.json", "KRAKEND_GATEWAY_NAME": "env-gateway"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "src").mkdir()
    return tmp_path / "src"


def test_defaults_when_nothing_sets_anything(tmp_path: Path) -> None:
    settings = resolve("check-plugin", tmp_path, environ={})
    assert settings == Settings(command="check-plugin")
    assert settings.origin("manifest") is Source.DEFAULT and settings.pyproject is None


def test_the_project_sets_what_nothing_above_it_sets(project: Path) -> None:
    settings = resolve("check-plugin", project, environ={})
    root = project.parent
    assert (settings.root, settings.pyproject) == (root, root / "pyproject.toml")
    assert settings.manifest == "project.json" and settings.origin("manifest") is Source.PYPROJECT
    assert (settings.types, settings.timeout, settings.outputs) == (("server",), 30.0, ("json=out.json",))
    assert settings.ignore == {"urllib3": "project reason", "idna": ""}
    assert (settings.groups, settings.extras, settings.lock) == (("dev",), (), root / "uv.lock")
    assert (settings.gateway_name, settings.gateway_version) == (None, None)


def test_a_command_table_overrides_the_top_level_but_build_keeps_its_own(project: Path) -> None:
    test = resolve("test-plugin", project, environ={})
    assert (test.types, test.timeout) == (("client", "modifier"), 45.0)
    build = resolve("build", project, environ={})
    assert (build.types, build.timeout) == (("server",), 30.0)


def test_the_environment_wins_over_the_project(project: Path) -> None:
    settings = resolve("check-plugin", project, environ=ENVIRONMENT)
    assert (settings.manifest, settings.origin("manifest")) == ("env.json", Source.ENVIRONMENT)
    assert (settings.gateway_name, settings.origin("gateway_name")) == ("env-gateway", Source.ENVIRONMENT)
    assert settings.types == ("server",) and settings.origin("types") is Source.PYPROJECT


def test_an_empty_variable_sets_nothing(project: Path) -> None:
    settings = resolve("check-plugin", project, environ={"KRAKEND_MANIFEST": ""})
    assert (settings.manifest, settings.origin("manifest")) == ("project.json", Source.PYPROJECT)


def test_the_command_line_wins_over_everything(project: Path) -> None:
    given = CommandLine(
        manifest="cli.json",
        types=["modifier"],
        timeout=5.0,
        outputs=["sarif=x.sarif"],
        ignore=["urllib3:cli reason", "six"],
        groups=["docs"],
        extras=["fast"],
        lock=Path("other.lock"),
        gateway_name="cli-gateway",
        gateway_version="2.0",
    )
    settings = resolve("check-plugin", project, given, environ=ENVIRONMENT)
    assert dataclasses.asdict(settings) | {"origins": None} == {
        "command": "check-plugin",
        "root": project.parent,
        "manifest": "cli.json",
        "types": ("modifier",),
        "timeout": 5.0,
        "outputs": ("sarif=x.sarif",),
        "ignore": {"urllib3": "cli reason", "idna": "", "six": ""},  # the command line's names join the project's
        "groups": ("docs",),
        "extras": ("fast",),
        "lock": Path("other.lock"),
        "gateway_name": "cli-gateway",
        "gateway_version": "2.0",
        "origins": None,
    }
    assert set(settings.origins.values()) == {Source.COMMAND_LINE}


def test_an_option_given_empty_is_not_given(project: Path) -> None:
    settings = resolve("check-plugin", project, CommandLine(manifest="", types=[]), environ={})
    assert (settings.manifest, settings.types) == ("project.json", ("server",))


def test_settings_are_frozen(project: Path) -> None:
    settings = resolve("check-plugin", project, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.manifest = "other.json"  # type: ignore[misc]


def test_no_project_read_without_a_start(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    settings = resolve("version", None, CommandLine(gateway_version="1.0"), environ=ENVIRONMENT)
    assert (settings.root, settings.manifest, settings.types) == (None, "env.json", ())
    assert (settings.gateway_name, settings.gateway_version) == ("env-gateway", "1.0")


def test_the_process_environment_is_the_default(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEND_MANIFEST", "from-process.json")
    assert resolve("check-plugin", project).manifest == "from-process.json"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "colour = 1",
            "[tool.krakend] unknown key 'colour' (known: extras, groups, ignore, lock, manifest, outputs, "
            "timeout, types)",
        ),
        ("types = 'server'", "[tool.krakend] types must be a list of strings"),
        ("timeout = 0", "[tool.krakend] timeout must be a number of seconds above 0"),
        ("timeout = true", "[tool.krakend] timeout must be a number of seconds above 0"),
        ("manifest = 1", "[tool.krakend] manifest must be a string (a path, or 'host')"),
        ("lock = ''", "[tool.krakend] lock must be a path (a string)"),
        ("ignore = 3", '[tool.krakend] ignore must be a list of "NAME[:REASON]" or a table NAME = "REASON"'),
        ("test-plugin = 1", "[tool.krakend.test-plugin] must be a table"),
    ],
)
def test_a_bad_project_setting_is_one_line(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.krakend]\n{table}\n")
    with pytest.raises(InputError) as err:
        resolve("test-plugin", tmp_path, environ={})
    assert str(err.value) == f"{tmp_path / 'pyproject.toml'}: {message}"


def test_an_ignore_table_takes_reasons(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.krakend.ignore]\nurllib3 = "reason"\n')
    assert resolve("check-plugin", tmp_path, environ={}).ignore == {"urllib3": "reason"}


def test_every_krakend_variable_the_package_names_is_documented() -> None:
    """Each ``$KRAKEND_*`` name in the package's code appears in docs/configuration.md, and the
    page names no variable the package does not."""
    pattern = re.compile(r"(?<![A-Za-z0-9_])KRAKEND_[A-Z0-9_]*[A-Z0-9]")
    code = {name for path in (ROOT / "krakend_tools").rglob("*.py") for name in pattern.findall(path.read_text())}
    documented = set(pattern.findall((ROOT / "docs" / "configuration.md").read_text()))
    assert code == documented
