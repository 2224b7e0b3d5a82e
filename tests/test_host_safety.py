"""The host is never touched: temporary folders are private and gone on every exit path, links
planted in them are never followed, and output files behave like every other tool's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, alive, krakend_argv, run_krakend

sys.path.insert(0, str(FIXTURES / "plugins_src"))
import build  # noqa: E402  (fixtures/plugins_src/build.py)

GEO = FIXTURES / "plugins" / "geo-lookup"
MANIFEST = str(FIXTURES / "gateway" / "manifest.json")
REGISTER = """
class HandlerRegisterer:
    def register_handlers(self, register):
        register("ok", lambda cfg, nxt: nxt)
"""


def wheel(where: Path, module: str, files: dict[str, bytes | str]) -> Path:
    """A wheel holding ``files`` (name -> content) whose top-level module is ``module``."""
    path = where / f"{module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
        zf.writestr(f"{module}-1.0.dist-info/METADATA", f"Name: {module}\nVersion: 1.0\n")
        zf.writestr(f"{module}-1.0.dist-info/top_level.txt", f"{module}\n")
    return path


def py_wheel(where: Path, module: str, body: str) -> Path:
    return wheel(where, module, {f"{module}.py": body})


@pytest.fixture(scope="module")
def c_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel with the C plugin, compiled with gcc for this interpreter."""
    so = build.build_c(tmp_path_factory.mktemp("c"))
    return wheel(tmp_path_factory.mktemp("wheels"), "cext_plugin", {so.name: so.read_bytes()})


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A private, empty TMPDIR for the CLI: whatever it leaves behind shows up there."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    return folder, {"TMPDIR": str(folder)}


def leftovers(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# -- every temporary folder is gone, on every exit path -----------------------------------


@pytest.mark.parametrize("case", ["ok", "ko", "bad second artifact", "timeout"])
def test_no_temporary_folder_is_left_behind(
    case: str, c_wheel: Path, tmp_path: Path, tmpdir_env: tuple[Path, dict[str, str]], host_manifest: Path
) -> None:
    folder, env = tmpdir_env
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    args, code = {
        "ok": ([str(c_wheel)], 0),
        "ko": ([str(py_wheel(tmp_path, "no_registerer", "X = 1\n"))], 1),
        "bad second artifact": ([str(c_wheel), str(broken)], 2),
        "timeout": (["--timeout", "1", str(py_wheel(tmp_path, "sleeper", "import time\ntime.sleep(60)\n"))], 1),
    }[case]
    proc = run_krakend("test-plugin", "-m", "--manifest", str(host_manifest), *args, env=env, timeout=60)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert leftovers(folder) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_no_temporary_folder_is_left_behind_when_interrupted(
    sig: signal.Signals, tmp_path: Path, tmpdir_env: tuple[Path, dict[str, str]], host_manifest: Path
) -> None:
    folder, env = tmpdir_env
    sleeper = py_wheel(tmp_path, "sleeper", "import time\ntime.sleep(60)\n" + REGISTER)
    argv = [*krakend_argv(), "test-plugin", "-s", "--manifest", str(host_manifest), str(sleeper)]
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not any(n.startswith("krakend-wheel-") for n in os.listdir(folder)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # the import is running
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert leftovers(folder) == []


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(stat_file.parent.name))
    return found


def test_sigterm_before_the_import_phase_is_a_clean_exit(tmp_path: Path, host_manifest: Path) -> None:
    """SIGTERM while the CLI waits on something else than a probe (here the ABI of a --python
    that hangs) unwinds like Ctrl-C: exit 130, no traceback, its child gone."""
    slow = tmp_path / "python3"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(0o755)
    (tmp_path / "plugin.py").write_text(REGISTER)
    argv = [*krakend_argv(), "test-plugin", "-s", "--manifest", str(host_manifest), "--python", str(slow), "plugin.py"]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (waited := children(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waited, "the CLI never started the interpreter"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert len(err.splitlines()) <= 1 and "Traceback" not in err, err
    time.sleep(0.2)
    assert not any(alive(pid) for pid in waited), "the hanging interpreter survived the CLI"


@pytest.mark.parametrize("sandbox", ["sandboxed", "without a sandbox"])
def test_a_plugin_swapping_its_folder_for_links_touches_nothing_outside(
    sandbox: str, tmp_path: Path, tmpdir_env: tuple[Path, dict[str, str]], host_manifest: Path
) -> None:
    """The plugin moves its unpack folder away, puts a link to the victim in its place and
    links (one in a folder it made unreadable) inside: removal follows none of them, also
    where no sandbox keeps the plugin from doing it (no bwrap on PATH)."""
    folder, env = tmpdir_env
    if sandbox == "without a sandbox":
        (tmp_path / "no-bwrap").mkdir()
        env = {**env, "PATH": str(tmp_path / "no-bwrap")}
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    victim.chmod(0o751)
    body = (
        f"""
import os, pathlib
here = pathlib.Path(__file__).parent
moved = here.with_name(here.name + "-moved")
os.rename(here, moved)
os.symlink({str(victim)!r}, here)
os.symlink({str(victim)!r}, moved / "victim-link")
(moved / "locked").mkdir()
os.symlink({str(victim / "precious.txt")!r}, moved / "locked" / "file-link")
os.chmod(moved / "locked", 0)
"""
        + REGISTER
    )
    hostile = py_wheel(tmp_path, "swapper", body)
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(hostile), env=env, timeout=60)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert (victim / "precious.txt").read_text() == "keep me"
    assert sorted(os.listdir(victim)) == ["precious.txt"]
    assert stat.S_IMODE(victim.stat().st_mode) == 0o751
    assert stat.S_IMODE((victim / "precious.txt").stat().st_mode) == 0o644
    assert leftovers(folder) == []


@pytest.mark.parametrize("member", ["../escaped.py", "/tmp/escaped-absolute.py", "pkg/../../escaped.py", "link_member"])
def test_a_wheel_writes_nothing_outside_its_unpack_folder(
    member: str, tmp_path: Path, tmpdir_env: tuple[Path, dict[str, str]], host_manifest: Path
) -> None:
    """``..`` and absolute member names are refused; a symlink member is unpacked as a plain
    file, never as a link a later member could be written through."""
    folder, env = tmpdir_env
    outside = tmp_path / "outside"
    outside.mkdir()
    path = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        if member == "link_member":
            link = zipfile.ZipInfo("evil")
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(link, str(outside))
            zf.writestr("evil/escaped.py", "X = 1\n")
        else:
            zf.writestr(member, "X = 1\n")
        zf.writestr("evil-1.0.dist-info/top_level.txt", "evil\n")
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), str(path), env=env, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert os.listdir(outside) == [] and not Path("/tmp/escaped-absolute.py").exists()
    assert not (tmp_path / "escaped.py").exists()
    assert leftovers(folder) == []


# -- output files ---------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """geo-lookup's uv.lock and pyproject.toml (5 pins differ from the gateway's)."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name in ("uv.lock", "pyproject.toml"):
        (folder / name).write_bytes((GEO / name).read_bytes())
    return folder


def check(project: Path, *outputs: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    args = [a for o in outputs for a in ("-o", o)]
    return run_krakend("check-plugin", "-s", "uv.lock", "--manifest", MANIFEST, *args, cwd=project, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(w in proc.stderr for w in words), proc.stderr


def test_a_fifo_without_reader_at_an_output_path_does_not_block(project: Path) -> None:
    os.mkfifo(project / "out.json")
    one_line_error(check(project, "json=out.json", timeout=20), "out.json", "no reader")
    assert stat.S_ISFIFO((project / "out.json").stat().st_mode)


def test_devices_are_still_written(project: Path) -> None:
    proc = check(project, "json=/dev/null", "sarif=/dev/null", "junit=/dev/stdout")
    assert proc.returncode == 1, proc.stderr
    ET.fromstring(proc.stdout)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_follow_the_umask(project: Path, umask: int, mode: int) -> None:
    argv = [*krakend_argv(), "check-plugin", "-s", "uv.lock", "--manifest", MANIFEST, "-o", "json=out.json"]
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, umask=umask, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert stat.S_IMODE((project / "out.json").stat().st_mode) == mode


@pytest.mark.parametrize(("before", "after"), [(0o640, 0o640), (0o755, 0o644)])
def test_a_replaced_output_keeps_its_permissions_never_execute(project: Path, before: int, after: int) -> None:
    (project / "out.json").write_text("{}")
    (project / "out.json").chmod(before)
    argv = [*krakend_argv(), "check-plugin", "-s", "uv.lock", "--manifest", MANIFEST, "-o", "json=out.json"]
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, umask=0o022, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert json.loads((project / "out.json").read_text())["failures"] == 5
    assert stat.S_IMODE((project / "out.json").stat().st_mode) == after


@pytest.mark.parametrize("victim", ["uv.lock", "pyproject.toml", "manifest.json"])
def test_an_output_never_overwrites_an_input_of_check_plugin(project: Path, victim: str) -> None:
    (project / "manifest.json").write_bytes(Path(MANIFEST).read_bytes())
    before = {p.name: p.read_bytes() for p in project.iterdir()}
    args = ["check-plugin", "-s", "uv.lock", "--manifest", "manifest.json", "-o", f"json=./{victim}"]
    one_line_error(run_krakend(*args, cwd=project), victim, "input")
    assert {p.name: p.read_bytes() for p in project.iterdir()} == before


def test_an_output_never_overwrites_an_artifact(tmp_path: Path, host_manifest: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(REGISTER)
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), "plugin.py", "-o", "json=plugin.py",
                       cwd=tmp_path)  # fmt: skip
    one_line_error(proc, "plugin.py", "input")
    assert plugin.read_text() == REGISTER


@pytest.mark.parametrize("second", ["./a.json", "sub/../a.json", "link.json", "hard.json"])
def test_two_outputs_naming_one_file_are_refused(project: Path, second: str) -> None:
    (project / "sub").mkdir()
    (project / "a.json").write_text("{}")
    os.symlink("a.json", project / "link.json")
    os.link(project / "a.json", project / "hard.json")
    one_line_error(check(project, "json=a.json", f"junit={second}"), "a.json")
    assert (project / "a.json").read_text() == "{}"


def configure(project: Path, outputs: list[str]) -> None:
    with open(project / "pyproject.toml", "a") as fh:
        fh.write(f"\n[tool.krakend]\noutputs = {json.dumps(outputs)}\n")


@pytest.mark.parametrize(
    "where", ["../escaped.json", "{outside}/escaped.json", "up/escaped.json", "sub/../../x.json", ".git/hooks/x"]
)
def test_config_outputs_cannot_write_outside_the_project(project: Path, where: str) -> None:
    outside = project.parent / "outside"
    outside.mkdir()
    os.symlink(outside, project / "up")
    (project / "sub").mkdir()
    (project / ".git" / "hooks").mkdir(parents=True)
    configure(project, [f"text={where.format(outside=outside)}"])
    proc = run_krakend("check-plugin", "-s", "uv.lock", "--manifest", MANIFEST, cwd=project)
    one_line_error(proc, "[tool.krakend] outputs")
    assert os.listdir(outside) == [] and not (project.parent / "escaped.json").exists()
    assert os.listdir(project / ".git" / "hooks") == []


def test_a_config_output_with_a_nul_character_is_one_line(project: Path) -> None:
    configure(project, ["json=a\u0000b.json"])
    one_line_error(run_krakend("check-plugin", "-s", "uv.lock", "--manifest", MANIFEST, cwd=project), "NUL")


def test_config_outputs_inside_the_project_and_command_line_outputs_anywhere_work(project: Path) -> None:
    (project / "reports").mkdir()
    configure(project, ["json=reports/r.json", "junit=./reports/../r.xml"])
    proc = run_krakend("check-plugin", "-s", "uv.lock", "--manifest", MANIFEST, cwd=project)
    assert proc.returncode == 1, proc.stderr
    assert json.loads((project / "reports" / "r.json").read_text())["failures"] == 5
    ET.parse(project / "r.xml")
    proc = check(project, "json=../from-the-command-line.json")  # the user's own -o is trusted
    assert proc.returncode == 1, proc.stderr
    assert json.loads((project.parent / "from-the-command-line.json").read_text())["failures"] == 5


# -- outputs are written even when there is nothing to check --------------------------------


def assert_valid_outputs(folder: Path) -> None:
    assert json.loads((folder / "r.json").read_text())["command"]
    ET.parse(folder / "r.xml")


def test_outputs_are_written_when_nothing_applies_to_the_target(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text('pywin32==306 ; sys_platform == "win32"\n')
    proc = run_krakend("check-plugin", "requirements.txt", "--manifest", MANIFEST, "-o", "json=r.json", "-o",
                       "junit=r.xml", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "nothing to check" in proc.stderr
    assert_valid_outputs(tmp_path)


def test_outputs_are_written_for_an_empty_requirements_file(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    proc = run_krakend("check-plugin", "requirements.txt", "--manifest", MANIFEST, "-o", "json=r.json", "-o",
                       "junit=r.xml", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert_valid_outputs(tmp_path)


def test_outputs_are_written_when_no_plugin_matches_the_pattern(tmp_path: Path, host_manifest: Path) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "README").write_text("no plugin here")
    proc = run_krakend("test-plugin", "-s", "--manifest", str(host_manifest), "plugins", "-o", "json=r.json", "-o",
                       "junit=r.xml", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert_valid_outputs(tmp_path)
    finding = json.loads((tmp_path / "r.json").read_text())["findings"][0]
    assert finding["message"] == "no plugin matches pattern '.so'"


# -- a runtime image's introspection --------------------------------------------------------


class _ImageWithHostileLibraryName:
    """The two calls introspect_image makes of an engine: the image's facts (this
    interpreter's, with a library named ``../escaped.so``) and the library's bytes."""

    def __init__(self, library: Path) -> None:
        script = FIXTURES.parent / "krakend_tools" / "manifest" / "introspect.py"
        facts = json.loads(subprocess.run([sys.executable, "-I", str(script)], capture_output=True).stdout)
        facts["libraries"] = {"../escaped.so": str(library)}
        self.facts = json.dumps(facts)
        self.library = library

    def run_command(self, image: str, argv: list[str], *, platform: str) -> object:
        from krakend_tools.containers.engine import RunResult

        return RunResult(0, "", 0.0, stdout=self.facts)

    def read_files(self, image: str, paths: list[str], *, platform: str) -> dict[str, bytes]:
        import io
        import tarfile

        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            tar.add(self.library, arcname=self.library.name)
        return {str(self.library): out.getvalue()}


def test_a_library_name_from_an_image_writes_nothing_outside_the_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from krakend_tools.containers.image_manifest import introspect_image

    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    library = build.build_c(tmp_path / "lib")
    engine = _ImageWithHostileLibraryName(library)
    manifest = introspect_image(engine, "image.invalid/runtime", "linux/amd64")  # type: ignore[arg-type]
    assert list(manifest.libraries) == ["../escaped.so"]
    assert not (tmp_path / "escaped.so").exists()
    assert leftovers(folder) == []


# -- krakend build: the project's dist/ ---------------------------------------------------


def test_a_dist_link_out_of_the_project_is_refused_before_building(tmp_path: Path) -> None:
    """``dist/generic-amd64`` committed as a link to another folder: publishing would delete
    that folder's files, so the build stops first (no engine is even asked)."""
    project = tmp_path / "plugin"
    (project / "dist").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n')
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    os.symlink(victim, project / "dist" / "generic-amd64")
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    proc = run_krakend("build", str(project), "-t", "generic/amd64", "--manifest", MANIFEST, env=env)
    one_line_error(proc, "generic-amd64", "links outside the project", "--out")
    assert os.listdir(victim) == ["precious.txt"]


@pytest.mark.skipif(os.geteuid() != 0, reason="handing outputs back under sudo needs root")
def test_outputs_handed_back_under_sudo_never_chown_through_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from krakend_tools.build.staging import chown_tree

    out = tmp_path / "dist" / "generic-amd64"
    out.mkdir(parents=True)
    (out / "plugin.whl").write_bytes(b"")
    victim = tmp_path / "victim.txt"
    victim.write_text("root's")
    os.symlink(victim, out / "link")
    monkeypatch.setenv("SUDO_UID", "4242")
    monkeypatch.setenv("SUDO_GID", "4242")
    chown_tree(out)
    assert (out / "plugin.whl").stat().st_uid == 4242
    assert victim.stat().st_uid == 0


# -- one file, any spelling -------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(lambda n: n not in (".", "..")),
    steps=st.lists(st.sampled_from(["./", "sub/../", "sub/./../", "link-to-here/", ""]), max_size=5),
    slashes=st.integers(1, 3),
    absolute=st.booleans(),
)
def test_any_spelling_of_one_output_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, steps: list[str], slashes: int, absolute: bool
) -> None:
    from krakend_tools.errors import InputError
    from krakend_tools.output import parse_outputs

    (tmp_path / "sub").mkdir(exist_ok=True)
    if not (tmp_path / "link-to-here").is_symlink():
        os.symlink(".", tmp_path / "link-to-here")
    monkeypatch.chdir(tmp_path)
    spelling = "".join(s.replace("/", "/" * slashes) for s in steps) + name
    if absolute:
        spelling = f"{tmp_path}/{spelling}"
    with pytest.raises(InputError, match="two outputs write one file"):
        parse_outputs([f"json={name}", f"sarif={spelling}"])


def _plant_and_remove(tmpdir: Path, victim: Path) -> None:
    """In a private folder: a folder made read-only holding a link to ``victim``, and one
    nobody may enter; then the folder is removed."""
    from krakend_tools.safefs import private_folder

    tempfile.tempdir = str(tmpdir)
    with private_folder("krakend-test-") as top:
        (top / "locked").mkdir()
        os.symlink(victim, top / "locked" / "link")
        (top / "locked" / "closed").mkdir()
        os.symlink(victim, top / "locked" / "closed" / "link")
        (top / "locked" / "closed").chmod(0)
        (top / "locked").chmod(0o500)


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the removal as an unprivileged user (needs root to switch)")
def test_removal_as_a_user_never_changes_what_a_link_points_at(tmp_path: Path) -> None:
    """As an ordinary user, removing a read-only folder must not chmod through the link in it
    (the standard library's TemporaryDirectory cleanup did: CVE-2023-6597)."""
    nobody = 65534
    base = Path(tempfile.mkdtemp(prefix="host-safety-"))  # pytest's own folders are root's alone
    try:
        tmpdir, victim = base / "tmpdir", base / "victim.txt"
        tmpdir.mkdir()
        victim.write_text("keep me")
        victim.chmod(0o640)
        for path in (base, tmpdir, victim):
            os.chown(path, nobody, nobody)
        pid = os.fork()
        if pid == 0:  # the child: drop to nobody, plant, remove
            code = 1
            try:
                os.setgid(nobody)
                os.setuid(nobody)
                _plant_and_remove(tmpdir, victim)
                code = 0
            except BaseException as exc:
                os.write(2, f"{type(exc).__name__}: {exc}\n".encode())
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert stat.S_IMODE(victim.stat().st_mode) == 0o640
        assert leftovers(tmpdir) == []
    finally:
        shutil.rmtree(base)


def test_a_tree_deeper_than_the_recursion_limit_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of nested folders (a plugin without a sandbox can make them), each with a
    link out: all removed, with a few descriptors, nothing outside touched."""
    from krakend_tools.safefs import private_folder

    tmpdir, victim = tmp_path / "tmpdir", tmp_path / "victim"
    tmpdir.mkdir()
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    try:
        with private_folder("krakend-test-") as top:
            here = os.open(top, os.O_RDONLY)
            for _ in range(sys.getrecursionlimit() * 2):
                os.symlink(victim, "out", dir_fd=here)
                os.mkdir("d", dir_fd=here)
                deeper = os.open("d", os.O_RDONLY, dir_fd=here)
                os.close(here)
                here = deeper
            os.close(here)
        assert leftovers(tmpdir) == []
        assert os.listdir(victim) == ["precious.txt"]
    finally:  # whatever failed: pytest's own cleanup recurses and would choke on the tree
        subprocess.run(["rm", "-rf", "--", str(tmpdir)], check=True)
