"""Fuzz the CLI's readers with 100,000+ mutated real inputs; print what happened.

Each case mutates a real seed (fixtures' lockfiles, this host's manifest, a shared object
compiled now, a wheel) and runs ``krakend check-plugin`` / ``test-plugin`` on it through
the real entry point, in-process (:mod:`tests.fuzzing`). Prints counts by exit code per
target, internal errors (exit 3: tracebacks) with their first lines, hangs (a case over
``--alarm`` seconds), the slowest case and the process's max RSS.

    nice python bench/fuzz.py [--cases 100000] [--seed 7] [--alarm 20] [--save DIR]
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzzing import TARGETS, clear_caches, make_seeds, scratch_env  # noqa: E402


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--alarm", type=int, default=20, help="seconds before a case is a hang")
    parser.add_argument("--save", type=Path, help="keep the inputs of failing cases here")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="krakend-fuzz-"))
    scratch_env(scratch)
    seeds = make_seeds(scratch / "seeds")
    rng = random.Random(args.seed)
    names = list(TARGETS)
    counts: dict[str, collections.Counter[str]] = {n: collections.Counter() for n in names}
    failures: collections.Counter[str] = collections.Counter()
    slowest = (0.0, "", 0)
    signal.signal(signal.SIGALRM, _alarm)
    start = time.monotonic()
    for case in range(args.cases):
        target = names[case % len(names)]
        case_rng = random.Random(rng.getrandbits(64))
        began = time.monotonic()
        signal.alarm(args.alarm)
        try:
            verdict = TARGETS[target](seeds, case_rng)
            code = str(verdict.code)
            if verdict.code == 2 and verdict.stderr.count("\n") != 1:
                code = "2-multiline"
            if verdict.code not in (0, 1, 2):
                failures[f"{target}: {verdict.stderr.strip()[:200]}"] += 1
        except Hang:
            code = "hang"
            failures[f"{target}: hang"] += 1
        except BaseException as exc:  # noqa: BLE001 - the harness itself must not stop
            code = "harness"
            failures[f"{target}: harness {type(exc).__name__}: {exc}"[:200]] += 1
        finally:
            signal.alarm(0)
        took = time.monotonic() - began
        counts[target][code] += 1
        if took > slowest[0]:
            slowest = (took, target, case)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                for f in (seeds.folder / "case").iterdir():
                    (args.save / f"slowest-{f.name}").write_bytes(f.read_bytes()) \
                        if f.is_file() else None
        if code not in ("0", "1", "2") and args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for f in (seeds.folder / "case").iterdir():
                if f.is_file():
                    (args.save / f"case{case}-{f.name}").write_bytes(f.read_bytes())
        if case % 1000 == 999:
            clear_caches()
        if case % 10_000 == 9_999:
            print(f"... {case + 1} cases, {time.monotonic() - start:.0f}s", file=sys.stderr,
                  flush=True)
    elapsed = time.monotonic() - start
    total: collections.Counter[str] = collections.Counter()
    print(f"cases: {args.cases} in {elapsed:.0f}s (seed {args.seed})")
    for target in names:
        total.update(counts[target])
        print(f"  {target:9s} " + ", ".join(f"exit {k}: {v}" for k, v in sorted(counts[target].items())))
    print("  all       " + ", ".join(f"exit {k}: {v}" for k, v in sorted(total.items())))
    tracebacks = sum(v for k, v in total.items() if k not in ("0", "1", "2"))
    print(f"tracebacks / hangs / multi-line errors: {tracebacks}")
    for text, n in failures.most_common(20):
        print(f"  {n} x {text}")
    print(f"slowest case: {slowest[0]:.3f}s ({slowest[1]}, case {slowest[2]})")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"max RSS: {rss / 1024:.0f} MiB")
    return 1 if tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
