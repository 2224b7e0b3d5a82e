"""Runtime images: their manifests, and test-plugin importing inside them."""

from __future__ import annotations

import dataclasses
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, run_krakend
from tests.dockerenv import TARGETS

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def runtime_images(docker_env: dict[str, str]) -> dict[str, str]:
    """The runtime image of every target, on the official-shaped bases of the registry."""
    from krakend_tools.containers import engine, images
    from krakend_tools.manifest.model import load
    from krakend_tools.manifest.platforms import Target

    manifest = load(docker_env["KRAKEND_MANIFEST"])
    eng = engine.connect()
    return {
        t: images.ensure_image(
            eng, Target.parse(t), "runtime", manifest=manifest, base=None, registry=docker_env["KRAKEND_IMAGE_REGISTRY"]
        )
        for t in TARGETS
    }


@pytest.fixture(scope="module")
def glibc_build(docker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin built for generic/amd64 (glibc), unpacked: the .so and package."""
    out = tmp_path_factory.mktemp("glibc")
    proc = run_krakend(
        "build",
        str(FIXTURES / "example-plugin"),
        "--target",
        "generic/amd64",
        "--no-test",
        "--out",
        str(out),
        env=docker_env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    unpacked = out / "unpacked"
    with zipfile.ZipFile(next((out / "generic-amd64").glob("*.whl"))) as zf:
        zf.extractall(unpacked)
    return unpacked


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_images_carry_their_manifest(runtime_images: dict[str, str], served: Any, target: str) -> None:
    from krakend_tools.manifest.platforms import Target

    tgt = Target.parse(target)
    proc = run_krakend("version", "--image", runtime_images[target], "-o", "json")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["platform"]["arch"] == tgt.arch
    assert manifest["platform"]["libc"]["family"] == tgt.libc_family
    libc_tag = "gnu" if tgt.libc_family == "glibc" else "musl"
    assert manifest["python"]["ext_suffix"] == f".cpython-311-{tgt.machine}-linux-{libc_tag}.so"
    assert manifest["python"]["version"] == served.python  # the official-shaped base's CPython


def _of_image(client: Any, image: str) -> list[str]:
    """Containers of ``image`` (the engine is shared: others' containers come and go)."""
    return [c.id for c in client.containers.list(all=True, filters={"ancestor": image})]


def test_glibc_plugin_fails_in_alpine_runtime_naming_the_libc(
    glibc_build: Path, docker_env: dict[str, str], docker_client: Any, runtime_images: dict[str, str]
) -> None:
    before = _of_image(docker_client, runtime_images["alpine/amd64"])
    so = next(glibc_build.rglob("*.so"))
    proc = run_krakend(
        "test-plugin", str(so), "-s", "--target", "alpine/amd64", "-o", "json", env=docker_env, timeout=600
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    message = " ".join(f["message"] for f in report["findings"]).lower()
    assert "glibc" in message or "musl" in message, message
    assert _of_image(docker_client, runtime_images["alpine/amd64"]) == before


def test_glibc_plugin_passes_in_generic_runtime(glibc_build: Path, docker_env: dict[str, str]) -> None:
    proc = run_krakend(
        "test-plugin",
        str(glibc_build / "krakend_example"),
        "-s",
        "-c",
        "-m",
        "--target",
        "generic/amd64",
        "-o",
        "json",
        env=docker_env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert all(f["ok"] for f in report["findings"]), report
    # the manifest the runtime image carries, named in the result; the result fits its schema
    import jsonschema

    from krakend_tools.report import RESULT_SCHEMA_PATH

    jsonschema.validate(report, json.loads(RESULT_SCHEMA_PATH.read_text()))
    assert report["meta"]["manifest"]["source"].startswith("image krakend-tools/")
    assert report["meta"]["import_phase"] == "run"
    # the probe ran in a container that is gone: its files are named by their host paths
    files = [p["file"] for a in report["artifacts"] for p in a.get("probes", [])]
    assert files and all(Path(f).exists() for f in files), files


def test_probe_runner_is_isolated(runtime_images: dict[str, str], tmp_path: Path) -> None:
    """No network, read-only mounts: a plugin that tries either is told so."""
    from krakend_tools.plugin_test.docker_runner import DockerRunner
    from krakend_tools.plugin_test.import_phase import import_test

    plugin = tmp_path / "nosy.py"
    plugin.write_text(
        "import os, socket\n"
        "try:\n    open(os.path.join(os.path.dirname(__file__), 'x'), 'w')\n"
        "    raise SystemExit('wrote into the plugin folder')\nexcept OSError:\n    pass\n"
        "s = socket.socket()\ns.settimeout(2)\n"
        "try:\n    s.connect(('1.1.1.1', 80))\n    raise SystemExit('network reachable')\n"
        "except OSError:\n    pass\n"
        "class HandlerRegisterer:\n    def register_handlers(self, register):\n"
        "        register('nosy', lambda cfg, nxt: nxt)\n"
    )
    runner = DockerRunner(runtime_images["generic/amd64"], "linux/amd64")
    outcome = import_test(runner, [str(tmp_path)], "nosy", ["server"], timeout=60)
    assert outcome.error is None, outcome.stderr
    assert outcome.results["server"].registered == ["nosy"]
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("code", [0, 3])
def test_a_forged_record_in_a_container_is_not_a_success(
    runtime_images: dict[str, str], tmp_path: Path, code: int
) -> None:
    """The Docker runner authenticates records as the local one does: a record written by the
    plugin (on every descriptor) and a clean or failing exit is not a pass."""
    from krakend_tools.plugin_test.docker_runner import DockerRunner
    from krakend_tools.plugin_test.import_phase import import_test

    from .test_hostile import FORGE

    (tmp_path / "forger.py").write_text(FORGE + f"os._exit({code})\n")
    runner = DockerRunner(runtime_images["generic/amd64"], "linux/amd64")
    outcome = import_test(runner, [str(tmp_path)], "forger", ["server"], timeout=60)
    assert outcome.results == {}
    assert outcome.error == f"exited with code {code} during import", outcome.stderr


def test_platform_mismatch_is_a_clear_error(
    docker_env: dict[str, str], tmp_path: Path, runtime_images: dict[str, str]
) -> None:
    shutil.copy(FIXTURES / "example-plugin" / "krakend_example" / "handlers.py", tmp_path / "handlers.py")
    proc = run_krakend(
        "test-plugin",
        str(tmp_path / "handlers.py"),
        "-s",
        "--image",
        runtime_images["generic/amd64"],
        "--target",
        "generic/arm64",
        env=docker_env,
    )
    assert proc.returncode == 2
    assert "is linux/amd64, not linux/arm64" in proc.stderr


def test_a_lone_module_finds_its_library_through_origin_outside_its_folder(
    runtime_images: dict[str, str], docker_env: dict[str, str], docker_client: Any, tmp_path: Path
) -> None:
    """``mod/usestiny.so`` with RUNPATH ``$ORIGIN/../lib``: the container sees ``lib/`` beside
    ``mod/`` as on the host, so the import finds the library (and a missing one is named)."""
    from tests.test_gate import EXT, cc, python_h

    lib = cc(tmp_path / "build" / "libtiny.so.1", "tinylib.c", "-Wl,-soname,libtiny.so.1")
    flags = [python_h(), f"-L{lib.parent}", "-l:libtiny.so.1", "-Wl,-rpath,$ORIGIN/../lib"]
    module = cc(tmp_path / "plugin" / "mod" / f"usestiny{EXT}", "usestiny.c", *flags)
    (tmp_path / "plugin" / "lib").mkdir()
    shutil.copy(lib, tmp_path / "plugin" / "lib" / "libtiny.so.1.0")
    (tmp_path / "plugin" / "lib" / "libtiny.so.1").symlink_to("libtiny.so.1.0")  # as ldconfig names it
    (tmp_path / "plugin" / "lib" / "secret.txt").write_text("not the plugin's")
    before = _of_image(docker_client, runtime_images["generic/amd64"])
    argv = ["test-plugin", str(module), "-s", "--image", runtime_images["generic/amd64"], "-o", "json"]
    proc = run_krakend(*argv, env=docker_env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["meta"]["import_phase"] == "run"
    probes = [p for a in report["artifacts"] for p in a.get("probes", [])]
    assert probes and all(p.get("error") is None for p in probes), probes
    assert "tiny-42" in json.dumps(report)
    # an engine that cannot see our paths gets the same files copied in: the same import
    from krakend_tools.containers import engine
    from krakend_tools.plugin_test.docker_runner import DockerRunner
    from krakend_tools.plugin_test.import_phase import import_test

    local = engine.connect()
    libraries = [str(tmp_path / "plugin" / "lib" / "libtiny.so.1")]
    for eng in (dataclasses.replace(local, local=False), local):
        runner = DockerRunner(runtime_images["generic/amd64"], "linux/amd64", eng)
        outcome = import_test(runner, [str(module.parent)], "usestiny", ["server"], 120, libraries)
        assert outcome.error is None and outcome.results["server"].registered == ["tiny-42"], outcome
        # only the library is shown to the container, not the rest of its folder
        (module.parent / "peek.py").write_text(
            "import os\nlib = os.path.join(os.path.dirname(__file__), '..', 'lib')\n"
            "class HandlerRegisterer:\n    def register_handlers(self, register):\n"
            "        register(','.join(sorted(os.listdir(lib))), lambda cfg, nxt: nxt)\n"
        )
        outcome = import_test(runner, [str(module.parent)], "peek", ["server"], 120, libraries)
        assert outcome.results["server"].registered == ["libtiny.so.1"], outcome
        (module.parent / "peek.py").unlink()
    # the library gone: the static phase names it, before any container runs
    (tmp_path / "plugin" / "lib" / "libtiny.so.1").unlink()
    proc = run_krakend(*argv[:-2], env=docker_env, timeout=600)
    assert proc.returncode == 1 and "needs libtiny.so.1" in proc.stdout, proc.stdout + proc.stderr
    assert _of_image(docker_client, runtime_images["generic/amd64"]) == before
