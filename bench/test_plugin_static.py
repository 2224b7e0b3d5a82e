"""Benchmark: the static phase of test-plugin vs ``auditwheel show`` on the same wheels.

Usage: .venv/bin/python bench/test_plugin_static.py [WHEEL_DIR]   (default: .cache/wheels,
filled by scripts/fetch-wheels.sh; needs ``pip install auditwheel`` in the venv).

Per wheel, median wall time of:
  ours     check_wheel(): unzip to a temp folder + every static check, against a manifest for
           the wheel's own target (no per-library data, as for a cross-target gateway);
  aw-lib   auditwheel's analysis alone (analyze_wheel_abi, what `show` runs), timed inside
           a fresh interpreter after its imports;
  aw-cli   the `auditwheel show WHEEL` command, interpreter start-up included.
The ratios are aw-lib/ours and aw-cli/ours; the target is ours >= 5x faster. This prints
figures; it is not a test.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from krakend_tools.manifest.facts import from_facts  # noqa: E402
from krakend_tools.manifest.from_lock import target_environment  # noqa: E402
from krakend_tools.manifest.model import Manifest  # noqa: E402
from krakend_tools.manifest.platforms import Target  # noqa: E402
from krakend_tools.plugin_test.static_phase import check_wheel  # noqa: E402

AW_LIB = """
import logging, sys, time
from pathlib import Path
from auditwheel.wheel_abi import analyze_wheel_abi
logging.disable(logging.CRITICAL)
start = time.perf_counter()
try:
    analyze_wheel_abi(None, None, Path(sys.argv[1]), frozenset(), disable_isa_ext_check=False,
                      allow_graft=False)
finally:
    print(time.perf_counter() - start)
"""


def manifest_for(wheel: str) -> Manifest:
    machine = "aarch64" if "aarch64" in wheel else "x86_64"
    family = "musl" if "musllinux" in wheel else "glibc"
    target = Target("alpine" if family == "musl" else "generic", "arm64" if machine == "aarch64" else "amd64")
    multiarch = f"{machine}-linux-{'musl' if family == 'musl' else 'gnu'}"
    return from_facts(
        {
            "implementation": "cpython",
            "version": "3.11.7",
            "soabi": f"cpython-311-{multiarch}",
            "ext_suffix": f".cpython-311-{multiarch}.so",
            "free_threaded": False,
            "debug": False,
            "executable": None,
            "machine": machine,
            "libc_family": family,
            "libc_version": "1.2.4" if family == "musl" else "2.36",
            "marker_environment": target_environment(target, "3.11.7"),
            "distributions": {},
            "libraries": {},
            "site_packages": [],
        }
    )


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(folder: Path | None = None) -> int:
    if folder is None:
        folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".cache" / "wheels"
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        print(f"no wheels in {folder}: run scripts/fetch-wheels.sh {folder}")
        return 1
    if importlib.util.find_spec("auditwheel") is None:
        print("auditwheel is not installed: .venv/bin/pip install auditwheel")
        return 1
    aw_bin = str(Path(sys.executable).with_name("auditwheel"))

    def aw_lib(wheel: Path) -> float:
        # A fresh interpreter each time (auditwheel caches results in-process); only the
        # analysis is timed, not the interpreter start-up or the imports.
        proc = subprocess.run([sys.executable, "-c", AW_LIB, str(wheel)], capture_output=True, text=True, check=True)
        return float(proc.stdout.strip().splitlines()[-1])

    def aw_cli(wheel: Path) -> None:
        subprocess.run([aw_bin, "show", str(wheel)], capture_output=True, check=False)

    header = (
        f"{'wheel':<64} {'MB':>5} {'ours ms':>8} {'aw-lib ms':>9} {'aw-cli ms':>9} {'x lib':>6} {'x cli':>6}  result"
    )
    print(header)
    print("-" * len(header))
    tot = [0.0, 0.0, 0.0]
    for wheel in wheels:
        manifest = manifest_for(wheel.name)
        result = check_wheel(wheel, manifest)  # warm-up, and the verdict shown
        ours = median_time(lambda: check_wheel(wheel, manifest), 7)  # noqa: B023
        lib = statistics.median(aw_lib(wheel) for _ in range(3))
        cli = median_time(lambda: aw_cli(wheel), 3)  # noqa: B023
        for i, t in enumerate((ours, lib, cli)):
            tot[i] += t
        verdict = "OK" if result.ok else f"KO ({len(result.problems)})"
        name = wheel.name if len(wheel.name) <= 64 else wheel.name[:61] + "..."
        print(
            f"{name:<64} {wheel.stat().st_size / 1e6:5.1f} {ours * 1e3:8.1f} "
            f"{lib * 1e3:9.1f} {cli * 1e3:9.1f} {lib / ours:6.1f} {cli / ours:6.1f}  {verdict}"
        )
    print("-" * len(header))
    print(
        f"{'total':<64} {'':>5} {tot[0] * 1e3:8.1f} {tot[1] * 1e3:9.1f} {tot[2] * 1e3:9.1f} "
        f"{tot[1] / tot[0]:6.1f} {tot[2] / tot[0]:6.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
