"""Mutation score of the core: how many single-point mutants the fast tests kill.

Each target module is parsed with :mod:`ast`; every site of an operator below becomes one
mutant (one small edit of the source text). A mutant is written into a private copy of the
checkout (``krakend_tools/`` and ``tests/`` copied, the rest linked), and the module's fast
tests run there with ``pytest -x``: a failing run kills the mutant, a passing run lets it
survive, a run over ``--timeout`` seconds counts apart. The checkout itself is never edited.

    python bench/mutate.py [--modules elf.py check/job.py ...] [--sample 100 --seed 1]
                           [--timeout 60] [--list-survivors]

``--sample N --seed S`` keeps the N mutants whose hash of (seed, module, function, operator,
text, occurrence) is lowest: the same N on every machine, and an edit elsewhere in a module
does not reshuffle them. Operators: comparison swaps (``<``/``<=``, ``>``/``>=``, ``==``/``!=``,
``in``/``not in``, ``is``/``is not``), ``and``/``or``, an integer constant plus one,
``True``/``False``, a dropped ``not``, a returned string constant replaced, an ``elif``
branch dropped (its test made ``False``). Mutants listed in ``EQUIVALENT`` cannot change
behaviour (reason given) and are left out of the score.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "krakend_tools"

# module (under krakend_tools/) -> test files (globs under tests/) that pin it in process
TESTS: dict[str, tuple[str, ...]] = {
    "elf.py": ("test_static.py", "test_elf_*.py"),
    "plugin_test/static_phase.py": ("test_static.py", "test_static_*.py", "test_core_rules.py"),
    "check/job.py": ("test_core_rules.py", "test_lockfile_semantics.py", "test_check_*.py"),
    "lockfiles/*.py": ("test_lockfiles.py", "test_lockfile_*.py", "test_core_rules.py"),
    "manifest/platforms.py": ("test_manifest.py", "test_pinned_platforms.py"),
    "escape.py": ("test_output_injection.py", "test_pinned_escape.py"),
    "report.py": ("test_outputs.py", "test_pinned_report.py"),
    "safefs.py": ("test_pinned_safefs.py",),
    "arguments.py": ("test_pinned_arguments.py",),
    "subproc.py": ("test_pinned_subproc.py",),
}
# test_check.py, test_gate_verdicts.py and test_host_safety.py pin these modules too, through the
# CLI in subprocesses: over a minute a mutant on a shared machine, so left out.
DEFAULT_MODULES = (
    "elf.py",
    "check/job.py",
    "plugin_test/static_phase.py",
    "lockfiles/*.py",
    "manifest/platforms.py",
    "escape.py",
)

# (module, function, operator, original text) -> why no test can tell the mutant apart
EQUIVALENT: dict[tuple[str, str, str, str], str] = {
    ("escape.py", "_escape", "compare", "code <= 0xFF"): "U+00FF is not unsafe: never reaches _escape",
    ("escape.py", "_escape", "int", "0xFF"): "U+0100 is not unsafe either: never reaches _escape",
    ("escape.py", "unforged", "int", "1"): "the pattern is anchored at ^: a second match cannot happen",
    ("subproc.py", "_read", "int", "65536"): "the size of one read: the bytes kept are the same",
    ("subproc.py", "_read", "compare", "remaining <= 0"): "a float clock never lands on 0 exactly",
    ("subproc.py", "_kill_all", "int", "5"): "how long to wait for SIGKILLed strays: they are gone in ms",
    ("subproc.py", "_kill_all", "compare", "time.monotonic() < deadline"): "the same deadline, to the ns",
    ("subproc.py", "_adopt_orphans", "int", "0"): "prctl's unused arguments and a value prctl overwrites",
    ("subproc.py", "_adopt_orphans", "bool", "False"): "the answers where prctl is missing: the tests run on Linux",
    ("subproc.py", "_adopt_orphans", "bool", "True"): "use_errno: errno is never read",
    ("subproc.py", "run_bounded", "boolop", "proc.stdout is not None and proc.stderr is not None"): (
        "an assert for mypy: both are pipes"
    ),
    ("subproc.py", "_kill_all", "boolop", "since is not None and time.monotonic() < deadline"): "differs only for a"
    " SIGKILLed stray that does not die",
    ("subproc.py", "_kill_all", "int", "0"): "WNOHANG instead: the loop comes back until the stray is reaped",
    ("subproc.py", "_adopted", "compare", "child not in found"): "a stray's child is re-parented to us when the"
    " stray is killed: the next round finds it",
    ("safefs.py", "_where_now", "return-str", '""'): "the answer without /proc: the tests run on Linux",
    ("safefs.py", "_unlink_all_but_folders", "int", "0o700"): "0o701 gives the owner the same rights",
    ("safefs.py", "_open_folder", "int", "0o700"): "0o701 gives the owner the same rights",
    ("subproc.py", "_adopted", "int", "0"): "a child already gone counts as started at tick 0 or 1: never after",
    ("lockfiles/poetry.py", "_package_edges", "int", "1"): "each is split(sep, 1)[0]: maxsplit 2 keeps the same first"
    " piece",
    ("lockfiles/requirements.py", "matches", "int", "1"): "split(' #', 1)[0] is the same piece with maxsplit 2;"
    " seen += 2 still makes seen > 0",
}

SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
SKIPPED_FIELDS = {"annotation", "returns", "type_comment"}  # types do not run


@dataclass(frozen=True)
class Mutant:
    """One edit of one module: bytes ``start:end`` of its source become ``replacement``."""

    module: str
    function: str
    line: int
    operator: str
    original: str
    replacement: str
    start: int
    end: int
    occurrence: int = 0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.operator, self.original)

    def rank(self, seed: int) -> str:
        """Where this mutant falls in the deterministic sample for ``seed``."""
        text = f"{seed}|{'|'.join(self.key)}|{self.replacement}|{self.occurrence}"
        return hashlib.sha256(text.encode()).hexdigest()

    def applied(self, source: bytes) -> bytes:
        return source[: self.start] + self.replacement.encode() + source[self.end :]


@dataclass
class Tally:
    """Outcome counts of one module."""

    mutants: int = 0
    killed: int = 0
    survived: int = 0
    timeout: int = 0

    @property
    def score(self) -> float:
        decided = self.killed + self.survived + self.timeout
        return 100.0 * (self.killed + self.timeout) / decided if decided else 100.0


def _offsets(source: bytes) -> list[int]:
    """Byte offset of the start of each line (1-based lines: index 0 unused)."""
    starts = [0, 0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _span(node: ast.AST, starts: list[int]) -> tuple[int, int]:
    start = starts[node.lineno] + node.col_offset  # type: ignore[attr-defined]
    end = starts[node.end_lineno] + node.end_col_offset  # type: ignore[attr-defined]
    return start, end


def _edits(node: ast.AST, parent_is_elif: bool) -> Iterator[tuple[str, ast.AST, str]]:
    """(operator, node replaced, replacement text) for each mutation of ``node`` itself."""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in SWAPS:
                ops = [*node.ops]
                ops[index] = SWAPS[type(op)]()
                yield "compare", node, f"({ast.unparse(ast.Compare(node.left, ops, node.comparators))})"
    elif isinstance(node, ast.BoolOp):
        other: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "boolop", node, f"({ast.unparse(ast.BoolOp(other, node.values))})"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not", node, f"({ast.unparse(node.operand)})"
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield "bool", node, str(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield "int", node, str(node.value + 1)
    elif isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        yield "return-str", node.value, repr(node.value.value + "~mutant")
    elif isinstance(node, ast.If) and parent_is_elif:
        yield "drop-elif", node.test, "False"


def _walk(node: ast.AST, function: str, parent_is_elif: bool = False) -> Iterator[tuple[str, str, ast.AST, str]]:
    """(function, operator, node, replacement) over the tree, in source order, types and docstrings skipped."""
    yield from ((function, op, target, text) for op, target, text in _edits(node, parent_is_elif))
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        function = f"{function}.{node.name}" if function else node.name
    body = getattr(node, "body", None)
    for name, value in ast.iter_fields(node):
        if name in SKIPPED_FIELDS:
            continue
        children = value if isinstance(value, list) else [value]
        for index, child in enumerate(children):
            if not isinstance(child, ast.AST) or _is_docstring(child, body, index, name):
                continue
            elif_child = isinstance(node, ast.If) and name == "orelse" and len(children) == 1
            yield from _walk(child, function, elif_child and isinstance(child, ast.If))


def _is_docstring(child: ast.AST, body: object, index: int, field: str) -> bool:
    constant = isinstance(child, ast.Expr) and isinstance(child.value, ast.Constant)
    return constant and field == "body" and index == 0 and isinstance(body, list)


def mutants_of(module: str) -> list[Mutant]:
    """Every mutant of ``module`` (a path under the package), in source order."""
    source = (ROOT / PACKAGE / module).read_bytes()
    starts = _offsets(source)
    found: list[Mutant] = []
    seen: dict[tuple[str, str, str, str, str], int] = {}
    for function, operator, node, replacement in _walk(ast.parse(source), ""):
        start, end = _span(node, starts)
        original = source[start:end].decode()
        identity = (module, function, operator, original, replacement)
        seen[identity] = seen.get(identity, -1) + 1
        line = node.lineno  # type: ignore[attr-defined]
        found.append(Mutant(module, function, line, operator, original, replacement, start, end, seen[identity]))
    return [mutant for mutant in found if mutant.key not in EQUIVALENT]


def expand(patterns: list[str]) -> list[str]:
    """Module paths under the package for ``patterns`` (globs allowed), ``__init__`` aside."""
    base = ROOT / PACKAGE
    found = [path.relative_to(base).as_posix() for pattern in patterns for path in sorted(base.glob(pattern))]
    return [module for module in dict.fromkeys(found) if not module.endswith("__init__.py")]


def tests_for(module: str, tests_dir: Path) -> list[str]:
    """The test files that run against ``module`` (paths inside ``tests_dir``)."""
    globs = next((globs for pattern, globs in TESTS.items() if Path(module).match(pattern)), ())
    files = [path for glob in globs for path in sorted(tests_dir.glob(glob))]
    return [str(path) for path in dict.fromkeys(files)]


def make_sandbox(where: Path) -> Path:
    """A copy of the checkout in ``where``: package and tests copied, everything else linked."""
    ignore = shutil.ignore_patterns("__pycache__")
    for entry in ROOT.iterdir():
        if entry.name in (PACKAGE, "tests"):
            shutil.copytree(entry, where / entry.name, ignore=ignore)
        elif entry.name != ".git":
            (where / entry.name).symlink_to(entry)
    return where


def run_tests(sandbox: Path, tests: list[str], timeout: float) -> str:
    """``killed``, ``survived`` or ``timeout``: one pytest run of ``tests`` in the sandbox."""
    env = {**os.environ, "PYTHONPATH": str(sandbox), "NO_COLOR": "1"}
    env.pop("KRAKEND_TEST_PYTHON", None)
    argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not docker and not slow"]
    quiet = subprocess.DEVNULL
    argv += tests
    with subprocess.Popen(argv, cwd=sandbox, env=env, stdout=quiet, stderr=quiet, start_new_session=True) as proc:
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "timeout"
    return "survived" if code == 0 else "killed"


def check_isolation(sandbox: Path) -> None:
    """Fail unless a process started like the tests imports the sandbox's package."""
    env = {**os.environ, "PYTHONPATH": str(sandbox)}
    code = f"import {PACKAGE}; print({PACKAGE}.__file__)"
    where = subprocess.run([sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True)
    if not where.stdout.startswith(str(sandbox)):
        raise SystemExit(f"the tests would import {where.stdout.strip() or where.stderr}, not the sandbox copy")


def choose(modules: list[str], sample: int | None, seed: int) -> list[Mutant]:
    """All mutants of ``modules``, or the deterministic sample of ``sample`` of them."""
    every = [mutant for module in modules for mutant in mutants_of(module)]
    if sample is None:
        return every
    picked = set(sorted(every, key=lambda mutant: mutant.rank(seed))[:sample])
    return [mutant for mutant in every if mutant in picked]


def run(mutants: list[Mutant], sandbox: Path, timeout: float) -> tuple[dict[str, Tally], list[Mutant]]:
    """Apply each mutant in turn to the sandbox, run its tests; the tallies and the survivors."""
    tallies: dict[str, Tally] = {}
    survivors: list[Mutant] = []
    broken: set[str] = set()
    for module in dict.fromkeys(mutant.module for mutant in mutants):
        tests = tests_for(module, sandbox / "tests")
        outcome = run_tests(sandbox, tests, timeout) if tests else "no tests"
        if outcome != "survived":
            broken.add(module)
            print(f"{module}: skipped, unmutated: {outcome}", file=sys.stderr)
    for number, mutant in enumerate(mutants, 1):
        if mutant.module in broken:
            continue
        path = sandbox / PACKAGE / mutant.module
        pristine, stamp = path.read_bytes(), path.stat().st_mtime_ns
        _write(path, mutant.applied(pristine), stamp + number * 10**9)
        try:
            outcome = run_tests(sandbox, tests_for(mutant.module, sandbox / "tests"), timeout)
        finally:
            _write(path, pristine, stamp)
        tally = tallies.setdefault(mutant.module, Tally())
        tally.mutants += 1
        setattr(tally, outcome, getattr(tally, outcome) + 1)
        if outcome == "survived":
            survivors.append(mutant)
        print(f"[{number}/{len(mutants)}] {outcome:8} {_describe(mutant)}", file=sys.stderr, flush=True)
    return tallies, survivors


def _write(path: Path, source: bytes, mtime_ns: int) -> None:
    """``source`` into ``path`` stamped ``mtime_ns``: each mutant its own second, so Python
    never takes a cached bytecode file (keyed by size and whole seconds) of another."""
    path.write_bytes(source)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _describe(mutant: Mutant) -> str:
    original = " ".join(mutant.original.split())
    return f"{PACKAGE}/{mutant.module}:{mutant.line}  {original} -> {mutant.replacement}"


def print_table(tallies: dict[str, Tally]) -> None:
    """module, mutants, killed, survived, timeout, score; then the total."""
    total = Tally()
    print(f"{'module':40} {'mutants':>7} {'killed':>6} {'survived':>8} {'timeout':>7} {'score':>6}")
    for module, tally in sorted(tallies.items()):
        _print_row(module, tally)
        for name in ("mutants", "killed", "survived", "timeout"):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
    _print_row("total", total)


def _print_row(name: str, tally: Tally) -> None:
    counts = f"{tally.mutants:7} {tally.killed:6} {tally.survived:8} {tally.timeout:7}"
    print(f"{name:40} {counts} {tally.score:5.0f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES), help="paths under krakend_tools/")
    parser.add_argument("--sample", type=int, help="run only this many mutants (deterministic for --seed)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant's test run")
    parser.add_argument("--list-survivors", action="store_true")
    args = parser.parse_args()
    mutants = choose(expand(args.modules), args.sample, args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="krakend-mutate-") as scratch:
        sandbox = make_sandbox(Path(scratch))
        check_isolation(sandbox)
        tallies, survivors = run(mutants, sandbox, args.timeout)
    print_table(tallies)
    print(f"({len(mutants)} mutants in {time.monotonic() - began:.0f} s; --sample {args.sample} --seed {args.seed})")
    if args.list_survivors:
        print("\nsurvivors:")
        for mutant in survivors:
            print(f"  {_describe(mutant)}")


if __name__ == "__main__":
    main()
