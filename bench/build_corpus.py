"""``krakend build`` on the corpus of real sdists (scripts/fetch-corpus.py): a table project x
target with the result (OK/KO and, for a KO, its decisive line), the wheel's tag, and the
seconds of a cold build (the builders' cache volume removed first: pip, zig and ccache) and a warm one (the same
build again), and how many of the warm build's compilations ccache reused.

The builder and runtime images are made once before the table (bench/build.py measures their
cold start). The projects are libraries, not plugins: ``--no-test`` unless ``--test``.
Needs DOCKER_HOST and KRAKEND_IMAGE_REGISTRY (scripts/docker-env.sh, scripts/local-registry.sh,
scripts/make-base-images.sh); the gateway manifest is made for the registry's Python.
Usage: python bench/build_corpus.py [-t all|TARGET]... [--only NAME]... [--skip-cold] [--test]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from build import served_python  # bench/build.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
CACHE_VOLUME = "krakend-tools-bench-cache"  # its own: dropping it for a cold build touches no other build
ENV = {**os.environ, "NO_COLOR": "1", "KRAKEND_CACHE_VOLUME": CACHE_VOLUME}
TARGETS = ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64")


@dataclass
class Cell:
    """One build of one project for one target."""

    ok: bool
    message: str
    tag: str
    cold: float
    warm: float
    reused: str


def fetch_corpus(only: list[str]) -> list[Path]:
    cmd = [sys.executable, str(ROOT / "scripts" / "fetch-corpus.py"), *[a for n in only for a in ("--only", n)]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"fetch-corpus failed: {proc.stderr.strip()}")
    return [Path(line) for line in proc.stdout.split()]


def unpack(sdist: Path, work: Path) -> Path:
    """The project folder inside the sdist, unpacked under ``work``."""
    dest = work / sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as tf:
        tf.extractall(dest, filter="data")
    (top,) = [p for p in dest.iterdir() if p.is_dir()]
    return top


def gateway(work: Path) -> Path:
    """A gateway manifest for the Python the registry's images carry (glibc 2.36)."""
    lock = ROOT / "fixtures" / "gateway" / "uv.lock"
    cmd = [sys.executable, "-m", "krakend_tools", "version", "--from-lock", str(lock), "--target", "generic/amd64"]
    cmd += ["--python-version", served_python(), "--libc", "GLIBC-2.36", "-o", "json"]
    path = work / "gateway.json"
    path.write_text(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return path


def krakend_build(project: Path, target: str, out: Path, test: bool) -> tuple[float, dict[str, object]]:
    """Wall time and the finding of one ``krakend build`` (exit 2/3: the stderr line)."""
    cmd = [sys.executable, "-m", "krakend_tools", "build", str(project), "-t", target, "--out", str(out)]
    cmd += ["-o", "json", *([] if test else ["--no-test"])]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    wall = time.monotonic() - start
    if proc.returncode not in (0, 1):
        return wall, {"ok": False, "message": (proc.stderr.strip().splitlines() or ["no output"])[-1], "details": {}}
    findings = json.loads(proc.stdout)["findings"]
    return wall, findings[0]


def wheel_tag(finding: dict[str, object]) -> str:
    details = finding.get("details")
    artifact = str(details.get("artifact") or "") if isinstance(details, dict) else ""
    if not artifact.endswith(".whl"):
        return "-"
    from packaging.utils import parse_wheel_filename

    _name, _version, _build, tags = parse_wheel_filename(artifact)
    return ".".join(sorted({f"{t.interpreter}-{t.abi}-{t.platform}" for t in tags}))[:60]


def reused(out: Path, target: str) -> str:
    """``hits/compilations`` of the last build, from its build.log (``-`` when none compiled)."""
    log = out / target.replace("/", "-") / "build.log"
    text = log.read_text(errors="replace") if log.is_file() else ""
    found = re.search(r"# compiler cache: (\d+) of (\d+) compilations reused", text)
    return f"{found[1]}/{found[2]}" if found else "-"


def drop_cache() -> None:
    subprocess.run(["docker", "volume", "rm", "-f", CACHE_VOLUME], capture_output=True, env=ENV)


def measure(project: Path, target: str, out: Path, args: argparse.Namespace) -> Cell:
    cold = float("nan")
    if not args.skip_cold:
        drop_cache()
        cold, _ = krakend_build(project, target, out, args.test)
    warm, finding = krakend_build(project, target, out, args.test)
    message = str(finding.get("message") or "")
    return Cell(bool(finding.get("ok")), message, wheel_tag(finding), cold, warm, reused(out, target))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-t", "--target", action="append", default=[], help="a target, or all (default: all)")
    parser.add_argument("--only", action="append", default=[], help="only this project (repeatable)")
    parser.add_argument("--skip-cold", action="store_true", help="warm builds only")
    parser.add_argument("--test", action="store_true", help="also import-test each wheel in its runtime image")
    args = parser.parse_args()
    targets = [t for t in args.target if t != "all"] or list(TARGETS)
    if "all" in args.target:
        targets = list(TARGETS)
    sdists = fetch_corpus(args.only)
    work = Path(tempfile.mkdtemp(prefix="krakend-corpus-bench-"))
    try:
        ENV["KRAKEND_MANIFEST"] = str(gateway(work))
        header = f"{'project':<28} {'target':<14} {'result':<6} {'cold s':>7} {'warm s':>7} {'reused':>7}"
        print(f"{header}  tag / reason", flush=True)
        failed = 0
        for sdist in sdists:
            project = unpack(sdist, work)
            for target in targets:
                out = work / "out" / project.name
                cell = measure(project, target, out, args)
                failed += not cell.ok
                detail = cell.tag if cell.ok else cell.message.replace("\n", " ")[:110]
                result = "OK" if cell.ok else "KO"
                print(
                    f"{project.name:<28} {target:<14} {result:<6} {cell.cold:>7.1f} {cell.warm:>7.1f} "
                    f"{cell.reused:>7}  {detail}",
                    flush=True,
                )
        print(f"\n{failed} of {len(sdists) * len(targets)} builds KO")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if not os.environ.get("DOCKER_HOST"):
        sys.exit('DOCKER_HOST is not set: eval "$(scripts/docker-env.sh env)"')
    sys.exit(main())
