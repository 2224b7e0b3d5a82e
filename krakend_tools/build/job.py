"""``krakend build``: compile a plugin in the builder image of each target, then test it.

The core returns a :class:`Report` with one :class:`Finding` per target; all it says
while working goes through the ``events`` callbacks (the CLI draws progress from them).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
import tomllib
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.build.requirements import uses_default_builder
from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Manifest
from krakend_tools.manifest.platforms import TARGETS, Libc, Target
from krakend_tools.report import Finding, Report

if TYPE_CHECKING:
    from krakend_tools.containers.engine import Container, Engine

DEFAULT_COMMAND = ("krakend-build-wheel", "/src", "/out")
BEFORE_BUILD = (  # [tool.krakend.build] before-build, then the build command ("$@")
    'echo "+ before-build: $KRAKEND_BEFORE_BUILD"; sh -c "$KRAKEND_BEFORE_BUILD" || '
    '{ code=$?; echo "krakend: error: before-build failed (exit $code)"; exit $code; }; exec "$@"'
)
REPAIR_FAILED = 5  # krakend-run: auditwheel could not repair a wheel to the policy
REQUIRES_MISSING = 6  # krakend-build-wheel: the backend needs a build requirement not fetched
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
PLUGIN_TYPES = ("server", "client", "modifier")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")
ERROR_LINE = re.compile(r"(\berror\b|\bError\b|Traceback|undefined reference)")
NOT_DECISIVE = ("note:", "hint:", "╰─>", "×")  # pip's closing remarks
COMPILER_ERROR = re.compile(r"^(\S+?:\d+(:\d+)?: (fatal )?error: |ld(\.lld)?: error: |error: unable to find .*librar)")
MISSING_HEADER = re.compile(r"'([\w./+-]+\.h)' file not found|([\w./+-]+\.h): No such file")
MISSING_LIBRARY = re.compile(r"unable to find (?:\w+ )*library [\"']?([\w.+-]+)")
COMPILED_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".pyx")
NOT_BUILT = {"test", "tests", "testing", "doc", "docs", "example", "examples", "bench", "benchmarks", "benchmark"}
VCS_VERSIONING = re.compile(r"^\s*(setuptools[-_]scm|hatch[-_]vcs|versioningit|dunamai|setuptools[-_]git)", re.I)


@dataclass
class Events:
    """Callbacks for whoever shows progress: ``step(target, text)`` and ``log(target, line)``."""

    step: Callable[[str, str], None] = lambda target, text: None
    log: Callable[[str, str], None] = lambda target, line: None


@dataclass
class BuildOptions:
    plugin_dir: Path
    targets: list[Target]
    out: Path | None = None  # root; each target writes to <out>/<flavour>-<arch>/
    base_images: dict[str, str] = field(default_factory=dict)  # target -> builder base
    runtime_base_images: dict[str, str] = field(default_factory=dict)  # target -> runtime base
    command: str | None = None
    network: str | None = None  # None: --network none
    arm64: str = "cross"  # cross | emulate
    test: bool = True
    types: list[str] = field(default_factory=list)  # empty: every type the plugin has
    timeout: float = 1800.0
    jobs: int = 1
    manifest: Manifest | None = None
    rebuild_images: bool = False
    engines: dict[str, str] = field(default_factory=dict)  # target -> engine URL
    registry: str | None = None  # official bases from there (default $KRAKEND_IMAGE_REGISTRY)
    before_build: str | None = None  # shell command run in the builder before the build
    environment: dict[str, str] = field(default_factory=dict)  # extra variables for the build
    allow_missing_extensions: bool = False  # a pure wheel from compiled sources: warning, not KO


def parse_targets(values: list[str]) -> list[Target]:
    """``--target`` values (repeatable, comma lists, ``all``) in a stable order."""
    names: list[str] = []
    for value in values or []:
        for item in filter(None, (v.strip() for v in value.split(","))):
            names += list(TARGETS) if item == "all" else [str(Target.parse(item))]
    if not names:
        raise InputError("at least one --target is needed (alpine/amd64, generic/arm64, ... or all)")
    return [Target.parse(n) for n in dict.fromkeys(names)]


def parse_image_map(values: list[str], what: str, value: str = "IMAGE") -> dict[str, str]:
    """``TARGET=IMAGE`` pairs (repeatable)."""
    found: dict[str, str] = {}
    for item in values or []:
        key, sep, image = item.partition("=")
        if not sep or not image.strip():
            raise InputError(f"{what}: expected TARGET={value}, got {item!r}")
        found[str(Target.parse(key))] = image.strip()
    return found


def engine_url(value: str) -> str:
    """An ``--engine`` value: a DOCKER_HOST-style URL, or the name of a docker context."""
    from krakend_tools.containers.engine import context_host

    return value if "://" in value else context_host(value)


def plugin_config(plugin_dir: Path) -> dict[str, Any]:
    """The ``[tool.krakend.build]`` table of the plugin's pyproject (empty if none)."""
    path = plugin_dir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InputError(f"cannot read: {err}", path=path) from None
    table = data.get("tool", {}).get("krakend", {}).get("build", {})
    if not isinstance(table, dict):
        raise InputError("[tool.krakend.build] must be a table", path=path)
    return table


def apply_config(opts: BuildOptions, table: dict[str, Any]) -> None:
    """Fill options the command line left unset from ``[tool.krakend.build]``."""
    if opts.command is None and table.get("command"):
        opts.command = str(table["command"])
    for key, attr in (
        ("base-images", "base_images"),
        ("runtime-base-images", "runtime_base_images"),
        ("engines", "engines"),
    ):
        images = table.get(key) or {}
        if not isinstance(images, dict):
            raise InputError(
                f"[tool.krakend.build.{key}] must be a table of TARGET = {'URL' if key == 'engines' else 'IMAGE'}"
            )
        current: dict[str, str] = getattr(opts, attr)
        for name, image in images.items():
            current.setdefault(str(Target.parse(name)), str(image))
    if opts.registry is None and table.get("registry"):
        opts.registry = str(table["registry"])
    _apply_hooks(opts, table)
    opts.engines = {k: engine_url(v) for k, v in opts.engines.items()}
    if not opts.types and table.get("types"):
        opts.types = [str(t) for t in table["types"]]


def _apply_hooks(opts: BuildOptions, table: dict[str, Any]) -> None:
    """``before-build``, ``environment`` and ``allow-missing-extensions`` of ``[tool.krakend.build]``."""
    before = table.get("before-build")
    if before is not None and not isinstance(before, str):
        raise InputError("[tool.krakend.build] before-build must be a shell command (a string)")
    if opts.before_build is None and before:
        opts.before_build = before
    env = table.get("environment", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise InputError('[tool.krakend.build.environment] must be a table of NAME = "VALUE"')
    bad = [k for k in env if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) or k.startswith("KRAKEND_")]
    if bad:
        raise InputError(f"[tool.krakend.build.environment] {bad[0]!r} is not a variable name a build may set")
    for key, value in env.items():
        opts.environment.setdefault(key, value)
    allow = table.get("allow-missing-extensions", False)
    if not isinstance(allow, bool):
        raise InputError("[tool.krakend.build] allow-missing-extensions must be true or false")
    opts.allow_missing_extensions = opts.allow_missing_extensions or allow


def manifest_target(manifest: Manifest) -> Target:
    """The gateway's own target: ``alpine/arm64`` for a musl arm64 manifest."""
    flavour = "alpine" if manifest.platform.libc_family == "musl" else "generic"
    return Target.parse(f"{flavour}/{manifest.platform.arch}")


def source_size(plugin_dir: Path, limit: int) -> int:
    """The bytes :func:`source_tar` would send, counted until past ``limit``."""
    total = 0
    for folder, dirs, files in os.walk(plugin_dir):
        dirs[:] = [d for d in dirs if d not in EXCLUDE and not d.endswith(".egg-info")]
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
        parts = Path(info.name).parts
        if any(p in EXCLUDE or p.endswith(".egg-info") for p in parts[1:]):
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


def compiler_errors(log: str) -> list[str]:
    """The compiler's and linker's ``error:`` lines, in order."""
    lines = (ln.strip() for ln in log.splitlines())
    return [ln for ln in lines if COMPILER_ERROR.search(ln)]


def error_line(log: str) -> str:
    """The decisive line of a failed build's log: the compiler's first error, pip's ``ERROR:``
    line naming what it could not find, a traceback's exception; never pip's closing note."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errors = compiler_errors(log)
    if errors:
        return errors[0] + _system_library_hint(errors[0])
    pip = [ln for ln in lines if ln.startswith("ERROR:") or ": ERROR: " in ln]
    for wanted in ("No matching distribution", "Could not find a version"):
        named = next((ln for ln in pip if wanted in ln), None)
        if named:
            return named
    for ln in reversed(lines):  # a Python traceback: its last line is the exception
        if EXCEPTION_LINE.match(ln):
            return ln
    if pip:
        return pip[0]
    for ln in reversed(lines):
        if ERROR_LINE.search(ln) and not ln.startswith(NOT_DECISIVE) and "subprocess-exited-with-error" not in ln:
            return ln
    return lines[-1] if lines else "no output"


def _system_library_hint(line: str) -> str:
    """A header or library the builder lacks: say how to provide it."""
    missing = MISSING_HEADER.search(line) or MISSING_LIBRARY.search(line)
    if missing is None:
        return ""
    name = next(g for g in missing.groups() if g)
    return (
        f" (the builder has no {name}: a system library the project needs; provide it"
        " with [tool.krakend.build] before-build and environment, see docs/build.md)"
    )


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


def lost_extensions(files: list[Path], plugin_dir: Path, log: str) -> str | None:
    """Why the build silently lost its compiled part, or None: a pure wheel from a project with
    compiled sources, or a build that went on after compiler errors."""
    wheels = [f for f in files if f.suffix == ".whl"]
    errors = compiler_errors(log)
    pure = [w for w in wheels if w.name.endswith("-none-any.whl")]
    if pure and len(pure) == len(wheels):
        sources = compiled_sources(plugin_dir)
        if sources:
            why = errors[0] + _system_library_hint(errors[0]) if errors else "no extension module was built"
            return f"{pure[0].name} is pure Python, yet the project compiles {sources[0]}: {why}"
    if errors:
        return f"the build went on after a compiler error: {errors[0]}{_system_library_hint(errors[0])}"
    return None


def wheel_version_problem(files: list[Path], requires: list[str]) -> str | None:
    """A wheel versioned ``0.0.0`` by a VCS-versioning backend that found no version."""
    for wheel in (f for f in files if f.suffix == ".whl"):
        parts = wheel.name.split("-")
        if len(parts) >= 5 and parts[1] == "0.0.0" and any(VCS_VERSIONING.search(r) for r in requires):
            return (
                f"{wheel.name}: version 0.0.0, the VCS-versioning build requirement found no version (the"
                " builder gets no .git): build from an sdist (PKG-INFO carries the version) or set"
                " SETUPTOOLS_SCM_PRETEND_VERSION in [tool.krakend.build.environment]"
            )
    return None


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MB"


@dataclass
class Plan:
    """What one target needs: its engine, images, compiler target and wheel policy."""

    target: Target
    engine: Engine
    builder: str
    builder_platform: str
    cross: bool
    runtime: str | None
    out_dir: Path
    manifest: Manifest  # the target's: its runtime image's, else its builder's
    cross_files: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    builder_manifest: Manifest | None = None  # the builder's own interpreter (build requirements)

    @property
    def zig_target(self) -> str:
        """``aarch64-linux-gnu.2.36``: glibc capped at the gateway's; ``x86_64-linux-musl``."""
        libc = self.manifest.platform.libc
        if self.target.libc_family == "musl":
            return f"{self.target.machine}-linux-musl"
        version = f".{libc.version[0]}.{libc.version[1]}" if libc.family == "glibc" and len(libc.version) >= 2 else ""
        return f"{self.target.machine}-linux-gnu{version}"

    @property
    def wheel_plat(self) -> str | None:
        """The auditwheel policy ceiling: the gateway's libc (``manylinux_2_36_aarch64``)."""
        libc = self.manifest.platform.libc
        if len(libc.version) < 2:
            return None
        kind = "manylinux" if libc.family == "glibc" else "musllinux"
        return f"{kind}_{libc.version[0]}_{libc.version[1]}_{self.target.machine}"


def _target_manifest(images_manifest: Manifest, wanted: Manifest | None) -> Manifest:
    """The image's manifest, its libc capped by the gateway manifest's of the same family."""
    libc, cap = images_manifest.platform.libc, wanted.platform.libc if wanted else None
    if cap is not None and cap.family == libc.family and cap < libc:
        images_manifest.platform.libc_version = cap.version_text
    return images_manifest


def preflight(engines: dict[str | None, Engine], opts: BuildOptions) -> None:
    """Before any work: every target can run on its engine."""
    for target in opts.targets:
        engine = engines[opts.engines.get(str(target))]
        if target.arch == "arm64" and (opts.arm64 == "emulate" or opts.test):
            engine.require_platform("arm64")


def prepare(engine: Engine, targets: list[Target], opts: BuildOptions, events: Events) -> list[Plan]:
    """The images of each target on ``engine`` (built from ``builders/`` if missing)."""
    from krakend_tools.containers import images
    from krakend_tools.containers.image_manifest import manifest_from_labels

    out_root = opts.out if opts.out is not None else opts.plugin_dir / "dist"
    plans = []
    for target in targets:
        cross = target.arch == "arm64" and opts.arm64 == "cross" and engine.arch == "amd64"
        build_as = Target(target.flavour, "amd64") if cross else target
        say = functools.partial(events.step, str(target))
        warnings: list[str] = []

        def warn(text: str, say: Callable[[str], None] = say, into: list[str] = warnings) -> None:
            if text not in into:
                into.append(text)
            say(text)

        ensure = functools.partial(
            images.ensure_image,
            engine,
            manifest=opts.manifest,
            progress=say,
            warn=warn,
            rebuild=opts.rebuild_images,
            registry=opts.registry,
        )
        builder = ensure(build_as, "builder", base=opts.base_images.get(str(build_as)))
        runtime = ensure(target, "runtime", base=opts.runtime_base_images.get(str(target))) if opts.test else None
        manifest = _target_manifest(manifest_from_labels(engine, runtime or builder), opts.manifest)
        plan = Plan(
            target,
            engine,
            builder,
            build_as.platform,
            cross,
            runtime,
            out_root / f"{target.flavour}-{target.arch}",
            manifest,
            warnings=warnings,
            builder_manifest=manifest_from_labels(engine, builder),
        )
        if cross:
            say(f"{target}: Python headers and sysconfig data from its base image")
            bases = (
                [opts.base_images[str(target)]]
                if str(target) in opts.base_images
                else images.official_bases(target, opts.manifest or manifest, opts.registry)
            )
            minor = ".".join(manifest.python.version.split(".")[:2])
            plan.cross_files = images.cross_files(engine, target, bases, minor)
        plans.append(plan)
    return plans


def _owner() -> tuple[int, int] | None:
    """Under sudo, hand outputs back to the user who called it."""
    if os.geteuid() == 0 and os.environ.get("SUDO_UID", "").isdigit():
        return int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", "0") or 0)
    return None


def _chown_tree(path: Path) -> None:
    owner = _owner()
    if owner is None:
        return
    for p in [path, *path.rglob("*")]:
        with contextlib.suppress(OSError):
            os.chown(p, *owner, follow_symlinks=False)


def _untar(data: bytes, dest: Path) -> list[Path]:
    """A ``/out/.`` tar from the container into ``dest``; the top-level files there."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        for m in members:
            m.name = m.name[2:] if m.name.startswith("./") else m.name
        tar.extractall(dest, members=[m for m in members if m.name not in ("", ".")], filter="data")
    return sorted(p for p in dest.iterdir() if p.is_file() and not p.name.startswith("."))


def _test_artifacts(
    plan: Plan, files: list[Path], types: list[str], opts: BuildOptions | None = None
) -> tuple[bool, str, dict[str, Any]]:
    """Static checks on the host, then the import probe in the gateway environment: the
    runtime image with the gateway's packages, the plugin folder's lockfile after them."""
    from krakend_tools.plugin_test import job as testplugin
    from krakend_tools.plugin_test.docker_runner import build_test_runner

    assert plan.runtime is not None
    testable = [f for f in files if f.suffix in (".whl", ".so", ".py")]
    if not testable:
        return False, "no wheel or extension module in the build output", {}
    gateway, folder = (opts.manifest, opts.plugin_dir) if opts else (None, None)
    runner, manifest, env = build_test_runner(plan.engine, plan.runtime, plan.target, plan.manifest, gateway, folder)
    kinds = types or list(PLUGIN_TYPES)
    report = testplugin.run([str(f) for f in testable], manifest, kinds, runner=runner, jobs=1, env=env)
    # the files are tested in the staging folder, gone after the run: name their published place
    result = json.loads(
        json.dumps(report.to_dict(), default=str).replace(
            json.dumps(str(testable[0].parent))[1:-1], json.dumps(str(plan.out_dir))[1:-1]
        )
    )
    details: dict[str, Any] = {
        "runner": runner.description,
        "findings": result["findings"],
        "artifacts": result.get("artifacts", []),
        "gateway_environment": env.to_dict(),
    }
    if types:
        bad = report.failures
    else:  # every type the plugin has: "does not contain a ...Registerer" is not a failure
        bad = [f for f in report.failures if "does not contain a" not in f.message]
        if not [f for f in report.findings if f.ok]:
            bad = bad or report.failures
    registered = sorted({n for f in report.findings if f.ok for n in f.details.get("registered", [])})
    details["registered"] = registered
    if bad:
        return False, f"{bad[0].kind.lower()}: {bad[0].message} (in {env.describe()})", details
    return (
        True,
        ("registered " + ", ".join(registered) if registered else "imported") + f" in {env.describe()}",
        details,
    )


def too_new_symbols(wheel: Path, libc: Libc) -> list[str]:
    """``memfd_create@GLIBC_2.27 in pkg/_mem.so``: each need newer than ``libc`` (glibc)."""
    from krakend_tools.elf import ElfError, read_elf_member

    found = []
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".so") and ".so." not in info.filename:
                continue
            try:
                facts = read_elf_member(zf, info, info.filename)
            except ElfError:
                continue
            for need in facts.version_needs:
                name, _, version = need.version.partition("_")
                if name != "GLIBC" or need.weak or not version[:1].isdigit():
                    continue
                if tuple(int(p) for p in version.split(".") if p.isdigit()) > libc.version:
                    symbols = ", ".join(f"{sym}@{need.version}" for sym in need.symbols) or need.version
                    found.append(f"{symbols} in {info.filename}")
    return found


def _repair_verdict(files: list[Path], plan: Plan, log: str) -> str:
    """Why auditwheel refused: the symbol that needs a newer libc than the gateway's."""
    libc = plan.manifest.platform.libc
    problems = [p for w in files if w.suffix == ".whl" for p in too_new_symbols(w, libc)]
    line = next((ln for ln in reversed(log.splitlines()) if "auditwheel cannot repair" in ln), "")
    why = (
        f"needs {problems[0]}, newer than the gateway's {libc}"
        if problems
        else line.partition(": ")[2] or "auditwheel failed"
    )
    return f"the wheel cannot be tagged {plan.wheel_plat}: {why}"


class _Run:
    """One target's staging folder and ``build.log``; publishes both, whatever happens."""

    def __init__(self, plan: Plan, events: Events) -> None:
        self.plan, self.events, self.name = plan, events, str(plan.target)
        plan.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{plan.out_dir.name}.", dir=plan.out_dir.parent))
        self._lock = threading.Lock()
        self._fh = (self.staging / "build.log").open("w")

    def log(self, line: str) -> None:
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()
        self.events.log(self.name, line)

    def close(self, finding: Finding) -> None:
        with self._lock:
            self._fh.close()
        try:
            self.plan.out_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.staging / "build.log"), self.plan.out_dir / "build.log")
            finding.details["log"] = str(self.plan.out_dir / "build.log")
            _chown_tree(self.plan.out_dir)
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)


def _build_env(plan: Plan, opts: BuildOptions) -> dict[str, str]:
    env = {
        **opts.environment,
        "SRC": "/src",
        "OUT": "/out",
        "KRAKEND_TARGET": str(plan.target),
        "PIP_CACHE_DIR": "/cache/pip",
        "KRAKEND_NETWORK": "1" if opts.network else "0",
        "KRAKEND_ZIG_TARGET": plan.zig_target,
    }
    if plan.wheel_plat:
        env["KRAKEND_WHEEL_PLAT"] = plan.wheel_plat
    if plan.cross:
        env["KRAKEND_CROSS"] = plan.target.machine
    if opts.before_build:
        env["KRAKEND_BEFORE_BUILD"] = opts.before_build
    return env


def _compile(
    box: Container, plan: Plan, opts: BuildOptions, run: _Run, cancel: threading.Event, requires: bytes | None
) -> tuple[int | None, str, list[Path]]:
    """Copy the source (cross files, build requirements) in, run the build, copy ``/out`` back."""
    box.copy_into(source_tar(opts.plugin_dir, [plan.out_dir.parent]))
    for extra in (plan.cross_files, requires):
        if extra:
            box.copy_into(extra)
    if cancel.is_set():
        raise KeyboardInterrupt
    result = box.run(timeout=opts.timeout, on_line=run.log)
    files: list[Path] = []
    if result.exit_code in (0, REPAIR_FAILED):
        run.events.step(run.name, "collecting")
        produced = run.staging / "artifacts"
        shutil.rmtree(produced, ignore_errors=True)
        produced.mkdir()
        files = _untar(box.copy_out("/out/.") or b"", produced)
    code = None if result.timed_out else result.exit_code
    return code, result.log, files


class BuildFailed(Exception):
    """A target's build cannot run or finish; the message is its KO line."""


def _requires_tar(plan: Plan, opts: BuildOptions, requires: list[str], run: _Run) -> bytes:
    """The build requirements' wheels for the builder's interpreter, fetched here (cached)."""
    from krakend_tools.build import requirements as buildreqs
    from krakend_tools.cache import FetchError

    builder = plan.builder_manifest or plan.manifest
    try:
        folder = buildreqs.fetch(requires, builder, lambda text: run.events.step(run.name, text))
    except FetchError as err:
        where = f"{buildreqs.platform_tags(builder)[0]}, Python {builder.python.version}"
        raise BuildFailed(f"a build requirement cannot be fetched for the builder ({where}): {err}") from None
    run.log(f"# build requirements: {', '.join(requires)} ({len(list(folder.glob('*.whl')))} wheels, offline)")
    return buildreqs.as_tar(folder, requires)


def _compile_target(
    plan: Plan, opts: BuildOptions, run: _Run, cancel: threading.Event
) -> tuple[int | None, str, list[Path]]:
    """Run the build in a fresh builder container; once more when the backend asks for more
    build requirements than ``[build-system] requires`` (``get_requires_for_build_wheel``)."""
    from krakend_tools.build import requirements as buildreqs
    from krakend_tools.containers.images import CACHE_VOLUME

    command = ["sh", "-c", opts.command] if opts.command else list(DEFAULT_COMMAND)
    if opts.before_build:
        command = ["sh", "-c", BEFORE_BUILD, "sh", *command]
    command = ["krakend-run", *command]
    # with --network, krakend-build-wheel runs pip wheel, which fetches them itself
    wants = not opts.network and buildreqs.uses_default_builder(opts.command) and _is_python_project(opts.plugin_dir)
    requires = buildreqs.build_system(opts.plugin_dir).requires if wants else []
    for attempt in (1, 2):
        run.log(f"# {run.name}: {plan.builder} ({plan.builder_platform}) on {plan.engine.url} $ {' '.join(command)}")
        tar = _requires_tar(plan, opts, requires, run) if wants else None
        run.events.step(run.name, "compiling")
        with plan.engine.container(
            plan.builder,
            command,
            platform=plan.builder_platform,
            network=opts.network or "none",
            environment=_build_env(plan, opts),
            volumes={CACHE_VOLUME: {"bind": "/cache", "mode": "rw"}},
            working_dir="/src",
        ) as box:
            code, log, files = _compile(box, plan, opts, run, cancel, tar)
        more = [r for r in buildreqs.missing_in_log(log) if r not in requires] if code == REQUIRES_MISSING else []
        if not more or attempt == 2:
            return code, log, files
        requires = requires + more
    raise AssertionError("unreachable")


def _is_python_project(folder: Path) -> bool:
    return any((folder / n).is_file() for n in ("pyproject.toml", "setup.py"))


def build_target(plan: Plan, opts: BuildOptions, events: Events, cancel: threading.Event) -> Finding:
    """Build, collect, repair, test and publish one target. Never leaves a container behind."""
    name = str(plan.target)
    start = time.monotonic()
    finding = Finding(
        name=name,
        kind="target",
        ok=False,
        details={
            "builder": plan.builder,
            "runtime": plan.runtime,
            "engine": plan.engine.url,
            "arm64": ("cross" if plan.cross else "emulate") if plan.target.arch == "arm64" else None,
            "zig_target": plan.zig_target,
            "wheel_plat": plan.wheel_plat,
            "out": str(plan.out_dir),
            "test": "skipped",
            "warnings": plan.warnings,
            "build_time": None,
        },
    )
    run = _Run(plan, events)
    try:
        # 1. compile in the builder (copy the source and build requirements in, run, copy /out back)
        try:
            code, log, files = _compile_target(plan, opts, run, cancel)
        except BuildFailed as err:
            finding.message = str(err)
            return finding
        finding.details["build_time"] = round(time.monotonic() - start, 2)
        # 2. a failed build says why: timeout, compiler error, or a wheel too new for the libc
        if code is None:
            finding.message = f"build timed out after {opts.timeout:g}s"
            return finding
        if code == REPAIR_FAILED:  # a wheel with no extension left is not auditwheel's fault
            lost = lost_extensions([], opts.plugin_dir, log) if compiler_errors(log) else None
            finding.message = lost or _repair_verdict(files, plan, log)
            return finding
        if code == REQUIRES_MISSING:
            from krakend_tools.build.requirements import missing_in_log

            finding.message = f"build requirements still missing offline: {', '.join(missing_in_log(log))}"
            return finding
        if code != 0:
            finding.message = f"build failed (exit {code}): {error_line(log)}"
            return finding
        if not files:
            finding.message = "the build command wrote nothing to /out"
            return finding
        lost = lost_extensions(files, opts.plugin_dir, log) if uses_default_builder(opts.command) else None
        lost = lost or _version_problem(files, opts)
        if lost and not opts.allow_missing_extensions:
            finding.message = lost + " (accept with --allow-missing-extensions)"
            return finding
        if lost:
            plan.warnings.append(f"warning: {lost}")
            events.step(name, f"warning: {lost}")
        main = next((f for f in files if f.suffix == ".whl"), files[0])
        finding.file = str(plan.out_dir / main.name)
        finding.details.update(artifact=main.name, size=main.stat().st_size, files=[f.name for f in files])
        ok, message = True, f"built {main.name} ({_human(main.stat().st_size)})"
        # 3. static checks here, import test in the runtime image
        if plan.runtime is not None and not cancel.is_set():
            events.step(name, "testing")
            ok, verdict, details = _test_artifacts(plan, files, opts.types, opts)
            finding.details.update(test="OK" if ok else "KO", test_message=verdict, test_details=details)
            message += f"; test {'OK' if ok else 'KO'}: {verdict}"
        # 4. publish: the target's folder gets the complete staging content
        if cancel.is_set():
            raise KeyboardInterrupt
        events.step(name, "writing")
        _publish(files, plan.out_dir)
        finding.ok, finding.message = ok, message
        if plan.runtime is None:  # --no-test: built, not proven to load; every format says so
            finding.skipped = "import test not run (--no-test)"
        return finding
    finally:
        finding.details["elapsed"] = round(time.monotonic() - start, 2)
        run.close(finding)
        events.step(name, "OK" if finding.ok else "KO")


def _version_problem(files: list[Path], opts: BuildOptions) -> str | None:
    from krakend_tools.build.requirements import build_system

    return wheel_version_problem(files, build_system(opts.plugin_dir).requires)


def _publish(files: list[Path], out_dir: Path) -> None:
    """Move complete artifacts into ``out_dir`` (old artifacts there are replaced)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        if old.name != "build.log" and old.is_file():
            old.unlink()
    for f in files:
        tmp = out_dir / f".{f.name}.part"
        shutil.move(str(f), tmp)
        os.replace(tmp, out_dir / f.name)  # atomic on one filesystem


def _validate(opts: BuildOptions) -> None:
    if not opts.plugin_dir.is_dir():
        raise InputError("not a folder", path=opts.plugin_dir)
    if opts.out is None:  # the project's dist/ may come from a pull request: a link there could point anywhere
        project = opts.plugin_dir.resolve()
        for out_dir in (opts.plugin_dir / "dist" / f"{t.flavour}-{t.arch}" for t in opts.targets):
            if not out_dir.resolve().is_relative_to(project):
                raise InputError(f"links outside the project ({out_dir.resolve()}): give --out", path=out_dir)
    if opts.command is None and not any((opts.plugin_dir / n).is_file() for n in ("pyproject.toml", "setup.py")):
        raise InputError(
            "not a Python project: no pyproject.toml or setup.py (or give the build command: --command)",
            path=opts.plugin_dir,
        )
    if source_size(opts.plugin_dir, MAX_SOURCE_BYTES) > MAX_SOURCE_BYTES:
        raise InputError(
            f"the plugin's source is over {MAX_SOURCE_BYTES >> 20} MiB (without {', '.join(sorted(EXCLUDE))}):"
            " is this the plugin's folder?",
            path=opts.plugin_dir,
        )
    if opts.arm64 not in ("cross", "emulate"):
        raise InputError(f"--arm64 must be cross or emulate, not {opts.arm64!r}")
    if opts.timeout <= 0 or opts.jobs < 1:
        raise InputError("--timeout and -j must be positive")
    bad = [t for t in opts.types if t not in PLUGIN_TYPES]
    if bad:
        raise InputError(f"unknown plugin type {bad[0]!r}: expected server, client or modifier")


def _run_plans(plans: list[Plan], opts: BuildOptions, events: Events, cancel: threading.Event) -> list[Finding]:
    """The targets of one engine, ``-j`` at a time."""
    if opts.jobs == 1 or len(plans) == 1:
        return [build_target(p, opts, events, cancel) for p in plans]
    pool = ThreadPoolExecutor(max_workers=min(opts.jobs, len(plans)))
    try:
        futures = [pool.submit(build_target, p, opts, events, cancel) for p in plans]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_engines(
    engines: dict[str | None, Engine], opts: BuildOptions, events: Events, cancel: threading.Event, start: float
) -> list[Finding]:
    """Each engine prepares and builds its targets; different engines in parallel."""
    groups: dict[str | None, list[Target]] = {}
    for target in opts.targets:
        groups.setdefault(opts.engines.get(str(target)), []).append(target)

    def run(key: str | None) -> list[Finding]:
        began = round(time.monotonic() - start, 2)
        found = _run_plans(prepare(engines[key], groups[key], opts, events), opts, events, cancel)
        for f in found:  # when this engine's work ran, relative to the start of the build
            f.details["window"] = [began, round(time.monotonic() - start, 2)]
        return found

    if len(groups) == 1:
        findings = run(next(iter(groups)))
    else:
        pool = ThreadPoolExecutor(max_workers=len(groups))
        try:
            futures = [pool.submit(run, key) for key in groups]
            findings = [f for fut in futures for f in fut.result()]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    order = [str(t) for t in opts.targets]
    return sorted(findings, key=lambda f: order.index(f.name))


def build(opts: BuildOptions, events: Events | None = None, engine: Engine | None = None) -> Report:
    """Build every target of ``opts``; one finding per target. Ctrl-C cleans up and re-raises."""
    from krakend_tools.containers.engine import connect

    events = events or Events()
    start = time.monotonic()
    _validate(opts)
    engines: dict[str | None, Engine] = {None: engine or connect()}
    for url in dict.fromkeys(opts.engines.get(str(t)) for t in opts.targets):
        if url is not None:
            engines[url] = connect(url)
    cancel = threading.Event()
    try:
        preflight(engines, opts)
        findings = _run_engines(engines, opts, events, cancel, start)
    except BaseException:
        cancel.set()
        for eng in engines.values():
            eng.cleanup()
        raise
    meta = {
        "targets": [str(t) for t in opts.targets],
        "arm64": opts.arm64,
        "network": opts.network or "none",
        "jobs": opts.jobs,
        "plugin": str(opts.plugin_dir),
        "engine": engines[None].url,
        "engines": {str(t): engines[opts.engines.get(str(t))].url for t in opts.targets},
        "manifest": opts.manifest.summary() if opts.manifest is not None else None,
    }
    return Report("build", findings, time.monotonic() - start, meta)
