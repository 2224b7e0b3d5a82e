"""Benchmark ``krakend build`` on a real engine; prints the figures side by side.

* the default path (official-shaped bases from $KRAKEND_IMAGE_REGISTRY, no --base-image):
  cold and warm build time per target (cold: no base, builder or runtime image on the engine,
  no zig/pip cache volume, so bases are pulled and images built; warm: the same build again)
* all four targets with -j 4 vs -j 1 (warm)
* arm64: cross toolchain in the amd64 builder vs the arm64 builder under QEMU, on a
  plugin with a generated C file of ``--functions`` functions (target: cross >= 3x faster)
* the driver's overhead vs a plain ``docker run`` of the same compile (target <= 1.3x)

Needs DOCKER_HOST and KRAKEND_IMAGE_REGISTRY (scripts/docker-env.sh, scripts/local-registry.sh,
scripts/make-base-images.sh); the gateway manifest is made for the registry's Python.
Usage: python bench/build.py [--functions 400] [--skip-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "fixtures" / "example-plugin"
TARGETS = ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64")
REGISTRY = os.environ.get("KRAKEND_IMAGE_REGISTRY", "")


def served_python() -> str:
    """The CPython version of the official-shaped images the registry serves."""
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/python/tags/list", timeout=5) as r:
            tags: list[str] = json.load(r).get("tags") or []
    except (OSError, ValueError) as err:
        sys.exit(
            f"no image registry at KRAKEND_IMAGE_REGISTRY={REGISTRY!r} ({err}); run "
            "scripts/local-registry.sh start and scripts/make-base-images.sh"
        )
    versions = sorted(t.split("-")[0] for t in tags if t.endswith("-slim-bookworm"))
    if not versions:
        sys.exit(f"{REGISTRY} serves no python:<V>-slim-bookworm image")
    return versions[-1]


ENV = {**os.environ, "NO_COLOR": "1"}


def krakend(*args: str) -> tuple[float, dict[str, object]]:
    """Wall time and JSON report of one ``krakend build``."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "krakend_tools", "build", *args, "--manifest", "host", "-o", "json"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    wall = time.monotonic() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"krakend build failed: {proc.stderr.strip()[-500:]}")
    report: dict[str, object] = json.loads(proc.stdout)
    return wall, report


def big_plugin(where: Path, functions: int) -> Path:
    """A copy of the example plugin plus a C extension with ``functions`` functions."""
    dest = where / "big-plugin"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("dist", "build", "*.egg-info"))
    body = ["#include <Python.h>", "#include <math.h>"]
    for i in range(functions):
        body.append(
            f"double f{i}(double x) {{ double s = 0; for (int k = 0; k < {i % 7 + 3}; "
            f"k++) {{ s += sin(x * k + {i}) * cos(x / (k + 1)) + sqrt(fabs(x + k)); "
            f"x = s / (k + {i + 1}); }} return s + x * {i}; }}"
        )
    body.append("static PyObject *total(PyObject *s, PyObject *a) { double t = 0;")
    body += [f"t += f{i}({i});" for i in range(functions)]
    body.append("return PyFloat_FromDouble(t); }")
    body.append('static PyMethodDef m[] = {{"total", total, METH_NOARGS, ""}, {0}};')
    body.append('static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "krakend_example._big", 0, -1, m};')
    body.append("PyMODINIT_FUNC PyInit__big(void) { return PyModule_Create(&d); }")
    (dest / "src" / "big.c").write_text("\n".join(body) + "\n")
    (dest / "setup.py").write_text(
        "from setuptools import Extension, setup\n"
        "setup(ext_modules=[Extension('krakend_example._ext', sources=['src/ext.c']),\n"
        "                   Extension('krakend_example._big', sources=['src/big.c'],\n"
        "                             extra_compile_args=['-O2'])])\n"
    )
    return dest


def drop_images() -> None:
    """Cold start: no base, builder or runtime image, no layer cache, no cache volume."""
    ids = subprocess.run(
        ["docker", "images", "-q", "--filter", "label=io.krakend.role"], capture_output=True, text=True, env=ENV
    ).stdout.split()
    ids += subprocess.run(
        ["docker", "images", "-q", "krakend-tools/base-cache"], capture_output=True, text=True, env=ENV
    ).stdout.split()
    doomed = list(dict.fromkeys(ids))
    if doomed:
        subprocess.run(["docker", "rmi", "-f", *doomed], capture_output=True, env=ENV)
    subprocess.run(["docker", "builder", "prune", "-f"], capture_output=True, env=ENV)
    subprocess.run(["docker", "volume", "rm", "-f", "krakend-tools-cache"], capture_output=True, env=ENV)


def finding_time(report: dict[str, object], key: str = "build_time") -> float:
    findings = report["findings"]
    assert isinstance(findings, list)
    value = findings[0]["details"].get(key)
    return float(value) if value is not None else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=400)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="krakend-bench-"))
    gateway = work / "gateway.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "krakend_tools",
            "version",
            "--from-lock",
            str(ROOT / "fixtures" / "gateway" / "uv.lock"),
            "--target",
            "generic/amd64",
            "--python-version",
            served_python(),
            "--libc",
            "GLIBC-2.36",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    gateway.write_text(proc.stdout)
    ENV["KRAKEND_MANIFEST"] = str(gateway)
    try:
        out = work / "dist"
        print(f"{'target':<14} {'cold (s)':>9} {'warm (s)':>9} {'compile':>8} {'test':>5}")
        for target in TARGETS:
            cold = float("nan")
            if not args.skip_cold:
                drop_images()
                cold, _ = krakend(str(EXAMPLE), "--target", target, "--out", str(out))
            warm, report = krakend(str(EXAMPLE), "--target", target, "--out", str(out))
            findings = report["findings"]
            assert isinstance(findings, list)
            f = findings[0]
            print(f"{target:<14} {cold:>9.1f} {warm:>9.1f} {finding_time(report):>8.1f} {'OK' if f['ok'] else 'KO':>5}")

        print("\nall four targets, warm:")
        krakend(str(EXAMPLE), "--target", "all", "-j", "4", "--out", str(out))  # not timed
        for jobs in ("1", "4"):
            wall, report = krakend(str(EXAMPLE), "--target", "all", "-j", jobs, "--out", str(out))
            findings = report["findings"]
            assert isinstance(findings, list)
            ok = all(f["ok"] for f in findings)
            print(f"  -j {jobs}  {wall:7.1f} s  {'OK' if ok else 'KO'}")

        plugin = big_plugin(work, args.functions)
        print(f"\narm64, {args.functions}-function C file (build only, --no-test):")
        times = {}
        for mode in ("cross", "emulate"):
            krakend(
                str(plugin),
                "--target",
                "generic/arm64",
                "--arm64",
                mode,
                "--no-test",
                "--out",
                str(out),
                "--command",
                "true",
            )  # images ready, not timed
            _, report = krakend(
                str(plugin), "--target", "generic/arm64", "--arm64", mode, "--no-test", "--out", str(out)
            )
            times[mode] = finding_time(report)
            print(f"  {mode:<8} {times[mode]:7.1f} s")
        ratio = times["emulate"] / times["cross"]
        print(f"  cross is {ratio:.1f}x faster (target >= 3x): {'PASS' if ratio >= 3 else 'FAIL'}")

        print(f"\ndriver overhead, generic/amd64, {args.functions}-function plugin, warm:")
        _, report = krakend(str(plugin), "--target", "generic/amd64", "--no-test", "--out", str(out))
        builder = str(report["findings"][0]["details"]["builder"])  # type: ignore[index]
        plain_cmd = [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{plugin}:/in:ro",
            "-v",
            f"{work / 'plain'}:/out",
            "-v",
            "krakend-tools-cache:/cache",
            "-e",
            "KRAKEND_ZIG_TARGET=x86_64-linux-gnu.2.36",
            builder,
            "sh",
            "-c",
            "cp -r /in /src2 && krakend-run krakend-build-wheel /src2 /out",
        ]
        (work / "plain").mkdir()
        plain, driver = [], []
        for _ in range(2):
            start = time.monotonic()
            subprocess.run(plain_cmd, capture_output=True, check=True, env=ENV)
            plain.append(time.monotonic() - start)
            wall, _ = krakend(str(plugin), "--target", "generic/amd64", "--no-test", "--out", str(out))
            driver.append(wall)
        p, d = min(plain), min(driver)
        print(f"  plain docker run {p:6.1f} s")
        print(f"  krakend build    {d:6.1f} s")
        print(f"  overhead {d / p:.2f}x (target <= 1.3x): {'PASS' if d / p <= 1.3 else 'FAIL'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
