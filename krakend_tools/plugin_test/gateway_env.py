"""The environment an import test runs in: the gateway's packages at their pins, then the
plugin's own locked dependencies in a read-only overlay after them.

Wheels come from this host's pip (the user's index settings) for the target's tags, once:
they are cached by file name under ``$KRAKEND_CACHE_DIR/wheels`` and unpacked once per set
under ``overlays/``. A package both the gateway and the plugin's lock name always comes from
the gateway. In a container the gateway's packages are baked into a *gateway image* (the
runtime image plus those packages), tagged by the digest of what it holds and reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.cache import cache_dir
from krakend_tools.lockfiles.select import select as select_packages
from krakend_tools.manifest.model import Manifest

if TYPE_CHECKING:
    from krakend_tools.containers.engine import Engine
    from krakend_tools.manifest.platforms import Target

Progress = Callable[[str], None]
GATEWAY_REPO = "krakend-tools/gateway"
LABEL_GATEWAY_DIGEST = "io.krakend.gateway-digest"
LABEL_GATEWAY_PACKAGES = "io.krakend.gateway-packages"
PIP_TIMEOUT = 600.0  # seconds one pip download may take
VALID_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")  # a canonical name: never an option for pip
LOCAL_SOURCES = ("path", "directory", "editable", "virtual")  # not from an index: nothing to fetch


def quiet(_: str) -> None:
    pass


@dataclass(frozen=True, order=True)
class Pin:
    """One distribution at one version (canonical name)."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass
class Fetched:
    """Wheels found for pins, and the pins with none for the target (with pip's reason)."""

    wheels: dict[Pin, Path] = field(default_factory=dict)
    missing: dict[Pin, str] = field(default_factory=dict)


@dataclass
class Overlay:
    """The plugin's own dependencies, as its lockfile selects them for the target."""

    lockfile: str | None = None
    packages: list[Pin] = field(default_factory=list)  # installed into the overlay
    from_gateway: list[Pin] = field(default_factory=list)  # locked, but the gateway's version is used
    skipped: list[str] = field(default_factory=list)  # locked packages not from an index, by name
    missing: dict[Pin, str] = field(default_factory=dict)  # no wheel for the target
    folder: Path | None = None  # the unpacked overlay, read-only for probes

    def to_dict(self) -> dict[str, Any]:
        return {
            "lockfile": self.lockfile,
            "packages": [{"name": p.name, "version": p.version} for p in self.packages],
            "from_gateway": [{"name": p.name, "locked": p.version} for p in self.from_gateway],
            "not_from_an_index": list(self.skipped),
            "missing_wheels": [{"name": p.name, "version": p.version, "reason": r} for p, r in self.missing.items()],
        }

    def problems(self) -> list[str]:
        """One KO reason per locked package the target has no wheel of."""
        return [
            f"no wheel of {pin.name} {pin.version} (from {self.lockfile}) for the gateway's platform: "
            f"the gateway could not install it either ({reason})"
            for pin, reason in self.missing.items()
        ]


@dataclass
class GatewayEnv:
    """Where the gateway's packages come from for an import test, and the overlay after them."""

    image: str | None = None  # the gateway image (container runs)
    site_packages: list[str] = field(default_factory=list)  # the gateway interpreter's (local runs)
    installed: list[Pin] = field(default_factory=list)  # baked into the gateway image
    missing: dict[Pin, str] = field(default_factory=dict)  # gateway packages with no wheel
    overlay: Overlay = field(default_factory=Overlay)

    def describe(self) -> str:
        """``gateway image krakend-tools/gateway:… + uv.lock (2 packages)``: one line for a table."""
        where = f"gateway image {self.image}" if self.image else "the gateway interpreter's site-packages"
        lock = self.overlay.lockfile
        return f"{where} + {Path(lock).name} ({len(self.overlay.packages)} package(s))" if lock else f"{where}, no lock"

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "site_packages": list(self.site_packages),
            "installed": [{"name": p.name, "version": p.version} for p in self.installed],
            "missing_wheels": [{"name": p.name, "version": p.version, "reason": r} for p, r in self.missing.items()],
            "overlay": self.overlay.to_dict(),
        }


def pip_platforms(manifest: Manifest) -> list[str]:
    """The platform tags pip may pick wheels for: the manifest's, minus the plain
    ``linux_<machine>`` an index never serves."""
    found: dict[str, None] = {}
    for tag in manifest.tags:
        plat = tag.rsplit("-", 1)[-1]
        if plat != "any" and not plat.startswith("linux_"):
            found.setdefault(plat, None)
    return list(found)


def pip_target_args(manifest: Manifest) -> list[str]:
    """``pip download`` options that pick wheels for the gateway, not for this host."""
    major, minor = manifest.python.minor
    args = ["--only-binary=:all:", "--no-deps", "--python-version", f"{major}.{minor}", "--implementation", "cp"]
    for abi in manifest.python.abi_tags:
        args += ["--abi", abi]
    for plat in pip_platforms(manifest):
        args += ["--platform", plat]
    return args


def _target_key(manifest: Manifest) -> str:
    return hashlib.sha256(json.dumps(pip_target_args(manifest)).encode()).hexdigest()[:16]


def _pip_download(pins: Sequence[Pin], manifest: Manifest, dest: Path) -> tuple[bool, str]:
    """Run pip once for ``pins``; (succeeded, last line of its error)."""
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "-d", str(dest)]
    cmd += pip_target_args(manifest) + [str(p) for p in pins]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"pip did not run: {err}"
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    reason = next((ln for ln in lines if "No matching distribution" in ln), lines[-1] if lines else "pip failed")
    return proc.returncode == 0, re.sub(r"^ERROR:\s*", "", reason)


def _wheel_pin(filename: str) -> Pin | None:
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    return Pin(str(name), str(version))


def _same(a: Pin, b: Pin) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return a.name == b.name and Version(a.version) == Version(b.version)
    except InvalidVersion:
        return a == b


def fetch(pins: Sequence[Pin], manifest: Manifest, progress: Progress = quiet) -> Fetched:
    """Wheels of ``pins`` for the gateway's platform: from the cache, else with pip (one run
    for all, then one per pin when that fails, to name the pins without a wheel)."""
    store = cache_dir() / "wheels"
    index_file = cache_dir() / "pins" / f"{_target_key(manifest)}.json"
    index = _read_index(index_file)
    found = Fetched()
    todo = []
    for pin in pins:
        cached = store / index.get(str(pin), "-")
        if cached.is_file():
            found.wheels[pin] = cached
        else:
            todo.append(pin)
    if todo:
        progress(f"fetching {len(todo)} wheel(s) with pip for {manifest.python.soabi}: {', '.join(map(str, todo))}")
        _download(todo, manifest, store, found)
        index.update({str(p): w.name for p, w in found.wheels.items()})
        _write_index(index_file, index)
    return found


def _download(pins: list[Pin], manifest: Manifest, store: Path, found: Fetched) -> None:
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=store) as tmp:
        ok, reason = _pip_download(pins, manifest, Path(tmp))
        if not ok:
            for pin in pins:
                alone, why = _pip_download([pin], manifest, Path(tmp))
                if not alone:
                    found.missing[pin] = why
        for wheel in Path(tmp).glob("*.whl"):
            got = _wheel_pin(wheel.name)
            match = next((p for p in pins if got is not None and _same(p, got)), None)
            if match is not None:
                os.replace(wheel, store / wheel.name)
                found.wheels[match] = store / wheel.name
    for pin in pins:
        if pin not in found.wheels and pin not in found.missing:
            found.missing[pin] = reason if not ok else "pip fetched no wheel of it"


def _read_index(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_index(path: Path, index: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".index-", dir=path.parent)  # builds of several targets run in threads
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(index, sort_keys=True, indent=0))
    os.replace(tmp, path)


def unpacked(wheels: Sequence[Path]) -> Path:
    """The wheels installed (unpacked, ``.data/purelib|platlib`` at the top) in one folder,
    made once per set of wheels and kept in the cache."""
    digest = hashlib.sha256("\n".join(sorted(w.name for w in wheels)).encode()).hexdigest()[:16]
    dest = cache_dir() / "overlays" / digest
    if (dest / ".complete").is_file():
        return dest / "site"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".overlay-", dir=dest.parent))
    try:
        for wheel in wheels:
            install_wheel(wheel, tmp / "site")
        (tmp / ".complete").write_text("\n".join(sorted(w.name for w in wheels)) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / "site"


def install_wheel(wheel: Path, site: Path) -> None:
    """Unpack ``wheel`` into ``site`` as an installer lays it out (what an import sees)."""
    from krakend_tools.plugin_test.artifacts import _extract, open_wheel

    site.mkdir(parents=True, exist_ok=True)
    with open_wheel(wheel) as zf:
        _extract(zf, site, wheel.name)
    for data in site.glob("*.data"):
        for scheme in ("purelib", "platlib"):
            if (data / scheme).is_dir():
                shutil.copytree(data / scheme, site, dirs_exist_ok=True)
        shutil.rmtree(data)


def plugin_overlay(
    lockfile: Path, manifest: Manifest, progress: Progress = quiet, exclude: Sequence[str] = ()
) -> Overlay:
    """The packages ``lockfile`` selects for the gateway's environment that the gateway does
    not have, fetched and unpacked; ``exclude``: the plugin's own distributions."""
    from packaging.utils import canonicalize_name

    from krakend_tools.lockfiles import load_lockfile

    lock = load_lockfile(lockfile)
    overlay = Overlay(lockfile=str(lockfile))
    skip = {canonicalize_name(n) for n in exclude} | ({lock.project} if lock.project else set())
    for pkg in select_packages(lock, manifest.marker_environment):
        if pkg.name in skip:
            continue
        if pkg.version is None or pkg.source in LOCAL_SOURCES or not VALID_NAME.fullmatch(pkg.name):
            overlay.skipped.append(pkg.name)  # nothing pip should be asked for (nor an option it could take)
            continue
        pin = Pin(pkg.name, str(pkg.version))
        (overlay.from_gateway if pkg.name in manifest.distributions else overlay.packages).append(pin)
    fetched = fetch(overlay.packages, manifest, progress)
    overlay.missing = fetched.missing
    if fetched.wheels:
        overlay.folder = unpacked([fetched.wheels[p] for p in overlay.packages if p in fetched.wheels])
    return overlay


def gateway_pins(manifest: Manifest, present: dict[str, str] | None = None) -> list[Pin]:
    """The manifest's distributions that ``present`` (what an image already has) lacks."""
    have = present or {}
    return [Pin(n, v) for n, v in sorted(manifest.distributions.items()) if n not in have]


def gateway_image(
    engine: Engine, runtime: str, target: Target, manifest: Manifest, progress: Progress = quiet
) -> GatewayEnv:
    """``runtime`` plus the manifest's distributions it lacks, as an image tagged by the
    digest of both (built once, then reused: no download, no build)."""
    from krakend_tools.containers.image_manifest import manifest_from_labels

    base = manifest_from_labels(engine, runtime)
    pins = gateway_pins(manifest, base.distributions)
    env = GatewayEnv(image=runtime)
    if not pins:
        return env
    base_id = str((engine.image_attrs(runtime) or {}).get("Id", runtime))
    digest = hashlib.sha256(json.dumps([base_id, [str(p) for p in pins]]).encode()).hexdigest()[:16]
    tag = f"{GATEWAY_REPO}:{target.flavour}-{target.arch}-{digest}"
    labels = engine.labels(tag) if engine.image_attrs(tag) is not None else {}
    if labels.get(LABEL_GATEWAY_DIGEST) == digest:
        env.image = tag
        env.installed = [Pin(**p) for p in json.loads(labels.get(LABEL_GATEWAY_PACKAGES, "[]"))]
        env.missing = {Pin(**p): "no wheel for the target" for p in json.loads(labels.get("io.krakend.missing", "[]"))}
        return env
    fetched = fetch(pins, manifest, progress)
    env.installed = [p for p in pins if p in fetched.wheels]
    env.missing = fetched.missing
    site = _site_packages(base)
    folder = unpacked([fetched.wheels[p] for p in env.installed])
    progress(f"building gateway image {tag}: {len(env.installed)} package(s) into {site}")
    _build_gateway_image(engine, runtime, tag, target, folder, site, digest, env)
    env.image = tag
    return env


def _site_packages(base: Manifest) -> str:
    if base.site_packages:
        return base.site_packages[0]  # the first on sys.path
    major, minor = base.python.minor
    return f"/usr/local/lib/python{major}.{minor}/site-packages"


def _build_gateway_image(
    engine: Engine, runtime: str, tag: str, target: Target, folder: Path, site: str, digest: str, env: GatewayEnv
) -> None:
    with tempfile.TemporaryDirectory(prefix="krakend-gw-") as tmp:
        context = Path(tmp)
        shutil.copytree(folder, context / "site")
        (context / "Dockerfile").write_text(f"ARG BASE\nFROM ${{BASE}}\nCOPY site/ {site}/\n")
        labels = {
            "io.krakend.role": "gateway",  # not a runtime image: --target without a manifest never picks it
            LABEL_GATEWAY_DIGEST: digest,
            LABEL_GATEWAY_PACKAGES: json.dumps([vars(p) for p in env.installed]),
            "io.krakend.missing": json.dumps([vars(p) for p in env.missing]),
        }
        engine.build_image(context, tag, buildargs={"BASE": runtime}, platform=target.platform, labels=labels)


def requires_problems(dist_info: Path, manifest: Manifest, overlay: Overlay) -> list[str]:
    """What a wheel's ``Requires-Dist`` needs that neither the gateway (at its pins) nor the
    overlay gives: the reasons of a KO, before anything is imported."""
    from email.parser import Parser

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        metadata = Parser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []
    env = dict(manifest.marker_environment, extra="")
    locked = {p.name: p.version for p in overlay.packages}
    problems = []
    for line in metadata.get_all("Requires-Dist") or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        problem = _unmet(canonicalize_name(req.name), req, manifest.distributions, locked, overlay.lockfile)
        if problem:
            problems.append(problem)
    return problems


def _unmet(name: str, req: Any, gateway: dict[str, str], locked: dict[str, str], lockfile: str | None) -> str | None:
    if name in gateway:
        if req.specifier and not req.specifier.contains(gateway[name], prereleases=True):
            return f"needs {req.name}{req.specifier} (Requires-Dist), the gateway has {name} {gateway[name]}"
        return None
    if name in locked:
        return None
    if lockfile:
        return f"needs {req.name} (Requires-Dist), which neither the gateway nor {lockfile} provides"
    return f"needs {req.name} (Requires-Dist), which the gateway does not have: pass the plugin's lockfile with --lock"
