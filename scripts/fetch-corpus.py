#!/usr/bin/env python3
"""Fetch the corpus of real sdists ``krakend build`` is proven on (bench/build_corpus.py).

Each entry is pinned by name, version and sha256, and says what it covers (plain C calling
libc, C++, Cython with Cython in its build requirements, setuptools-scm versioning, an optional
extension, ctypes-loaded libraries, abi3, a system-library need). The sdists are fetched with
pip (``pip download --no-deps --no-binary NAME``, so pip's index configuration applies), checked
against their sha256 and kept in DEST (default ``.cache/corpus``): a warm run fetches nothing.

Usage: scripts/fetch-corpus.py [--dest DIR] [--only NAME]... [--pin]
``--pin`` prints the table with the sha256 of what the index serves now (to update CORPUS).
Exit 0: every sdist is cached and verified; 1: a download or a checksum failed.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sdist:
    name: str
    version: str
    sha256: str
    covers: str


CORPUS = [
    Sdist("markupsafe", "3.0.4", "2e9ad7dd851bf45fab9f75cbff4cb493fee9979e8d8c7c9c3ee119022518edd6", "plain C, small"),
    Sdist(
        "msgpack",
        "1.2.4",
        "475c44e12f2a5de766a8448783f149c9b33f3f49b88953c6cd739a77d93c732c",
        "C++ (generated sources shipped) calling libc and libstdc++",
    ),
    Sdist(
        "greenlet",
        "3.5.6",
        "8e67c43bdfc88d5fee6db0d3e40175b362fc95fb85f0412d233b9b203c53a575",
        "C++ with inline assembly, optional C extensions for tests",
    ),
    Sdist(
        "cytoolz",
        "1.2.0",
        "fdd8ded8a93e1be009577fccddaacf78aa21cbe7dc6ec53c229def0198a1ffa5",
        "Cython with Cython in [build-system] requires",
    ),
    Sdist(
        "ujson",
        "6.1.0",
        "aef7ea4cd9e2e9f8a35c4538a9780d58c80d76c5da66a8dad269b4cc6d930c29",
        "plain C calling libc, setuptools-scm version",
    ),
    Sdist(
        "google-crc32c",
        "1.9.0",
        "7b8c84c3d159ab6817fe3f74e6e6cef099c3f95dcec3abc0d8afb1404642efbe",
        "optional extension needing libcrc32c (falls back to pure Python)",
    ),
    Sdist(
        "pycryptodome",
        "4.4.0",
        "eab7620c60c85f3fa251d026ec06e094f036d96187bebb9752e46fbcebabbb55",
        "ctypes-loaded libraries (no PyInit_), abi3 tag",
    ),
    Sdist(
        "bitarray", "3.12.3", "919e35a951c0a551631b94bf568f3f5e38d004e0c60866cb2ca51bd8c4778fec", "plain C calling libc"
    ),
    Sdist(
        "zstandard",
        "0.25.0",
        "7713e1179d162cf5c7906da876ec2ccb9c3a9dcbdffef0cc7f70c3667a205f0b",
        "compile-heavy C (cold vs warm rebuild), cffi in requires",
    ),
    Sdist(
        "pyyaml",
        "6.0.4",
        "e24bf71af8a432d7808fabff134d38dfe16d3cbb41f2873bb4b1e42422de0a1a",
        "optional extension needing libyaml (a system library), Cython in requires",
    ),
    Sdist(
        "lxml",
        "6.1.3",
        "45222d94ddd511536f3b2f7d9deae3b2339b4ce0f075f1ca25703b07cad9dd21",
        "system libraries: libxml2, libxslt; Cython in requires",
    ),
    Sdist(
        "levenshtein",
        "0.27.5",
        "22021caf5867a46fae5ab927bbdcb430599d7e5ee3898449cbbe430ff07b7d08",
        "scikit-build-core + CMake (cmake and ninja from get_requires_for_build_wheel), C++17 with IPO",
    ),
]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached(dest: Path, sdist: Sdist) -> Path | None:
    """The cached sdist of ``sdist`` whose checksum is right, if any."""
    for path in sorted(dest.glob("*.tar.gz")) + sorted(dest.glob("*.zip")):
        if sdist.sha256 and file_sha256(path) == sdist.sha256:
            return path
    return None


def download(sdist: Sdist, dest: Path) -> Path:
    """``pip download`` of the sdist into a fresh folder; the path of what pip saved."""
    with tempfile.TemporaryDirectory(prefix="krakend-corpus-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", sdist.name]
        cmd += ["-d", tmp, f"{sdist.name}=={sdist.version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        saved = sorted(Path(tmp).iterdir())
        if proc.returncode != 0 or len(saved) != 1:
            last = (proc.stderr.strip().splitlines() or ["no sdist saved"])[-1]
            raise RuntimeError(f"{sdist.name}=={sdist.version}: pip download failed: {last}")
        target = dest / saved[0].name
        saved[0].replace(target)
        return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".cache" / "corpus")
    parser.add_argument("--only", action="append", default=[], help="fetch only this project (repeatable)")
    parser.add_argument("--pin", action="store_true", help="print the sha256 of what the index serves now")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    failed = 0
    for sdist in CORPUS:
        if args.only and sdist.name not in args.only:
            continue
        path = None if args.pin else cached(args.dest, sdist)
        try:
            path = path or download(sdist, args.dest)
        except RuntimeError as err:
            print(f"fetch-corpus: {err}", file=sys.stderr)
            failed += 1
            continue
        digest = file_sha256(path)
        if args.pin:
            print(f'    Sdist("{sdist.name}", "{sdist.version}", "{digest}", "{sdist.covers}"),')
        elif digest != sdist.sha256:
            print(f"fetch-corpus: {path.name}: sha256 {digest}, pinned {sdist.sha256}", file=sys.stderr)
            path.unlink()
            failed += 1
        else:
            print(path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
