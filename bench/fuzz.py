"""Fuzz the CLI's readers with 100,000+ mutated real inputs; print what happened.

Each case mutates a real seed (fixtures' lockfiles, this host's manifest, a shared object
compiled now, a wheel) and runs ``krakend check-plugin`` / ``test-plugin`` on it through
the real entry point, in-process (:mod:`tests.fuzzing`). Prints counts by exit code per
target, internal errors (exit 3: tracebacks) with their first lines, hangs (a case over
``--alarm`` seconds), the slowest case and the max RSS of the (worker) processes.

    nice python bench/fuzz.py [--cases 100000] [--workers 2] [--seed 7] [--alarm 20] [--save DIR]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzzing import TARGETS, Seeds, clear_caches, make_seeds, scratch_env  # noqa: E402

CHUNK = 500


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


@dataclass
class Stats:
    counts: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: {n: collections.Counter() for n in TARGETS}
    )
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    slowest: tuple[float, str, int] = (0.0, "", 0)
    max_rss_kib: int = 0

    def add(self, other: Stats) -> None:
        for name, counter in other.counts.items():
            self.counts[name].update(counter)
        self.failures.update(other.failures)
        self.slowest = max(self.slowest, other.slowest)
        self.max_rss_kib = max(self.max_rss_kib, other.max_rss_kib)


_SEEDS: Seeds | None = None
_ARGS: argparse.Namespace | None = None


def _init(args: argparse.Namespace, root: str) -> None:
    global _SEEDS, _ARGS
    scratch = Path(tempfile.mkdtemp(prefix="worker-", dir=root))
    scratch_env(scratch)
    _SEEDS, _ARGS = make_seeds(scratch / "seeds"), args
    signal.signal(signal.SIGALRM, _alarm)


def _save(seeds: Seeds, where: Path, label: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    for f in (seeds.folder / "case").iterdir():
        if f.is_file():
            (where / f"{label}-{f.name}").write_bytes(f.read_bytes())


def _chunk(first: int) -> Stats:
    """Cases ``first`` .. ``first + CHUNK - 1`` (each seeded by its number: reproducible)."""
    assert _SEEDS is not None and _ARGS is not None
    seeds, args = _SEEDS, _ARGS
    stats = Stats()
    names = list(TARGETS)
    for case in range(first, min(first + CHUNK, args.cases)):
        target = names[case % len(names)]
        rng = random.Random(args.seed * 1_000_003 + case)
        began = time.monotonic()
        signal.alarm(args.alarm)
        try:
            verdict = TARGETS[target](seeds, rng)
            code = str(verdict.code)
            if verdict.code == 2 and verdict.stderr.count("\n") != 1:
                code = "2-multiline"
            if code not in ("0", "1", "2"):
                stats.failures[f"{target}: exit {code}: {verdict.stderr.strip()[:200]}"] += 1
        except Hang:
            code = "hang"
            stats.failures[f"{target}: hang"] += 1
        except BaseException as exc:  # noqa: BLE001 - the harness itself must not stop
            code = "harness"
            stats.failures[f"{target}: harness {type(exc).__name__}: {exc}"[:200]] += 1
        finally:
            signal.alarm(0)
        took = time.monotonic() - began
        stats.counts[target][code] += 1
        if took > stats.slowest[0]:
            stats.slowest = (took, target, case)
        if args.save and (code not in ("0", "1", "2") or took > 2):
            _save(seeds, args.save, f"case{case}")
    clear_caches()
    stats.max_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return stats


def report(total: Stats, done: int, elapsed: float, seed: int) -> None:
    all_codes: collections.Counter[str] = collections.Counter()
    print(f"cases: {done} in {elapsed:.0f}s (seed {seed})")
    for target, counter in total.counts.items():
        all_codes.update(counter)
        print(f"  {target:9s} " + ", ".join(f"exit {k}: {v}" for k, v in sorted(counter.items())))
    print("  all       " + ", ".join(f"exit {k}: {v}" for k, v in sorted(all_codes.items())))
    bad = sum(v for k, v in all_codes.items() if k not in ("0", "1", "2"))
    print(f"tracebacks / hangs / multi-line errors: {bad}")
    for text, n in total.failures.most_common(20):
        print(f"  {n} x {text}")
    took, target, case = total.slowest
    print(f"slowest case: {took:.3f}s ({target}, case {case})")
    print(f"max RSS: {total.max_rss_kib / 1024:.0f} MiB (largest worker)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--alarm", type=int, default=20, help="seconds before a case is a hang")
    parser.add_argument("--save", type=Path, help="keep the inputs of failing or slow cases here")
    args = parser.parse_args()

    total = Stats()
    start = time.monotonic()
    done = 0
    ctx = multiprocessing.get_context("fork")
    root = tempfile.mkdtemp(prefix="krakend-fuzz-")
    with ctx.Pool(args.workers, initializer=_init, initargs=(args, root), maxtasksperchild=20) as pool:
        for stats in pool.imap_unordered(_chunk, range(0, args.cases, CHUNK)):
            total.add(stats)
            done += sum(sum(c.values()) for c in stats.counts.values())
            if done % 10_000 < CHUNK:
                print(f"... {done} cases, {time.monotonic() - start:.0f}s", file=sys.stderr, flush=True)
                report(total, done, time.monotonic() - start, args.seed)
    shutil.rmtree(root, ignore_errors=True)
    print("== final ==")
    report(total, done, time.monotonic() - start, args.seed)
    return 1 if sum(v for c in total.counts.values() for k, v in c.items() if k not in ("0", "1", "2")) else 0


if __name__ == "__main__":
    sys.exit(main())
