"""What each lock tool selects, class by class (issue 8): small lockfiles in the shapes the
real tools write (see fixtures/real/ for the real ones, compared with the tools' exports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from krakend_tools.check.job import check_plugin
from krakend_tools.errors import InputError
from krakend_tools.lockfiles import load_lockfile
from krakend_tools.lockfiles.model import LockedPackage
from krakend_tools.lockfiles.select import select as select_packages
from krakend_tools.manifest.facts import from_facts
from krakend_tools.manifest.from_lock import target_environment
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import Target

LINUX = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.7",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.11.7",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
    "sys_platform": "linux",
}
WINDOWS = {**LINUX, "sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64"}


def _manifest(target: str = "generic/amd64", python: str = "3.11.7") -> Manifest:
    """A gateway manifest for ``target`` with no packages, the way ``version --from-lock``
    builds one."""
    where = Target.parse(target)
    musl = where.libc_family == "musl"
    multiarch = f"{where.machine}-linux-{'musl' if musl else 'gnu'}"
    minor = "".join(python.split(".")[:2])
    return from_facts(
        {
            "implementation": "cpython",
            "version": python,
            "soabi": f"cpython-{minor}-{multiarch}",
            "ext_suffix": f".cpython-{minor}-{multiarch}.so",
            "free_threaded": False,
            "debug": False,
            "executable": None,
            "machine": where.machine,
            "libc_family": where.libc_family,
            "libc_version": "1.2.4" if musl else "2.36",
            "marker_environment": target_environment(where, python),
            "distributions": {},
            "libraries": {},
            "site_packages": [],
        },
        None,
    )


def pins(packages: list[LockedPackage]) -> set[str]:
    return {f"{p.name}=={p.version}" if p.version is not None else p.name for p in packages}


def write(folder: Path, name: str, text: str, pyproject: str | None = None) -> Path:
    if pyproject is not None:
        (folder / "pyproject.toml").write_text(pyproject)
    path = folder / name
    path.write_text(text)
    return path


# --- pylock written by PDM: default-groups -----------------------------------------------------

PDM_PYLOCK = """lock-version = "1.0"
requires-python = ">=3.11"
environments = []
extras = ["yaml"]
dependency-groups = ["default", "dev"]
default-groups = ["default"]
created-by = "pdm"

[[packages]]
name = "idna"
version = "3.7"
marker = "\\"default\\" in dependency_groups"
sdist = {name = "idna-3.7.tar.gz", url = "https://registry.invalid/idna-3.7.tar.gz", hashes = {sha256 = "00"}}

[[packages]]
name = "pytest"
version = "8.0.0"
marker = "\\"dev\\" in dependency_groups"
sdist = {name = "pytest-8.0.0.tar.gz", url = "https://registry.invalid/pytest-8.0.0.tar.gz", hashes = {sha256 = "00"}}

[[packages]]
name = "pyyaml"
version = "6.0.1"
marker = "\\"default\\" in dependency_groups and \\"yaml\\" in extras"
sdist = {name = "PyYAML-6.0.1.tar.gz", url = "https://registry.invalid/PyYAML-6.0.1.tar.gz", hashes = {sha256 = "00"}}
"""


def test_pylock_default_groups_are_the_runtime(tmp_path: Path) -> None:
    lock = load_lockfile(write(tmp_path, "pylock.toml", PDM_PYLOCK))
    assert pins(select_packages(lock, LINUX)) == {"idna==3.7"}
    assert pins(select_packages(lock, LINUX, groups=["dev"])) == {"idna==3.7", "pytest==8.0.0"}
    assert pins(select_packages(lock, LINUX, extras=["yaml"])) == {"idna==3.7", "pyyaml==6.0.1"}


def test_unknown_extra_is_an_error(tmp_path: Path) -> None:
    lock = load_lockfile(write(tmp_path, "pylock.toml", PDM_PYLOCK))
    with pytest.raises(InputError, match="extra 'fast' is not defined by the project"):
        select_packages(lock, LINUX, extras=["fast"])


# --- Poetry 1.1/2.0: packages reached through a dependency's extras ------------------------------

POETRY_20 = """[[package]]
name = "uvicorn"
version = "0.23.2"
description = ""
optional = false
python-versions = ">=3.8"
files = [{file = "uvicorn-0.23.2-py3-none-any.whl", hash = "sha256:00"}]

[package.dependencies]
click = ">=7.0"
httptools = {version = ">=0.5.0", optional = true, markers = "extra == \\"standard\\""}
colorama = {version = ">=0.4", optional = true, markers = "sys_platform == \\"win32\\" and extra == \\"standard\\""}

[package.extras]
standard = ["colorama (>=0.4)", "httptools (>=0.5.0)"]

[[package]]
name = "click"
version = "8.1.7"
description = ""
optional = false
python-versions = ">=3.7"
files = [{file = "click-8.1.7-py3-none-any.whl", hash = "sha256:00"}]

[[package]]
name = "httptools"
version = "0.6.1"
description = ""
optional = false
python-versions = ">=3.8"
files = [{file = "httptools-0.6.1.tar.gz", hash = "sha256:00"}]

[[package]]
name = "colorama"
version = "0.4.6"
description = ""
optional = false
python-versions = "*"
files = [{file = "colorama-0.4.6-py2.py3-none-any.whl", hash = "sha256:00"}]

[[package]]
name = "pywin32"
version = "306"
description = ""
optional = false
python-versions = "*"
files = [{file = "pywin32-306-cp311-cp311-win_amd64.whl", hash = "sha256:00"}]

[metadata]
lock-version = "2.0"
python-versions = "^3.11"
content-hash = "0"
"""
POETRY_PYPROJECT = """[tool.poetry]
name = "svc"
version = "0.1.0"
description = ""
authors = []

[tool.poetry.dependencies]
python = "^3.11"
uvicorn = {version = "^0.23", extras = ["standard"]}
pywin32 = {version = "306", platform = "win32"}
"""


def test_poetry_edges_through_a_dependency_extra(tmp_path: Path) -> None:
    lock = load_lockfile(write(tmp_path, "poetry.lock", POETRY_20, POETRY_PYPROJECT))
    assert pins(select_packages(lock, LINUX)) == {"uvicorn==0.23.2", "click==8.1.7", "httptools==0.6.1"}
    assert "colorama==0.4.6" in pins(select_packages(lock, WINDOWS))


def test_poetry_platform_key(tmp_path: Path) -> None:
    lock = load_lockfile(write(tmp_path, "poetry.lock", POETRY_20, POETRY_PYPROJECT))
    assert "pywin32" not in {p.name for p in select_packages(lock, LINUX)}
    assert "pywin32==306" in pins(select_packages(lock, WINDOWS))


def test_poetry_without_pyproject_says_so(tmp_path: Path) -> None:
    lock = load_lockfile(write(tmp_path, "poetry.lock", POETRY_20))
    assert lock.notes and "no pyproject.toml" in lock.notes[0]


def test_poetry_lock_version_1_0(tmp_path: Path) -> None:
    text = (
        '[[package]]\nname = "six"\nversion = "1.16.0"\ndescription = ""\ncategory = "main"\n'
        'optional = false\npython-versions = "*"\n\n[metadata]\nlock-version = "1.0"\n'
        'python-versions = "^3.8"\ncontent-hash = "0"\n\n[metadata.files]\n'
        'six = [\n    {file = "six-1.16.0-py2.py3-none-any.whl", hash = "sha256:00"},\n]\n'
    )
    lock = load_lockfile(write(tmp_path, "poetry.lock", text))
    assert lock.lock_version == "1.0"
    assert lock.packages[0].wheels == ("six-1.16.0-py2.py3-none-any.whl",)


def test_poetry_1_0_package_marker_holds_on_the_graph(tmp_path: Path) -> None:
    """Poetry 1.0 writes a package's own ``marker`` (the edge to it has none): a Windows-only
    package reached through an unmarked edge is not selected on Linux."""
    text = (
        '[[package]]\ncategory = "main"\ndescription = ""\nname = "docker"\noptional = false\n'
        'python-versions = "*"\nversion = "4.3.1"\n\n[package.dependencies]\npywin32 = "227"\n\n'
        '[[package]]\ncategory = "main"\ndescription = ""\nmarker = "sys_platform == \\"win32\\""\n'
        'name = "pywin32"\noptional = false\npython-versions = "*"\nversion = "227"\n\n'
        '[metadata]\ncontent-hash = "0"\nlock-version = "1.0"\npython-versions = "^3.8"\n\n'
        "[metadata.files]\ndocker = []\npywin32 = []\n"
    )
    pyproject = '[tool.poetry]\nname = "app"\n\n[tool.poetry.dependencies]\npython = "^3.8"\ndocker = "*"\n'
    lock = load_lockfile(write(tmp_path, "poetry.lock", text, pyproject))
    assert pins(select_packages(lock, LINUX)) == {"docker==4.3.1"}
    assert pins(select_packages(lock, WINDOWS)) == {"docker==4.3.1", "pywin32==227"}


# --- uv -------------------------------------------------------------------------------------

UV_HEAD = 'version = 1\nrevision = 2\nrequires-python = ">=3.11"\n'


def _uv_pkg(name: str, version: str, extra: str = "") -> str:
    return (
        f'\n[[package]]\nname = "{name}"\nversion = "{version}"\n'
        'source = { registry = "https://registry.invalid/simple" }\n'
        f'sdist = {{ url = "https://registry.invalid/{name}-{version}.tar.gz", '
        'hash = "sha256:00" }\n' + extra
    )


def test_uv_percent_encoded_wheel_names(tmp_path: Path) -> None:
    text = UV_HEAD + (
        '\n[[package]]\nname = "torch"\nversion = "2.5.1+cpu"\n'
        'source = { registry = "https://registry.invalid/whl/cpu" }\n'
        'wheels = [\n    { url = "https://registry.invalid/whl/cpu/torch-2.5.1%2Bcpu-cp311-cp311-'
        'linux_x86_64.whl", hash = "sha256:00" },\n]\n'
    )
    lock = load_lockfile(write(tmp_path, "uv.lock", text))
    assert lock.packages[0].wheels == ("torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl",)


def test_uv_one_version_from_two_indexes_follows_the_edge_source(tmp_path: Path) -> None:
    torch = (
        '\n[[package]]\nname = "torch"\nversion = "2.5.1"\n'
        'source = {{ registry = "https://registry.invalid/{0}" }}\n'
        'wheels = [\n    {{ url = "https://registry.invalid/{0}/torch-2.5.1-cp311-cp311-'
        '{1}.whl", hash = "sha256:00" }},\n]\n'
    )
    text = UV_HEAD + (
        '\n[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { editable = "." }\n'
        "dependencies = [\n"
        '    { name = "torch", version = "2.5.1", source = { registry = '
        '"https://registry.invalid/cpu" }, marker = "sys_platform == \'linux\'" },\n'
        '    { name = "torch", version = "2.5.1", source = { registry = '
        '"https://registry.invalid/mac" }, marker = "sys_platform == \'darwin\'" },\n]\n'
        + torch.format("cpu", "manylinux_2_28_x86_64")
        + torch.format("mac", "macosx_11_0_arm64")
    )
    selected = select_packages(load_lockfile(write(tmp_path, "uv.lock", text)), LINUX)
    assert [p.wheels for p in selected] == [("torch-2.5.1-cp311-cp311-manylinux_2_28_x86_64.whl",)]


def test_uv_virtual_workspace_root(tmp_path: Path) -> None:
    text = UV_HEAD + (
        '\n[manifest]\nmembers = ["api", "worker"]\n\n[manifest.dependency-groups]\n'
        'dev = [{ name = "ruff" }]\n'
        '\n[[package]]\nname = "api"\nversion = "0.1.0"\nsource = { editable = "packages/api" }\n'
        'dependencies = [{ name = "idna" }]\n'
        '\n[[package]]\nname = "worker"\nsource = { editable = "packages/worker" }\n'
        'dependencies = [{ name = "pywin32", marker = "sys_platform == \'win32\'" }]\n'
        + _uv_pkg("idna", "3.7")
        + _uv_pkg("pywin32", "306")
        + _uv_pkg("ruff", "0.5.0")
    )
    lock = load_lockfile(write(tmp_path, "uv.lock", text))
    assert pins(select_packages(lock, LINUX)) == {"api==0.1.0", "worker", "idna==3.7"}
    assert "ruff==0.5.0" in pins(select_packages(lock, LINUX, groups=["dev"]))


def test_uv_conflicting_groups_are_synthetic_extras(tmp_path: Path) -> None:
    text = UV_HEAD + (
        '\n[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { virtual = "." }\n'
        "\n[package.optional-dependencies]\ncpu = [\n"
        '    { name = "numpy", version = "1.26.4", source = { registry = '
        '"https://registry.invalid/simple" } },\n]\n'
        "\n[package.dev-dependencies]\ndev = [\n"
        '    { name = "numpy", version = "2.0.0", source = { registry = '
        '"https://registry.invalid/simple" }, marker = "extra == \'group-3-app-dev\'" },\n'
        '    { name = "numpy", version = "1.26.4", source = { registry = '
        '"https://registry.invalid/simple" }, marker = "extra == \'extra-3-app-cpu\' and '
        "extra == 'group-3-app-dev'\" },\n]\n" + _uv_pkg("numpy", "1.26.4") + _uv_pkg("numpy", "2.0.0")
    )
    lock = load_lockfile(write(tmp_path, "uv.lock", text))
    assert pins(select_packages(lock, LINUX, groups=["dev"])) == {"numpy==2.0.0"}
    assert pins(select_packages(lock, LINUX, extras=["cpu"])) == {"numpy==1.26.4"}


def test_uv_empty_lock_under_another_name(tmp_path: Path) -> None:
    lock = load_lockfile(write(tmp_path, "plugin.lock", UV_HEAD))
    assert lock.tool == "uv" and lock.packages == []


# --- requirements: name @ URL of a wheel -------------------------------------------------------


def test_requirements_direct_wheel_url_is_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "requirements.txt",
        "tiny @ https://registry.invalid/tiny-1.2.0-cp311-cp311-manylinux_2_17_x86_64.whl"
        "#sha256=00 ; python_version >= '3.8'\n",
    )
    (pkg,) = select_packages(load_lockfile(path), LINUX)
    assert str(pkg.version) == "1.2.0"
    assert pkg.wheels == ("tiny-1.2.0-cp311-cp311-manylinux_2_17_x86_64.whl",)


# --- pdm.lock before inherit_metadata ----------------------------------------------------------

PDM_40 = """[[package]]
name = "fastapi"
version = "0.100.0"
requires_python = ">=3.7"
summary = ""
dependencies = [
    "uvicorn[standard]>=0.12",
]

[[package]]
name = "uvicorn"
version = "0.23.2"
summary = ""
dependencies = [
    "click>=7.0",
]

[[package]]
name = "uvicorn"
version = "0.23.2"
extras = ["standard"]
summary = ""
dependencies = [
    "uvicorn==0.23.2",
    "httptools>=0.5.0",
    "uvloop; sys_platform != \\"win32\\"",
]

[[package]]
name = "click"
version = "8.1.7"
summary = ""

[[package]]
name = "httptools"
version = "0.6.1"
summary = ""

[[package]]
name = "uvloop"
version = "0.19.0"
summary = ""

[[package]]
name = "pytest"
version = "8.0.0"
summary = ""

[metadata]
lock_version = "4.0"
content_hash = "sha256:00"

[metadata.files]
"click 8.1.7" = [
    {url = "https://registry.invalid/click-8.1.7-py3-none-any.whl", hash = "sha256:00"},
]
"""
PDM_PYPROJECT = """[project]
name = "svc"
version = "0.1.0"
dependencies = ["fastapi"]

[tool.pdm.dev-dependencies]
test = ["pytest"]
"""


def test_pdm_old_lock_walks_the_graph(tmp_path: Path) -> None:
    lock = load_lockfile(write(tmp_path, "pdm.lock", PDM_40, PDM_PYPROJECT))
    runtime = {"fastapi==0.100.0", "uvicorn==0.23.2", "click==8.1.7", "httptools==0.6.1"}
    assert pins(select_packages(lock, LINUX)) == runtime | {"uvloop==0.19.0"}
    assert pins(select_packages(lock, WINDOWS)) == runtime
    assert "pytest==8.0.0" in pins(select_packages(lock, LINUX, groups=["test"]))
    assert [p for p in select_packages(lock, LINUX) if p.name == "uvicorn"].__len__() == 1  # merged
    click = next(p for p in lock.packages if p.name == "click")
    assert click.wheels == ("click-8.1.7-py3-none-any.whl",)


def test_pdm_lock_version_3(tmp_path: Path) -> None:
    text = (
        '[[package]]\nname = "six"\nversion = "1.16.0"\nsections = ["default"]\nsummary = ""\n'
        '\n[[package]]\nname = "pytest"\nversion = "7.0.0"\nsections = ["dev"]\nsummary = ""\n'
        '\n[metadata]\nlock_version = "3.1"\ncontent_hash = "sha256:00"\n'
    )
    lock = load_lockfile(write(tmp_path, "pdm.lock", text))
    assert pins(select_packages(lock, LINUX)) == {"six==1.16.0"}


def test_pdm_project_without_a_name(tmp_path: Path) -> None:
    """PDM 1.x wrote ``name = ""`` for applications: the pyproject still gives the roots, and
    the lockfile is read (no 'invalid package name' refusal)."""
    text = (
        '[[package]]\nname = "ebooklib"\nversion = "0.17.1"\nsummary = ""\ndependencies = [\n    "six",\n]\n'
        '\n[[package]]\nname = "six"\nversion = "1.15.0"\nsummary = ""\n'
        '\n[[package]]\nname = "pytest"\nversion = "7.0.0"\nsummary = ""\n'
        '\n[metadata]\nlock_version = "3.1"\ncontent_hash = "sha256:00"\n'
    )
    pyproject = '[project]\nname = ""\nversion = ""\ndependencies = ["ebooklib==0.17.1"]\nrequires-python = ">=3.9"\n'
    lock = load_lockfile(write(tmp_path, "pdm.lock", text, pyproject))
    assert lock.project is None
    assert pins(select_packages(lock, LINUX)) == {"ebooklib==0.17.1", "six==1.15.0"}


# --- what real tools write against their spec: read, with a note --------------------------------


def test_pipenv_pylock_with_unnormalized_names(tmp_path: Path) -> None:
    text = (
        'lock-version = "1.0"\ncreated-by = "pipenv"\n\n[[packages]]\nname = "PyYAML"\n'
        'version = "6.0.1"\nsdist = {name = "PyYAML-6.0.1.tar.gz", url = '
        '"https://registry.invalid/PyYAML-6.0.1.tar.gz", hashes = {sha256 = "00"}}\n'
    )
    lock = load_lockfile(write(tmp_path, "pylock.toml", text))
    assert pins(select_packages(lock, LINUX)) == {"pyyaml==6.0.1"}
    assert "not normalized" in lock.notes[0]


def test_pipfile_lock_without_pipfile_spec(tmp_path: Path) -> None:
    text = '{"_meta": {"hash": {}}, "default": {"six": {"version": "==1.16.0"}}, "develop": {}}'
    lock = load_lockfile(write(tmp_path, "Pipfile.lock", text))
    assert pins(select_packages(lock, LINUX)) == {"six==1.16.0"}
    assert "pipfile-spec" in lock.notes[0]


def test_pipfile_lock_before_pipfile_spec_with_bare_pins(tmp_path: Path) -> None:
    """2017 locks (``Pipfile-sha256`` in ``_meta``) give each package as a string, read as
    pipenv reads it: the pin itself ("==X" or "X"), "*" for none."""
    text = (
        '{\n    "default": {\n        "pexpect": "==4.2.1",\n        "ptyprocess": "0.5.1",\n'
        '        "anything": "*"\n    },\n    "develop": {},\n'
        '    "_meta": {"requires": {}, "Pipfile-sha256": "00"}\n}'
    )
    lock = load_lockfile(write(tmp_path, "Pipfile.lock", text))
    assert pins(select_packages(lock, LINUX)) == {"pexpect==4.2.1", "ptyprocess==0.5.1", "anything"}
    assert [p.line for p in lock.packages] == [3, 4, 5]
    assert "pipfile-spec" in lock.notes[0]


def test_entry_excluded_by_its_markers_never_fails(tmp_path: Path) -> None:
    text = (
        '{"_meta": {"pipfile-spec": 6}, "default": {"six": {"version": "==1.16.0"},'
        ' "pywin32": {"markers": "sys_platform == \'win32\'", "version": "==>=306"}},'
        ' "develop": {}}'
    )
    lock = load_lockfile(write(tmp_path, "Pipfile.lock", text))
    assert pins(select_packages(lock, LINUX)) == {"six==1.16.0"}
    with pytest.raises(InputError, match="invalid version '>=306' for pywin32"):
        select_packages(lock, WINDOWS)


# --- check-plugin: what is reported -----------------------------------------------------------


def test_versionless_packages_are_listed_as_the_plugins_own(tmp_path: Path) -> None:
    path = write(tmp_path, "requirements.txt", "six==1.16.0\ngit+https://example.invalid/x/mylib.git#egg=mylib\n")
    report = check_plugin(load_lockfile(path), _manifest())
    found = {f.name: f for f in report.findings}
    assert found["mylib"].ok and found["mylib"].have == "(git source)"
    assert "no version locked" in found["mylib"].message


def test_two_pins_of_one_name_are_flagged(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("six==1.16.0\n")
    (tmp_path / "b.txt").write_text("six==1.15.0\n")
    path = write(tmp_path, "requirements.txt", "-r a.txt\n-r b.txt\nidna==3.7\n-r a.txt\n")
    report = check_plugin(load_lockfile(path), _manifest())
    failed = [f for f in report.findings if not f.ok]
    assert [(f.name, f.have) for f in failed] == [("six", "1.16.0, 1.15.0")]
    assert [f.name for f in report.findings].count("six") == 1


def test_python_mismatch_is_named_before_libc(tmp_path: Path) -> None:
    text = UV_HEAD + (
        '\n[[package]]\nname = "fast"\nversion = "1.0"\n'
        'source = { registry = "https://registry.invalid/simple" }\n'
        'wheels = [\n    { url = "https://registry.invalid/fast-1.0-cp314-cp314-musllinux_1_2_x86_64'
        '.whl", hash = "sha256:00" },\n]\n'
    )
    report = check_plugin(load_lockfile(write(tmp_path, "uv.lock", text)), _manifest())
    (failed,) = [f for f in report.findings if not f.ok]
    assert failed.message.startswith("no wheel for cp311") and "cp314" in failed.message


def test_pipenv_pylock_entry_without_files_fails_only_where_it_applies(tmp_path: Path) -> None:
    text = (
        'lock-version = "1.0"\nenvironments = []\ncreated-by = "pipenv"\n\n[[packages]]\n'
        'name = "pywin32"\nmarker = "sys_platform == \'win32\'"\nindex = '
        '"https://registry.invalid/simple/"\n\n[[packages]]\nname = "six"\nversion = "1.16.0"\n'
        'sdist = {name = "six-1.16.0.tar.gz", url = "https://registry.invalid/six-1.16.0.tar.gz",'
        ' hashes = {sha256 = "00"}}\n'
    )
    lock = load_lockfile(write(tmp_path, "pylock.toml", text))
    assert pins(select_packages(lock, LINUX)) == {"six==1.16.0"}
    assert lock.packages[0].line == 11 and "no wheel, sdist or source" in lock.notes[0]
    with pytest.raises(InputError, match="pywin32 is locked with no wheel"):
        select_packages(lock, WINDOWS)


def test_poetry_012_lock_without_lock_version(tmp_path: Path) -> None:
    text = (
        '[[package]]\ncategory = "main"\ndescription = ""\nname = "six"\noptional = false\n'
        'python-versions = "*"\nversion = "1.12.0"\n\n[[package]]\ncategory = "dev"\n'
        'description = ""\nmarker = "sys_platform == \\"win32\\""\nname = "colorama"\n'
        'optional = false\npython-versions = "*"\nversion = "0.4.1"\n\n[metadata]\n'
        'content-hash = "0"\npython-versions = "^3.6"\n\n[metadata.hashes]\nsix = ["00"]\n'
        'colorama = ["00"]\n'
    )
    lock = load_lockfile(write(tmp_path, "poetry.lock", text))
    assert lock.lock_version == "0.12" and "0.12" in lock.notes[0]
    assert pins(select_packages(lock, WINDOWS, groups=["dev"])) == {"six==1.12.0", "colorama==0.4.1"}
    assert pins(select_packages(lock, LINUX, groups=["dev"])) == {"six==1.12.0"}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Pipfile.lock", '{"_meta": {"pipfile-spec": 6}, "default": {}, "develop": {}}'),
        (
            "pdm.lock",
            '[metadata]\ngroups = ["default", "dev"]\nlock_version = "4.4"\nstrategy = ["inherit_metadata"]\n',
        ),
    ],
)
def test_unknown_extra_per_format(tmp_path: Path, name: str, text: str) -> None:
    lock = load_lockfile(write(tmp_path, name, text))
    with pytest.raises(InputError, match="extra 'fast' is not defined"):
        select_packages(lock, LINUX, extras=["fast"])


def test_notes_go_to_stderr_and_the_run_goes_on(tmp_path: Path) -> None:
    from .conftest import run_krakend

    lock = write(tmp_path, "poetry.lock", POETRY_20)  # no pyproject.toml beside it
    proc = run_krakend("check-plugin", "-s", str(lock), "--manifest", "host")
    assert proc.returncode in (0, 1), proc.stderr
    assert f"{lock}: note: no pyproject.toml" in proc.stderr
    assert "note:" not in proc.stdout


def test_gateway_manifest_from_a_pdm_pylock_keeps_its_packages(tmp_path: Path) -> None:
    from krakend_tools.manifest.from_lock import from_lock

    lock = write(tmp_path, "pylock.toml", PDM_PYLOCK)
    manifest = from_lock(lock, Target.parse("alpine/arm64"), "3.12.4", None)
    assert manifest.distributions == {"idna": "3.7"}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "pdm.lock",
            '[metadata]\ngroups = ["default"]\nstrategy = ["inherit_metadata"]\n'
            'lock_version = "4.5.0"\n\n[[package]]\nname = "six"\nversion = "1.16.0"\n'
            'groups = ["default"]\n\n[[package]]\nname = "pywin32"\nversion = ">=306"\n'
            'groups = ["default"]\nmarker = "sys_platform == \'win32\'"\n',
        ),
        (
            "poetry.lock",
            '[[package]]\nname = "six"\nversion = "1.16.0"\ndescription = ""\n'
            'optional = false\npython-versions = "*"\ngroups = ["main"]\nfiles = []\n\n'
            '[[package]]\nname = "pywin32"\nversion = ">=306"\ndescription = ""\n'
            'optional = false\npython-versions = "*"\ngroups = ["main"]\n'
            "markers = \"sys_platform == 'win32'\"\nfiles = []\n\n[metadata]\n"
            'lock-version = "2.1"\npython-versions = ">=3.11"\ncontent-hash = "0"\n',
        ),
    ],
)
def test_unreadable_version_fails_only_where_its_marker_holds(tmp_path: Path, name: str, text: str) -> None:
    lock = load_lockfile(write(tmp_path, name, text))
    assert pins(select_packages(lock, LINUX)) == {"six==1.16.0"}
    with pytest.raises(InputError, match="invalid version '>=306' for pywin32"):
        select_packages(lock, WINDOWS)
