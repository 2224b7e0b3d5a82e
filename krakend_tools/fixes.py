"""Fix commands in the plugin author's own tool, right for direct and transitive pins.

A plain ``add`` of a transitive dependency turns it into a direct one and can fight
the resolver; each tool has a constraint/override mechanism for that case instead.
"""

from __future__ import annotations

from krakend_tools.lockfiles import LockedPackage, Lockfile


def fix_commands(lock: Lockfile, pkg: LockedPackage, want: str) -> list[str]:
    """Shell lines (``#`` lines are edits to make by hand) that pin ``pkg`` to ``want``."""
    pin = f"{pkg.name}=={want}"
    tool = lock.tool
    if tool == "uv" or (tool == "pylock" and lock.created_by == "uv"):
        if pkg.direct:
            return [f'uv add "{pin}"']
        return [f'# pyproject.toml: [tool.uv] constraint-dependencies = ["{pin}"]', "uv lock"]
    if tool == "poetry":
        if pkg.direct:
            return [f'poetry add "{pin}"']
        return [
            f"# {pkg.name} is transitive: pin it as an explicit constraint, then re-lock",
            f'poetry add --lock "{pin}"',
        ]
    if tool == "pdm":
        if pkg.direct:
            return [f'pdm add "{pin}"']
        return [f'# pyproject.toml: [tool.pdm.resolution.overrides] {pkg.name} = "=={want}"', "pdm lock"]
    if tool == "pipenv":
        if pkg.direct:
            return [f'pipenv install "{pin}"']
        return [f'pipenv upgrade "{pin}"']
    if tool == "pylock":
        return [f"echo '{pin}' >> constraints.txt", "pip lock -c constraints.txt ."]
    source = lock.path.with_suffix(".in").name
    return [f"pip-compile --upgrade-package '{pin}' {source}"]
