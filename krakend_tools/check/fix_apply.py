"""``check-plugin --fix --apply``: make a :class:`~krakend_tools.check.fixes.FixPlan` happen.

As ``pip-audit --fix``: the ``#`` edits go into the project's files (TOML through tomlkit,
so formatting and comments stay), the tool's own commands re-lock, and the caller checks
again. Nothing starts when a tool is missing or git holds uncommitted changes to a file it
would touch (unless forced); a command that fails puts every file back as it was.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from krakend_tools.check.fixes import FixPlan, Replace, SetKey
from krakend_tools.errors import InputError
from krakend_tools.escape import shown, unforged

COMMAND_TIMEOUT = 900  # seconds a lock command may take (a resolver on a cold cache is slow)


@dataclass
class Applied:
    """What one lockfile's fix changed: the files before, and the commands run."""

    lockfile: Path
    before: dict[Path, str] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)

    def diff(self) -> list[str]:
        """A unified diff of every project file edited (not the lockfile: see :func:`version_changes`)."""
        lines: list[str] = []
        for path, old in self.before.items():
            if path == self.lockfile:
                continue
            new = path.read_text(encoding="utf-8") if path.exists() else ""
            lines += difflib.unified_diff(old.splitlines(), new.splitlines(), str(path), str(path), lineterm="")
        return [unforged(shown(line)) for line in lines]


def touched_files(lockfile: Path, plan: FixPlan) -> list[Path]:
    """The files the plan edits or its commands rewrite: the lockfile and the project's own."""
    folder = lockfile.parent
    files = [lockfile] + [folder / e.file for e in plan.edits]
    files += [folder / name for name in ("pyproject.toml", "Pipfile") if (folder / name).exists()]
    return list(dict.fromkeys(files))


def preflight(plans: dict[Path, FixPlan], force: bool) -> None:
    """InputError when a command's tool is not installed, or (unless ``force``) when git has
    uncommitted changes to a file the fix would change."""
    for lockfile, plan in plans.items():
        for command in plan.commands:
            if shutil.which(command[0]) is None:
                raise InputError(
                    f"--apply: {command[0]} is not installed (it re-locks {lockfile}); install it, or run the "
                    "printed commands (-f) yourself"
                )
        if not force:
            dirty = uncommitted(touched_files(lockfile, plan))
            if dirty:
                raise InputError(
                    f"--apply: uncommitted changes to {', '.join(map(str, dirty))}: commit or stash them first, "
                    "or pass --force"
                )


def uncommitted(files: Sequence[Path]) -> list[Path]:
    """Those of ``files`` that git reports changed or untracked (none outside a git work tree)."""
    existing = [f for f in files if f.exists()]
    if not existing or shutil.which("git") is None:
        return []
    folder = existing[0].parent
    proc = subprocess.run(
        ["git", "status", "--porcelain", "-z", "--", *(str(f.resolve()) for f in existing)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:  # not a work tree: nothing to lose that git could give back
        return []
    changed = {entry[3:] for entry in proc.stdout.split("\0") if len(entry) > 3}
    top = _git_top(folder)
    return [f for f in existing if top is not None and str(f.resolve().relative_to(top)) in changed]


def _git_top(folder: Path) -> Path | None:
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True)
    return Path(proc.stdout.strip()).resolve() if proc.returncode == 0 else None


def apply_plan(lockfile: Path, plan: FixPlan) -> Applied:
    """Make ``plan``'s edits, then run its commands in the lockfile's folder; on any failure
    every touched file is put back and an InputError says which step failed."""
    applied = Applied(lockfile, {f: f.read_text(encoding="utf-8") for f in touched_files(lockfile, plan) if f.exists()})
    try:
        for edit in plan.edits:
            _edit(lockfile.parent, edit)
        for command in plan.commands:
            _run(command, lockfile.parent)
            applied.commands.append(command)
    except BaseException:
        restore(applied)
        raise
    return applied


def restore(applied: Applied) -> None:
    """Every file as it was before the fix."""
    for path, text in applied.before.items():
        path.write_text(text, encoding="utf-8")


def _edit(folder: Path, edit: SetKey | Replace) -> None:
    path = folder / edit.file
    text = path.read_text(encoding="utf-8")
    if isinstance(edit, Replace):
        if edit.old not in text:
            raise InputError(f"--apply: {edit.old} is not in {path} as written; change it by hand")
        path.write_text(text.replace(edit.old, edit.new, 1), encoding="utf-8")
        return
    path.write_text(_set_key(text, edit), encoding="utf-8")


def _set_key(text: str, edit: SetKey) -> str:
    """``text`` with ``[edit.table] edit.key = edit.value``, everything else as it was."""
    import tomlkit
    from tomlkit.items import Table

    doc = tomlkit.parse(text)
    table: Table | tomlkit.TOMLDocument = doc
    for part in edit.table:
        if part not in table:
            table[part] = tomlkit.table(is_super_table=part != edit.table[-1])
        nested = table[part]
        if not isinstance(nested, dict):
            raise InputError(f"--apply: [{'.'.join(edit.table)}] is not a table in {edit.file}")
        table = nested  # type: ignore[assignment]
    value = edit.value
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(value)
        table[edit.key] = array
    else:
        table[edit.key] = value
    return tomlkit.dumps(doc)


def _run(command: list[str], folder: Path) -> None:
    try:
        proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise InputError(f"--apply: {' '.join(command)} took over {COMMAND_TIMEOUT} s; files restored") from None
    if proc.returncode != 0:
        last = next((line for line in reversed(proc.stderr.splitlines()) if line.strip()), "no message")
        raise InputError(
            f"--apply: {' '.join(command)} failed (exit {proc.returncode}): {last.strip()}; files restored"
        )


def version_changes(before: Iterable[tuple[str, str | None]], after: Iterable[tuple[str, str | None]]) -> list[str]:
    """``name old -> new`` for each package whose locked version changed (``-`` for none)."""
    old, new = dict(before), dict(after)
    return [
        f"{name} {old.get(name) or '-'} -> {new.get(name) or '-'}"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]
