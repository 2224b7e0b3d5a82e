"""The plan of the house (docs/architecture.md), kept true: imports flow commands -> jobs -> shared core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "krakend_tools"
JOBS = ("check", "plugin_test", "build")
# Which jobs a job may use: build tests what it built with test-plugin's job.
JOB_USES = {"check": set(), "plugin_test": set(), "build": {"plugin_test"}}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The package's modules that ``path`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("krakend_tools"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("krakend_tools"))
    return names


def _room(module: str) -> str:
    """``cli``, a job's folder, or ``core`` for everything shared."""
    parts = module.split(".")
    if module == "krakend_tools.__main__":  # ``python -m krakend_tools`` is the command line too
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in ("cli", *JOBS) else "core"


def _allowed(src: str, dst: str) -> bool:
    if src == dst or dst == "core" or src == "cli":
        return True
    return src in JOBS and dst in JOB_USES[src]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_from_commands_to_jobs_to_the_core(module: str) -> None:
    src = _room(module)
    wrong = sorted(d for d in _imports(MODULES[module]) if not _allowed(src, _room(d)))
    assert wrong == [], f"{module} ({src}) imports {wrong}"


def test_no_import_cycle_not_even_through_an_import_inside_a_function() -> None:
    graph = {m: {d for d in _imports(p) if d in MODULES and d != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_every_folder_says_what_it_holds() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.parent.name}/ has no docstring saying what it holds"


def test_the_core_imports_no_job_and_no_command() -> None:
    """The same rule as above seen from the core: a self-check that the rule can fail."""
    assert not _allowed("core", "cli") and not _allowed("core", "check") and not _allowed("check", "build")
    assert _room("krakend_tools.check.job") == "check" and _room("krakend_tools.lockfiles.uv") == "core"
