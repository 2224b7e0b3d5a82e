"""Benchmark of test-plugin: (a) static analysis vs ``auditwheel show`` (bench/test_plugin_static.py),
then (b) whole-process time of ``krakend test-plugin -s`` over N compiled plugins.

Builds N distinct C extension plugins (fixtures/plugins_src/cext_plugin.c, one module name
each) in a temporary folder and times, as a median over ``--runs``:

  cli        ``krakend test-plugin -s FOLDER --manifest M`` (static + one probe per plugin)
  cli-auto   the same without --manifest (the manifest is introspected first)
  floor      N x ``python -I -c pass`` / cores: the cost of N bare interpreter start-ups
             spread over every core
  ratio      cli / floor; the target is <= 1.5
  CPU        user+sys time of the whole command (children included) vs N bare start-ups:
             the overhead, whatever else the machine is doing
  measured   the floor as measured: N bare start-ups run ``cores`` at a time (fairer when
             the machine is busy with other work)

Also shown: the CLI's fixed start-up (``krakend --help``) and ``-j 1``. Prints figures; it
is not a test.

    .venv/bin/python bench/test_plugin.py [--plugins 50] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fixtures" / "plugins_src"))
import build  # noqa: E402

ENV = {**os.environ, "NO_COLOR": "1"}
ENV.pop("KRAKEND_MANIFEST", None)


CPU: dict[str, float] = {}  # argv key -> median CPU seconds (user + sys, children included)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall(argv: list[str], runs: int, expect: int | None = 0) -> float:
    """Median wall time of ``argv`` over ``runs`` (after one warm-up run); the median CPU
    time goes to ``CPU``."""
    times, cpu = [], []
    for i in range(runs + 1):
        start, cpu0 = time.perf_counter(), _children_cpu()
        proc = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if i:
            cpu.append(_children_cpu() - cpu0)
        if expect is not None and proc.returncode != expect:
            raise SystemExit(
                f"{' '.join(argv[:6])}... exited {proc.returncode}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        if i:
            times.append(elapsed)
    CPU[" ".join(argv)] = statistics.median(cpu)
    return statistics.median(times)


def parallel_floor(n: int, workers: int, runs: int) -> float:
    """Median wall time of ``n`` bare start-ups run ``workers`` at a time, measured."""
    from concurrent.futures import ThreadPoolExecutor

    argv = [sys.executable, "-I", "-c", "pass"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda _: subprocess.run(argv, check=False), range(n)))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    krakend = [sys.executable, "-m", "krakend_tools"]
    with tempfile.TemporaryDirectory(prefix="krakend-bench-") as tmp:
        folder = Path(tmp, "plugins")
        start = time.perf_counter()
        for i in range(args.plugins):
            build.build_c(folder, name=f"bench_plugin_{i:03d}")
        built = time.perf_counter() - start
        manifest = Path(tmp, "gateway.json")
        manifest.write_text(
            subprocess.run(
                [*krakend, "version", "-o", "json"], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True
            ).stdout
        )
        bare = wall([sys.executable, "-I", "-c", "pass"], max(args.runs, 15), None)
        floor = args.plugins * bare / cores
        measured = parallel_floor(args.plugins, cores, args.runs)
        startup = wall([*krakend, "--help"], args.runs)
        cli_argv = [*krakend, "test-plugin", "-s", str(folder), "--manifest", str(manifest)]
        cli = wall(cli_argv, args.runs)
        auto = wall([*krakend, "test-plugin", "-s", str(folder)], args.runs)
        doubled = wall(
            [*krakend, "test-plugin", "-s", "-j", str(2 * cores), str(folder), "--manifest", str(manifest)], args.runs
        )
        serial = wall(
            [*krakend, "test-plugin", "-s", "-j", "1", str(folder), "--manifest", str(manifest)], max(3, args.runs // 2)
        )
    print(
        f"plugins: {args.plugins} compiled C extensions (built in {built:.1f}s), "
        f"cores: {cores}, python: {sys.version.split()[0]}"
    )
    print(f"{'python -I -c pass':<44} {bare * 1e3:9.1f} ms")
    print(f"{'floor = plugins x bare / cores':<44} {floor * 1e3:9.1f} ms")
    print(f"{'measured: plugins x bare, cores at a time':<44} {measured * 1e3:9.1f} ms")
    print(f"{'krakend --help (CLI start-up)':<44} {startup * 1e3:9.1f} ms")
    print(f"{'test-plugin -s --manifest M':<44} {cli * 1e3:9.1f} ms   ratio {cli / floor:4.2f} (target <= 1.5)")
    print(f"{'test-plugin -s (manifest introspected)':<44} {auto * 1e3:9.1f} ms   ratio {auto / floor:4.2f}")
    print(f"{'test-plugin -s -j 2xcores --manifest M':<44} {doubled * 1e3:9.1f} ms   ratio {doubled / floor:4.2f}")
    print(f"{'ratio to the measured floor (-j default)':<44} {cli / measured:9.2f}")
    bare_cpu = CPU[f"{sys.executable} -I -c pass"]
    cli_cpu = CPU[" ".join(cli_argv)]
    print(f"{'CPU: plugins x bare':<44} {args.plugins * bare_cpu * 1e3:9.1f} ms")
    print(
        f"{'CPU: test-plugin -s --manifest M':<44} {cli_cpu * 1e3:9.1f} ms   "
        f"ratio {cli_cpu / (args.plugins * bare_cpu):4.2f} (load-independent)"
    )
    print(
        f"{'test-plugin -s -j 1 --manifest M':<44} {serial * 1e3:9.1f} ms   "
        f"per plugin {serial / args.plugins * 1e3:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    import test_plugin_static

    print("== (a) static analysis per wheel vs auditwheel show (target: ours >= 5x faster)")
    test_plugin_static.main(ROOT / ".cache" / "wheels")
    print("== (b) test-plugin over compiled plugins vs bare interpreter start-ups (target <= 1.5x)")
    sys.exit(main())
