"""Fix commands in the plugin author's own tool: one combined set per lockfile.

A plain ``add`` of a transitive dependency turns it into a direct one and can fight the
resolver; each tool has a constraint/override mechanism for that case instead. Lines that
start with ``#`` are edits to make by hand (``# FILE: [TABLE] KEY = VALUE``, or a warning
naming a requirement to change and what to); the others can be pasted into a shell. Every
set is proven by a round trip with the real tools (tests/test_fix_roundtrip.py).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.escape import shown
from krakend_tools.lockfiles.model import LockedPackage, Lockfile

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

    from krakend_tools.report import Report

Mismatch = tuple[LockedPackage, str]  # a locked package and the gateway's version
_PLAIN = re.compile(r"[A-Za-z0-9._+=-]+")  # a pin no shell reads specially, inside quotes or not
# what a compiled requirements file's header may carry over to the command that recompiles it
_KEPT_FLAGS = (
    "--generate-hashes",
    "--all-extras",
    "--all-groups",
    "--universal",
    "--no-strip-extras",
    "--allow-unsafe",
    "--no-hashes",
    "--no-dev",
    "--no-emit-project",
    "--frozen",
    "--no-annotate",
    "--no-header",
)
_TAKE_VALUES = frozenset(
    ("-o", "--output-file", "-c", "--constraint", "--extra", "--python-version", "-i", "--index-url", "--python")
    + ("--extra-index-url", "-f", "--find-links", "--group", "--only-group", "--format", "-P", "--upgrade-package")
    + ("--override", "-p", "--build-constraint", "--pip-args", "--cache-dir", "--resolver")
)
_KEPT_VALUES = ("--extra", "--group", "--only-group", "--python-version", "--output-file", "-o", "--format")


@dataclass(frozen=True)
class SetKey:
    """``# FILE: [TABLE] KEY = VALUE``: set one key of a TOML file."""

    file: str
    table: tuple[str, ...]
    key: str
    value: str | list[str]

    def line(self) -> str:
        return f"# {self.file}: [{'.'.join(self.table)}] {self.key} = {json.dumps(self.value)}"


@dataclass(frozen=True)
class Replace:
    """A requirement the plugin declares that excludes the gateway's version: change it first."""

    file: str
    where: str  # the table (and key) that holds it
    old: str  # as written in the file
    new: str
    name: str
    want: str

    def line(self) -> str:
        where = f"{self.file} {self.where}" if self.where else self.file
        return (
            f"# warning: {where}: {self.old} excludes the gateway's {self.name} {self.want}; "
            f"change it first, e.g. to {self.new}"
        )


@dataclass(frozen=True)
class Declared:
    """One requirement the project writes down: where, as written, and what it admits."""

    file: str
    where: str
    written: str
    name: str
    specifier: SpecifierSet
    runtime: bool
    style: str  # "pep508" | "poetry" | "pipfile" | "in"
    marker: str = ""

    def excludes(self, want: str) -> bool:
        from packaging.version import InvalidVersion, Version

        try:
            return not self.specifier.contains(Version(want), prereleases=True)
        except InvalidVersion:
            return False

    def replaced(self, want: str) -> Replace:
        marker = f"; {self.marker}" if self.marker else ""
        if self.style == "pep508":  # a double-quoted TOML string: the marker's own quotes become single
            marker = marker.replace('"', "'")
        new = {
            "pep508": f'"{self.name}=={want}{marker}"',
            "poetry": f'{self.name} = "{want}"',
            "pipfile": f'{self.name} = "=={want}"',
        }.get(self.style, f"{self.name}=={want}{marker}")
        return Replace(self.file, self.where, self.written, new, self.name, want)


@dataclass
class FixPlan:
    """The edits by hand, then the commands, that pin a lockfile to the gateway."""

    edits: list[SetKey | Replace] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    tool: str = ""
    python_range: str | None = None  # the project's new requires-python, when it must change

    def lines(self) -> list[str]:
        """As printed: a comment stays one line (escaped), a command is shell-quoted."""
        return [shown(e.line()) for e in self.edits] + [_shell_line(c) for c in self.commands]


def fix_commands(lock: Lockfile, mismatches: Sequence[Mismatch], python: str | None = None) -> list[str]:
    """The printed lines of :func:`fix_plan`."""
    return fix_plan(lock, mismatches, python).lines()


def fix_plan(lock: Lockfile, mismatches: Sequence[Mismatch], python: str | None = None) -> FixPlan:
    """Everything that pins each package of ``mismatches`` to the gateway's version at once, and
    (``python``: the gateway's Python, when the lock's requires-python excludes it) lets the
    project's Python range admit the gateway's."""
    declared = declared_requirements(lock)
    by_name: dict[str, list[Declared]] = {}
    for d in declared:
        by_name.setdefault(d.name, []).append(d)
    direct = [(p, w) for p, w in mismatches if _is_direct(p, by_name, declared)]
    transitive = [(p, w) for p, w in mismatches if (p, w) not in direct]
    if lock.tool == "pipenv":  # [dev-packages] lock constrained by [packages]: a dev pin of a
        # transitive package resolves only once [packages] pins it too
        direct += [(p, w) for p, w in transitive if p.name in by_name]
        transitive = [(p, w) for p, w in transitive if p.name not in by_name]
    plan = FixPlan(tool=_tool(lock))
    if python is not None:
        plan.edits += _python_edits(lock, python)
        plan.python_range = f">={'.'.join(python.split('.')[:2])}"
    builder = _BUILDERS.get(plan.tool, _requirements)
    builder(lock, plan, direct, transitive)
    rewritten = {p.name for p, _ in direct} if plan.tool not in ("requirements", "pylock") else set()
    warnings: list[SetKey | Replace] = [
        d.replaced(want)
        for pkg, want in mismatches
        for d in by_name.get(pkg.name, [])
        if d.excludes(want) and not (d.runtime and pkg.name in rewritten)
    ]
    plan.edits = warnings + plan.edits
    return plan


def report_fixes(report: Report, locks: Iterable[Lockfile]) -> dict[str, FixPlan]:
    """A :class:`FixPlan` per lockfile of ``report`` that has a KO it can fix (ignored ones are
    accepted, not fixed): a shared package at another version, a requires-python that excludes
    the gateway's Python."""
    plans: dict[str, FixPlan] = {}
    for lock in locks:
        failed = [f for f in report.findings if f.file == str(lock.path) and not f.ok and f.ignored is None]
        packages = {p.name: p for p in lock.packages}
        mismatches = [
            (packages[f.name], f.want)
            for f in failed
            if f.kind == "package" and f.want is not None and f.name in packages
        ]
        python = next((f.want for f in failed if f.kind == "python" and f.want), None)
        if mismatches or python:
            plans[str(lock.path)] = fix_plan(lock, mismatches, python)
    return plans


def _tool(lock: Lockfile) -> str:
    if lock.tool == "pylock" and lock.created_by == "uv":
        return "uv"
    if lock.tool == "requirements" and _header(lock)[:1] == ["uv"] and _header(lock)[1:2] == ["export"]:
        return "uv-export"
    return lock.tool


def _is_direct(pkg: LockedPackage, by_name: Mapping[str, list[Declared]], declared: Sequence[Declared]) -> bool:
    """A runtime requirement of the project (its own declarations when it has any; else what
    the lockfile says)."""
    if declared:
        return any(d.runtime for d in by_name.get(pkg.name, []))
    return pkg.direct


def _python_edits(lock: Lockfile, python: str) -> list[SetKey | Replace]:
    """The project's Python range (or pin) widened to admit the gateway's ``python``."""
    minor = ".".join(python.split(".")[:2])
    if lock.tool == "pipenv":
        return [SetKey("Pipfile", ("requires",), "python_version", minor)]
    pyproject = _pyproject(lock) or {}
    project = _table(pyproject.get("project"))
    poetry_deps = _table(_table(_table(pyproject.get("tool")).get("poetry")).get("dependencies"))
    if "requires-python" not in project and "python" in poetry_deps:
        return [SetKey("pyproject.toml", ("tool", "poetry", "dependencies"), "python", f">={minor}")]
    return [SetKey("pyproject.toml", ("project",), "requires-python", f">={minor}")]


def _uv(lock: Lockfile, plan: FixPlan, direct: list[Mismatch], transitive: list[Mismatch]) -> None:
    if transitive:
        current = _strings(
            _table(_table(_table(_pyproject(lock)).get("tool")).get("uv")).get("constraint-dependencies")
        )
        pinned = {p.name for p, _ in transitive}
        kept = [c for c in current if _name_of(c) not in pinned]
        plan.edits.append(SetKey("pyproject.toml", ("tool", "uv"), "constraint-dependencies", kept + _pins(transitive)))
    plan.commands.append(["uv", "add", *_pins(direct)] if direct else ["uv", "lock"])
    if plan.tool == "uv-export":
        plan.commands.append(["uv", "export", *_with_output(_carried(_header(lock)[2:]), lock)])
    elif lock.tool == "pylock":  # uv's pylock.toml is an export of uv.lock: export it again
        plan.commands.append(["uv", "export", "--format", "pylock.toml", "-o", lock.path.name])


def _poetry(lock: Lockfile, plan: FixPlan, direct: list[Mismatch], transitive: list[Mismatch]) -> None:
    pins = _pins(direct + transitive)
    if pins:  # a transitive pin becomes an explicit constraint: Poetry has no override table
        plan.commands.append(["poetry", "add", "--lock", *pins])
    elif (lock.lock_version or "").startswith("1.") or lock.lock_version == "2.0":
        plan.commands.append(["poetry", "lock", "--no-update"])  # Poetry 1.x updates all otherwise
    else:
        plan.commands.append(["poetry", "lock"])


def _pdm(lock: Lockfile, plan: FixPlan, direct: list[Mismatch], transitive: list[Mismatch]) -> None:
    for pkg, want in transitive:
        plan.edits.append(SetKey("pyproject.toml", ("tool", "pdm", "resolution", "overrides"), pkg.name, f"=={want}"))
    if direct:
        plan.commands.append(["pdm", "add", "--no-sync", *_pins(direct)])
    if transitive or not direct or plan.python_range:  # `pdm add` reuses what an override changes
        # and a lock keeps its recorded Python target unless told
        plan.commands.append(["pdm", "lock", *(["--python", plan.python_range] if plan.python_range else [])])


def _pipenv(lock: Lockfile, plan: FixPlan, direct: list[Mismatch], transitive: list[Mismatch]) -> None:
    if direct:
        plan.commands.append(["pipenv", "install", *_pins(direct)])
    if transitive:
        plan.commands.append(["pipenv", "upgrade", *_pins(transitive)])
    if not direct and not transitive:
        plan.commands.append(["pipenv", "lock"])


def _pylock(lock: Lockfile, plan: FixPlan, direct: list[Mismatch], transitive: list[Mismatch]) -> None:
    plan.commands.append(["sh", "-c", 'printf "%s\\n" "$@" >> constraints.txt', "-", *_pins(direct + transitive)])
    plan.commands.append(["pip", "lock", "-c", "constraints.txt", "."])


def _requirements(lock: Lockfile, plan: FixPlan, direct: list[Mismatch], transitive: list[Mismatch]) -> None:
    """pip-compile or ``uv pip compile``, as the file's header says it was made, pinning with
    ``--upgrade-package NAME==VERSION`` (the header's options that shape the output are kept)."""
    header = _header(lock)
    if not header and not any((lock.path.parent / n).is_file() for n in _default_sources(lock)):
        in_place = _pinned_in_place(lock, direct + transitive)  # written by hand: edit it
        if len(in_place) == len(direct + transitive):
            plan.edits += in_place
            return
    upgrades = [arg for pin in _pins(direct + transitive) for arg in ("--upgrade-package", pin)]
    if header[:3] == ["uv", "pip", "compile"]:
        command, args = header[:3], header[3:]
    else:
        command, args = ["pip-compile"], header[1:] if header[:1] == ["pip-compile"] else []
    sources = _sources(args, lock) or _default_sources(lock)
    plan.commands.append([*command, *_with_output(_carried(args), lock), *upgrades, *sources])


def _pinned_in_place(lock: Lockfile, mismatches: Sequence[Mismatch]) -> list[SetKey | Replace]:
    """For a requirements file no tool compiled: each requirement's line pinned to the gateway."""
    from krakend_tools.errors import InputError
    from krakend_tools.files import read_text

    try:
        lines = read_text(lock.path, "lockfile").splitlines()
    except InputError:
        return []
    edits: list[SetKey | Replace] = []
    for pkg, want in mismatches:
        text = lines[pkg.line - 1] if pkg.line is not None and 0 < pkg.line <= len(lines) else ""
        written = re.split(r"\s|;|\\", text.strip(), maxsplit=1)[0]
        if _name_of(written) == pkg.name:
            edits.append(Replace(lock.path.name, "", written, f"{pkg.name}=={want}", pkg.name, want))
    return edits


def _sources(args: Sequence[str], lock: Lockfile) -> list[str]:
    """The input files of a recorded command: its arguments that are no option's value."""
    found: list[str] = []
    after_option = False
    for arg in args:
        if not arg.startswith("-") and not after_option and arg != lock.path.name:
            found += [arg] if (lock.path.parent / arg).is_file() else []
        after_option = arg in _TAKE_VALUES
    return found


def _default_sources(lock: Lockfile) -> list[str]:
    for name in (lock.path.with_suffix(".in").name, "pyproject.toml", "setup.py"):
        if (lock.path.parent / name).is_file():
            return [name]
    return [lock.path.with_suffix(".in").name]


def _with_output(args: list[str], lock: Lockfile) -> list[str]:
    """``args`` writing the lockfile itself (its own name, in its folder)."""
    kept: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in ("-o", "--output-file"):
            next(it, None)
        elif not arg.startswith("--output-file="):
            kept.append(arg)
    return [*kept, "-o", lock.path.name]


def _carried(args: Sequence[str]) -> list[str]:
    """The options of a recorded command that shape its output (and nothing that points it at
    another index, file or program: the header comes from the file, maybe from a pull request)."""
    out: list[str] = []
    it = iter(args)
    for arg in it:
        flag, eq, _ = arg.partition("=")
        if arg in _KEPT_FLAGS or flag in _KEPT_VALUES and eq:
            out.append(arg)
        elif arg in _KEPT_VALUES:
            out += [arg, next(it, "")]
    return out


_BUILDERS = {"uv": _uv, "uv-export": _uv, "poetry": _poetry, "pdm": _pdm, "pipenv": _pipenv, "pylock": _pylock}


def _header(lock: Lockfile) -> list[str]:
    """The command a compiled requirements file says made it (pip-compile, uv), as words."""
    if lock.tool != "requirements":
        return []
    from krakend_tools.errors import InputError
    from krakend_tools.files import read_text

    try:
        text = read_text(lock.path, "lockfile")
    except InputError:
        return []
    lines = text.splitlines()[:12]
    for i, line in enumerate(lines):
        if "following command" in line:
            for after in lines[i + 1 :]:
                words = after.lstrip("#").strip()
                if words:
                    try:
                        return shlex.split(words)
                    except ValueError:
                        return []
    return []


def declared_requirements(lock: Lockfile) -> list[Declared]:
    """The project's own requirements (PEP 621 and 735, uv, PDM and Poetry tables, a Pipfile,
    a requirements ``.in``) beside ``lock``, with or without a version constraint."""
    found: list[Declared] = []
    pyproject = _pyproject(lock)
    if pyproject:
        found += _pep621(pyproject) + _poetry_declared(pyproject)
    if lock.tool == "pipenv":
        found += _pipfile_declared(lock.path.parent / "Pipfile")
    if lock.tool == "requirements":
        for source in _sources(_header(lock)[1:], lock) or _default_sources(lock):
            if source.endswith(".in") and (lock.path.parent / source).is_file():
                found += _in_declared(lock.path.parent / source)
    return found


def _pep621(pyproject: Mapping[str, Any]) -> list[Declared]:
    tables: list[tuple[str, object, bool]] = []
    project = _table(pyproject.get("project"))
    tables.append(("[project] dependencies", project.get("dependencies"), True))
    for extra, reqs in _table(project.get("optional-dependencies")).items():
        tables.append((f"[project.optional-dependencies] {extra}", reqs, False))
    for group, reqs in _table(pyproject.get("dependency-groups")).items():
        tables.append((f"[dependency-groups] {group}", reqs, False))
    tool = _table(pyproject.get("tool"))
    tables.append(("[tool.uv] dev-dependencies", _table(tool.get("uv")).get("dev-dependencies"), False))
    for group, reqs in _table(_table(tool.get("pdm")).get("dev-dependencies")).items():
        tables.append((f"[tool.pdm.dev-dependencies] {group}", reqs, False))
    return [d for where, reqs, runtime in tables for text in _strings(reqs) for d in _pep508(where, text, runtime)]


def _pep508(
    where: str, text: str, runtime: bool, style: str = "pep508", file: str = "pyproject.toml"
) -> list[Declared]:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        req = Requirement(text)
    except InvalidRequirement:
        return []
    written = f'"{text}"' if style == "pep508" else text
    marker = str(req.marker) if req.marker else ""
    return [Declared(file, where, written, canonicalize_name(req.name), req.specifier, runtime, style, marker)]


def _poetry_declared(pyproject: Mapping[str, Any]) -> list[Declared]:
    poetry = _table(_table(pyproject.get("tool")).get("poetry"))
    tables = [("[tool.poetry.dependencies]", poetry.get("dependencies"), True)]
    tables.append(("[tool.poetry.dev-dependencies]", poetry.get("dev-dependencies"), False))
    for group, body in _table(poetry.get("group")).items():
        tables.append((f"[tool.poetry.group.{group}.dependencies]", _table(body).get("dependencies"), False))
    return [d for where, deps, runtime in tables for d in _keyed(where, _table(deps), runtime, "poetry")]


def _pipfile_declared(path: Path) -> list[Declared]:
    import tomllib

    from krakend_tools.errors import InputError
    from krakend_tools.files import read_text

    try:
        pipfile = tomllib.loads(read_text(path, "Pipfile"))
    except (InputError, ValueError, RecursionError):
        return []
    return [
        d
        for where, runtime in (("[packages]", True), ("[dev-packages]", False))
        for d in _keyed(where, _table(pipfile.get(where[1:-1])), runtime, "pipfile", "Pipfile")
    ]


def _keyed(
    where: str, deps: Mapping[str, Any], runtime: bool, style: str, file: str = "pyproject.toml"
) -> list[Declared]:
    """``name = "spec"`` tables (Poetry, Pipfile); ``version = "spec"`` inside an inline table."""
    from krakend_tools.lockfiles._common import caret_tilde_to_pep440

    found: list[Declared] = []
    for name, spec in deps.items():
        version = spec.get("version") if isinstance(spec, dict) else spec
        if name.lower() == "python":
            continue
        if not isinstance(version, str) or version.strip() in ("", "*"):
            version = pep440 = ""  # declared (so direct), with no constraint to warn about
        else:
            try:
                pep440 = caret_tilde_to_pep440(version) if style == "poetry" else version
            except ValueError:
                continue
        for d in _pep508(where, f"{name}{pep440}", runtime, style, file):
            written = f'{name} = "{version}"' if not isinstance(spec, dict) else f'version = "{version}"'
            found.append(Declared(file, where, written, d.name, d.specifier, runtime, style))
    return found


def _in_declared(path: Path) -> list[Declared]:
    from krakend_tools.errors import InputError
    from krakend_tools.files import read_text

    try:
        text = read_text(path, "requirements file")
    except InputError:
        return []
    lines = (line.split(" #")[0].strip() for line in text.splitlines())
    return [d for line in lines if line and line[0] not in "#-" for d in _pep508("", line, True, "in", path.name)]


def _pins(mismatches: Sequence[Mismatch]) -> list[str]:
    return [f"{p.name}=={want}" for p, want in mismatches]


def _name_of(requirement: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(re.split(r"[\s<>=!~;\[@(]", requirement, maxsplit=1)[0])


def _shell_line(words: Sequence[str]) -> str:
    """Shell words: an ordinary pin in double quotes as ever; any other word shell-quoted
    (``shlex.quote``), so that pasting the line runs nothing but the command."""
    return " ".join(_word(w) for w in words)


def _word(word: str) -> str:
    if "==" in word and _PLAIN.fullmatch(word):
        return f'"{word}"'
    return shlex.quote(word)


def _pyproject(lock: Lockfile) -> Mapping[str, Any] | None:
    from krakend_tools.lockfiles._pyproject import read_pyproject

    return read_pyproject(lock.path)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
