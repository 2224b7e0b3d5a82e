"""Every input within 20 s and 500 MB, and a CLI that never ends silently: the real CLI in a
subprocess on extreme flag values, hanging or fake interpreters, ELF files with hostile
version tables and a leftover shell-completion variable."""

from __future__ import annotations
import __future__

import ast
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from krakend_tools.elf import ElfError, read_elf_bytes
from tests.conftest import FIXTURES, ROOT, alive, krakend_argv, run_krakend
from tests.test_static import need

SECONDS = 20  # every input is answered within this
MAX_RSS_KIB = 500 * 1024


def run_measured(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, float, int]:
    """(exit code, stderr, seconds, max RSS in KiB) of the CLI run with ``args``."""
    code = (
        "import resource, subprocess, sys, time; t = time.monotonic(); "
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
        "print(p.returncode, time.monotonic() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.stdout.write(p.stderr)"
    )
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("KRAKEND_MANIFEST", None)
    with subprocess.Popen(
        [sys.executable, "-c", code, *krakend_argv(), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=ROOT,
        start_new_session=True,  # a CLI past the timeout is killed with its group
    ) as proc:
        try:
            out = proc.communicate(timeout=timeout)[0]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    head, _, stderr = out.partition("\n")
    rc, seconds, rss = head.split()
    return int(rc), stderr, float(seconds), int(rss)


def one_line_exit_2(rc: int, stderr: str, *words: str) -> None:
    assert rc == 2, (rc, stderr)
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    for word in words:
        assert word in stderr, stderr


# --- the wheel-tag set for extreme -g / -l values -------------------------------------------

LOCK = str(FIXTURES / "plugins" / "csv-export" / "requirements.txt")
GATEWAY_LOCK = str(FIXTURES / "gateway" / "uv.lock")
FROM_LOCK = ["version", "-o", "json", "--from-lock", GATEWAY_LOCK, "--target"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["check-plugin", "--manifest", "host", "-s", LOCK, "-g", "3.999", "-l", "GLIBC-2.999"], ["2.999"]),
        (["check-plugin", "--manifest", "host", "-s", LOCK, "-g", "3.999", "-l", "MUSL-1.999"], ["1.999"]),
        (["check-plugin", "--manifest", "host", "-s", LOCK, "-g", "999.999"], ["999.999"]),
        ([*FROM_LOCK, "generic/amd64", "--python-version", "3.999.0", "--libc", "GLIBC-2.999"], ["2.999"]),
        ([*FROM_LOCK, "alpine/arm64", "--python-version", "3.999.0", "--libc", "MUSL-1.999"], ["1.999"]),
    ],
    ids=["glibc", "musl", "python", "from-lock-glibc", "from-lock-musl"],
)
def test_extreme_versions_are_refused_within_bounds(args: list[str], words: list[str]) -> None:
    rc, stderr, seconds, rss = run_measured(*args)
    one_line_exit_2(rc, stderr, *words)
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


def test_the_largest_versions_allowed_stay_within_bounds() -> None:
    rc, stderr, seconds, rss = run_measured(
        *FROM_LOCK, "generic/amd64", "--python-version", "3.99.0", "--libc", "GLIBC-2.99"
    )
    assert rc == 0, stderr
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


# --- ELF files with hostile version tables ----------------------------------------------------

BLOB_VADDR = 0x40000000
LONG_STRINGS = 4 << 20  # a dynamic string table of one name without a NUL: every name runs to its end
_PT_NOTE = 4
_VERNEED, _VERNEEDNUM, _VERDEF, _VERDEFNUM = 0x6FFFFFFE, 0x6FFFFFFF, 0x6FFFFFFC, 0x6FFFFFFD
_HASH, _STRTAB, _SYMTAB, _STRSZ, _SYMENT = 4, 5, 6, 10, 11
_ADDRESSES = {_HASH, _STRTAB, _SYMTAB, _VERNEED, _VERDEF}


def compile_so(out: Path, source: str, *flags: str) -> Path:
    gcc = need("gcc")
    proc = subprocess.run([gcc, "-shared", "-fPIC", "-O0", "-o", str(out), source, *flags], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    return out


def with_blob(so: bytes, blob: bytes, tags: dict[int, int]) -> bytes:
    """``so`` (a gcc-built ELF64 DYN) with ``blob`` appended and mapped by its PT_NOTE turned
    into a PT_LOAD, and ``tags`` set in its dynamic segment (an address tag's value: an
    offset in ``blob``)."""
    data = bytearray(so)
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    headers = [phoff + i * phentsize for i in range(phnum)]
    kinds = {struct.unpack_from("<I", data, at)[0]: at for at in reversed(headers)}
    start = (len(data) + 0xFFF) & ~0xFFF
    struct.pack_into("<IIQQQQQQ", data, kinds[_PT_NOTE], 1, 4, start, BLOB_VADDR, BLOB_VADDR, len(blob), len(blob), 8)
    dynamic = struct.unpack_from("<Q", data, kinds[2] + 8)[0]
    values = {t: v + BLOB_VADDR if t in _ADDRESSES else v for t, v in tags.items()}
    entries = list(struct.iter_unpack("<qQ", data[dynamic : dynamic + 16 * 64]))
    entries = [(t, v) for t, v in entries[: [t for t, _ in entries].index(0)] if t not in values]
    entries += [*values.items(), (0, 0)]
    struct.pack_into(f"<{2 * len(entries)}Q", data, dynamic, *(x & (1 << 64) - 1 for e in entries for x in e))
    return bytes(data + b"\0" * (start - len(data)) + blob)


def with_long_strings(so: bytes, records: bytes, tags: dict[int, int]) -> bytes:
    """``so`` whose dynamic string table is one NUL-less name (every name runs to its end),
    followed by ``records`` (the offset tags point in them)."""
    moved = {t: v + LONG_STRINGS if t in _ADDRESSES else v for t, v in tags.items()}
    return with_blob(so, b"\0" + b"A" * (LONG_STRINGS - 1) + records, {5: 0, 10: LONG_STRINGS} | moved)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real shared library with a version need (GLIBC_2.34): the base every hostile file patches."""
    return compile_so(tmp_path_factory.mktemp("elf") / "base.so", str(FIXTURES / "elf" / "needs234.c")).read_bytes()


# 65,536 identical records, read as verneed (65,535 aux each) and as vernaux, each naming offset 16
NEED_CHAIN = (struct.pack("<HHIII", 1, 0xFFFF, 0, 16, 16) * 65536, {_VERNEED: 0, _VERNEEDNUM: 65536})
# 65,536 verdefs, each one's verdaux the next record: a 4 MiB name each
DEF_CHAIN = (struct.pack("<HHHHIII", 1, 0, 2, 1, 0, 20, 20) * 65536, {_VERDEF: 0, _VERDEFNUM: 65536})


@pytest.mark.parametrize(("records", "tags"), [NEED_CHAIN, DEF_CHAIN], ids=["verneed", "verdef"])
def test_version_tables_naming_endless_strings(
    tmp_path: Path, compiled: bytes, host_manifest: Path, records: bytes, tags: dict[int, int]
) -> None:
    so = tmp_path / "plug.so"
    so.write_bytes(with_long_strings(compiled, records, tags))
    rc, stderr, seconds, rss = run_measured("test-plugin", "-s", "--manifest", str(host_manifest), str(so))
    assert rc == 1 and "Traceback" not in stderr, (rc, stderr)
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


def test_many_files_needing_one_missing_version(tmp_path: Path, host_manifest: Path) -> None:
    """Two modules each using 40,000 symbols of a version the gateway lacks: one line, in linear time."""
    n = 40_000
    (tmp_path / "lib.c").write_text("".join(f"int v{i};\n" for i in range(n)))
    (tmp_path / "lib.map").write_text("TINY_2.0 { global: *; };\n")
    lib = compile_so(
        tmp_path / "libtiny.so.1",
        str(tmp_path / "lib.c"),
        "-Wl,-soname,libtiny.so.1",
        f"-Wl,--version-script,{tmp_path / 'lib.map'}",
    )
    refs = ",".join(f"&v{i}" for i in range(n))
    (tmp_path / "plug.c").write_text("".join(f"extern int v{i};\n" for i in range(n)) + f"int *refs[] = {{{refs}}};\n")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    compile_so(pkg / "a.so", str(tmp_path / "plug.c"), str(lib))
    shutil.copy(pkg / "a.so", pkg / "b.so")
    manifest = json.loads(host_manifest.read_text())
    manifest["libraries"]["libtiny.so.1"] = {"path": "/opt/libtiny.so.1", "symbol_versions": ["TINY_1.0"]}
    gateway = tmp_path / "gateway.json"
    gateway.write_text(json.dumps(manifest))
    rc, stderr, seconds, rss = run_measured("test-plugin", "-s", "--manifest", str(gateway), str(pkg))
    assert rc == 1 and "Traceback" not in stderr, (rc, stderr)
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


def test_huge_symbol_tables_in_many_files(tmp_path: Path, compiled: bytes, host_manifest: Path) -> None:
    """Three modules of 2,000,000 symbols each (the most a hash table may count): read within
    bounds, their names decoded only when a check reads them."""
    n = 2_000_000 - 1
    names = b"\0" + b"".join(b"s%07d\0" % i for i in range(n))
    symbols = bytes(24) + b"".join(struct.pack("<IBBHQQ", 1 + 9 * i, 0x12, 0, 0, 0, 0) for i in range(n))
    blob = struct.pack("<II", 1, n + 1) + names + symbols
    so = with_blob(compiled, blob, {_HASH: 0, _STRTAB: 8, _STRSZ: len(names), _SYMTAB: 8 + len(names), _SYMENT: 24})
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.so").write_bytes(so)
    for name in ("b.so", "c.so"):
        os.link(pkg / "a.so", pkg / name)
    rc, stderr, seconds, rss = run_measured("test-plugin", "-s", "--manifest", str(host_manifest), str(pkg))
    assert rc in (0, 1) and "Traceback" not in stderr, (rc, stderr)
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


def test_many_members_full_of_version_entries(tmp_path: Path, compiled: bytes, host_manifest: Path) -> None:
    """A wheel of 1,800 modules, each with the 32,768 version needs a file may hold (a 10 MB
    wheel, 970 MB inflated): the plugin's entries are bounded in all, not only per file."""
    strings = bytearray(256)
    strings[1:11], strings[16:28], strings[135:145] = b"libc.so.6\0", b"GLIBC_2.2.5\0", b"libc.so.6\0"
    records = struct.pack("<HHIII", 1, 0xFFFF, 1, 16, 16) * 32768
    tags = {_STRTAB: 0, _STRSZ: len(strings), _VERNEED: len(strings), _VERNEEDNUM: 1}
    so = with_blob(compiled, bytes(strings) + records, tags)
    wheel = tmp_path / "plug-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(1800):
            zf.writestr(f"plug/m{i}.so", so)
        zf.writestr("plug/__init__.py", "")
        zf.writestr("plug-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: plug\nVersion: 1.0\n")
        zf.writestr("plug-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("plug-1.0.dist-info/RECORD", "")
    rc, stderr, seconds, rss = run_measured("test-plugin", "-s", "--manifest", str(host_manifest), str(wheel))
    assert rc == 1 and "Traceback" not in stderr, (rc, stderr)
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


def test_thousands_of_rpath_folders_times_needed_names(tmp_path: Path, compiled: bytes, host_manifest: Path) -> None:
    """3,000 ``$ORIGIN`` RPATH folders and 3,000 needed names: each folder looked at once."""
    n = 3000
    strings = b"\0" + b"".join(b"lib%05d.so\0" % i for i in range(n))
    rpath = len(strings)
    strings += b":".join(b"$ORIGIN/d%05d" % i for i in range(n)) + b"\0"
    entries = [(1, 1 + 11 * i) for i in range(n)] + [(15, rpath), (5, BLOB_VADDR), (10, len(strings)), (0, 0)]
    dynamic = b"".join(struct.pack("<qQ", tag, value) for tag, value in entries)
    data = bytearray(with_blob(compiled, strings + dynamic, {}))
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    at = next(
        phoff + i * phentsize for i in range(phnum) if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 2
    )
    start = len(data) - len(dynamic)
    vaddr = BLOB_VADDR + len(strings)
    struct.pack_into("<IIQQQQQQ", data, at, 2, 6, start, vaddr, vaddr, len(dynamic), len(dynamic), 8)
    (tmp_path / "plug.so").write_bytes(data)
    rc, stderr, seconds, rss = run_measured(
        "test-plugin", "-s", "--manifest", str(host_manifest), str(tmp_path / "plug.so")
    )
    assert rc == 1 and "Traceback" not in stderr, (rc, stderr)
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


class _Slow(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _Slow


# A 16-byte record read as verneed (version, cnt, file, aux, next) or vernaux (hash, flags and
# other, name, next), or, shifted, as verdef/verdaux: values that chain, repeat, overlap or
# name the endless string.
RECORD = st.tuples(
    st.sampled_from([0, 1, 0xFFFF]),
    st.sampled_from([1, 2, 0xFFFF]),
    st.sampled_from([0, 16, 0x10001, LONG_STRINGS - 1]),
    st.sampled_from([16, 20, 1 << 31]),
    st.sampled_from([0, 8, 16, 20, 0xFFFFFFF0]),
)
COUNT = st.sampled_from([0, 1, 2, 4096, 65536, 1 << 20])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(st.tuples(RECORD, st.sampled_from([65536, 1, 2, 100])), min_size=1, max_size=3),
    tags=st.fixed_dictionaries(
        {
            _VERNEED: st.sampled_from([0, 16]),
            _VERNEEDNUM: COUNT,
            _VERDEF: st.sampled_from([0, 4, 16]),
            _VERDEFNUM: COUNT,
        }
    ),
)
@example(records=[((1, 0xFFFF, 0, 16, 16), 65536)], tags={_VERNEED: 0, _VERNEEDNUM: 1, _VERDEF: 0, _VERDEFNUM: 0})
@example(
    records=[((65535, 65535, LONG_STRINGS - 1, 16, 16), 1), ((1, 2, 16, 16, 16), 65536)],
    tags={_VERNEED: 16, _VERNEEDNUM: 1 << 20, _VERDEF: 4, _VERDEFNUM: 4096},
)
def test_random_version_tables_are_read_quickly(
    compiled: bytes, records: list[tuple[tuple[int, int, int, int, int], int]], tags: dict[int, int]
) -> None:
    body = b"".join(struct.pack("<HHIII", *record) * repeat for record, repeat in records)
    data = with_long_strings(compiled, body, tags)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(5)
    try:
        read_elf_bytes(data, "plug.so")
    except ElfError:
        pass
    except _Slow:
        pytest.fail("reading the version tables took more than 5 s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- a leftover shell-completion variable ------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["garbage", "bash_source", "source_bash", "complete_bash", "complete_zsh", "complete_fish"]
)
def test_leftover_completion_variable_runs_the_command(value: str) -> None:
    """A check run where CI left ``_KRAKEND_COMPLETE`` set (no COMP_WORDS/COMP_CWORD or
    _TYPER_COMPLETE_ARGS: not the shell asking) checks exactly as without it."""
    mismatched = FIXTURES / "plugins" / "win-agent" / "requirements.txt"  # msgpack, urllib3 differ
    args = ("check-plugin", "--manifest", str(FIXTURES / "gateway" / "manifest.json"), "-s", str(mismatched))
    plain = run_krakend(*args)
    assert plain.returncode == 1, plain.stderr
    left = run_krakend(*args, env={"_KRAKEND_COMPLETE": value})
    assert (left.returncode, left.stdout, left.stderr) == (plain.returncode, plain.stdout, plain.stderr)


# --- the gateway interpreter behind ``version --python`` ----------------------------------------


def fake_python(where: Path, name: str, body: str) -> Path:
    """An executable shell script standing in for a gateway interpreter."""
    path = where / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def kill_recorded(pid_files: list[Path]) -> list[int]:
    """Kill (by pid) what a fake interpreter recorded that still runs; the pids that did."""
    running = []
    for pid_file in pid_files:
        for line in pid_file.read_text().split() if pid_file.exists() else []:
            if line.isdigit() and alive(int(line)):
                running.append(int(line))
                os.kill(int(line), signal.SIGKILL)
    return running


HANGS = {
    "sleeps": "exec sleep 300",
    "floods": "exec yes",
    "escapes": 'setsid sh -c "echo \\$\\$ > {pid}; exec sleep 300" &\nexit 0',
    "escapes-and-sleeps": (
        'setsid sh -c "echo \\$\\$ >> {pid}; sleep 300 & echo \\$! >> {pid}; exec sleep 300" &\nexec sleep 300'
    ),
}


def test_hanging_interpreters_end_within_bounds(tmp_path: Path) -> None:
    """Interpreters that never answer, flood the pipe or leave a child in a new session
    holding it: one line and exit 2 within 20 s, and nothing they started left running."""
    pid_files = [tmp_path / f"{name}.pid" for name in HANGS]
    fakes = [
        fake_python(tmp_path, name, body.format(pid=pid))
        for (name, body), pid in zip(HANGS.items(), pid_files, strict=True)
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    plugin = ["test-plugin", "-s", "--manifest", "host", str(FIXTURES / "example-plugin"), "--python"]
    commands = [["version", "--python", str(fake)] for fake in fakes] + [[*plugin, str(fakes[0])]]
    procs = [
        subprocess.Popen(
            [*krakend_argv(), *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        for command in commands
    ]
    started = time.monotonic()
    results = []
    try:
        for proc in procs:
            stderr = proc.communicate(timeout=max(1.0, 40 - (time.monotonic() - started)))[1]
            results.append((proc.returncode, stderr, time.monotonic() - started))
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        left = kill_recorded(pid_files)
    for rc, stderr, seconds in results:
        one_line_exit_2(rc, stderr, ": error: ")
        assert seconds < SECONDS, (seconds, stderr)
    assert left == [], "processes the fake interpreters started were left running"


def test_an_old_python_says_so_in_one_line(tmp_path: Path) -> None:
    """The real introspection script run by an interpreter that reports Python 2.7."""
    code = (
        "import sys; sys.version_info = (2, 7, 18, 'final', 0); path = sys.argv[-1]; sys.argv = [path]; "
        "exec(compile(open(path).read(), path, 'exec'), {'__name__': '__main__', '__file__': path})"
    )
    fake = fake_python(tmp_path, "python2.7", f'exec {sys.executable} -I -c "{code}" "$@"')
    rc, stderr, _seconds, _rss = run_measured("version", "--python", str(fake))
    one_line_exit_2(rc, stderr, "Python 2.7.18 is older than 3.8")


def test_the_introspection_script_parses_on_any_python() -> None:
    """No syntax an old interpreter cannot parse: no annotations, f-strings or late
    ``__future__`` features (Python 2.7 and 3.0+ then reach the version check)."""
    source = (ROOT / "krakend_tools" / "manifest" / "introspect.py").read_text()
    tree = ast.parse(source, feature_version=(3, 4))
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.AnnAssign, ast.JoinedStr, ast.NamedExpr, ast.Starred)), ast.dump(node)
        if isinstance(node, ast.FunctionDef):
            assert node.returns is None and all(a.annotation is None for a in node.args.args), node.name
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            assert all(getattr(__future__, a.name).getOptionalRelease() < (2, 7) for a in node.names)


def test_an_interpreter_claiming_extreme_versions(tmp_path: Path) -> None:
    """An interpreter whose facts claim Python 3.9999 on glibc 2.999: refused within bounds."""
    code = (
        "import json, sys; path = sys.argv[-1]; ns = {'__name__': 'facts', '__file__': path}; "
        "exec(compile(open(path).read(), path, 'exec'), ns); f = ns['facts'](); "
        "f.update(version='3.9999.0', libc_version='2.999'); json.dump(f, sys.stdout)"
    )
    fake = fake_python(tmp_path, "python3", f'exec {sys.executable} -I -c "{code}" "$@"')
    rc, stderr, seconds, rss = run_measured("version", "--python", str(fake))
    one_line_exit_2(rc, stderr)
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


def test_an_interpreter_claiming_endless_libraries(tmp_path: Path) -> None:
    """An interpreter whose facts list 200,000 libraries (each one read for its versions)."""
    code = (
        "import json, sys; path = sys.argv[-1]; ns = {'__name__': 'facts', '__file__': path}; "
        "exec(compile(open(path).read(), path, 'exec'), ns); f = ns['facts'](); lib = min(f['libraries'].values()); "
        "f['libraries'] = {'lib%d.so.1' % i: lib for i in range(200000)}; json.dump(f, sys.stdout)"
    )
    fake = fake_python(tmp_path, "python3", f'exec {sys.executable} -I -c "{code}" "$@"')
    rc, stderr, seconds, rss = run_measured("version", "--python", str(fake))
    one_line_exit_2(rc, stderr, "200000 libraries")
    assert seconds < SECONDS and rss < MAX_RSS_KIB, (seconds, rss)


# --- closed standard streams ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redirect", "args", "code"),
    [
        ("2>&-", ["check-plugin", "--manifest", "host", "-s", "missing.lock"], 2),
        (">&-", ["version"], 0),
        ("2>&- >/dev/full", ["version"], 2),
    ],
    ids=["bad-input-stderr-closed", "stdout-closed", "stdout-full-stderr-closed"],
)
def test_closed_standard_streams_keep_the_exit_code(tmp_path: Path, redirect: str, args: list[str], code: int) -> None:
    """A stream the caller closed never turns bad input (2) or a pass (0) into a crash's 1 or 3."""
    proc = subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", *krakend_argv(), *args],
        stdout=subprocess.DEVNULL if ">" not in redirect else None,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == code
