"""check-plugin end to end: real lockfiles from the real tools against a real gateway manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import FIXTURES, ROOT, gateway_manifest, run_krakend

GEO = FIXTURES / "plugins" / "geo-lookup"
WIN = FIXTURES / "plugins" / "win-agent"
CSV = FIXTURES / "plugins" / "csv-export"
# What the geo-lookup plugin pins differently from the gateway (gateway/pyproject.toml).
GEO_CONFLICTS = {
    "certifi": "2024.2.2",
    "charset-normalizer": "3.3.2",
    "idna": "3.6",
    "requests": "2.31.0",
    "urllib3": "1.26.18",
}
GEO_LOCKS = ["uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "pylock.uv.toml", "Pipfile.lock", "requirements.txt"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gateway_manifest(tmp_path_factory.mktemp("gw"))


def check_json(lock: Path, manifest: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = run_krakend("check-plugin", "-s", str(lock), "--manifest", str(manifest), "-o", "json", *extra)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def failures(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    findings = data["findings"]
    assert isinstance(findings, list)
    return {f["name"]: f for f in findings if not f["ok"]}


def test_bundled_manifest_is_the_gateway_lock(manifest: Path) -> None:
    """fixtures/gateway/manifest.json (used by the README demo) is what --from-lock makes."""
    bundled = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    fresh = json.loads(manifest.read_text())
    assert bundled["distributions"] == fresh["distributions"]
    assert bundled["tags"] == fresh["tags"]
    assert bundled["gateway"]["name"]


@pytest.mark.parametrize("lockname", GEO_LOCKS)
def test_shared_pins_have_and_want_in_every_format(manifest: Path, lockname: str) -> None:
    code, data = check_json(GEO / lockname, manifest)
    assert code == 1
    found = failures(data)
    expected = dict(GEO_CONFLICTS)
    if lockname in ("pylock.uv.toml", "requirements.txt"):  # exported with --all-extras
        expected["pyyaml"] = "6.0.1"
    assert {name: f["want"] for name, f in found.items()} == expected
    assert found["requests"]["have"].startswith("2.32.")
    assert data["meta"]["lockfiles"][0]["packages"] >= 6


@pytest.mark.parametrize("lockname", GEO_LOCKS)
def test_text_output_is_krakend_style(manifest: Path, lockname: str) -> None:
    proc = run_krakend("check-plugin", "-s", str(GEO / lockname), "--manifest", str(manifest))
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1 and proc.stderr == ""
    i = lines.index("urllib3")
    assert lines[i + 1].startswith("\thave: 2.") and lines[i + 2] == "\twant: 1.26.18"
    assert lines[0].endswith(" incompatibilities found")  # KrakenD: the count first


def test_compatible_plugin_exits_zero(manifest: Path) -> None:
    proc = run_krakend("check-plugin", "-s", str(CSV / "poetry.lock"), "--manifest", str(manifest))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines()[0] == "No incompatibilities found!"
    assert "docopt 0.6.2" in proc.stdout and "would build from source" in proc.stdout


def test_autodetects_lockfile_in_current_folder(manifest: Path) -> None:
    proc = run_krakend("check-plugin", "--manifest", str(manifest), "-o", "json", cwd=GEO)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["meta"]["lockfiles"][0]["tool"] == "uv"


def test_manifest_from_environment_variable(manifest: Path) -> None:
    proc = run_krakend("check-plugin", "-s", str(GEO / "uv.lock"), env={"KRAKEND_MANIFEST": str(manifest)})
    assert proc.returncode == 1 and "want: 1.26.18" in proc.stdout


def test_markers_use_the_targets_environment(tmp_path: Path) -> None:
    """typing-extensions applies on aarch64 only; colorama on win32 only — whatever runs the check."""
    amd = gateway_manifest(tmp_path, target="generic/amd64")
    arm = gateway_manifest(tmp_path, target="generic/arm64")
    for lockname in ("uv.lock", "poetry.lock", "pylock.uv.toml", "pdm.lock"):  # universal locks
        _, on_amd = check_json(GEO / lockname, amd)
        _, on_arm = check_json(GEO / lockname, arm)
        names_amd = {f["name"] for f in on_amd["findings"]}
        names_arm = {f["name"] for f in on_arm["findings"]}
        assert "typing-extensions" in names_arm - names_amd, lockname
        assert "colorama" not in names_amd | names_arm, lockname


def test_win_only_pin_does_not_leak_into_linux(manifest: Path) -> None:
    """win-agent locks urllib3 <2 for win32 and >=2 elsewhere: linux sees the 2.x pin."""
    code, data = check_json(WIN / "uv.lock", manifest)
    found = failures(data)
    assert code == 1
    assert found["urllib3"]["have"].startswith("2.")
    assert "pywin32-ctypes" not in {f["name"] for f in data["findings"]}


def test_python_rule_comes_first(manifest: Path) -> None:
    code, data = check_json(GEO / "uv.lock", manifest, "-g", "3.10")
    assert code == 1
    first = data["findings"][0]
    assert first["name"] == "python" and first["want"] == "3.10.0" and ">=3.11" in first["have"]
    proc = run_krakend("check-plugin", "-s", str(GEO / "uv.lock"), "--manifest", str(manifest), "-g", "3.10")
    assert proc.stdout.splitlines()[1] == "python"  # right after the count


REQUIREMENT_WARNING = (
    '# warning: pyproject.toml [project] dependencies: "requests>=2.32,<2.33" excludes the gateway\'s requests '
    '2.31.0; change it first, e.g. to "requests==2.31.0"'
)
TRANSITIVE = ["certifi==2024.2.2", "charset-normalizer==3.3.2", "idna==3.6", "urllib3==1.26.18"]


def fixes_of(lock: Path, manifest: Path) -> list[str]:
    _, data = check_json(lock, manifest, "-f")
    assert all(f["fix"] == [] for f in data["findings"])
    fixes = data["meta"]["fixes"]
    assert list(fixes) == [str(lock)]
    return list(fixes[str(lock)])


def test_one_combined_fix_per_lockfile_knows_direct_from_transitive(manifest: Path) -> None:
    quoted = ", ".join(f'"{p}"' for p in TRANSITIVE)
    assert fixes_of(GEO / "uv.lock", manifest) == [  # `uv add` rewrites the requirement itself
        f"# pyproject.toml: [tool.uv] constraint-dependencies = [{quoted}]",
        'uv add "requests==2.31.0"',
    ]
    assert fixes_of(GEO / "poetry.lock", manifest) == [
        "poetry add --lock " + " ".join(f'"{p}"' for p in ["requests==2.31.0", *TRANSITIVE]),
    ]
    overrides = [
        f'# pyproject.toml: [tool.pdm.resolution.overrides] {p.split("==")[0]} = "=={p.split("==")[1]}"'
        for p in TRANSITIVE
    ]
    assert fixes_of(GEO / "pdm.lock", manifest) == [*overrides, 'pdm add --no-sync "requests==2.31.0"', "pdm lock"]
    assert fixes_of(GEO / "Pipfile.lock", manifest) == [
        'pipenv install "requests==2.31.0"',
        "pipenv upgrade " + " ".join(f'"{p}"' for p in TRANSITIVE),
    ]
    req = fixes_of(GEO / "requirements.txt", manifest)
    assert req[0] == REQUIREMENT_WARNING and len(req) == 2
    assert req[1].startswith("pip-compile --extra=yaml --generate-hashes --no-strip-extras -o requirements.txt ")
    assert req[1].endswith(" pyproject.toml")  # the source its header names
    assert req[1].count("--upgrade-package") == 6 and '"urllib3==1.26.18"' in req[1]


def test_combined_fix_in_text_and_no_warning_when_the_requirement_admits_the_pin(
    manifest: Path, tmp_path: Path
) -> None:
    shutil.copy(GEO / "uv.lock", tmp_path / "uv.lock")
    pyproject = (GEO / "pyproject.toml").read_text().replace('"requests>=2.32,<2.33"', '"requests>=2.31"')
    (tmp_path / "pyproject.toml").write_text(pyproject)
    proc = run_krakend("check-plugin", "-s", str(tmp_path / "uv.lock"), "--manifest", str(manifest), "-f")
    lines = proc.stdout.splitlines()
    i = lines.index(f"Fix {tmp_path / 'uv.lock'}:")
    assert lines[i + 1 : i + 5] == [
        "\t# pyproject.toml: [tool.uv] constraint-dependencies = [" + ", ".join(f'"{p}"' for p in TRANSITIVE) + "]",
        '\tuv add "requests==2.31.0"',
        f"manifest: {manifest} (gateway; Python 3.11.7 cpython-311-x86_64-linux-gnu; linux/amd64 glibc 2.36)",
        "Packages only the plugin brings:",
    ]
    assert lines[0] == "5 incompatibilities found"
    assert not any("\tfix:" in line for line in lines)


def test_groups_and_extras_only_on_request(manifest: Path) -> None:
    _, plain = check_json(GEO / "uv.lock", manifest)
    _, extra = check_json(GEO / "uv.lock", manifest, "--extra", "yaml")
    names = {f["name"] for f in plain["findings"]}
    with_extra = {f["name"] for f in extra["findings"]}
    assert "pyyaml" not in names and "pyyaml" in with_extra
    _, dev = check_json(GEO / "uv.lock", manifest, "--group", "dev")
    assert "iniconfig" in {f["name"] for f in dev["findings"]} - names


def test_github_annotations_point_at_lockfile_lines(manifest: Path) -> None:
    env = {"GITHUB_WORKSPACE": str(ROOT)}  # the file is named relative to the repository root
    proc = run_krakend("check-plugin", "-s", str(GEO / "uv.lock"), "--manifest", str(manifest), "-o", "github", env=env)
    line = next(x for x in proc.stdout.splitlines() if "title=package urllib3" in x)
    number = int(line.split("line=")[1].split(",")[0])
    text = (GEO / "uv.lock").read_text().splitlines()
    assert text[number - 1] == 'name = "urllib3"'
    assert line == (
        f"::error file={(GEO / 'uv.lock').relative_to(ROOT)},line={number},title=package urllib3::"
        "the gateway has another version; have: 2.8.0, want: 1.26.18"
    )


@pytest.mark.parametrize(
    "content, needle",
    [
        ("[[package]]\nname = \n", ":2:"),
        ("version = 1\n[[package]]\nname = 'x'\nversion = 'not a version!'\nsource = { registry = 'r' }\n", "version"),
    ],
)
def test_broken_lockfiles_are_one_line_exit_2(tmp_path: Path, manifest: Path, content: str, needle: str) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(content)
    proc = run_krakend("check-plugin", "-s", str(lock), "--manifest", str(manifest))
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(lock) in proc.stderr and needle in proc.stderr.lower()
    assert proc.stdout == ""


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in (
        ["-o", "xml"],
        ["--bogus"],
        ["-s", str(tmp_path / "missing.lock")],
        ["-s", str(tmp_path)],
        ["-l", "BIONIC-1"],
    ):
        proc = run_krakend("check-plugin", *args, cwd=tmp_path)
        assert proc.returncode == 2, args
        assert proc.stderr.startswith("krakend check-plugin: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    proc = run_krakend("check-plugin", cwd=tmp_path)
    assert proc.returncode == 2 and "no lockfile found" in proc.stderr


ZIG = FIXTURES / "plugins" / "zig-runner"  # ziglang publishes wheels only: no sdist to fall back on


def test_wheel_only_package_needs_a_new_enough_libc(manifest: Path, tmp_path: Path) -> None:
    code, ok = check_json(ZIG / "uv.lock", manifest)
    assert code == 0 and not failures(ok)
    code, old = check_json(ZIG / "uv.lock", manifest, "-l", "GLIBC-2.5")
    assert code == 1
    found = failures(old)["ziglang"]
    assert found["kind"] == "platform" and "GLIBC-2.12 or newer" in str(found["message"])
    # version-aware, not a string compare: 2.12 is newer than 2.5 but "2.12" < "2.5"
    code, _ = check_json(ZIG / "uv.lock", manifest, "-l", "GLIBC-2.12")
    assert code == 0
    arm_musl = gateway_manifest(tmp_path, target="alpine/arm64")
    code, on_musl = check_json(ZIG / "uv.lock", arm_musl)
    wheel = next(f for f in on_musl["findings"] if f["name"] == "ziglang")
    assert code == 0 and "musllinux_1_1_aarch64" in wheel["details"]["wheel"]
    code, old_musl = check_json(ZIG / "uv.lock", arm_musl, "-l", "MUSL-1.0")
    assert code == 1 and "MUSL-1.1 or newer" in str(failures(old_musl)["ziglang"]["message"])


def test_compiled_plugin_must_pin_the_gateways_python_minor(manifest: Path, tmp_path: Path) -> None:
    """Pipfile.lock pins python_version 3.11: fine for pure Python, not for a C extension on 3.12."""
    shutil.copy(GEO / "Pipfile.lock", tmp_path / "Pipfile.lock")
    code, pure = check_json(tmp_path / "Pipfile.lock", manifest, "-g", "3.12")
    assert "python" not in failures(pure)
    (tmp_path / "ext.c").write_text("int answer(void) { return 42; }\n")
    code, compiled = check_json(tmp_path / "Pipfile.lock", manifest, "-g", "3.12")
    found = failures(compiled)["python"]
    assert code == 1 and found["have"] == "3.11" and found["want"] == "3.12"


def test_uv_exported_pylock_gets_uv_fixes(manifest: Path) -> None:
    fixes = fixes_of(GEO / "pylock.uv.toml", manifest)
    assert any(line.startswith("# pyproject.toml: [tool.uv] constraint-dependencies = [") for line in fixes)
    assert fixes[-2].startswith("uv add ")
    assert fixes[-1] == "uv export --format pylock.toml -o pylock.uv.toml"  # the export made again


WINDOWS_ONLY = 'pywin32==306 ; sys_platform == "win32"\ncolorama==0.4.6 ; sys_platform == "win32"\n'


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (WINDOWS_ONLY, "none of its 2 packages applies to the gateway's target"),
        ("# nothing pinned yet\n", "it locks no package"),
    ],
)
def test_a_pass_over_nothing_says_so(tmp_path: Path, manifest: Path, text: str, why: str) -> None:
    """Compatible, since nothing applies to the target; a note on stderr says there was
    nothing to check (a wrong file, a lock for another platform)."""
    lock = tmp_path / "requirements.txt"
    lock.write_text(text)
    proc = run_krakend("check-plugin", "-s", str(lock), "--manifest", str(manifest), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["meta"]["lockfiles"][0]["packages"] == 0
    assert proc.stderr == f"{lock}: note: nothing to check: {why}\n"
