"""Config, includes and manifests from a pull request, and inputs that silently mean nothing
(issue 17): each is refused with one line and exit 2, or read the one way it can mean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, gateway_manifest, run_krakend
from tests.test_bad_input import one_line_error

NOBODY = 65534  # another user: the tests run as root, the file is chowned to nobody
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user takes root")
MISMATCH = "requests==2.0.0\n"  # the fixture gateway pins requests 2.31.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gateway_manifest(tmp_path_factory.mktemp("gateway"))


def check(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_krakend("check-plugin", *args, cwd=cwd, timeout=60)


# --- 1. a pyproject.toml of another user --------------------------------------------------


def _foreign_config(folder: Path, gateway: Path) -> Path:
    """A [tool.krakend] that would turn the mismatch into a pass, owned by another user."""
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(f'[tool.krakend]\nmanifest = "{gateway}"\nignore = ["requests:planted"]\n')
    os.chown(pyproject, NOBODY, NOBODY)
    return pyproject


@as_root
def test_an_ancestor_pyproject_of_another_user_is_not_read(tmp_path: Path, gateway: Path) -> None:
    _foreign_config(tmp_path, gateway)
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "requirements.txt").write_text(MISMATCH)
    proc = check("-s", str(tmp_path / "plugin" / "requirements.txt"))
    one_line_error(proc, str(tmp_path / "pyproject.toml"), "owned by")
    with_manifest = check("-s", str(tmp_path / "plugin" / "requirements.txt"), "--manifest", str(gateway))
    one_line_error(with_manifest, "owned by")  # its ignore is not applied either


@as_root
def test_a_foreign_pyproject_without_a_krakend_table_is_passed_over(tmp_path: Path, gateway: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[tool.krakend]\nmanifest = "{gateway}"\n')
    (tmp_path / "plugin").mkdir()
    foreign = tmp_path / "plugin" / "pyproject.toml"
    foreign.write_text('[project]\nname = "plugin"\n')
    os.chown(foreign, NOBODY, NOBODY)
    (tmp_path / "plugin" / "requirements.txt").write_text(MISMATCH)
    proc = check("-s", str(tmp_path / "plugin" / "requirements.txt"))
    assert proc.returncode == 1, proc.stderr


@as_root
def test_a_pyproject_named_on_the_command_line_is_read_whoever_owns_it(tmp_path: Path, gateway: Path) -> None:
    pyproject = _foreign_config(tmp_path, gateway)
    (tmp_path / "requirements.txt").write_text(MISMATCH)
    proc = check(str(pyproject))
    assert proc.returncode == 0, proc.stderr  # its manifest and its ignore both apply
    assert "planted" in proc.stdout


# --- 2. requirements includes -------------------------------------------------------------

PASSWD = "root:x:0:0:root:/root:/bin/bash\n"


def test_an_include_outside_the_project_is_refused_unread(tmp_path: Path, gateway: Path) -> None:
    (tmp_path / "passwd").write_text(PASSWD)
    (tmp_path / "plugin").mkdir()
    top = tmp_path / "plugin" / "requirements.txt"
    for include in ("../passwd", str(tmp_path / "passwd")):
        top.write_text(f"six==1.16.0\n-r {include}\n")
        stderr = one_line_error(check("-s", str(top), "--manifest", str(gateway)), "outside the project")
        assert "root:" not in stderr
    os.symlink(tmp_path / "passwd", tmp_path / "plugin" / "base.txt")  # a symlink counts where it leads
    top.write_text("-c base.txt\n")
    assert "root:" not in one_line_error(check("-s", str(top), "--manifest", str(gateway)), "outside the project")


def test_an_include_of_a_proc_file_is_refused_unread(tmp_path: Path, gateway: Path) -> None:
    (tmp_path / ".git").mkdir()
    top = tmp_path / "requirements.txt"
    top.write_text("-r /proc/self/environ\n")
    proc = run_krakend(
        "check-plugin", "-s", str(top), "--manifest", str(gateway), env={"KRAKEND_CANARY": "canary-value"}
    )
    assert "canary-value" not in one_line_error(proc, "/proc/self/environ")
    os.symlink("/proc/self/status", tmp_path / "status.txt")
    top.write_text("-r status.txt\n")
    assert "Name:" not in one_line_error(check("-s", str(top), "--manifest", str(gateway)), "status.txt")


def test_an_include_up_to_the_git_root_is_read(tmp_path: Path, gateway: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "base.txt").write_text(MISMATCH)
    (tmp_path / "requirements").mkdir()
    top = tmp_path / "requirements" / "prod.txt"
    top.write_text("-r ../base.txt\n")
    proc = check("-s", str(top), "--manifest", str(gateway))
    assert proc.returncode == 1, proc.stderr


# --- 3. error messages quote a short, escaped excerpt -------------------------------------

LONG = "\x1b[31m" + "Z" * 3000


@pytest.mark.parametrize(
    "name,text",
    [
        ("requirements.txt", f"six ==== 1{LONG}\n"),
        ("requirements.txt", f"six==1.0; python_version > '3' and {LONG}\n"),
        ("requirements.txt", f"-r {LONG}\n"),
        ("uv.lock", f'version = 1\n[[package]]\nname = "{LONG}"\nversion = "1.0"\n'),
        ("uv.lock", f'version = 1\n[[package]]\nname = "six"\nversion = "1.{LONG}"\n'),
        ("poetry.lock", f'[[package]]\nname = "six"\nversion = "1.0"\nmarkers = "{LONG}"\n'),
        ("pdm.lock", f'[metadata]\nlock_version = "{LONG}"\n'),
        ("Pipfile.lock", json.dumps({"_meta": {"pipfile-spec": LONG}, "default": {}})),
        ("Pipfile.lock", json.dumps({"_meta": {"pipfile-spec": 6}, "default": {LONG: 5}})),
        (
            "poetry.lock",
            f'[[package]]\nname = "six"\nversion = "1.0"\n[package.extras]\n"{"Z" * 3000}" = 5\n'
            '[metadata]\nlock-version = "2.0"\npython-versions = "*"\n',
        ),
        ("pylock.toml", f'lock-version = "1.0"\ncreated-by = "x"\nrequires-python = "{LONG}"\n'),
    ],
)
def test_a_parse_error_quotes_a_short_escaped_excerpt(tmp_path: Path, gateway: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    stderr = one_line_error(check("-s", str(tmp_path / name), "--manifest", str(gateway)))
    assert "Z" * 81 not in stderr and "\x1b" not in stderr, stderr[:300]


def test_an_unknown_extra_lists_the_defined_ones_short(tmp_path: Path, gateway: Path) -> None:
    groups = ", ".join(f'"{c * 3000}"' for c in "abcdefghijkl")
    lock = tmp_path / "pdm.lock"
    lock.write_text(
        f'[metadata]\ngroups = ["default", {groups}]\nlock_version = "4.4"\nstrategy = ["inherit_metadata"]\n'
    )
    stderr = one_line_error(check("-s", str(lock), "--manifest", str(gateway), "--extra", "fast"), "'fast'")
    assert "a" * 81 not in stderr and "and 2 more" in stderr, stderr[:300]


@pytest.mark.parametrize(
    "change",
    [
        {"distributions": {LONG: "1.0"}},
        {"distributions": {"six": LONG}},
        {"gateway": {"name": LONG}},
        {LONG: 1},
        {"platform": {"os": "linux", "arch": "amd64", "machine": "x86_64", "libc": {"family": LONG, "version": ""}}},
    ],
)
def test_a_manifest_error_quotes_a_short_escaped_excerpt(
    tmp_path: Path, gateway: Path, change: dict[str, object]
) -> None:
    bad = tmp_path / "gateway.json"
    bad.write_text(json.dumps({**json.loads(gateway.read_text()), **change}))
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    stderr = one_line_error(check("-s", str(tmp_path / "requirements.txt"), "--manifest", str(bad)))
    assert "Z" * 81 not in stderr and "\x1b" not in stderr, stderr[:300]


def test_a_config_manifest_path_is_quoted_short(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[tool.krakend]\nmanifest = "{"Z" * 3000}"\n')
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    stderr = one_line_error(check("-s", str(tmp_path / "requirements.txt")), "no such file")
    assert "Z" * 81 not in stderr, stderr[:300]


# --- 4. arguments that name nothing ---------------------------------------------------------


def test_a_pyproject_argument_naming_nothing_is_bad_input(tmp_path: Path, gateway: Path) -> None:
    (tmp_path / "uv.lock").write_bytes((FIXTURES / "gateway" / "uv.lock").read_bytes())
    one_line_error(check("--manifest", str(gateway), "missing/pyproject.toml", cwd=tmp_path), "missing/pyproject.toml")
    one_line_error(check("--manifest", str(gateway), "pyproject.toml", cwd=tmp_path), "pyproject.toml")
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "pyproject.toml").write_text('[project]\nname = "plugin"\n')
    one_line_error(check("--manifest", str(gateway), "plugin/pyproject.toml", cwd=tmp_path), "no lockfile")
    with_a_lockfile = check("--manifest", str(gateway), "plugin/pyproject.toml", "uv.lock", cwd=tmp_path)
    assert with_a_lockfile.returncode == 0, with_a_lockfile.stderr  # as pre-commit passes a config-only one
    one_line_error(check("--manifest", str(gateway), "uv.lock", "nothere.lock", cwd=tmp_path), "nothere.lock")


# --- 5. one lockfile under several spellings ----------------------------------------------


def test_one_lockfile_under_several_spellings_is_checked_once(tmp_path: Path, gateway: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "requirements.txt").write_text(MISMATCH)
    os.symlink(tmp_path / "a", tmp_path / "link")
    spellings = ["a/requirements.txt", "./a/../a/requirements.txt", "link/requirements.txt", "a//requirements.txt"]
    proc = check("--manifest", str(gateway), "-o", "json", *spellings, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [entry["path"] for entry in report["meta"]["lockfiles"]] == ["a/requirements.txt"]
    assert len([f for f in report["findings"] if f.get("name") == "requests"]) == 1


# --- 6. a manifest's distribution names -----------------------------------------------------


def _with_distributions(gateway: Path, folder: Path, distributions: dict[str, str]) -> Path:
    data = json.loads(gateway.read_text())
    data["distributions"] = distributions
    path = folder / "gateway.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("spelling", ["Requests", "REQUESTS", "requests_oauthlib", "Requests.OAuthlib"])
def test_a_manifest_name_in_any_spelling_still_matches(tmp_path: Path, gateway: Path, spelling: str) -> None:
    manifest = _with_distributions(gateway, tmp_path, {spelling: "2.31.0"})
    canonical = "requests" if "oauth" not in spelling.lower() else "requests-oauthlib"
    (tmp_path / "requirements.txt").write_text(f"{canonical}==2.0.0\n")
    proc = check("-s", str(tmp_path / "requirements.txt"), "--manifest", str(manifest))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)


def test_two_manifest_names_for_one_distribution_are_refused(tmp_path: Path, gateway: Path) -> None:
    manifest = _with_distributions(gateway, tmp_path, {"requests_oauthlib": "1.3.1", "Requests-OAuthlib": "2.0.0"})
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    proc = check("-s", str(tmp_path / "requirements.txt"), "--manifest", str(manifest))
    one_line_error(proc, "requests_oauthlib", "Requests-OAuthlib")


# --- 7. a manifest that contradicts itself --------------------------------------------------


@pytest.mark.parametrize(
    "dotted,value,fields",
    [
        ("marker_environment.python_version", "3.12", ("python.version", "marker_environment.python_version")),
        ("marker_environment.python_full_version", "3.11.8", ("python.version", "python_full_version")),
        ("python.abi_tags", ["cp312", "abi3", "none"], ("python.version", "python.abi_tags")),
        ("python.soabi", "cpython-312-x86_64-linux-gnu", ("python.version", "python.soabi")),
        ("python.ext_suffix", ".cpython-312-x86_64-linux-gnu.so", ("python.soabi", "python.ext_suffix")),
        ("marker_environment.platform_machine", "aarch64", ("platform.machine", "platform_machine")),
        ("platform.arch", "arm64", ("platform.machine", "platform.arch")),
        ("marker_environment.sys_platform", "win32", ("platform.os", "sys_platform")),
        ("marker_environment.implementation_name", "pypy", ("python.implementation", "implementation_name")),
        ("platform.libc.family", "musl", ("platform.libc", "tags")),
        ("python.soabi", "cpython-311-aarch64-linux-gnu", ("platform.machine", "python.soabi")),
    ],
)
def test_a_manifest_that_contradicts_itself_is_refused(
    tmp_path: Path, gateway: Path, dotted: str, value: object, fields: tuple[str, str]
) -> None:
    data = json.loads(gateway.read_text())
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    bad = tmp_path / "gateway.json"
    bad.write_text(json.dumps(data))
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    one_line_error(check("-s", str(tmp_path / "requirements.txt"), "--manifest", str(bad)), *fields)


def test_the_manifests_version_writes_load(tmp_path: Path, gateway: Path, host_manifest: Path) -> None:
    for manifest in (gateway, host_manifest, gateway_manifest(tmp_path, target="alpine/arm64", python="3.13.1")):
        proc = run_krakend("version", "--manifest", str(manifest), "-o", "json")
        assert proc.returncode == 0, proc.stderr


_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=300)
_LABEL = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=300), _TEXT)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=_LABEL,
    version=_LABEL,
    python=st.one_of(st.from_regex(r"[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}", fullmatch=True), _TEXT),
    libc=st.one_of(st.from_regex(r"(GLIBC|MUSL)-[0-9]{1,4}(\.[0-9]{1,4}){0,3}", fullmatch=True), _TEXT),
    target=st.sampled_from(["generic/amd64", "alpine/arm64", "alpine/amd64", "generic/arm64"]),
)
def test_version_writes_only_manifests_its_loader_reads(
    tmp_path: Path, name: str, version: str, python: str, libc: str, target: str
) -> None:
    """``krakend version --from-lock``: exit 2, or a manifest ``--manifest`` then loads."""
    args = ["--gateway-name", name, "--gateway-version", version, "--target", target]
    args += ["--from-lock", str(FIXTURES / "gateway" / "uv.lock"), "--python-version", python, "--libc", libc]
    proc = run_krakend("version", "-o", "json", *args)
    event(f"exit {proc.returncode}")
    if proc.returncode == 2:
        assert proc.stderr.count("\n") == 1, proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "gateway.json"
    out.write_text(proc.stdout)
    loaded = run_krakend("version", "--manifest", str(out), "-o", "json")
    assert loaded.returncode == 0, loaded.stderr


@settings(max_examples=10, deadline=None)
@given(name=_LABEL, version=_LABEL, other=st.booleans())
def test_version_of_an_interpreter_writes_only_manifests_its_loader_reads(name: str, version: str, other: bool) -> None:
    """``krakend version`` of the host, or of an interpreter given with ``--python``."""
    python = ["--python", sys.executable] if other else []
    proc = run_krakend("version", "-o", "json", "--gateway-name", name, "--gateway-version", version, *python)
    if proc.returncode == 2:
        assert proc.stderr.count("\n") == 1, proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    from krakend_tools.manifest.model import load

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "gateway.json"
        out.write_text(proc.stdout)
        load(out)


# --- 8. exactly one line for exit 2, notes included ---------------------------------------


def test_a_note_then_bad_input_is_one_line(tmp_path: Path, gateway: Path) -> None:
    (tmp_path / "Pipfile.lock").write_text(json.dumps({"_meta": {}, "default": {}}))  # a note, nothing to check
    (tmp_path / "requirements.txt").write_text("six ==== 1\n")
    proc = check("--manifest", str(gateway), "Pipfile.lock", "requirements.txt", cwd=tmp_path)
    one_line_error(proc, "requirements.txt:1")
    passing = check("--manifest", str(gateway), "Pipfile.lock", cwd=tmp_path)
    assert passing.returncode == 0 and "note:" in passing.stderr, passing.stderr
    bad_output = check("--manifest", str(gateway), "Pipfile.lock", "-o", f"json={tmp_path}", cwd=tmp_path)
    one_line_error(bad_output)
