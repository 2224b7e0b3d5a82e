"""The plugin's source as the builder gets it, and the artifacts it gives back."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

EXCLUDE = {
    ".git",
    ".venv",
    "venv",
    "dist",
    "build",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    "node_modules",
}
MAX_SOURCE_BYTES = 512 * 1024 * 1024  # the plugin's source, as sent to the builder (in memory)
COMPILED_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".pyx")
NOT_BUILT = {"test", "tests", "testing", "doc", "docs", "example", "examples", "bench", "benchmarks", "benchmark"}
PROJECT_FILES = ("pyproject.toml", "setup.py")


def is_python_project(folder: Path) -> bool:
    """Whether ``folder`` has a ``pyproject.toml`` or ``setup.py``."""
    return any((folder / name).is_file() for name in PROJECT_FILES)


def _excluded(name: str) -> bool:
    return name in EXCLUDE or name.endswith(".egg-info")


def source_size(plugin_dir: Path, limit: int) -> int:
    """The bytes :func:`source_tar` would send, counted until past ``limit``."""
    total = 0
    for folder, dirs, files in os.walk(plugin_dir):
        dirs[:] = [d for d in dirs if not _excluded(d)]
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
            if total > limit:
                return total
    return total


def source_tar(plugin_dir: Path, skip: list[Path]) -> bytes:
    """The plugin source as ``src/...`` plus an empty ``out/``, for ``put_archive``."""
    buf = io.BytesIO()
    skip_resolved = {p.resolve() for p in skip}

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if any(_excluded(part) for part in Path(info.name).parts[1:]):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry in sorted(plugin_dir.iterdir()):
            if entry.resolve() in skip_resolved:
                continue
            tar.add(entry, arcname=f"src/{entry.name}", filter=keep)
        out = tarfile.TarInfo("out")
        out.type, out.mode = tarfile.DIRTYPE, 0o777
        tar.addfile(out)
    return buf.getvalue()


def compiled_sources(plugin_dir: Path, limit: int = 20) -> list[str]:
    """C, C++ and Cython sources of the project (not its tests, docs or examples)."""
    found: list[str] = []
    for folder, dirs, files in os.walk(plugin_dir):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDE and d.lower() not in NOT_BUILT and not d.startswith("."))
        rel = Path(folder).relative_to(plugin_dir)
        found += [str(rel / f) for f in sorted(files) if f.endswith(COMPILED_SUFFIXES)]
        if len(found) >= limit:
            break
    return found[:limit]


def untar_artifacts(data: bytes, dest: Path) -> list[Path]:
    """A ``/out/.`` tar from the container into ``dest``; the top-level files there."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        for m in members:
            m.name = m.name[2:] if m.name.startswith("./") else m.name
        tar.extractall(dest, members=[m for m in members if m.name not in ("", ".")], filter="data")
    return sorted(p for p in dest.iterdir() if p.is_file() and not p.name.startswith("."))
