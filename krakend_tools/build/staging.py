"""One target's staging folder and ``build.log``, and publishing them into its output folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from krakend_tools.build.options import Events
from krakend_tools.report import Finding


class Staging:
    """One target's staging folder and ``build.log``; publishes the log, whatever happens."""

    def __init__(self, name: str, out_dir: Path, events: Events) -> None:
        self.name, self.out_dir, self.events = name, out_dir, events
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        self._lock = threading.Lock()
        self._fh = (self.folder / "build.log").open("w")

    def step(self, text: str) -> None:
        """Say what the target is doing now."""
        self.events.step(self.name, text)

    def log(self, line: str) -> None:
        """One line of the build log: to ``build.log`` and to whoever shows it."""
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()
        self.events.log(self.name, line)

    def close(self, finding: Finding) -> None:
        """Move ``build.log`` into the output folder (named in ``finding``); drop the staging folder."""
        with self._lock:
            self._fh.close()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.folder / "build.log"), self.out_dir / "build.log")
            finding.details["log"] = str(self.out_dir / "build.log")
            chown_tree(self.out_dir)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def publish(files: list[Path], out_dir: Path) -> None:
    """Move complete artifacts into ``out_dir`` (old artifacts there are replaced)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        if old.name != "build.log" and old.is_file():
            old.unlink()
    for f in files:
        tmp = out_dir / f".{f.name}.part"
        shutil.move(str(f), tmp)
        os.replace(tmp, out_dir / f.name)  # atomic on one filesystem


def _owner() -> tuple[int, int] | None:
    """Under sudo, hand outputs back to the user who called it."""
    if os.geteuid() == 0 and os.environ.get("SUDO_UID", "").isdigit():
        return int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", "0") or 0)
    return None


def chown_tree(path: Path) -> None:
    """Under sudo, ``path`` and what it holds belong to the calling user (links not followed)."""
    owner = _owner()
    if owner is None:
        return
    for p in [path, *path.rglob("*")]:
        with contextlib.suppress(OSError):
            os.chown(p, *owner, follow_symlinks=False)
