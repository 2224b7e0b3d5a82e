"""Nothing a plugin, lockfile, manifest or file name contains can inject into an output.

Every format (text plain and rich, json, junit, github, sarif) and stderr: no raw control
character, terminal escape, bidi override or undecodable byte; no line a GitHub Actions runner
reads as a workflow command (``::cmd`` after leading whitespace, ``##[cmd`` anywhere) unless the
github renderer wrote it; valid JSON, XML and SARIF (the official schema, URIs checked); fix lines
that run nothing but their command when pasted. Real CLI runs on real files and plugins, and
hypothesis over adversarial names through every renderer.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote_to_bytes, urlsplit

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import Version
from rich.console import Console

from krakend_tools.check.fixes import fix_commands
from krakend_tools.escape import shown
from krakend_tools.lockfiles.model import LockedPackage, Lockfile
from krakend_tools.output import github, junit, sarif, text
from krakend_tools.output import json as json_out
from krakend_tools.report import Finding, FindingKind, Meta, Report
from tests.conftest import FIXTURES, krakend_argv
from tests.fuzzing import run_cli
from tests.test_outputs import sarif_schema

HOSTILE = [
    "::",
    "::error file=a,line=1::pwned",
    "::stop-commands::tok",
    "::add-mask::secret",
    "##[error]x",
    "##[add-mask]y",
    "\n",
    "\r",
    "\r\n",
    "\x1b[31m",
    "\x1b]8;;https://registry.invalid/x\x07link\x1b]8;;\x07",
    "\x9b2J",
    "\x85",
    "\u202e",
    "\u2066",
    "\u2028",
    "\x00",
    "\x01",
    "\x7f",
    "\ufffe",
    "\uffff",
    "\udcff",
    "\ud800",
    "%",
    "%0A",
    ",",
    ":",
    "#",
    "?",
    " ",
    "\t",
    "\xa0",
    "\u3000",
    "[red]",
    "[/red]",
    "[link=https://registry.invalid]",
    "$(touch pwned)",
    "`touch pwned`",
    "'",
    '"',
    "\\",
    ";",
    "é",
    "\U0001f600",
]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=4)), max_size=5).map("".join)
EXAMPLES = settings(
    max_examples=5000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 60,  # as tests/test_fuzz.py
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# What the github renderer writes itself: ::error/::warning/::notice, escaped properties, one line.
OWN_COMMAND = re.compile(r"::(error|warning|notice) (file=[^:,]*,)?(line=\d+,)?title=[^:,]*::.*")
PROPERTY_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


# --- the invariants ---------------------------------------------------------------------------


def raw_controls(out: str) -> list[str]:
    """Characters no output may carry raw: controls (but the layout's LF and TAB), bidi
    overrides, line separators, lone surrogates, XML's U+FFFE/U+FFFF."""
    return [
        c
        for c in out
        if c not in "\n\t" and (unicodedata.category(c) in ("Cc", "Cs") or c in BIDI or c in "\u2028\u2029\ufffe\uffff")
    ]


def workflow_commands(out: str) -> list[str]:
    """The lines a GitHub Actions runner would take for a command."""
    return [line for line in out.split("\n") if line.lstrip().startswith("::") or "##[" in line]


def assert_safe(fmt: str, out: str | bytes) -> str:
    """The promise of every format; the output as text."""
    if isinstance(out, bytes):
        out = out.decode("utf-8")  # strict: a file output is valid UTF-8
    out.encode("utf-8")  # no lone surrogate either
    assert not raw_controls(out), (fmt, sorted(set(raw_controls(out))), out[:2000])
    if fmt == "github":
        lines = out.rstrip("\n").split("\n")
        assert all(OWN_COMMAND.fullmatch(line) for line in lines), out
    else:
        assert workflow_commands(out) == [], (fmt, workflow_commands(out))
    if fmt in ("json", "sarif"):
        log = json.loads(out)
        if fmt == "sarif":
            SARIF.validate(log)
    if fmt == "junit":
        ET.fromstring(out)
    return out


SARIF = jsonschema.Draft4Validator(sarif_schema(), format_checker=jsonschema.FormatChecker())


def rendered(report: Report) -> dict[str, str]:
    """``report`` in every format, as the renderers write it."""
    buffer = io.StringIO()
    text.print_rich(report, Console(file=buffer, width=300, color_system=None))
    return {
        "text": text.render(report),
        "rich": buffer.getvalue(),
        "json": json_out.render(report),
        "junit": junit.render(report),
        "github": github.render(report),
        "sarif": sarif.render(report),
    }


def unescape_property(value: str) -> str:
    for escape, char in PROPERTY_ESCAPES:
        value = value.replace(escape, char)
    return value


def github_view(value: str) -> str:
    """What the runner reads back from an escaped property: CR and LF as sent, the rest escaped."""
    return "".join(part if part in ("\r", "\n") else shown(part) for part in re.split(r"(\r|\n)", value))


def annotated_files(out: str) -> list[str]:
    """The ``file`` of each ::error/::warning, as the runner reads it back."""
    found = re.findall(r"^::(?:error|warning) file=([^,:]*)", out, re.MULTILINE)
    return [unescape_property(f) for f in found]


# --- direct reports: each class ---------------------------------------------------------------


def one(name: str, file: str | None = None, **extra: Any) -> Report:
    meta = cast(Meta, {"lockfiles": [{"path": file, "packages": 1}]} if file else {})
    mismatch = "the gateway has another version"
    findings = [Finding(name, FindingKind.PACKAGE, False, mismatch, "2.0", "1.0", file, 3, **extra)]
    return Report("check-plugin", findings, meta=meta)


def test_a_name_with_a_newline_forges_no_workflow_command_in_text() -> None:
    for name in ("x\n::error file=a::pwned", "::error::pwned", "\u3000::add-mask::x", "y ##[error]z"):
        for fmt in ("text", "rich"):
            out = rendered(one(name, "uv.lock"))[fmt]
            assert workflow_commands(out) == [], out
            assert not raw_controls(out)
    assert text.render(one("x\n::error file=a::pwned")).splitlines()[1] == "x\\n::error file=a::pwned"
    assert text.render(one("::error::pwned")).splitlines()[1] == "\\x3a:error::pwned"


def test_terminal_escapes_bidi_and_markup_never_reach_text_raw() -> None:
    """ESC, OSC 8 hyperlinks, CSI, C1, bidi overrides escaped; rich markup printed literally."""
    name = "a\x1b]8;;https://registry.invalid\x07b\x1b[2J\x9b31m\u202ec\x85\x00[red]x[/red][link=https://registry.invalid]y[/]:warning:"
    for fmt in ("text", "rich"):
        out = rendered(one(name, "uv.lock", fix=[f"# {name}"]))[fmt]
        assert not raw_controls(out), out
        assert (
            "a\\x1b]8;;https://registry.invalid\\x07b\\x1b[2J\\x9b31m\\u202ec\\x85\\x00[red]x[/red][link=https://registry.invalid]y[/]:warning:"
            in out
        )


def test_plugin_lines_escape_registered_names_and_messages() -> None:
    report = Report(
        "test-plugin",
        [
            Finding("p.so", FindingKind.SERVER, True, "registered: a\n::error::x, \x1b[31mb"),
            Finding(
                "p.so",
                FindingKind.CLIENT,
                False,
                "boom\r::warning::y",
                problems=["\n::notice::z"],
                warnings=["##[error]w"],
            ),
        ],
    )
    out = text.render(report)
    assert workflow_commands(out) == [] and not raw_controls(out), out
    assert out.splitlines()[0] == "[OK] SERVER\tp.so (registered: a\\n::error::x, \\x1b[31mb)"


def test_github_escapes_data_and_properties_and_nothing_else_is_raw() -> None:
    file = "dir,x/a:b%\r\n::error::f\x1b[1m.lock"
    report = one("n,a:m\x1b", file)
    report.findings[0].message = "m%\r\n::warning::x\x07"
    out = assert_safe("github", github.render(report))
    first = out.splitlines()[0]
    assert first.startswith(
        "::error file=dir%2Cx/a%3Ab%25%0D%0A%3A%3Aerror%3A%3Af\\x1b[1m.lock,line=3,title=package n%2Ca%3Am\\x1b::"
    )
    assert first.endswith("::m%25%0D%0A::warning::x\\x07; have: 2.0, want: 1.0")


def test_junit_with_xml_illegal_characters_parses_and_names_stay_recognisable() -> None:
    report = one("a\x01b\ufffe\udcff\ud800c", "d\x0b/uv.lock")
    report.findings[0].message = "e\x00f\n::error::g"
    out = assert_safe("junit", junit.render(report))
    case = ET.fromstring(out).find("testsuite/testcase")
    assert case is not None and case.get("name") == "a\\x01b\\ufffe\\xff\\ud800c"
    assert case.get("file") == "d\\x0b/uv.lock"
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "e\\x00f\\n::error::g"


def test_undecodable_names_render_in_every_format() -> None:
    undecodable = os.fsdecode(b"plug\xff\xfein/uv.lock")
    report = one(os.fsdecode(b"caf\xe9"), undecodable, fix=[os.fsdecode(b"uv add \x80")])
    report.meta["fixes"] = {undecodable: ["uv lock"]}
    for fmt, out in rendered(report).items():
        assert_safe(fmt, out.encode("utf-8"))
    uri = json.loads(rendered(report)["sarif"])["runs"][0]["results"][0]["locations"][0]
    assert unquote_to_bytes(uri["physicalLocation"]["artifactLocation"]["uri"]) == b"plug\xff\xfein/uv.lock"


def test_sarif_results_name_their_package_or_artifact() -> None:
    results = json.loads(sarif.render(one("urllib3", "uv.lock")))["runs"][0]["results"]
    assert results[0]["message"]["text"].startswith("urllib3: the gateway has another version")


@pytest.mark.parametrize(
    "name", ["a b#c?d%e.lock", "x:y/uv.lock", "ünï/çødé.lock", "/abs dir/#1/\ud800.lock", "a\x01\n.lock"]
)
def test_sarif_uris_are_percent_encoded(name: str) -> None:
    log = json.loads(assert_safe("sarif", sarif.render(one("p", name))))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert unquote_to_bytes(uri.removeprefix("file://")) == Path(name).as_posix().encode("utf-8", "surrogatepass")
    assert urlsplit(uri).scheme == ("file" if name.startswith("/") else "")  # "x:y/…" is no scheme "x"


@EXAMPLES
@given(name=hostile_text.filter(bool))
def test_sarif_is_schema_valid_for_any_file_name(name: str) -> None:
    """Hypothesis: the official schema, formats checked, whatever the artifact path."""
    log = json.loads(assert_safe("sarif", sarif.render(one(name, name))))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert jsonschema.FormatChecker().conforms(uri, "uri-reference"), uri


# --- hypothesis: any report through every renderer ----------------------------------------------

findings = st.builds(
    Finding,
    name=hostile_text,
    kind=st.sampled_from(FindingKind),
    ok=st.booleans(),
    message=hostile_text,
    have=st.none() | hostile_text,
    want=st.none() | hostile_text,
    file=st.none() | hostile_text,
    line=st.none() | st.integers(1, 10**6),
    fix=st.lists(hostile_text, max_size=2),
    problems=st.lists(hostile_text, max_size=2),
    warnings=st.lists(hostile_text, max_size=2),
    skipped=st.none() | hostile_text,
    ignored=st.none() | hostile_text,
)
manifests = st.fixed_dictionaries(
    {
        "source": hostile_text,
        "gateway": st.fixed_dictionaries({"name": hostile_text, "version": hostile_text}),
        "python": hostile_text,
        "soabi": hostile_text,
        "platform": hostile_text,
        "libc": hostile_text,
    }
)
metas = st.fixed_dictionaries(
    {},
    optional={
        "manifest": manifests,
        "lockfiles": st.lists(st.fixed_dictionaries({"path": hostile_text, "manifest": manifests}), max_size=2),
        "fixes": st.dictionaries(hostile_text, st.lists(hostile_text, max_size=2), max_size=2),
    },
)
reports = st.builds(
    Report,
    command=st.sampled_from(["check-plugin", "test-plugin", "build"]),
    findings=st.lists(findings, max_size=4),
    elapsed=st.floats(0, 10_000),
    meta=metas,
)


@EXAMPLES
@given(report=reports)
def test_any_report_is_safe_in_every_format(report: Report) -> None:
    outputs = rendered(report)
    for fmt, out in outputs.items():
        assert_safe(fmt, out)
    data = json.loads(outputs["json"])  # JSON keeps the data exactly
    assert [f["name"] for f in data["findings"]] == [f.name for f in report.findings]
    files = [f.file for f in report.findings if not f.ok and f.file]  # the runner reads back each file
    files += [f.file for f in report.findings if f.file for _ in range(bool(f.skipped) + len(f.warnings))]
    assert annotated_files(outputs["github"]) == [github_view(file) for file in files]


# --- fix lines -------------------------------------------------------------------------------


EVIL_NAME = "x$(touch pwned)`touch pwned2`;touch pwned3 'q\" \\\n#c"


def run_fix_lines(lines: list[str], folder: Path) -> list[list[str]]:
    """Each non-``#`` line run by bash with the package tools as stubs that record their
    arguments: what each command would have received."""
    calls: list[list[str]] = []
    for line in lines:
        if line.startswith("#"):
            assert "\n" not in line and "\r" not in line, line
            continue
        assert subprocess.run(["bash", "-n", "-c", line], capture_output=True).returncode == 0, line
        stubs = "".join(f"{tool}() {{ printf '%s\\0' \"$@\" > args; }}; " for tool in TOOLS)
        (folder / "args").unlink(missing_ok=True)
        subprocess.run(["bash", "-c", stubs + line], cwd=folder, check=True, timeout=30)
        if (folder / "args").exists():  # a tool ran (printf is bash's own)
            calls.append((folder / "args").read_bytes().decode().split("\0")[:-1])
    assert not any(folder.glob("pwned*")), list(folder.iterdir())
    return calls


TOOLS = ("uv", "poetry", "pdm", "pipenv", "pip", "pip-compile")


@pytest.mark.parametrize("tool", ["uv", "poetry", "pdm", "pipenv", "pylock", "requirements"])
def test_fix_lines_run_nothing_but_their_command(tool: str, tmp_path: Path) -> None:
    path = tmp_path / ("requirements.txt" if tool == "requirements" else "lock")
    lock = Lockfile(path, tool, [])
    direct = LockedPackage(EVIL_NAME, Version("2.0"), direct=True)
    transitive = LockedPackage(EVIL_NAME + "t", Version("2.0"))
    lines = fix_commands(lock, [(direct, "1!0"), (transitive, "1.0")])
    calls = run_fix_lines(lines, tmp_path)
    received = [arg for call in calls for arg in call]
    if tool == "pylock":  # printf appends the pins, each exactly as written
        assert (tmp_path / "constraints.txt").read_text() == f"{EVIL_NAME}==1!0\n{EVIL_NAME}t==1.0\n"
        return
    assert f"{EVIL_NAME}==1!0" in received
    if tool in ("poetry", "pipenv", "requirements"):  # uv and pdm take transitive pins in pyproject.toml
        assert f"{EVIL_NAME}t==1.0" in received


def test_fix_line_quotes_the_lockfile_name_on_a_real_check(tmp_path: Path) -> None:
    """check-plugin -f on a requirements file whose folder and name are shell code."""
    manifest = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    manifest["distributions"]["evil"] = "1!0"
    (tmp_path / "gw.json").write_text(json.dumps(manifest))
    folder = tmp_path / "a;rm -rf x $(touch pwned)"
    folder.mkdir()
    lock = folder / "req $(touch pwned2);'x'.txt"
    lock.write_text("evil==2.0\n")
    lock.with_suffix(".in").write_text("evil\n")  # compiled from it: the fix runs pip-compile
    proc = run_bytes(
        "check-plugin", "-s", str(lock.relative_to(tmp_path)), "--manifest", "gw.json", "-f", "-o", "json", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    fixes = json.loads(proc.stdout)["meta"]["fixes"]
    (lines,) = fixes.values()
    lock_name, source = "req $(touch pwned2);'x'.txt", "req $(touch pwned2);'x'.in"
    assert run_fix_lines(lines, tmp_path) == [["-o", lock_name, "--upgrade-package", "evil==1!0", source]]


# --- real runs: lockfiles, manifests, plugins --------------------------------------------------

EVIL_FOLDER = "::error file=x,line=1::p\x1b]8;;https://registry.invalid\x07\u202e$(touch pwned)\n::warning::w\udcff##[m"


def run_bytes(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """The real CLI in a subprocess; its output as bytes (no decoding on our side)."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("KRAKEND_MANIFEST", None)
    return subprocess.run([*krakend_argv(), *args], cwd=cwd, env=env, capture_output=True, timeout=120)


def evil_project(where: Path, folder: str = EVIL_FOLDER, packages: dict[str, Any] | None = None) -> Path:
    """A Pipfile.lock with a mismatch and a plugin-only package, in ``folder``; a gateway manifest
    whose name carries a legacy command and a bidi override."""
    manifest = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    manifest["distributions"]["evil"] = "1.0"
    manifest["gateway"] = {"name": "##[error]gw \u202eevil", "version": "1"}
    (where / "gw.json").write_text(json.dumps(manifest))
    project = where / folder
    project.mkdir(parents=True)
    if packages is None:
        packages = {"evil": {"version": "==2.0"}, "own": {"version": "==1.0"}}
    pipfile = {"_meta": {"hash": {"sha256": "x"}, "pipfile-spec": 6, "requires": {}, "sources": []}}
    (project / "Pipfile.lock").write_text(json.dumps({**pipfile, "default": packages, "develop": {}}))
    return project / "Pipfile.lock"


def test_check_plugin_outputs_on_a_hostile_folder_and_manifest(tmp_path: Path) -> None:
    lock = str(evil_project(tmp_path).relative_to(tmp_path))
    files = {fmt: f"out.{fmt}" for fmt in ("json", "junit", "github", "sarif", "text")}
    outputs = [arg for fmt, name in files.items() for arg in ("-o", f"{fmt}={name}")]
    for stdout in ("text", "github", "junit"):
        proc = run_bytes(
            "check-plugin", "-s", lock, "--manifest", "gw.json", "-f", "-o", stdout, *outputs, cwd=tmp_path
        )
        assert proc.returncode == 1, proc.stderr
        assert_safe(stdout, proc.stdout)
        assert_safe("stderr", proc.stderr)
    for fmt, name in files.items():
        out = assert_safe(fmt, (tmp_path / name).read_bytes())
        if fmt == "github":
            assert set(annotated_files(out)) == {github_view(lock)}  # the KO, and a package it cannot check
    uri = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"][0]["locations"][0]
    assert unquote_to_bytes(uri["physicalLocation"]["artifactLocation"]["uri"]) == os.fsencode(lock)
    text_lines = (tmp_path / "out.text").read_text().splitlines()
    assert text_lines[0] == "1 incompatibility found" and text_lines[1] == "evil"


def test_a_note_on_stderr_forges_no_command(tmp_path: Path) -> None:
    """The "nothing to check" note names the lockfile first: a folder named like a command."""
    lock = evil_project(tmp_path, packages={})
    proc = run_bytes("check-plugin", "-s", str(lock.relative_to(tmp_path)), "--manifest", "gw.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    err = assert_safe("stderr", proc.stderr)
    assert "nothing to check" in err


def test_an_error_line_escapes_bidi_and_legacy_commands(tmp_path: Path) -> None:
    proc = run_bytes("check-plugin", "-s", "##[error]pwned\u202e\x1b[31m/uv.lock", "--manifest", "host", cwd=tmp_path)
    assert proc.returncode == 2
    err = assert_safe("stderr", proc.stderr)
    assert err.count("\n") == 1 and "pwned\\u202e" in err


EVIL_PLUGIN = """
class HandlerRegisterer:
    def register_handlers(self, register):
        register({first!r}, lambda cfg, nxt: nxt)
        register({second!r}, lambda cfg, nxt: nxt)


class ClientRegisterer:
    def register_clients(self, register):
        raise RuntimeError({third!r})
"""


def test_test_plugin_outputs_with_hostile_registered_names_and_errors(tmp_path: Path, host_manifest: Path) -> None:
    plugin = tmp_path / "evil_plugin.py"
    plugin.write_text(
        EVIL_PLUGIN.format(
            first="x\n::error file=a::pwned \x1b]8;;https://registry.invalid\x07l\x1b]8;;\x07 \u202e[red]r ##[m",
            second="::warning::second\r\x01\ufffe\x9b2J",
            third="boom\n::error::forged\x1b[2J",
        )
    )
    for fmt in ("text", "github", "junit", "json", "sarif"):
        proc = run_bytes("test-plugin", "-sc", "--manifest", str(host_manifest), "-o", fmt, str(plugin), cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        out = assert_safe(fmt, proc.stdout)
        assert_safe("stderr", proc.stderr)
        if fmt == "text":
            assert "(registered: x\\n::error file=a::pwned" in out and "::forged\\x1b[2J" in out


# --- hypothesis: real check-plugin runs in hostile folders --------------------------------------

folder_names = hostile_text.map(lambda s: s.replace("/", "_").replace("\0", "_").replace("\ud800", "_")).filter(
    lambda s: s not in ("", ".", "..") and len(os.fsencode(s)) < 200
)


@settings(EXAMPLES, max_examples=max(5, EXAMPLES.max_examples // 4))
@given(folder=folder_names)
def test_real_check_in_any_folder_is_safe_in_every_format(folder: str) -> None:
    """The real CLI (in-process) on a real lockfile in a folder of any name: every format."""
    with tempfile.TemporaryDirectory(prefix="krakend-injection-") as scratch:
        where = Path(scratch)
        lock = evil_project(where, folder)
        files = {fmt: where / f"out.{fmt}" for fmt in ("json", "junit", "github", "sarif", "text")}
        outputs = [arg for fmt, path in files.items() for arg in ("-o", f"{fmt}={path}")]
        cwd = os.getcwd()
        os.chdir(where)  # relative lockfile paths, as pre-commit passes them
        try:
            verdict = run_cli(
                ["check-plugin", "-s", str(lock.relative_to(where)), "--manifest", "gw.json", "-f", *outputs]
            )
        finally:
            os.chdir(cwd)
        assert verdict.code == 1, verdict.stderr
        assert_safe("stderr", verdict.stderr)
        for fmt, path in files.items():
            assert_safe(fmt, path.read_bytes())
        uri = json.loads(files["sarif"].read_text())["runs"][0]["results"][0]["locations"][0]
        assert unquote_to_bytes(uri["physicalLocation"]["artifactLocation"]["uri"]) == os.fsencode(
            lock.relative_to(where)
        )


# --- build: its table and its progress lines ----------------------------------------------------


def test_build_table_escapes_and_no_wrapped_line_forges_a_command() -> None:
    from krakend_tools.cli.build import _table

    message = " ".join(["::error::w"] * 60) + " [/] [link=https://registry.invalid]x\x1b[2J\r::warning::r"
    details = {"artifact": "dist/p\x1b[31m.whl", "test_message": message, "test": "KO", "log": "/tmp/l\n::notice::n"}
    report = Report("build", [Finding("generic/amd64", FindingKind.TARGET, False, message, details=details)], 1.0)
    buffer = io.StringIO()
    _table(report, buffer, False)
    out = assert_safe("text", buffer.getvalue())
    compact = "".join(out.split())  # the table wraps the message: compare without the layout's spaces
    assert "[/][link=https://registry.invalid]x\\x1b[2J\\r::warning::r" in compact  # no markup, no emoji


def test_build_progress_and_log_lines_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from krakend_tools.cli.build import _Display

    display = _Display(["generic/amd64"], verbose=True)
    display.step("generic/amd64", "[/]\r::error::step\x1b[2J")
    display.log("generic/amd64", "pip says\r::error file=a::pwned\x1b]8;;https://registry.invalid\x07")
    err = assert_safe("stderr", capsys.readouterr().err)
    assert "generic/amd64 | pip says\\r::error file=a::pwned\\x1b]8;;https://registry.invalid\\x07" in err


def test_version_text_escapes_a_manifest_from_a_pull_request(tmp_path: Path) -> None:
    manifest = json.loads((FIXTURES / "gateway" / "manifest.json").read_text())
    manifest["gateway"] = {"name": "gw\x9b2J\u202e ##[error]x", "version": "1"}
    (tmp_path / "gw.json").write_text(json.dumps(manifest))
    proc = run_bytes("version", "--manifest", "gw.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = assert_safe("text", proc.stdout)
    assert "Gateway: gw\\x9b2J\\u202e #\\x23[error]x 1" in out.splitlines()
