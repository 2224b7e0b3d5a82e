"""Fix round trips with the real lock tools: lock a small project, check it with ``-f``, make the
printed ``#`` edits and paste the printed commands as a user would, then check again: green.

Each project shares 2–3 packages with a gateway that has requests 2.31.0, urllib3 1.26.18 and
idna 3.6. The tools are real (pinned, in venvs under ``.cache/fix-tools``, see
:mod:`tests.fix_tools`) and resolve against the real package index."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, run_krakend
from tests.fix_tools import tool_bin, tool_env

GATEWAY = {"requests": "2.31.0", "urllib3": "1.26.18", "idna": "3.6"}

pytestmark = pytest.mark.skipif(shutil.which("python3.11") is None, reason="the round trips lock for Python 3.11")


@dataclass(frozen=True)
class Scenario:
    """A plugin project: its runtime requirements, a dev group, its requires-python."""

    dependencies: tuple[str, ...]
    dev: tuple[str, ...] = ()
    requires_python: str = ">=3.11"
    failing: frozenset[str] = field(default_factory=frozenset)  # packages the first check must report
    gateway_python: str | None = None  # -g: the gateway's Python, when not the manifest's 3.11.7


SCENARIOS = {
    "direct": Scenario(("idna==3.7",), failing=frozenset({"idna"})),
    "transitive": Scenario(("requests==2.31.0",), failing=frozenset({"urllib3", "idna"})),
    "mixed": Scenario(("requests==2.32.3", "idna==3.7"), failing=frozenset({"requests", "urllib3", "idna"})),
    "group": Scenario(("requests==2.31.0",), dev=("urllib3==2.2.0",), failing=frozenset({"urllib3", "idna"})),
    # the tools here run on 3.11: the gateway is the older Python
    "python": Scenario(("idna==3.6",), failing=frozenset({"python"}), gateway_python="3.10.13"),
    "range": Scenario(("requests>=2.32",), failing=frozenset({"requests", "urllib3", "idna"})),
}


def _toml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def pep621(s: Scenario, groups: str = "dependency-groups") -> str:
    text = (
        '[project]\nname = "plug"\nversion = "0.1.0"\n'
        f"requires-python = {json.dumps(s.requires_python)}\n"
        f"# the plugin's runtime requirements\ndependencies = {_toml_list(s.dependencies)}\n"
    )
    if s.dev:
        text += f"\n[{groups}]\ndev = {_toml_list(s.dev)}  # tests only\n"
    return text


def _poetry_spec(req: str) -> tuple[str, str]:
    name, op, version = re.split(r"(==|>=)", req, maxsplit=1)
    return name, (version if op == "==" else f"{op}{version}")


def poetry18(s: Scenario) -> str:
    text = (
        '[tool.poetry]\nname = "plug"\nversion = "0.1.0"\ndescription = ""\nauthors = []\npackage-mode = false\n\n'
        f"[tool.poetry.dependencies]\npython = {json.dumps(s.requires_python)}\n"
    )
    text += "".join(f"{n} = {json.dumps(v)}\n" for n, v in map(_poetry_spec, s.dependencies))
    if s.dev:
        text += "\n[tool.poetry.group.dev.dependencies]\n"
        text += "".join(f"{n} = {json.dumps(v)}\n" for n, v in map(_poetry_spec, s.dev))
    return text


def poetry2(s: Scenario) -> str:
    text = pep621(s) if not s.dev else pep621(Scenario(s.dependencies, (), s.requires_python))
    text += "\n[tool.poetry]\npackage-mode = false\n"
    if s.dev:
        text += "\n[tool.poetry.group.dev.dependencies]\n"
        text += "".join(f"{n} = {json.dumps(v)}\n" for n, v in map(_poetry_spec, s.dev))
    return text


def pipfile(s: Scenario) -> str:
    """pipenv locks [dev-packages] constrained by [packages]: a dev pin other than the runtime
    lock's cannot be locked at all, so a range (`>=`) stands for the group's pin."""

    def table(reqs: tuple[str, ...], dev: bool = False) -> str:
        specs = map(_poetry_spec, reqs)
        return "".join(f'{n} = "{(">=" if dev else "==") + v if v[0].isdigit() else v}"\n' for n, v in specs)

    text = '[[source]]\nurl = "$INDEX"\nverify_ssl = true\nname = "pypi"\n\n'
    text += "[packages]\n" + table(s.dependencies) + "\n[dev-packages]\n" + table(s.dev, dev=True)
    return text + '\n[requires]\npython_version = "3.11"\n'


@dataclass(frozen=True)
class Tool:
    """How a plugin author sets up and locks a project with one tool."""

    venv: str  # a key of tests.fix_tools.TOOLS
    files: Callable[[Scenario], dict[str, str]]
    lock: list[str]
    lockfile: str
    skip: dict[str, str] = field(default_factory=dict)  # scenario -> why it does not apply


def _requirements_in(s: Scenario) -> dict[str, str]:
    return {"requirements.in": "".join(f"{r}\n" for r in s.dependencies)}


NO_GROUPS = "a requirements.in has no dependency groups"
NO_PYTHON = "a compiled requirements file records no requires-python"
TOOLS_UNDER_TEST = {
    "uv": Tool("uv", lambda s: {"pyproject.toml": pep621(s)}, ["uv", "lock", "-q"], "uv.lock"),
    "poetry2": Tool("poetry2", lambda s: {"pyproject.toml": poetry2(s)}, ["poetry", "lock"], "poetry.lock"),
    "poetry18": Tool("poetry18", lambda s: {"pyproject.toml": poetry18(s)}, ["poetry", "lock"], "poetry.lock"),
    "pdm": Tool("pdm", lambda s: {"pyproject.toml": pep621(s)}, ["pdm", "lock"], "pdm.lock"),
    "pipenv": Tool(
        "pipenv",
        lambda s: {"Pipfile": pipfile(s)},
        ["pipenv", "lock"],
        "Pipfile.lock",
        skip={"python": "pipenv locks with an interpreter of the Pipfile's minor: the gateway's 3.10 is not here"},
    ),
    "pip-compile": Tool(
        "piptools",
        _requirements_in,
        ["pip-compile", "-q", "-o", "requirements.txt", "requirements.in"],
        "requirements.txt",
        skip={"group": NO_GROUPS, "python": NO_PYTHON},
    ),
    "uv-export": Tool(
        "uv",
        lambda s: {"pyproject.toml": pep621(s)},
        ["uv lock -q && uv export -q --no-hashes --format requirements-txt -o requirements.txt"],
        "requirements.txt",
        skip={"python": NO_PYTHON},
    ),
    "uv-pylock": Tool(
        "uv",
        lambda s: {"pyproject.toml": pep621(s)},
        ["uv lock -q && uv export -q --format pylock.toml -o pylock.toml"],
        "pylock.toml",
    ),
    "uv-pip-compile": Tool(
        "uv",
        _requirements_in,
        ["uv", "pip", "compile", "-q", "-o", "requirements.txt", "requirements.in"],
        "requirements.txt",
        skip={"group": NO_GROUPS, "python": NO_PYTHON},
    ),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture gateway's manifest, narrowed to three shared packages."""
    data = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    data["distributions"] = dict(GATEWAY)
    path = tmp_path_factory.mktemp("gateway") / "gateway.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def timer() -> Iterator[dict[str, float]]:
    """Seconds spent in the tools, per tool, printed at the end (``-s``)."""
    spent: dict[str, float] = {}
    yield spent
    print("\nfix round trips, seconds in the tools:", {k: round(v, 1) for k, v in sorted(spent.items())})


def _index_url() -> str:
    out = subprocess.run(
        [
            str(tool_bin("piptools").parent / "python"),
            "-c",
            "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _env(tool: Tool, project: Path) -> dict[str, str]:
    env = tool_env()
    env["PATH"] = f"{tool_bin(tool.venv).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(project.parent / "home")  # no user config of any tool
    env["XDG_CACHE_HOME"] = str(Path(__file__).resolve().parent.parent / ".cache" / "fix-tools" / "cache")
    return env


def shell(line: str, project: Path, env: dict[str, str], spent: dict[str, float], key: str) -> None:
    started = time.perf_counter()
    proc = subprocess.run(["bash", "-c", line], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    spent[key] = spent.get(key, 0.0) + time.perf_counter() - started
    assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


EDIT = re.compile(r"# (?P<file>[\w.]+): \[(?P<table>[^\]]+)\] (?P<assignment>.+)")
WARNING = re.compile(
    r"# warning: (?P<file>[\w.]+)[^:]*: (?P<old>.+?) excludes the gateway's .*, e\.g\. to (?P<new>.+)$"
)


def make_edit(project: Path, line: str) -> None:
    """Do what a ``#`` line asks, as a user would: set ``[TABLE] KEY = VALUE`` in FILE, or
    replace the requirement a warning names with the one it suggests."""
    import tomlkit

    if line.startswith("# note:"):
        return
    warning = WARNING.match(line)
    if warning:
        path = project / warning["file"]
        text = path.read_text()
        assert warning["old"] in text, line
        path.write_text(text.replace(warning["old"], warning["new"], 1))
        return
    edit = EDIT.fullmatch(line)
    assert edit, f"not an edit a user can make: {line}"
    path = project / edit["file"]
    doc = tomlkit.parse(path.read_text())
    table = doc
    for key in edit["table"].split("."):
        table = table.setdefault(key, tomlkit.table())
    table.update(tomllib.loads(edit["assignment"]))
    path.write_text(tomlkit.dumps(doc))


def check(project: Path, tool: Tool, gateway: Path, scenario: Scenario) -> tuple[int, dict[str, Any]]:
    python = ["-g", scenario.gateway_python] if scenario.gateway_python else []
    lock = str(project / tool.lockfile)
    proc = run_krakend("check-plugin", "-s", lock, "--manifest", str(gateway), *python, "-f", "-o", "json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


CASES = [pytest.param(tool, scenario, id=f"{tool}-{scenario}") for tool in TOOLS_UNDER_TEST for scenario in SCENARIOS]


@pytest.mark.parametrize(("tool_name", "scenario_name"), CASES)
def test_printed_fixes_turn_the_lock_green(
    tool_name: str, scenario_name: str, gateway: Path, tmp_path: Path, timer: dict[str, float]
) -> None:
    tool = TOOLS_UNDER_TEST[tool_name]
    scenario = SCENARIOS[scenario_name]
    if scenario_name in tool.skip:
        pytest.skip(tool.skip[scenario_name])
    project = tmp_path / "plug"
    project.mkdir()
    env = _env(tool, project)
    for name, text in tool.files(scenario).items():
        (project / name).write_text(text.replace("$INDEX", _index_url()))
    shell(" ".join(tool.lock), project, env, timer, tool_name)
    code, before = check(project, tool, gateway, scenario)
    assert code == 1
    assert {f["name"] for f in before["findings"] if not f["ok"]} == scenario.failing
    fixes = before["meta"]["fixes"][str(project / tool.lockfile)]
    for line in fixes:
        if line.startswith("#"):
            make_edit(project, line)
        else:
            shell(line, project, env, timer, tool_name)
    code, after = check(project, tool, gateway, scenario)
    assert code == 0, (fixes, [f for f in after["findings"] if not f["ok"]])


def test_a_requirements_file_written_by_hand_is_pinned_in_place(gateway: Path, tmp_path: Path) -> None:
    """No compile header, no requirements.in: the fix edits the file itself (no made-up source)."""
    (tmp_path / "requirements.txt").write_text("requests>=2.32  # http\nidna==3.7 ; python_version >= '3'\n")
    tool = Tool("uv", _requirements_in, [], "requirements.txt")
    code, before = check(tmp_path, tool, gateway, SCENARIOS["direct"])
    assert code == 1
    fixes = before["meta"]["fixes"][str(tmp_path / "requirements.txt")]
    assert all(line.startswith("# warning: requirements.txt: ") for line in fixes) and len(fixes) == 2
    for line in fixes:
        make_edit(tmp_path, line)
    assert check(tmp_path, tool, gateway, SCENARIOS["direct"])[0] == 0
    assert (tmp_path / "requirements.txt").read_text() == (
        "requests==2.31.0  # http\nidna==3.6 ; python_version >= '3'\n"
    )


def test_a_compile_header_brings_its_inputs_and_output_options_only(gateway: Path, tmp_path: Path) -> None:
    """The recorded command comes from the file (maybe a pull request): an index, a pip option or
    a file that is not there does not reach the printed command."""
    (tmp_path / "requirements.in").write_text("idna\n")
    (tmp_path / "other.txt").write_text("")  # a constraint file is no input
    (tmp_path / "requirements.txt").write_text(
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n# by the following command:\n#\n"
        "#    pip-compile --index-url=https://registry.invalid/evil --pip-args '--pre' -c other.txt "
        "--generate-hashes --output-file=requirements.txt requirements.in missing.in\n#\nidna==3.7\n"
    )
    tool = Tool("piptools", _requirements_in, [], "requirements.txt")
    fixes = check(tmp_path, tool, gateway, SCENARIOS["direct"])[1]["meta"]["fixes"]
    assert fixes[str(tmp_path / "requirements.txt")] == [
        'pip-compile --generate-hashes -o requirements.txt --upgrade-package "idna==3.6" requirements.in'
    ]
