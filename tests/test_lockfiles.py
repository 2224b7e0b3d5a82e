"""Lockfile parsers: every fixture (locked by the real tools) against the tools' own read-back.

fixtures/**/expected/*.txt were written by scripts/regen-fixtures.sh: ``uv export``,
``poetry export``, ``pdm export``, ``pipenv requirements`` (all with markers, evaluated
here per environment) and pip's ``--dry-run --report`` (resolved on linux/x86_64).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from krakend_tools.errors import InputError
from krakend_tools.lockfiles import READERS, load_lockfile
from krakend_tools.lockfiles.model import RUNTIME, LockedPackage, Lockfile
from krakend_tools.lockfiles.select import select as select_packages

FIX = Path(__file__).resolve().parent.parent / "fixtures"
GEO = FIX / "plugins" / "geo-lookup"
CSV = FIX / "plugins" / "csv-export"
WIN = FIX / "plugins" / "win-agent"


def _env(sys_platform: str, system: str, machine: str, os_name: str = "posix") -> dict[str, str]:
    return {
        "implementation_name": "cpython",
        "implementation_version": "3.11.7",
        "os_name": os_name,
        "platform_machine": machine,
        "platform_release": "6.1.0",
        "platform_system": system,
        "platform_version": "#1 SMP",
        "python_full_version": "3.11.7",
        "platform_python_implementation": "CPython",
        "python_version": "3.11",
        "sys_platform": sys_platform,
    }


LINUX = _env("linux", "Linux", "x86_64")
ARM = _env("linux", "Linux", "aarch64")
WINDOWS = _env("win32", "Windows", "AMD64", "nt")
MAC = _env("darwin", "Darwin", "arm64")
ENVS = {"linux": LINUX, "aarch64": ARM, "win32": WINDOWS, "darwin": MAC}


def expected(path: Path, environment: dict[str, str]) -> set[str]:
    """``name==version`` of a tool's read-back whose marker holds in ``environment``."""
    out = set()
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-")):
            continue
        req, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker).evaluate(environment):
            continue
        name, _, version = req.strip().partition("==")
        name = canonicalize_name(name.strip())
        out.add(f"{name}=={version.strip()}" if version else name)
    return out


def _pylock_package(name: str, version: str, marker: str | None) -> str:
    text = f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\n'
    if marker:
        text += f'marker = "{marker}"\n'
    return text + (
        f'sdist = {{ name = "{name}-{version}.tar.gz", url = "https://registry.invalid/'
        f'packages/{name}-{version}.tar.gz", hashes = {{ sha256 = "00" }} }}\n'
    )


def pins(packages: Iterable[LockedPackage]) -> set[str]:
    return {f"{p.name}=={p.version}" if p.version is not None else p.name for p in packages}


# lockfile, tool read-back, groups, extras: read-backs with markers, checked in every env
WITH_MARKERS = [
    ("gateway/uv.lock", "gateway/expected/uv.txt", (), ()),
    ("gateway/uv.lock", "gateway/expected/uv-all.txt", ("dev",), ()),
    ("plugins/geo-lookup/uv.lock", "plugins/geo-lookup/expected/uv.txt", (), ()),
    ("plugins/geo-lookup/uv.lock", "plugins/geo-lookup/expected/uv-all.txt", ("dev",), ("yaml",)),
    ("plugins/geo-lookup/poetry.lock", "plugins/geo-lookup/expected/poetry.txt", (), ()),
    ("plugins/geo-lookup/poetry.lock", "plugins/geo-lookup/expected/poetry-all.txt", ("dev",), ("yaml",)),
    ("plugins/geo-lookup/pdm.lock", "plugins/geo-lookup/expected/pdm.txt", (), ()),
    ("plugins/geo-lookup/pdm.lock", "plugins/geo-lookup/expected/pdm-all.txt", ("dev",), ("yaml",)),
    ("plugins/geo-lookup/Pipfile.lock", "plugins/geo-lookup/expected/pipenv.txt", (), ()),
    ("plugins/csv-export/poetry.lock", "plugins/csv-export/expected/poetry.txt", (), ()),
    ("plugins/csv-export/poetry.lock", "plugins/csv-export/expected/poetry-all.txt", ("dev",), ("fast",)),
    ("plugins/csv-export/lock-2.0/poetry.lock", "plugins/csv-export/lock-2.0/expected/poetry.txt", (), ()),
    (
        "plugins/csv-export/lock-2.0/poetry.lock",
        "plugins/csv-export/lock-2.0/expected/poetry-all.txt",
        ("dev",),
        ("fast",),
    ),
    ("plugins/csv-export/lock-1.1/poetry.lock", "plugins/csv-export/lock-1.1/expected/poetry.txt", (), ()),
    (
        "plugins/csv-export/lock-1.1/poetry.lock",
        "plugins/csv-export/lock-1.1/expected/poetry-all.txt",
        ("dev",),
        ("fast",),
    ),
    ("plugins/win-agent/uv.lock", "plugins/win-agent/expected/uv.txt", (), ()),
    ("plugins/win-agent/uv.lock", "plugins/win-agent/expected/uv-all.txt", ("dev",), ("yaml",)),
    ("plugins/win-agent/poetry.lock", "plugins/win-agent/expected/poetry.txt", (), ()),
    ("plugins/win-agent/poetry.lock", "plugins/win-agent/expected/poetry-all.txt", ("dev",), ("yaml",)),
]
# pip's --dry-run --report of the same file, resolved on linux/x86_64
PIP_READBACK = [
    ("plugins/geo-lookup/pylock.toml", "plugins/geo-lookup/expected/pylock.txt"),
    ("plugins/geo-lookup/pylock.uv.toml", "plugins/geo-lookup/expected/pylock-uv.txt"),
    ("plugins/geo-lookup/requirements.txt", "plugins/geo-lookup/expected/requirements.txt"),
    ("plugins/csv-export/requirements.txt", "plugins/csv-export/expected/requirements.txt"),
    ("plugins/win-agent/pylock.toml", "plugins/win-agent/expected/pylock.txt"),
    ("plugins/win-agent/requirements.txt", "plugins/win-agent/expected/requirements.txt"),
]
ALL_LOCKS = sorted({c[0] for c in WITH_MARKERS} | {c[0] for c in PIP_READBACK})


@pytest.mark.parametrize("env_name", sorted(ENVS))
@pytest.mark.parametrize(("lock", "readback", "groups", "extras"), WITH_MARKERS)
def test_selection_matches_tool_readback(
    lock: str, readback: str, groups: tuple[str, ...], extras: tuple[str, ...], env_name: str
) -> None:
    env = ENVS[env_name]
    parsed = load_lockfile(FIX / lock)
    assert pins(select_packages(parsed, env, groups, extras)) == expected(FIX / readback, env)


@pytest.mark.parametrize(("lock", "readback"), PIP_READBACK)
def test_selection_matches_pip_report(lock: str, readback: str) -> None:
    parsed = load_lockfile(FIX / lock)
    want = expected(FIX / readback, LINUX)
    assert want, "empty read-back"
    assert pins(select_packages(parsed, LINUX)) == want


def test_pipenv_dev_only_readback() -> None:
    parsed = load_lockfile(GEO / "Pipfile.lock")
    dev = pins(select_packages(parsed, LINUX, groups=["dev"])) - pins(select_packages(parsed, LINUX))
    assert dev == expected(GEO / "expected" / "pipenv-dev.txt", LINUX) == {"iniconfig==2.3.1"}


@pytest.mark.parametrize("lock", ALL_LOCKS)
def test_detected_tool_and_lines(lock: str) -> None:
    path = FIX / lock
    parsed = load_lockfile(path)
    tool = {
        "uv.lock": "uv",
        "poetry.lock": "poetry",
        "pdm.lock": "pdm",
        "Pipfile.lock": "pipenv",
        "requirements.txt": "requirements",
    }.get(path.name, "pylock")
    assert parsed.tool == tool
    assert parsed.packages
    text = path.read_text().splitlines()
    for pkg in parsed.packages:
        assert pkg.line is not None, pkg
        found = re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", text[pkg.line - 1])
        assert pkg.name in {canonicalize_name(t) for t in found}, (pkg, text[pkg.line - 1])


@pytest.mark.parametrize("lock", ALL_LOCKS)
def test_detected_by_content_when_renamed(lock: str, tmp_path: Path) -> None:
    original = load_lockfile(FIX / lock)
    target = tmp_path / ("pins" if original.tool == "requirements" else "renamed.lock")
    shutil.copy(FIX / lock, target)
    assert load_lockfile(target).tool == original.tool


# --- markers, groups, extras --------------------------------------------------------------

GEO_LOCKS = ["uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock"]


@pytest.mark.parametrize("lock", GEO_LOCKS)
def test_platform_markers_change_the_selection(lock: str) -> None:
    parsed = load_lockfile(GEO / lock)
    linux = {p.name for p in select_packages(parsed, LINUX)}
    assert "colorama" not in linux and "typing-extensions" not in linux
    assert "colorama" in {p.name for p in select_packages(parsed, WINDOWS)}
    arm = {p.name for p in select_packages(parsed, ARM)}
    assert "typing-extensions" in arm and "colorama" not in arm
    assert {"requests", "urllib3", "docopt"} <= linux


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock", "pdm.lock"])
def test_extras_and_groups_only_on_request(lock: str) -> None:
    parsed = load_lockfile(GEO / lock)
    runtime = {p.name for p in select_packages(parsed, LINUX)}
    assert "pyyaml" not in runtime and "iniconfig" not in runtime
    assert {p.name for p in select_packages(parsed, LINUX, extras=["yaml"])} == runtime | {"pyyaml"}
    assert {p.name for p in select_packages(parsed, LINUX, groups=["dev"])} == runtime | {"iniconfig"}
    assert {p.name for p in select_packages(parsed, LINUX, extras=["YAML"])} == runtime | {"pyyaml"}


def test_universal_lock_with_two_versions_of_one_package() -> None:
    for lock in ("uv.lock", "poetry.lock"):
        parsed = load_lockfile(WIN / lock)
        versions = sorted(str(p.version) for p in parsed.packages if p.name == "urllib3")
        assert versions == ["1.26.20", "2.2.3"], lock
        assert pins(p for p in select_packages(parsed, WINDOWS) if p.name == "urllib3") == {"urllib3==1.26.20"}
        assert pins(p for p in select_packages(parsed, LINUX) if p.name == "urllib3") == {"urllib3==2.2.3"}
    parsed = load_lockfile(WIN / "uv.lock")
    assert "urllib3==1.26.20" in parsed.edges or any(
        e.target == "urllib3==1.26.20" for es in parsed.roots.values() for e in es
    )


def test_universal_requirements_with_two_versions() -> None:
    parsed = load_lockfile(WIN / "requirements.txt")
    assert sorted(str(p.version) for p in parsed.packages if p.name == "urllib3") == ["1.26.20", "2.2.3"]
    assert pins(select_packages(parsed, WINDOWS)) >= {"urllib3==1.26.20", "pywin32-ctypes==0.2.3"}
    assert "urllib3==2.2.3" not in pins(select_packages(parsed, WINDOWS))
    assert pins(p for p in select_packages(parsed, ARM) if p.name == "urllib3") == {"urllib3==2.2.3"}


def test_uv_project_extra_that_names_the_project_itself(tmp_path: Path) -> None:
    path = tmp_path / "uv.lock"
    reg = 'source = { registry = "https://registry.invalid/simple" }\n'
    path.write_text(
        'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n\n'
        '[[package]]\nname = "me"\nversion = "1.0"\nsource = { editable = "." }\n\n'
        '[package.optional-dependencies]\nall = [{ name = "me", extra = ["fast", "yaml"] }]\n'
        'fast = [{ name = "ujson" }]\nyaml = [{ name = "pyyaml" }]\n\n'
        '[package.dev-dependencies]\ntest = [{ name = "iniconfig" }]\n\n'
        '[[package]]\nname = "ujson"\nversion = "5.13.0"\n' + reg + "\n"
        '[[package]]\nname = "pyyaml"\nversion = "6.0.1"\n' + reg + "\n"
        '[[package]]\nname = "iniconfig"\nversion = "2.3.1"\n' + reg
    )
    parsed = load_lockfile(path)
    assert parsed.project == "me" and select_packages(parsed, LINUX) == []
    assert pins(select_packages(parsed, LINUX, extras=["all"])) == {"ujson==5.13.0", "pyyaml==6.0.1"}
    assert pins(select_packages(parsed, LINUX, groups=["test"])) == {"iniconfig==2.3.1"}
    assert [p.line for p in parsed.packages] == [19, 24, 29]


def test_pylock_extras_and_dependency_groups_markers(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    head = 'lock-version = "1.0"\ncreated-by = "hand"\nextras = ["yaml"]\ndependency-groups = ["dev"]\n'
    path.write_text(
        head
        + "".join(
            _pylock_package(*p)
            for p in [
                ("requests", "2.32.5", None),
                ("pyyaml", "6.0.3", "'yaml' in extras"),
                ("iniconfig", "2.3.1", "'dev' in dependency_groups"),
                ("colorama", "0.4.6", "sys_platform == 'win32'"),
            ]
        )
    )
    parsed = load_lockfile(path)
    assert pins(select_packages(parsed, LINUX)) == {"requests==2.32.5"}
    assert pins(select_packages(parsed, LINUX, extras=["yaml"])) == {"requests==2.32.5", "pyyaml==6.0.3"}
    assert pins(select_packages(parsed, LINUX, groups=["dev"])) == {"requests==2.32.5", "iniconfig==2.3.1"}
    assert "colorama==0.4.6" in pins(select_packages(parsed, WINDOWS))
    assert [p.line for p in parsed.packages] == [7, 12, 18, 24]


def test_pylock_project_itself_is_not_a_package() -> None:
    for lock in (GEO / "pylock.toml", GEO / "pylock.uv.toml", WIN / "pylock.toml"):
        parsed = load_lockfile(lock)
        assert parsed.project in ("geo-lookup", "win-agent")
        assert parsed.project not in {p.name for p in parsed.packages}


# --- what each format records ---------------------------------------------------------------


def test_gateway_facts() -> None:
    parsed = load_lockfile(FIX / "gateway" / "uv.lock")
    assert parsed.project == "gateway"
    assert str(parsed.requires_python) == ">=3.11"
    assert pins(select_packages(parsed, LINUX)) == {
        "requests==2.31.0",
        "urllib3==1.26.18",
        "idna==3.6",
        "certifi==2024.2.2",
        "charset-normalizer==3.3.2",
        "pyyaml==6.0.1",
        "msgpack==1.0.7",
    }
    assert all(p.direct for p in parsed.packages)


def test_uv_direct_wheels_and_sdist_only() -> None:
    parsed = load_lockfile(GEO / "uv.lock")
    by_name = {p.name: p for p in parsed.packages}
    assert by_name["requests"].direct and not by_name["urllib3"].direct
    assert by_name["docopt"].wheels == () and by_name["docopt"].sdist == "docopt-0.6.2.tar.gz"
    assert any(
        w.endswith("manylinux_2_17_x86_64.manylinux2014_x86_64.whl") or "x86_64" in w
        for w in by_name["charset-normalizer"].wheels
    )
    assert all(p.source == "registry" for p in parsed.packages)


@pytest.mark.parametrize("lock", ["poetry.lock", "pdm.lock", "pylock.uv.toml", "Pipfile.lock", "requirements.txt"])
def test_direct_dependencies(lock: str) -> None:
    parsed = load_lockfile(GEO / lock)
    by_name = {p.name: p for p in parsed.packages}
    assert by_name["requests"].direct and by_name["docopt"].direct
    assert not by_name["urllib3"].direct and not by_name["idna"].direct


def test_file_names_per_format() -> None:
    assert load_lockfile(GEO / "poetry.lock").packages[0].wheels
    docopt = {p.name: p for p in load_lockfile(GEO / "pdm.lock").packages}["docopt"]
    assert docopt.sdist == "docopt-0.6.2.tar.gz" and docopt.wheels == ()
    for pkg in load_lockfile(GEO / "Pipfile.lock").packages:
        assert not pkg.has_file_names and pkg.wheels == ()
    pipfile = load_lockfile(GEO / "Pipfile.lock")
    assert pipfile.python_pin == "3.11" and pipfile.requires_python is None
    pip_lock = {p.name: p for p in load_lockfile(GEO / "pylock.toml").packages}
    assert pip_lock["docopt"].sdist == "docopt-0.6.2.tar.gz"
    assert pip_lock["certifi"].wheels == ("certifi-2026.10.18-py3-none-any.whl",)


@pytest.mark.parametrize(
    ("lock", "version"), [("poetry.lock", "2.1"), ("lock-2.0/poetry.lock", "2.0"), ("lock-1.1/poetry.lock", "1.1")]
)
def test_poetry_lock_versions(lock: str, version: str) -> None:
    # Real lockfiles: written by Poetry 2.5.1, 1.8.5 and 1.1.15 (see regen-fixtures.sh).
    parsed = load_lockfile(CSV / lock)
    assert parsed.lock_version == version
    assert str(parsed.requires_python) in ("<4,>=3.11", ">=3.11,<4")
    by_name = {p.name: p for p in parsed.packages}
    assert by_name["docopt"].sdist == "docopt-0.6.2.tar.gz" and by_name["docopt"].wheels == ()
    assert by_name["msgpack"].wheels and by_name["msgpack"].direct
    assert pins(select_packages(parsed, MAC)) >= {"appnope==0.1.4", "msgpack==1.0.7"}
    assert "appnope" not in {p.name for p in select_packages(parsed, LINUX)}


def test_poetry_old_lock_without_pyproject_is_read_flat(tmp_path: Path) -> None:
    shutil.copy(CSV / "lock-1.1" / "poetry.lock", tmp_path / "poetry.lock")
    parsed = load_lockfile(tmp_path / "poetry.lock")
    assert not parsed.roots
    groups = {p.name: p.groups for p in parsed.packages}
    assert groups["iniconfig"] == {"dev"} and groups["ujson"] == {"fast"}
    assert groups["msgpack"] == {RUNTIME}
    assert not any(p.direct for p in parsed.packages)  # unknown without the pyproject


def test_poetry_markers_per_group(tmp_path: Path) -> None:
    path = tmp_path / "poetry.lock"
    path.write_text(
        _poetry_lock(
            'groups = ["main", "dev"]\n'
            'markers = {main = "sys_platform == \\"win32\\"", dev = "python_version >= \\"3.8\\""}'
        )
    )
    parsed = load_lockfile(path)
    assert select_packages(parsed, LINUX) == []
    assert pins(select_packages(parsed, WINDOWS)) == {"colorama==0.4.6"}
    assert pins(select_packages(parsed, LINUX, groups=["dev"])) == {"colorama==0.4.6"}


def test_poetry_caret_python_versions(tmp_path: Path) -> None:
    path = tmp_path / "poetry.lock"
    path.write_text(_poetry_lock('groups = ["main"]', python="^3.10"))
    assert str(load_lockfile(path).requires_python) in ("<4,>=3.10", ">=3.10,<4")
    path.write_text(_poetry_lock('groups = ["main"]', python="~3.11"))
    assert load_lockfile(path).requires_python.contains("3.11.5")  # type: ignore[union-attr]
    assert not load_lockfile(path).requires_python.contains("3.12.0")  # type: ignore[union-attr]


def _poetry_lock(extra: str, *, version: str = "0.4.6", python: str = ">=3.11", lock_version: str = "2.1") -> str:
    return (
        '[[package]]\nname = "colorama"\nversion = "' + version + '"\ndescription = ""\n'
        'optional = false\npython-versions = "*"\n' + extra + "\nfiles = []\n\n"
        f'[metadata]\nlock-version = "{lock_version}"\npython-versions = "{python}"\n'
        'content-hash = "0"\n'
    )


# --- requirements files ------------------------------------------------------------------------


def test_requirements_includes_constraints_hashes_and_via(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("idna==3.6\n")
    (tmp_path / "constraints.txt").write_text("pyyaml==6.0.1\nnot-listed==1.0\n")
    req = tmp_path / "requirements.txt"
    req.write_text(
        "# comment\n"  # 1
        "--index-url https://registry.invalid/simple\n"  # 2
        "-r base.txt\n"  # 3
        "-c constraints.txt\n"  # 4
        "requests==2.31.0 \\\n"  # 5
        "    --hash=sha256:aaaa \\\n"  # 6
        "    --hash=sha256:bbbb\n"  # 7
        "    # via -r requirements.in\n"  # 8
        "urllib3==1.26.18 ; python_version >= '3.7'  # pinned\n"  # 9
        "    # via\n"  # 10
        "    #   requests\n"  # 11
        "colorama==0.4.6; sys_platform == 'win32'\n"  # 12
        "    # via -r requirements.in\n"  # 13
        "pyyaml\n"  # 14
        "-e git+https://example.invalid/repo.git#egg=localpkg\n"  # 15
        "https://registry.invalid/packages/msgpack-1.0.7-cp311-cp311-linux_x86_64.whl\n"  # 16
    )
    parsed = load_lockfile(req)
    by_name = {p.name: p for p in parsed.packages}
    assert set(by_name) == {"idna", "requests", "urllib3", "colorama", "pyyaml", "localpkg", "msgpack"}
    assert str(by_name["pyyaml"].version) == "6.0.1"  # from the constraints file
    assert by_name["requests"].line == 5 and by_name["urllib3"].line == 9
    assert by_name["colorama"].line == 12 and by_name["idna"].line is None
    assert by_name["requests"].direct and not by_name["urllib3"].direct
    assert by_name["localpkg"].version is None and by_name["localpkg"].source == "git"
    assert by_name["msgpack"].wheels == ("msgpack-1.0.7-cp311-cp311-linux_x86_64.whl",)
    assert "colorama" not in {p.name for p in select_packages(parsed, LINUX)}
    assert "colorama" in {p.name for p in select_packages(parsed, WINDOWS)}


def test_requirements_missing_include(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("requests==2.31.0\n-r nowhere.txt\n")
    with pytest.raises(InputError) as err:
        load_lockfile(req)
    assert err.value.line == 2 and "nowhere.txt" in str(err.value)


def test_requirements_compiled_from_constraints_fixture() -> None:
    parsed = load_lockfile(CSV / "requirements.txt")
    by_name = {p.name: p for p in parsed.packages}
    assert str(by_name["pyyaml"].version) == "6.0.1" and by_name["pyyaml"].direct
    assert by_name["docopt"].direct


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("poetry.lock", '[[package]]\nname = "x"\nversion = 1.0.0\n', 3),
        ("uv.lock", 'version = 1\n\n[[package]\nname = "x"\n', 3),
        ("pdm.lock", '[metadata]\nlock_version = "4.5.0"\ngroups = ["default"\n', 4),
        ("pylock.toml", 'lock-version = "1.0"\ncreated-by = \n', 2),
        ("Pipfile.lock", '{\n  "_meta": {},\n  "default": {,\n}\n', 3),
    ],
)
def test_broken_syntax_gives_line(tmp_path: Path, name: str, text: str, line: int) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_lockfile(path)
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "something.lock"
    path.write_text('{"not": "a lockfile"}\n')
    with pytest.raises(InputError, match="unknown lockfile format"):
        load_lockfile(path)


@pytest.mark.parametrize(
    ("name", "text", "supported"),
    [
        ("poetry.lock", '[metadata]\nlock-version = "3.0"\ncontent-hash = "0"\n', "1.0, 1.1, 2.0, 2.1"),
        ("uv.lock", "version = 2\nrevision = 1\n", "supported: 1"),
        ("pdm.lock", '[metadata]\nlock_version = "2.0"\n', "3.x, 4.x"),
        ("pylock.toml", 'lock-version = "2.0"\ncreated-by = "x"\npackages = []\n', "1.x"),
        ("Pipfile.lock", '{"_meta": {"pipfile-spec": 5}, "default": {}}', "supported: 6"),
    ],
)
def test_unsupported_lock_version(tmp_path: Path, name: str, text: str, supported: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match="unsupported") as err:
        load_lockfile(path)
    assert supported in str(err.value)


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("poetry.lock", _poetry_lock('groups = ["main"]', version="1.0-not.a@version"), 2),
        (
            "uv.lock",
            'version = 1\n\n[[package]]\nname = "x"\nversion = "one"\n'
            'source = { registry = "https://registry.invalid/simple" }\n',
            4,
        ),
        ("pdm.lock", '[metadata]\nlock_version = "4.5.0"\n\n[[package]]\nname = "x"\nversion = "v1..2"\n', 5),
        (
            "pylock.toml",
            'lock-version = "1.0"\ncreated-by = "x"\n'
            + _pylock_package("a", "1.0", None)
            + _pylock_package("x", "1..2", None),
            10,
        ),
        (
            "Pipfile.lock",
            '{\n    "_meta": {"pipfile-spec": 6},\n    "default": {\n        "x": {"version": "==1..2"}}}',
            4,
        ),
        ("requirements.txt", "a==1.0\nx==1..2\n", 2),
    ],
)
def test_invalid_version_string(tmp_path: Path, name: str, text: str, line: int) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match="(?i)invalid version") as err:
        load_lockfile(path)
    assert err.value.line == line


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("poetry.lock", _poetry_lock('groups = ["main"]\nmarkers = "sys_platform =="')),
        ("uv.lock", 'version = 1\n\n[[package]]\nname = "not a name!"\nversion = "1.0"\n'),
        ("requirements.txt", "x==1.0 ; os_name === \n"),
    ],
)
def test_invalid_names_and_markers(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError):
        load_lockfile(path)


GARBAGE = [
    "",
    "\x00\x01",
    "[[package]]\n",
    "package = 3\n",
    "[[package]]\nname = 5\n",
    '[[package]]\nname = "x"\nversion = ["1"]\n',
    "metadata = 1\n[[package]]\nname='x'\n",
    '[metadata]\nlock-version = "2.1"\nfiles = 3\n[[package]]\nname = "x"\nversion = "1"\nfiles = 3\ngroups = 4\n',
    '[metadata]\nlock_version = "4.5"\ntargets = 3\n'
    '[[package]]\nname = "x"\nversion = "1"\nfiles = [1, {file = 2}]\ngroups = "a"\n',
    'version = 1\n[[package]]\nname = "x"\nversion = "1"\nsource = 3\ndependencies = [3]\n'
    "wheels = 3\nsdist = 3\noptional-dependencies = 2\n",
    'version = 1\n[[package]]\nname = "x"\nversion = "1"\nsource = { editable = "." }\n'
    "dependencies = [{ name = 3 }]\ndev-dependencies = { dev = 3 }\n",
    'lock-version = "1.0"\ncreated-by = 3\npackages = [1]\n',
    'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "x"\nwheels = 3\n',
    "[]",
    "{}",
    '{"_meta": [], "default": []}',
    '{"_meta": {"pipfile-spec": 6}, "default": [1]}',
    '{"_meta": {"pipfile-spec": 6, "requires": 3}, "default": {"x": 3}}',
    '{"_meta": {"pipfile-spec": 6}, "default": {"x": {"version": 3, "markers": 4}}}',
    "-r\n-c\n--hash\n-e\nname @ \n",
    "x[\n",
    "x==1.0 --hash\n",
    "===\n",
    "-r /\n",
]


@pytest.mark.parametrize("fmt", ["poetry", "uv", "pylock", "pdm", "pipfile", "requirements"])
def test_garbage_only_ever_gives_input_error(fmt: str, tmp_path: Path) -> None:
    reader = READERS[fmt]()
    path = tmp_path / "lockfile"
    for text in GARBAGE:
        path.write_text(text)
        try:
            lock = reader.parse(path, text)
        except InputError:
            continue
        assert isinstance(lock, Lockfile)
        select_packages(lock, LINUX, ["dev"], ["x"])


# --- speed ------------------------------------------------------------------------------------


def _big_uv_lock(count: int) -> str:
    parts = [
        'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n\n[[package]]\n'
        'name = "root"\nversion = "1.0"\nsource = { editable = "." }\ndependencies = [\n'
    ]
    parts += [f'    {{ name = "pkg-{i}" }},\n' for i in range(count)]
    parts.append("]\n")
    for i in range(count):
        deps = f'dependencies = [{{ name = "pkg-{(i + 1) % count}", marker = '
        deps += "\"sys_platform == 'win32'\" }]\n" if i % 7 == 0 else "\"python_version >= '3'\" }]\n"
        parts.append(
            f'\n[[package]]\nname = "pkg-{i}"\nversion = "1.{i}.0"\n'
            'source = { registry = "https://registry.invalid/simple" }\n'
            + deps
            + f'sdist = {{ url = "https://registry.invalid/packages/pkg-{i}-1.{i}.0.tar.gz",'
            ' hash = "sha256:00" }\nwheels = [\n'
            f'    {{ url = "https://registry.invalid/packages/pkg_{i}-1.{i}.0-py3-none-any'
            '.whl", hash = "sha256:00" },\n]\n'
        )
    return "".join(parts)


def test_big_graph_lock_selects_every_reachable_package(tmp_path: Path) -> None:
    """Speed is measured by bench/check_plugin.py; this checks the walk on a 1,000-node graph."""
    path = tmp_path / "uv.lock"
    path.write_text(_big_uv_lock(1000))
    assert len(select_packages(load_lockfile(path), LINUX)) == 1000
