"""Bad input, as a hostile user gives it: one line on stderr and exit 2, never a traceback,
bounded time and memory. One test per class of the bad-input campaign (issue 7)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from krakend_tools.errors import InputError
from tests.conftest import ROOT, krakend_argv, run_krakend


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """Assert the CLI refused its input the promised way; the message."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n"), repr(proc.stderr[:500])
    for word in words:
        assert word in proc.stderr, proc.stderr
    return proc.stderr


def check(lock: Path, manifest: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_krakend("check-plugin", "-s", str(lock), "--manifest", str(manifest), *extra, timeout=timeout)


# --- lockfiles ------------------------------------------------------------------------------

DEEP = 50_000


@pytest.mark.parametrize(
    "name,text",
    [
        ("uv.lock", "version = 1\na = " + "[" * DEEP + "]" * DEEP + "\n"),
        ("poetry.lock", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"),
        ("Pipfile.lock", "[" * DEEP + "]" * DEEP),
        ("requirements.txt", "x==1; " + "(" * 3000 + 'python_version > "3"' + ")" * 3000 + "\n"),
    ],
)
def test_deep_nesting(tmp_path: Path, host_manifest: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    one_line_error(check(tmp_path / name, host_manifest))


def test_include_loop_through_symlinks(tmp_path: Path, host_manifest: Path) -> None:
    os.symlink("b.txt", tmp_path / "a.txt")
    os.symlink("a.txt", tmp_path / "b.txt")
    (tmp_path / "requirements.txt").write_text("-r a.txt\n")
    one_line_error(check(tmp_path / "requirements.txt", host_manifest), "a.txt")
    (tmp_path / "self.txt").write_text("-r self.txt\n-r ./self.txt\nsix==1.16.0\n")
    proc = check(tmp_path / "self.txt", host_manifest)
    assert proc.returncode in (0, 1), proc.stderr


def test_nul_in_an_include(tmp_path: Path, host_manifest: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r a\0b.txt\n")
    one_line_error(check(tmp_path / "requirements.txt", host_manifest), "NUL")


def test_deep_include_chain(tmp_path: Path, host_manifest: Path) -> None:
    for i in range(2000):
        (tmp_path / f"r{i}.txt").write_text(f"-r r{i + 1}.txt\n")
    (tmp_path / "r2000.txt").write_text("six==1.16.0\n")
    one_line_error(check(tmp_path / "r0.txt", host_manifest), "nested")


@pytest.mark.parametrize(
    "line", ["six==" + "1" * 5000, "six>=" + "9" * 5000, 'six==1.0; python_version > "' + "3" * 5000 + '"']
)
def test_huge_version_numbers(tmp_path: Path, host_manifest: Path, line: str) -> None:
    (tmp_path / "requirements.txt").write_text(line + "\n")
    one_line_error(check(tmp_path / "requirements.txt", host_manifest))


@pytest.mark.parametrize("name", ["uv.lock", "poetry.lock", "pdm.lock"])
def test_huge_toml_integers(tmp_path: Path, host_manifest: Path, name: str) -> None:
    """Found by bench/fuzz.py: tomllib's int() of 5,000 digits."""
    (tmp_path / name).write_text("version = " + "9" * 5000 + "\n")
    (tmp_path / "pyproject.toml").write_text("x = " + "9" * 5000 + "\n")
    one_line_error(check(tmp_path / name, host_manifest))


@pytest.mark.parametrize("field", ["marker = { a = 1 }", "extra = { a = 1 }", 'extra = "x"'])
def test_uv_edge_fields_of_the_wrong_type(tmp_path: Path, host_manifest: Path, field: str) -> None:
    (tmp_path / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.8"\n\n'
        '[[package]]\nname = "a"\nversion = "1.0"\nsource = { registry = "https://registry.invalid/simple" }\n'
        f'dependencies = [{{ name = "b", {field} }}]\n\n'
        '[[package]]\nname = "b"\nversion = "1.0"\nsource = { registry = "https://registry.invalid/simple" }\n'
    )
    one_line_error(check(tmp_path / "uv.lock", host_manifest), "uv.lock")


def test_fifo_and_devices_are_not_read(tmp_path: Path, host_manifest: Path) -> None:
    os.mkfifo(tmp_path / "requirements.txt")
    one_line_error(check(tmp_path / "requirements.txt", host_manifest, timeout=20), "not a regular file")
    one_line_error(check(Path("/dev/zero"), host_manifest, timeout=20), "not a regular file")
    (tmp_path / "top.txt").write_text("-r requirements.txt\n")
    one_line_error(check(tmp_path / "top.txt", host_manifest, timeout=20), "not a regular file")
    os.symlink("/dev/zero", tmp_path / "zero.txt")
    (tmp_path / "top2.txt").write_text("-r zero.txt\n")
    one_line_error(check(tmp_path / "top2.txt", host_manifest, timeout=20), "not a regular file")


def test_a_lockfile_over_the_size_limit(tmp_path: Path, host_manifest: Path) -> None:
    from krakend_tools.files import MAX_FILE_BYTES as MAX_LOCKFILE_BYTES

    line = b"six==1.16.0 --hash=sha256:" + b"a" * 64 + b"\n"
    big = tmp_path / "requirements.txt"
    big.write_bytes(line * (MAX_LOCKFILE_BYTES // len(line) + 1))
    one_line_error(check(big, host_manifest, timeout=30), "too large")
    small = tmp_path / "small.txt"  # the includes share the budget
    small.write_text("six==1.16.0\n" + "".join(f"-r part{i}.txt\n" for i in range(3)))
    for i in range(3):
        (tmp_path / f"part{i}.txt").write_bytes(line * (MAX_LOCKFILE_BYTES // len(line) // 2))
    one_line_error(check(small, host_manifest, timeout=30), "too large")


def test_packaging_multi_line_messages_and_newlines_are_one_line(tmp_path: Path, host_manifest: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six ==== 1\n")
    one_line_error(check(tmp_path / "requirements.txt", host_manifest), "requirements.txt:1")
    one_line_error(check(tmp_path / "no\nsuch\rfile.txt", host_manifest), "no such file")


def test_a_bom_is_accepted(tmp_path: Path, host_manifest: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"\xef\xbb\xbfsix==1.16.0\n")
    proc = check(tmp_path / "requirements.txt", host_manifest)
    assert proc.returncode in (0, 1), proc.stderr


# --- manifests ------------------------------------------------------------------------------


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("six==1.16.0\n")
    return path


def _manifest(host_manifest: Path, change: dict[str, object]) -> str:
    data = json.loads(host_manifest.read_text())
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    "change",
    [
        {"python.version": "3.11.7junk"},
        {"python.executable": "/usr/bin/python3\0x"},
        {"python.abi_tags": ["cp-311", "abi3"]},
        {"marker_environment.python_full_version": "banana"},
        {"platform.libc.version": "2." + "9" * 50},
        {"distributions": {"six": "1" * 5000}},
        {"tags": ["cp311-cp311-" + "x" * 5000]},
    ],
)
def test_manifest_values_are_checked_at_load(
    tmp_path: Path, host_manifest: Path, lock: Path, change: dict[str, object]
) -> None:
    bad = tmp_path / "gateway.json"
    bad.write_text(_manifest(host_manifest, change))
    one_line_error(check(lock, bad), "invalid manifest")


@pytest.mark.parametrize(
    "content",
    [
        b'{"schema_version": 1, "gateway": "\xff\xfe"}',
        b"[" * DEEP + b"]" * DEEP,
        b'{"schema_version": 1' + b"0" * 5000 + b"}",
        b'{"schema_version": 10000000000000000000000}',
    ],
)
def test_manifest_text_that_cannot_be_a_manifest(tmp_path: Path, lock: Path, content: bytes) -> None:
    bad = tmp_path / "gateway.json"
    bad.write_bytes(content)
    one_line_error(check(lock, bad))


def test_manifest_fifo(tmp_path: Path, lock: Path) -> None:
    os.mkfifo(tmp_path / "gateway.json")
    one_line_error(check(lock, tmp_path / "gateway.json", timeout=20), "not a regular file")


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e309", "nan", "inf", "-1", "0"])
def test_timeout_must_be_finite_and_positive(tmp_path: Path, host_manifest: Path, value: str) -> None:
    (tmp_path / "p.py").write_text("")
    one_line_error(
        run_krakend(
            "test-plugin", "-s", "--manifest", str(host_manifest), f"--timeout={value}", str(tmp_path / "p.py")
        ),
        "--timeout",
    )


@pytest.mark.parametrize(
    "flags", [["-g", "\u0663.\u0661\u0661"], ["-g", "3.11.7.1"], ["-l", "GLIBC-2.10000000"], ["-l", "MUSL-1.\u0662"]]
)
def test_version_flags(host_manifest: Path, lock: Path, flags: list[str]) -> None:
    one_line_error(check(lock, host_manifest, *flags, timeout=20))


def test_python_must_be_a_cpython_interpreter(host_manifest: Path, tmp_path: Path) -> None:
    one_line_error(run_krakend("version", "--python", "/bin/echo"), "not a CPython")
    one_line_error(run_krakend("version", "--python", "/bin/true"), "not a CPython")
    (tmp_path / "p.py").write_text("")
    one_line_error(
        run_krakend(
            "test-plugin", "-s", "--manifest", str(host_manifest), "--python", "/bin/echo", str(tmp_path / "p.py")
        ),
        "not a CPython",
    )


def test_long_artifact_names(host_manifest: Path) -> None:
    one_line_error(run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), "x" * 5000), "too long")
    one_line_error(run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), "/tmp/" + "y" * 300 + ".so"))


def test_empty_image_names() -> None:
    one_line_error(run_krakend("version", "--image", ""), "--image")
    from krakend_tools.arguments import image_name

    for bad in ("", " ", "a b", "x\ny"):
        with pytest.raises(InputError):
            image_name(bad)


# --- wheels ---------------------------------------------------------------------------------


def _wheel(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


GOOD = {
    "plug/__init__.py": b"",
    "plug-1.0.dist-info/top_level.txt": b"plug\n",
    "plug-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
}


def _patch(path: Path, old: bytes, new: bytes, count: int = -1) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, count))


def _corrupt_payload(path: Path, name: str) -> None:
    """Garble the compressed bytes of member ``name`` (its headers stay valid)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + info.compress_size // 3, start + 2 * info.compress_size // 3):
        data[i] ^= 0x5A  # the middle: the stream headers stay valid
    path.write_bytes(bytes(data))


def _test_wheel(wheel: Path, manifest: Path) -> subprocess.CompletedProcess[str]:
    return run_krakend("test-plugin", "-s", "--manifest", str(manifest), str(wheel), timeout=60)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA, zipfile.ZIP_BZIP2])
def test_corrupt_member_data(tmp_path: Path, host_manifest: Path, method: int) -> None:
    wheel = _wheel(tmp_path / "plug-1.0-py3-none-any.whl", {**GOOD, "plug/__init__.py": b"x = 1\n" * 1000}, method)
    _corrupt_payload(wheel, "plug/__init__.py")
    one_line_error(_test_wheel(wheel, host_manifest), "wheel")


def test_encrypted_and_unsupported_members(tmp_path: Path, host_manifest: Path) -> None:
    wheel = _wheel(tmp_path / "plug-1.0-py3-none-any.whl", GOOD, zipfile.ZIP_STORED)
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as zf:
        infos = zf.infolist()
    central = data.rfind(b"PK\x01\x02", 0)
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1  # the first member's central header: encrypted
    wheel.write_bytes(bytes(data))
    one_line_error(_test_wheel(wheel, host_manifest), "encrypted")
    data[central + 8] &= ~1
    struct.pack_into("<H", data, central + 10, 99)  # compression method 99 (AES)
    wheel.write_bytes(bytes(data))
    one_line_error(_test_wheel(wheel, host_manifest), "compression")
    assert infos


def test_member_names(tmp_path: Path, host_manifest: Path) -> None:
    empty = _wheel(tmp_path / "plug-1.0-py3-none-any.whl", {**GOOD, "Q": b"x"})
    _patch(empty, b"Q", b"")  # (the name length stays 1: a broken directory)
    one_line_error(_test_wheel(empty, host_manifest), "wheel")
    wheel = _wheel(tmp_path / "plug-2.0-py3-none-any.whl", {**GOOD, "plug/\u00e9.py": b""})
    _patch(wheel, "\u00e9".encode(), b"\xff\xfe")  # the UTF-8 flag is set: undecodable
    one_line_error(_test_wheel(wheel, host_manifest), "wheel")
    dots = _wheel(tmp_path / "plug-3.0-py3-none-any.whl", {**GOOD, "../evil.py": b""})
    one_line_error(_test_wheel(dots, host_manifest), "unsafe")


def test_undecodable_top_level(tmp_path: Path, host_manifest: Path) -> None:
    wheel = _wheel(
        tmp_path / "plug-1.0-py3-none-any.whl", {**GOOD, "plug-1.0.dist-info/top_level.txt": b"\xff\xfeplug\n"}
    )
    one_line_error(_test_wheel(wheel, host_manifest), "top_level.txt")


def test_long_names_in_a_wheel(tmp_path: Path, host_manifest: Path) -> None:
    """Found by bench/fuzz.py: a top_level.txt name or member name longer than NAME_MAX."""
    long = "p" + "9" * 300
    wheel = _wheel(
        tmp_path / "plug-1.0-py3-none-any.whl", {**GOOD, "plug-1.0.dist-info/top_level.txt": f"{long}\nplug\n".encode()}
    )
    assert _test_wheel(wheel, host_manifest).returncode in (0, 1)
    wheel = _wheel(tmp_path / "plug-2.0-py3-none-any.whl", {**GOOD, f"{long}.py": b""})
    one_line_error(_test_wheel(wheel, host_manifest), "too long")


def test_zip_bomb_is_not_inflated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member over the unpacked budget is refused before anything is written."""
    from contextlib import ExitStack

    from krakend_tools.plugin_test import artifacts

    wheel = _wheel(tmp_path / "plug-1.0-py3-none-any.whl", {**GOOD, "plug/bomb.bin": b"\0" * (8 << 20)})
    monkeypatch.setattr(artifacts, "MAX_UNPACKED_BYTES", 4 << 20)
    with ExitStack() as stack, pytest.raises(InputError, match="unpacks to"):
        artifacts._unpack_wheel(str(wheel), wheel, stack)
    assert wheel.stat().st_size < 100_000


# --- ELF files ------------------------------------------------------------------------------


def _elf(
    path: Path,
    phdrs: list[tuple[int, int, int, int]],
    dynamic: list[tuple[int, int]],
    body: bytes,
    size: int | None = None,
) -> Path:
    """A little-endian ELF64 x86_64 DYN: program headers ``(type, offset, vaddr, filesz)``,
    then ``dynamic`` at 0x1000 and ``body`` at 0x2000; one PT_LOAD maps the whole file
    at address 0 (so addresses are offsets). Sparse up to ``size``."""
    size = size or 0x2000 + len(body)
    head = struct.pack(
        "<4sBBBB8xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 3, 62, 1, 0, 64, 0, 0, 64, 56, len(phdrs) + 2, 64, 0, 0
    )
    ph = [(1, 0, 0, size), (2, 0x1000, 0x1000, 16 * (len(dynamic) + 1))] + phdrs
    table = b"".join(struct.pack("<IIQQQQQQ", t, 4, off, va, va, fs, fs, 8) for t, off, va, fs in ph)
    dyn = b"".join(struct.pack("<qQ", t, v) for t, v in dynamic) + b"\0" * 16
    with open(path, "wb") as fh:
        fh.write(head + table)
        fh.seek(0x1000)
        fh.write(dyn)
        fh.seek(0x2000)
        fh.write(body)
        fh.truncate(size)
    return path


def _static(path: Path, manifest: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return run_krakend("test-plugin", "-s", "--manifest", str(manifest), str(path), timeout=timeout)


def _ko(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "[KO]" in proc.stdout
    for word in words:
        assert word in proc.stdout, proc.stdout


def test_quadratic_version_need_chains(tmp_path: Path, host_manifest: Path) -> None:
    # 65,536 identical 16-byte records, read both as verneed (65,535 aux each) and vernaux.
    record = struct.pack("<HHIII", 1, 0xFFFF, 0, 16, 16)
    strtab = b"\0libc.so.6\0GLIBC_2.2.5\0\0\0"
    body = strtab + record * 65536
    so = _elf(
        tmp_path / "plug.so",
        [],
        [(5, 0x2000), (10, len(strtab)), (0x6FFFFFFE, 0x2000 + len(strtab)), (0x6FFFFFFF, 65536)],
        body,
    )
    _ko(_static(so, host_manifest, timeout=30), "version needs")


def test_many_and_huge_interpreters(tmp_path: Path, host_manifest: Path) -> None:
    many = _elf(tmp_path / "many.so", [(3, 0x2000, 0x2000, 1 << 20)] * 2000, [], b"/x\0", size=0x2000 + (1 << 20))
    _ko(_static(many, host_manifest), "PT_INTERP")
    huge = _elf(tmp_path / "huge.so", [(3, 0x2000, 0x2000, 1 << 30)], [], b"/x\0", size=0x2000 + (1 << 30))
    _ko(_static(huge, host_manifest), "PT_INTERP")


def _rss_of(args: list[str]) -> tuple[int, int]:
    """(exit code, max RSS in KiB) of the CLI run with ``args``."""
    code = (
        "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], "
        "capture_output=True); print(p.returncode, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *krakend_argv(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=ROOT,
    )
    rc, rss = map(int, proc.stdout.split())
    return rc, rss


def test_huge_hash_tables_stay_small(tmp_path: Path, host_manifest: Path) -> None:
    import array
    import time

    n = (16 << 20) - 1  # 16M GNU-hash buckets, all different
    gnu = struct.pack("<IIII", n, 1, 1, 6) + b"\0" * 8 + array.array("I", range(2, n + 2)).tobytes()
    so = _elf(tmp_path / "gnu.so", [], [(5, 0x2000), (10, 1), (6, 0x2000), (0x6FFFFEF5, 0x2000)], gnu)
    rc, rss = _rss_of(["test-plugin", "-s", "--manifest", str(host_manifest), str(so)])
    assert rc == 1 and rss < 300 * 1024, (rc, rss)
    # A 16M-entry SysV hash table in a (sparse) file big enough to hold 16M symbols.
    sysv = _elf(
        tmp_path / "hash.so",
        [],
        [(5, 0x2000), (10, 1), (6, 0x2000), (4, 0x2000)],
        struct.pack("<II", 1, (1 << 24) - 1),
        size=0x2000 + 24 * (1 << 24),
    )
    start = time.monotonic()
    rc, rss = _rss_of(["test-plugin", "-s", "--manifest", str(host_manifest), str(sysv)])
    assert rc == 1 and rss < 300 * 1024 and time.monotonic() - start < 5, (rc, rss)


def test_fifos_and_devices_named_like_plugins(tmp_path: Path, host_manifest: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    os.mkfifo(pkg / "pipe")
    os.mkfifo(pkg / "mod.so")
    _ko(_static(pkg, host_manifest, timeout=20), "not a regular file")
    os.mkfifo(tmp_path / "x.so")
    _ko(_static(tmp_path / "x.so", host_manifest, timeout=20), "not a regular file")
    os.symlink("/dev/zero", tmp_path / "zero.so")
    _ko(_static(tmp_path / "zero.so", host_manifest, timeout=20), "not a regular file")


# --- the last-resort handler ----------------------------------------------------------------


def test_an_unexpected_exception_is_one_line_and_exit_3(tmp_path: Path) -> None:
    code = (
        "import krakend_tools.lockfiles as lockfiles\n"
        "def boom(*args, **kwargs):\n    raise ZeroDivisionError('bug\\nsecond line')\n"
        "lockfiles.find_lockfile = boom\nfrom krakend_tools.cli.main import main\nmain(['check-plugin'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(
        "krakend check-plugin: internal error: ZeroDivisionError: bug second line; full traceback in "
    )
    trace = Path(proc.stderr.rsplit(" ", 1)[1].strip())
    assert trace.parent == tmp_path and oct(trace.stat().st_mode & 0o777) == "0o600"
    assert "Traceback (most recent call last)" in trace.read_text()


# --- outputs that cannot be written ----------------------------------------------------------

CSV = ROOT / "fixtures" / "plugins" / "csv-export" / "poetry.lock"
GATEWAY = ROOT / "fixtures" / "gateway" / "manifest.json"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize(
    "args",
    [
        ["check-plugin", "-s", str(CSV), "--manifest", str(GATEWAY)],
        ["check-plugin", "-s", str(CSV), "--manifest", str(GATEWAY), "-o", "json"],
        ["test-plugin", "-s", "--static-only", "--manifest", str(GATEWAY), str(CSV)],
        ["version", "-o", "json"],
        ["version"],
        ["--help"],
        ["--version"],
    ],
)
def test_a_full_disk_under_stdout_is_one_line_exit_2(args: list[str]) -> None:
    from tests.conftest import krakend_argv

    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [*krakend_argv(), *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            timeout=120,
        )
    assert "internal error" not in proc.stderr
    one_line_error(subprocess.CompletedProcess(args, proc.returncode, "", proc.stderr), "cannot write", "No space")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("fmt", ["text", "json", "junit", "github", "sarif"])
def test_an_output_file_on_a_full_disk_is_one_line_exit_2(fmt: str) -> None:
    proc = run_krakend("check-plugin", "-s", str(CSV), "--manifest", str(GATEWAY), "-o", f"{fmt}=/dev/full")
    assert one_line_error(proc, "cannot write /dev/full") and proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["check-plugin", "--manifest", str(GATEWAY)],
        ["check-plugin", "-s", "poetry.lock", "--manifest", str(GATEWAY)],
        ["test-plugin", "-s", "plugin.so", "--manifest", str(GATEWAY)],
        ["build", "."],
    ],
)
def test_a_current_folder_that_was_removed_is_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    import shlex

    from tests.conftest import krakend_argv

    gone = tmp_path / "gone"
    gone.mkdir()
    where = shlex.quote(str(gone))
    script = f"cd {where} && rmdir {where} && exec {shlex.join(krakend_argv() + args)}"
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
    one_line_error(proc, "the current folder no longer exists")


def test_a_symlink_loop_given_as_a_path_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.lock").symlink_to(tmp_path / "b.lock")
    (tmp_path / "b.lock").symlink_to(tmp_path / "a.lock")
    loop = str(tmp_path / "a.lock")
    for args in (["check-plugin", "-s", loop], ["check-plugin", loop], ["test-plugin", "-s", loop]):
        proc = run_krakend(*args, "--manifest", str(GATEWAY))
        assert "internal error" not in proc.stderr, proc.stderr
        one_line_error(proc, "a.lock")


@pytest.mark.parametrize(
    "args",
    [
        ["check-plugin", "-s", "{long}.lock"],
        ["test-plugin", "-s", "/tmp/{long}/x.so"],
        ["test-plugin", "-s", "{long}.so"],
        ["build", "/tmp/{long}", "-t", "alpine/amd64"],
    ],
)
def test_a_file_name_over_the_system_limit_is_one_line_exit_2(args: list[str]) -> None:
    """A path component over NAME_MAX (255 bytes): the system refuses the name itself."""
    proc = run_krakend(*(a.format(long="n" * 300) for a in args), "--manifest", str(GATEWAY))
    assert "internal error" not in proc.stderr, proc.stderr
    one_line_error(proc, "n" * 50)
