"""``krakend build``: compile a plugin in the builder image of each target, then test it.

The core returns a :class:`Report` with one :class:`Finding` per target; all it says
while working goes through the ``events`` callbacks (the CLI draws progress from them).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError
from krakend_tools.manifest import Manifest
from krakend_tools.platforms import TARGETS, Target
from krakend_tools.report import Finding, Report

DEFAULT_COMMAND = ("krakend-build-wheel", "/src", "/out")
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
PLUGIN_TYPES = ("server", "client", "modifier")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")
ERROR_LINE = re.compile(r"(\berror\b|\bError\b|Traceback|undefined reference)")


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


def parse_targets(values: list[str]) -> list[Target]:
    """``--target`` values (repeatable, comma lists, ``all``) in a stable order."""
    names: list[str] = []
    for value in values or []:
        for item in filter(None, (v.strip() for v in value.split(","))):
            names += list(TARGETS) if item == "all" else [str(Target.parse(item))]
    if not names:
        raise InputError("at least one --target is needed (alpine/amd64, generic/arm64, ... or all)")
    return [Target.parse(n) for n in dict.fromkeys(names)]


def parse_image_map(values: list[str], what: str) -> dict[str, str]:
    """``TARGET=IMAGE`` pairs (repeatable)."""
    found: dict[str, str] = {}
    for item in values or []:
        key, sep, image = item.partition("=")
        if not sep or not image.strip():
            raise InputError(f"{what}: expected TARGET=IMAGE, got {item!r}")
        found[str(Target.parse(key))] = image.strip()
    return found


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
    for key, attr in (("base-images", "base_images"), ("runtime-base-images", "runtime_base_images")):
        images = table.get(key) or {}
        if not isinstance(images, dict):
            raise InputError(f"[tool.krakend.build.{key}] must be a table of TARGET = IMAGE")
        current: dict[str, str] = getattr(opts, attr)
        for name, image in images.items():
            current.setdefault(str(Target.parse(name)), str(image))
    if not opts.types and table.get("types"):
        opts.types = [str(t) for t in table["types"]]


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


def error_line(log: str) -> str:
    """The line a user needs from a failed build: the compiler's first error."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in lines:
        if ": error:" in ln or ": fatal error:" in ln:
            return ln
    for ln in reversed(lines):  # a Python traceback: its last line is the exception
        if EXCEPTION_LINE.match(ln):
            return ln
    for ln in reversed(lines):
        if ERROR_LINE.search(ln):
            return ln
    return lines[-1] if lines else "no output"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MB"


@dataclass
class Plan:
    """What one target needs: the images and how the container runs."""

    target: Target
    builder: str
    builder_platform: str
    cross: bool
    runtime: str | None
    out_dir: Path


def prepare(engine: Any, opts: BuildOptions, events: Events) -> list[Plan]:
    """Preflight for every target, then the images (built from ``builders/`` if missing)."""
    from krakend_tools.engine import LABEL_CROSS, ensure_image

    out_root = opts.out if opts.out is not None else opts.plugin_dir / "dist"
    for target in opts.targets:
        if target.arch == "arm64" and (opts.arm64 == "emulate" or opts.test):
            engine.require_platform("arm64")
    plans = []
    for target in opts.targets:
        cross = target.arch == "arm64" and opts.arm64 == "cross" and engine.arch == "amd64"
        build_target = Target(target.flavour, "amd64") if cross else target
        say = (lambda t: lambda line: events.step(t, line))(str(target))
        builder = ensure_image(
            engine,
            build_target,
            "builder",
            manifest=opts.manifest,
            base=opts.base_images.get(str(build_target)),
            progress=say,
            rebuild=opts.rebuild_images,
        )
        if cross and not engine.labels(builder).get(LABEL_CROSS):
            raise InputError(
                f"{target}: builder {builder} has no arm64 cross toolchain; "
                "use --arm64=emulate or a base image that carries one"
            )
        runtime = None
        if opts.test:
            runtime = ensure_image(
                engine,
                target,
                "runtime",
                manifest=opts.manifest,
                base=opts.runtime_base_images.get(str(target)),
                progress=say,
                rebuild=opts.rebuild_images,
            )
        plans.append(
            Plan(target, builder, build_target.platform, cross, runtime, out_root / f"{target.flavour}-{target.arch}")
        )
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
            os.chown(p, *owner)


def _extract_out(container: Any, dest: Path) -> list[Path]:
    """Copy ``/out`` of the container into ``dest``; the top-level files there."""
    stream, _ = container.get_archive("/out/.")
    buf = io.BytesIO(b"".join(stream))
    with tarfile.open(fileobj=buf) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        for m in members:
            m.name = m.name[2:] if m.name.startswith("./") else m.name
        tar.extractall(dest, members=[m for m in members if m.name not in ("", ".")], filter="data")
    return sorted(p for p in dest.iterdir() if p.is_file())


def _test_artifacts(
    engine: Any, plan: Plan, files: list[Path], types: list[str], manifest: Manifest
) -> tuple[bool, str, dict[str, Any]]:
    """Static checks on the host, then the import probe in the runtime image."""
    from krakend_tools import testplugin
    from krakend_tools.engine import DockerRunner

    assert plan.runtime is not None
    testable = [f for f in files if f.suffix in (".whl", ".so", ".py")]
    if not testable:
        return False, "no wheel or extension module in the build output", {}
    runner = DockerRunner(plan.runtime, plan.target.platform, engine)
    kinds = types or list(PLUGIN_TYPES)
    report = testplugin.run([str(f) for f in testable], manifest, kinds, runner=runner, jobs=1)
    details: dict[str, Any] = {"runner": runner.description, "findings": [vars(f) for f in report.findings]}
    if types:
        bad = report.failures
    else:  # every type the plugin has: "does not contain a ...Registerer" is not a failure
        bad = [f for f in report.failures if "does not contain a" not in f.message]
        if not [f for f in report.findings if f.ok]:
            bad = bad or report.failures
    registered = sorted({n for f in report.findings if f.ok for n in f.details.get("registered", [])})
    details["registered"] = registered
    if bad:
        return False, f"{bad[0].kind.lower()}: {bad[0].message}", details
    return True, "registered " + ", ".join(registered) if registered else "imported", details


def build_target(engine: Any, plan: Plan, opts: BuildOptions, events: Events, cancel: threading.Event) -> Finding:
    """Build, collect, test and publish one target. Never leaves a container behind."""
    from krakend_tools.engine import CACHE_VOLUME, manifest_from_labels

    name = str(plan.target)
    start = time.monotonic()
    finding = Finding(
        name=name,
        kind="TARGET",
        ok=False,
        details={
            "builder": plan.builder,
            "runtime": plan.runtime,
            "arm64": ("cross" if plan.cross else "emulate") if plan.target.arch == "arm64" else None,
            "out": str(plan.out_dir),
            "test": "skipped",
        },
    )
    plan.out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{plan.out_dir.name}.", dir=plan.out_dir.parent))
    log_path = staging / "build.log"
    log_lock = threading.Lock()
    log_fh = log_path.open("w")

    def log(line: str) -> None:
        with log_lock:
            log_fh.write(line + "\n")
            log_fh.flush()
        events.log(name, line)

    try:
        command = ["sh", "-c", opts.command] if opts.command else list(DEFAULT_COMMAND)
        if plan.cross:
            command = ["krakend-cross", plan.target.machine, *command]
        env = {
            "SRC": "/src",
            "OUT": "/out",
            "KRAKEND_TARGET": name,
            "PIP_CACHE_DIR": "/cache/pip",
            "KRAKEND_NETWORK": "1" if opts.network else "0",
        }
        log(f"# {name}: {plan.builder} ({plan.builder_platform}) $ {' '.join(command)}")
        events.step(name, "compiling")
        container = engine.create(
            plan.builder,
            command,
            platform=plan.builder_platform,
            network=opts.network or "none",
            environment=env,
            volumes={CACHE_VOLUME: {"bind": "/cache", "mode": "rw"}},
            working_dir="/src",
        )
        try:
            container.put_archive("/", source_tar(opts.plugin_dir, [plan.out_dir.parent]))
            if cancel.is_set():
                raise KeyboardInterrupt
            result = engine.run_streaming(container, timeout=opts.timeout, on_line=log)
            finding.details["build_time"] = round(result.elapsed, 2)
            if result.timed_out:
                finding.message = f"build timed out after {opts.timeout:g}s"
                return finding
            if result.exit_code != 0:
                finding.message = f"build failed (exit {result.exit_code}): {error_line(result.log)}"
                return finding
            events.step(name, "collecting")
            produced = staging / "artifacts"
            produced.mkdir()
            files = _extract_out(container, produced)
        finally:
            engine.remove_container(container)
        if not files:
            finding.message = "the build command wrote nothing to /out"
            return finding
        main = next((f for f in files if f.suffix == ".whl"), files[0])
        finding.file = str(plan.out_dir / main.name)
        finding.details.update(artifact=main.name, size=main.stat().st_size, files=[f.name for f in files])
        ok, message = True, f"built {main.name} ({_human(main.stat().st_size)})"
        if plan.runtime is not None and not cancel.is_set():
            events.step(name, "testing")
            manifest = manifest_from_labels(engine, plan.runtime)
            ok, verdict, details = _test_artifacts(engine, plan, files, opts.types, manifest)
            finding.details.update(test="OK" if ok else "KO", test_message=verdict, test_details=details)
            message += f"; test {'OK' if ok else 'KO'}: {verdict}"
        # publish: replace the target's folder with the complete staging content
        if cancel.is_set():
            raise KeyboardInterrupt
        events.step(name, "writing")
        final = staging / "final"
        final.mkdir()
        for f in files:
            shutil.move(str(f), final / f.name)
        _publish(final, plan.out_dir)
        finding.ok = ok
        finding.message = message
        return finding
    finally:
        finding.details.setdefault("build_time", None)
        finding.details["elapsed"] = round(time.monotonic() - start, 2)
        with log_lock:
            log_fh.close()
        try:
            plan.out_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(str(log_path), plan.out_dir / "build.log")
            finding.details["log"] = str(plan.out_dir / "build.log")
            _chown_tree(plan.out_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        events.step(name, "OK" if finding.ok else "KO")


def _publish(ready: Path, out_dir: Path) -> None:
    """Move complete artifacts into ``out_dir`` (old artifacts there are replaced)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        if old.name != "build.log" and old.is_file():
            old.unlink()
    for f in ready.iterdir():
        tmp = out_dir / f".{f.name}.part"
        shutil.move(str(f), tmp)
        os.replace(tmp, out_dir / f.name)  # atomic on one filesystem


def build(opts: BuildOptions, events: Events | None = None, engine: Any = None) -> Report:
    """Build every target of ``opts``; one finding per target. Ctrl-C cleans up and re-raises."""
    from krakend_tools.engine import connect

    events = events or Events()
    start = time.monotonic()
    if not opts.plugin_dir.is_dir():
        raise InputError("not a folder", path=opts.plugin_dir)
    if opts.arm64 not in ("cross", "emulate"):
        raise InputError(f"--arm64 must be cross or emulate, not {opts.arm64!r}")
    if opts.timeout <= 0 or opts.jobs < 1:
        raise InputError("--timeout and -j must be positive")
    bad = [t for t in opts.types if t not in PLUGIN_TYPES]
    if bad:
        raise InputError(f"unknown plugin type {bad[0]!r}: expected server, client or modifier")
    engine = engine or connect()
    cancel = threading.Event()
    try:
        plans = prepare(engine, opts, events)
        if opts.jobs == 1 or len(plans) == 1:
            findings = [build_target(engine, p, opts, events, cancel) for p in plans]
        else:
            pool = ThreadPoolExecutor(max_workers=min(opts.jobs, len(plans)))
            try:
                futures = [pool.submit(build_target, engine, p, opts, events, cancel) for p in plans]
                findings = [f.result() for f in futures]
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
    except BaseException:
        cancel.set()
        engine.cleanup()
        raise
    meta = {
        "targets": [str(t) for t in opts.targets],
        "arm64": opts.arm64,
        "network": opts.network or "none",
        "jobs": opts.jobs,
        "plugin": str(opts.plugin_dir),
        "engine": engine.url,
    }
    return Report("build", findings, time.monotonic() - start, meta)
