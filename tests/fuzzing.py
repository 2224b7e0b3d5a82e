"""The fuzz harness shared by ``tests/test_fuzz.py`` (hypothesis) and ``bench/fuzz.py``.

A case is bytes mutated from a real seed (a real lockfile, manifest, compiled ``.so`` or
wheel), written to a scratch folder and given to the real CLI entry point in-process
(:func:`krakend_tools.cli.main.main`), exactly as a user's argv would. The exit code is the
verdict: 0/1 results, 2 bad input with exactly one stderr line, 3 a bug (a traceback file).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

LOCKFILE_NAMES = ("uv.lock", "poetry.lock", "pylock.toml", "pdm.lock", "Pipfile.lock", "requirements.txt")
# Tokens a hostile user types: nesting, huge numbers, NUL, BOM, newlines, wrong types, includes.
TOKENS = [
    b"[" * 2000,
    b"{a=" * 500,
    b"(" * 500,
    b"9" * 5000,
    b"\0",
    b"\xef\xbb\xbf",
    b"\n",
    b"\r",
    b"\xff\xfe",
    b"\xed\xa0\x80",
    b"-r ",
    b"-r inc.txt\n",
    b"-r /dev/zero\n",
    b"-c ",
    b"marker = { a = 1 }",
    b"extra = { a = 1 }",
    b'"',
    b"'",
    b"\\",
    b" ; ",
    b"==",
    b"===",
    b">=",
    b"@ file:///x",
    b"#egg=",
    b'version = "',
    b"[[package]]\n",
    b"name = ",
    b"null",
    b"true",
    b"1e999",
    b"-1",
    b"[]",
    b"{}",
    b'"\\ud800"',
    b"\x7fELF",
    b"PK\x03\x04",
    b"\xff" * 8,
    b"\0" * 8,
    b"\x01" * 8,
]


@dataclass(frozen=True)
class Seeds:
    """Real inputs the mutations start from, plus the files every case needs."""

    folder: Path  # scratch
    manifest: Path  # the host's manifest, import phase disabled (static checks only)
    manifest_bytes: bytes
    lockfiles: dict[str, list[bytes]]  # file name -> real lockfiles of that format
    elves: list[bytes]  # compiled shared objects
    wheels: list[bytes]
    small_lock: Path


def _compile(out: Path, source: str) -> bytes | None:
    src = out.with_suffix(".c")
    src.write_text(source)
    try:
        subprocess.run(
            ["cc", "-shared", "-fPIC", "-O1", "-o", str(out), str(src)], check=True, capture_output=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.read_bytes()


C_SOURCE = """
#define _GNU_SOURCE
#include <sys/mman.h>
#include <stdio.h>
int make_anonymous_file(void) { return memfd_create("krakend-fuzz", 0); }
void *PyInit_plug(void) { printf("x"); return 0; }
"""


def make_seeds(folder: Path) -> Seeds:
    """Collect the seeds: fixtures' lockfiles, a manifest of this host, ELF compiled now."""
    from krakend_tools.manifest.facts import from_facts, introspect

    folder.mkdir(parents=True, exist_ok=True)
    data = from_facts(introspect(None)).to_dict()
    data["python"]["executable"] = "/nonexistent/python3"  # no import phase: static only
    manifest_bytes = json.dumps(data, indent=1).encode()
    manifest = folder / "gateway.json"
    manifest.write_bytes(manifest_bytes)
    lockfiles: dict[str, list[bytes]] = {name: [] for name in LOCKFILE_NAMES}
    for path in sorted(FIXTURES.rglob("*")):
        name = path.name
        key = "pylock.toml" if name.startswith("pylock.") and name.endswith(".toml") else name
        if key in lockfiles and path.is_file() and path.stat().st_size < 400_000:
            lockfiles[key].append(path.read_bytes())
    lockfiles["requirements.txt"].append(b"six==1.16.0\n-r inc.txt\n-c inc.txt\n")
    elves = [e for e in [_compile(folder / "seed.so", C_SOURCE)] if e]
    if not elves:  # no compiler: a real shared object of this host
        elves.append(Path(sys.executable).resolve().read_bytes()[:200_000])
    wheel = folder / "seed.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("plug.cpython-311-x86_64-linux-gnu.so", elves[0])
        zf.writestr("plug_py/__init__.py", "class HandlerRegisterer: pass\n")
        zf.writestr("plug-1.0.dist-info/top_level.txt", "plug\nplug_py\n")
        zf.writestr("plug-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: cp311-cp311-linux\n")
        zf.writestr("plug-1.0.data/scripts/run", "#!/bin/sh\n")
    small = folder / "small" / "requirements.txt"
    small.parent.mkdir(exist_ok=True)
    small.write_text("six==1.16.0\nurllib3==2.2.1 ; python_version >= '3.8'\n")
    return Seeds(folder, manifest, manifest_bytes, lockfiles, elves, [wheel.read_bytes()], small)


# --- mutations ------------------------------------------------------------------------------

Mutation = tuple[int, float, int, bytes]  # (kind, where 0..1, length, payload)


def mutate(data: bytes, mutations: Sequence[Mutation]) -> bytes:
    """Apply byte-level mutations: flip, insert, delete, duplicate, token, truncate."""
    buf = bytearray(data)
    for kind, where, length, payload in mutations:
        at = int(where * len(buf)) if buf else 0
        kind %= 6
        if kind == 0 and buf:  # overwrite
            buf[at : at + len(payload)] = payload
        elif kind == 1:  # insert
            buf[at:at] = payload
        elif kind == 2:  # delete a span
            del buf[at : at + length]
        elif kind == 3 and buf:  # duplicate a span
            buf[at:at] = buf[at : at + length] * (1 + length % 4)
        elif kind == 4:  # a hostile token
            buf[at:at] = TOKENS[length % len(TOKENS)]
        else:  # truncate
            del buf[at:]
    return bytes(buf)


def random_mutations(rng: random.Random, count: int | None = None) -> list[Mutation]:
    out = []
    for _ in range(count if count is not None else rng.choice((1, 1, 2, 3, 5, 8))):
        size = rng.choice((1, 1, 2, 4, 8, 64))
        out.append((rng.randrange(6), rng.random(), rng.randrange(256), bytes(rng.randrange(256) for _ in range(size))))
    return out


def mutate_json(data: object, rng: random.Random) -> object:
    """Replace one leaf or key of a JSON document with a hostile value."""
    hostile: list[object] = [
        None,
        True,
        0,
        -1,
        10**40,
        1.5e308,
        "",
        "x" * 10_000,
        "3.11.7junk",
        "a\0b",
        "cp-311",
        "\ud800",
        "GLIBC-2.10000000",
        [],
        {},
        [[[[1]]]],
        {"a": {"b": {}}},
        "9" * 5000,
        "../../etc/passwd",
        "\n",
    ]
    if isinstance(data, dict) and data:
        key = rng.choice(list(data))
        if rng.random() < 0.6:
            return {**data, key: mutate_json(data[key], rng)}
        if rng.random() < 0.5:
            return {k: v for k, v in data.items() if k != key}
        return {**data, rng.choice(["extra", "", "\0"]): rng.choice(hostile)}
    if isinstance(data, list) and data:
        i = rng.randrange(len(data))
        return data[:i] + [mutate_json(data[i], rng)] + data[i + 1 :]
    return rng.choice(hostile)


# --- running a case -------------------------------------------------------------------------


@dataclass
class Verdict:
    code: int
    stderr: str


def run_cli(argv: list[str]) -> Verdict:
    """``krakend ARGV`` in-process: its exit code and stderr."""
    from krakend_tools.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return Verdict(code, err.getvalue())


def check_verdict(verdict: Verdict) -> None:
    """The promise: 0/1/2 only; a 2 is exactly one line on stderr."""
    assert verdict.code in (0, 1, 2), verdict.stderr
    if verdict.code == 2:
        assert verdict.stderr.count("\n") == 1 and verdict.stderr.endswith("\n"), verdict.stderr


def _fresh(folder: Path) -> Path:
    """``folder``, emptied (kept: removing folders is slow on some file systems)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)
    return folder


def lockfile_case(seeds: Seeds, name: str, data: bytes, include: bytes = b"") -> Verdict:
    folder = _fresh(seeds.folder / "case")
    (folder / name).write_bytes(data)
    (folder / "inc.txt").write_bytes(include or b"six==1.16.0\n")
    return run_cli(["check-plugin", "-s", str(folder / name), "--manifest", str(seeds.manifest)])


def manifest_case(seeds: Seeds, data: bytes) -> Verdict:
    folder = _fresh(seeds.folder / "case")
    (folder / "gateway.json").write_bytes(data)
    verdict = run_cli(
        ["check-plugin", "-s", str(seeds.small_lock), "--manifest", str(folder / "gateway.json"), "-f", "-o", "json"]
    )
    if verdict.code in (0, 1):  # what loaded must hold everywhere downstream
        text = run_cli(
            [
                "check-plugin",
                "-s",
                str(seeds.small_lock),
                "--manifest",
                str(folder / "gateway.json"),
                "-g",
                "3.12",
                "-l",
                "GLIBC-2.17",
            ]
        )
        if text.code not in (0, 1):
            return text
    return verdict


def elf_case(seeds: Seeds, data: bytes) -> Verdict:
    folder = _fresh(seeds.folder / "case")
    path = folder / "plug.cpython-311-x86_64-linux-gnu.so"
    path.write_bytes(data)
    return run_cli(["test-plugin", "-s", "-o", "json", "--manifest", str(seeds.manifest), str(path)])


def wheel_case(seeds: Seeds, data: bytes) -> Verdict:
    folder = _fresh(seeds.folder / "case")
    path = folder / "plug-1.0-cp311-cp311-linux_x86_64.whl"
    path.write_bytes(data)
    return run_cli(["test-plugin", "-s", "--manifest", str(seeds.manifest), str(path)])


TARGETS: dict[str, Callable[[Seeds, random.Random], Verdict]] = {}


def _lockfile_random(seeds: Seeds, rng: random.Random) -> Verdict:
    name = rng.choice(LOCKFILE_NAMES)
    seed = rng.choice(seeds.lockfiles[name] or [b""])
    include = mutate(b"six==1.16.0\n-r inc.txt\n", random_mutations(rng)) if rng.random() < 0.2 else b""
    return lockfile_case(seeds, name, mutate(seed, random_mutations(rng)), include)


def _manifest_random(seeds: Seeds, rng: random.Random) -> Verdict:
    if rng.random() < 0.5:
        doc = json.loads(seeds.manifest_bytes)
        for _ in range(rng.choice((1, 1, 2, 3))):
            doc = mutate_json(doc, rng)
        data = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    else:
        data = mutate(seeds.manifest_bytes, random_mutations(rng))
    return manifest_case(seeds, data)


def _elf_random(seeds: Seeds, rng: random.Random) -> Verdict:
    seed = rng.choice(seeds.elves)
    mutations = random_mutations(rng)
    # Most of what the reader walks sits in the first pages: aim half the mutations there.
    mutations = [
        (k, w * 0.05 if rng.random() < 0.5 else w, n, p) for k, w, n, p in mutations if k % 6 != 5 or rng.random() < 0.2
    ]
    return elf_case(seeds, mutate(seed, mutations))


def rebuild_wheel(seed: bytes, rng: random.Random) -> bytes:
    """A well-formed zip whose members (contents, names, compression) are mutated
    (the seed itself when zipfile cannot write the mutated name)."""
    try:
        return _rebuild(seed, rng)
    except (ValueError, IndexError, OSError):
        return seed


def _rebuild(seed: bytes, rng: random.Random) -> bytes:
    with zipfile.ZipFile(io.BytesIO(seed)) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    i = rng.randrange(len(members))
    name, data = members[i]
    if rng.random() < 0.3:
        name = mutate(name.encode(), random_mutations(rng, 1)).decode("utf-8", "replace")
    else:
        data = mutate(data, random_mutations(rng))
    members[i] = (name, data)
    method = rng.choice((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, data in members:
            zf.writestr(name or "x", data)
    return out.getvalue()


def _wheel_random(seeds: Seeds, rng: random.Random) -> Verdict:
    seed = rng.choice(seeds.wheels)
    if rng.random() < 0.5:
        return wheel_case(seeds, rebuild_wheel(seed, rng))
    mutations = random_mutations(rng)
    if rng.random() < 0.5:  # aim at the central directory at the end
        mutations = [(k % 5, 0.8 + w * 0.2, n, p) for k, w, n, p in mutations]
    return wheel_case(seeds, mutate(seed, mutations))


TARGETS.update(lockfile=_lockfile_random, manifest=_manifest_random, elf=_elf_random, wheel=_wheel_random)


def clear_caches() -> None:
    """Drop the parsers' memo tables (a long fuzz run would otherwise count them as RSS)."""
    from krakend_tools.lockfiles import _common

    _common._MARKERS.clear()
    _common._NAMES.clear()


def scratch_env(folder: Path) -> None:
    """Traceback files of internal errors go to ``folder``."""
    os.environ["TMPDIR"] = str(folder)
    import tempfile

    tempfile.tempdir = None
