"""krakend build: options, preflight and, with a real engine, every target end to end."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from krakend_tools import build as core
from krakend_tools.errors import InputError
from krakend_tools.platforms import Target
from tests.conftest import FIXTURES, run_krakend
from tests.dockerenv import our_containers

EXAMPLE = FIXTURES / "example-plugin"
BROKEN = FIXTURES / "broken-plugin"


# -- without an engine -----------------------------------------------------------------


def test_targets_all_and_lists() -> None:
    assert [str(t) for t in core.parse_targets(["all"])] == [
        "alpine/amd64",
        "alpine/arm64",
        "generic/amd64",
        "generic/arm64",
    ]
    assert [str(t) for t in core.parse_targets(["generic/x86_64,alpine/aarch64", "generic/amd64"])] == [
        "generic/amd64",
        "alpine/arm64",
    ]
    with pytest.raises(InputError):
        core.parse_targets([])
    with pytest.raises(InputError):
        core.parse_targets(["windows/amd64"])


def test_image_map_and_pyproject_table(tmp_path: Path) -> None:
    assert core.parse_image_map(["alpine/arm64=x:1"], "--base-image") == {"alpine/arm64": "x:1"}
    with pytest.raises(InputError):
        core.parse_image_map(["alpine/arm64"], "--base-image")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.krakend.build]\ncommand = "make"\ntypes = ["server"]\n'
        '[tool.krakend.build.base-images]\n"generic/amd64" = "mine:1"\n'
        '"alpine/amd64" = "theirs:1"\n'
    )
    opts = core.BuildOptions(tmp_path, [Target.parse("generic/amd64")], base_images={"alpine/amd64": "cli:1"})
    core.apply_config(opts, core.plugin_config(tmp_path))
    assert opts.command == "make" and opts.types == ["server"]
    assert opts.base_images == {"alpine/amd64": "cli:1", "generic/amd64": "mine:1"}


def test_error_line_is_the_compilers() -> None:
    log = (
        "running build_ext\nsrc/broken.c: In function 'broken':\n"
        "src/broken.c:4:12: error: 'undeclared_variable' undeclared (first use)\n"
        "error: command '/usr/bin/gcc' failed with exit code 1\n"
    )
    assert core.error_line(log).startswith("src/broken.c:4:12: error:")


def test_source_tar_skips_outputs(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("")
    for junk in ("dist", ".git", "build", "pkg.egg-info"):
        (tmp_path / junk).mkdir()
        (tmp_path / junk / "f").write_text("x")
    with tarfile.open(fileobj=io.BytesIO(core.source_tar(tmp_path, []))) as tar:
        names = tar.getnames()
    assert names == ["src/setup.py", "out"]


def test_unreachable_engine_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = run_krakend(
        "build", str(EXAMPLE), "--target", "generic/amd64", env={"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("krakend: error: cannot reach the Docker engine at unix://")
    assert "DOCKER_HOST" in lines[-1] and "docker-env.sh start" in lines[-1]
    assert "Traceback" not in proc.stderr


def test_docker_context_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from krakend_tools import engine

    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"far").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": "far", "Endpoints": {"docker": {"Host": f"unix://{tmp_path}/far.sock"}}})
    )
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "far"}))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert engine.docker_host() == (f"unix://{tmp_path}/far.sock", "docker context 'far'")
    with pytest.raises(InputError, match="docker context 'far'"):
        engine.connect()
    monkeypatch.setenv("DOCKER_CONTEXT", "missing")
    with pytest.raises(InputError, match="docker context 'missing' not found"):
        engine.docker_host()


def test_arm64_without_qemu_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from krakend_tools import engine

    monkeypatch.setattr(engine, "qemu_arm64_ready", lambda: False)
    eng = engine.Engine(client=None, url="unix:///x", source="DOCKER_HOST", arch="amd64")
    eng.require_platform("amd64")
    with pytest.raises(InputError, match="update-binfmts --enable qemu-aarch64"):
        eng.require_platform("arm64")


def test_platform_mismatch_message() -> None:
    from krakend_tools.engine import api_message

    err = Exception(
        "500 Server Error: pull access denied for local/x, repository does not exist or may require 'docker login'"
    )
    text = api_message(err, "linux/arm64", "local/x")
    assert "not available for linux/arm64" in text and "local/x" in text


def test_bad_target_is_usage_error() -> None:
    proc = run_krakend("build", str(EXAMPLE), "--target", "alpine/riscv")
    assert proc.returncode == 2 and "invalid target" in proc.stderr


# -- with a real engine ------------------------------------------------------------------


def _so_facts(wheel: Path, dest: Path) -> list[tuple[str, Any]]:
    from krakend_tools.elf import read_elf

    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    return [(p.name, read_elf(p)) for p in sorted(dest.rglob("*.so"))]


@pytest.fixture(scope="module")
def built_all(docker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("dist")
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--target",
        "all",
        "-j",
        "2",
        "--out",
        str(out),
        "-o",
        "json",
        env=docker_env,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout), out


@pytest.mark.docker
@pytest.mark.slow
def test_build_all_targets_ok(built_all: tuple[Any, Path]) -> None:
    report, out = built_all
    findings = {f["name"]: f for f in report["findings"]}
    assert sorted(findings) == ["alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64"]
    for name, f in findings.items():
        assert f["ok"], f
        target = Target.parse(name)
        folder = out / f"{target.flavour}-{target.arch}"
        assert (folder / "build.log").is_file()
        assert f["details"]["test"] == "OK"
        assert f["details"]["test_details"]["registered"] == ["example-client", "example-handler", "example-modifier"]
        wheels = list(folder.glob("*.whl"))
        assert len(wheels) == 1 and wheels[0].stat().st_uid == os.getuid()
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.docker
@pytest.mark.slow
def test_artifacts_elf_facts_match_targets(built_all: tuple[Any, Path], tmp_path: Path) -> None:
    _, out = built_all
    for name in ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64"):
        target = Target.parse(name)
        wheel = next((out / f"{target.flavour}-{target.arch}").glob("*.whl"))
        facts = _so_facts(wheel, tmp_path / f"{target.flavour}-{target.arch}")
        assert len(facts) == 1, facts
        filename, elf = facts[0]
        libc_tag = "gnu" if target.libc_family == "glibc" else "musl"
        assert filename == f"_ext.cpython-311-{target.machine}-linux-{libc_tag}.so"
        assert elf.machine == target.machine, (name, elf.machine)
        assert elf.libc == target.libc_family, (name, elf.libc, elf.needed)


@pytest.mark.docker
@pytest.mark.slow
def test_broken_plugin_ko_with_compiler_error_and_no_leftovers(
    docker_env: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    before = our_containers(docker_client)
    proc = run_krakend(
        "build",
        str(BROKEN),
        "--target",
        "generic/amd64",
        "--out",
        str(tmp_path),
        "-o",
        "json",
        env=docker_env,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    finding = json.loads(proc.stdout)["findings"][0]
    assert not finding["ok"]
    assert "src/broken.c:4" in finding["message"] and "error:" in finding["message"]
    assert "undeclared_variable" in finding["message"]
    assert our_containers(docker_client) == before
    assert [p.name for p in (tmp_path / "generic-amd64").iterdir()] == ["build.log"]
    assert "undeclared_variable" in (tmp_path / "generic-amd64" / "build.log").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.docker
@pytest.mark.slow
def test_timeout_removes_container(docker_env: dict[str, str], docker_client: Any, tmp_path: Path) -> None:
    before = our_containers(docker_client)
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--target",
        "generic/amd64",
        "--no-test",
        "--command",
        "echo started; sleep 60",
        "--timeout",
        "3",
        "--out",
        str(tmp_path),
        "-o",
        "json",
        env=docker_env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    finding = json.loads(proc.stdout)["findings"][0]
    assert "timed out after 3s" in finding["message"]
    assert our_containers(docker_client) == before
    assert [p.name for p in (tmp_path / "generic-amd64").iterdir()] == ["build.log"]


@pytest.mark.docker
@pytest.mark.slow
def test_custom_command_text_table_and_verbose_log(docker_env: dict[str, str], tmp_path: Path) -> None:
    cmd = "echo building-now && gcc -shared -fPIC -o /out/plain.so -x c /dev/null"
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--target",
        "generic/amd64",
        "--no-test",
        "-v",
        "--command",
        cmd,
        "--out",
        str(tmp_path),
        env=docker_env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "building-now" in proc.stderr  # -v streams the log
    assert "generic/amd64" in proc.stdout and "OK" in proc.stdout and "plain.so" in proc.stdout
    assert (tmp_path / "generic-amd64" / "plain.so").is_file()


@pytest.mark.docker
@pytest.mark.slow
def test_interrupt_removes_container_and_leaves_no_artifact(
    docker_env: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    before = our_containers(docker_client)
    env = {**os.environ, "NO_COLOR": "1", **docker_env}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "krakend_tools",
            "build",
            str(EXAMPLE),
            "--target",
            "generic/amd64",
            "--no-test",
            "--command",
            "touch /out/half.whl; sleep 120",
            "--out",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while len(our_containers(docker_client)) == len(before) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)  # what Ctrl-C does (SIGINT) takes the same path
    proc.wait(60)
    assert proc.returncode == 130
    assert our_containers(docker_client) == before
    assert not list(tmp_path.rglob("*.whl"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.docker
def test_missing_base_image_is_one_line_exit_2(docker_env: dict[str, str], tmp_path: Path) -> None:
    proc = run_krakend(
        "build",
        str(EXAMPLE),
        "--target",
        "generic/amd64",
        "--base-image",
        "generic/amd64=krakend-tools/no-such-base:1",
        "--out",
        str(tmp_path),
        env=docker_env,
        timeout=300,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "krakend: error: generic/amd64: base image krakend-tools/no-such-base:1 is not on this engine"
    )
    assert "--base-image generic/amd64=IMAGE" in last
    assert not (tmp_path / "generic-amd64").exists()
