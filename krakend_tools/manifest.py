"""The gateway manifest: everything a plugin must match, for one gateway build."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from krakend_tools import __version__
from krakend_tools.errors import InputError
from krakend_tools.platforms import MACHINE_ARCH, Libc, Target, platform_tags

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("schema") / "manifest.schema.json"


@dataclass
class PythonInfo:
    implementation: str  # cpython
    version: str  # 3.11.7
    abi_tags: list[str]  # ["cp311", "abi3", "none"]
    soabi: str  # cpython-311-x86_64-linux-gnu
    ext_suffix: str  # .cpython-311-x86_64-linux-gnu.so
    free_threaded: bool = False
    debug: bool = False
    executable: str | None = None

    @property
    def minor(self) -> tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)

    @property
    def interpreter_tag(self) -> str:  # cp311
        return f"cp{self.minor[0]}{self.minor[1]}"


@dataclass
class PlatformInfo:
    os: str  # linux
    arch: str  # amd64
    machine: str  # x86_64
    libc_family: str  # glibc | musl
    libc_version: str  # 2.36

    @property
    def libc(self) -> Libc:
        return Libc.parse(f"{self.libc_family}-{self.libc_version or '0'}")


@dataclass
class Library:
    path: str
    symbol_versions: list[str]  # GLIBC_2.34, GLIBCXX_3.4.30 ...


@dataclass
class Manifest:
    gateway: dict[str, str | None]
    python: PythonInfo
    platform: PlatformInfo
    tags: list[str]
    marker_environment: dict[str, str]
    distributions: dict[str, str]
    libraries: dict[str, Library] = field(default_factory=dict)
    site_packages: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    tools_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        order = [
            "schema_version",
            "tools_version",
            "gateway",
            "python",
            "platform",
            "tags",
            "marker_environment",
            "distributions",
            "libraries",
            "site_packages",
        ]
        data["platform"]["libc"] = {
            "family": data["platform"].pop("libc_family"),
            "version": data["platform"].pop("libc_version"),
        }
        return {key: data[key] for key in order}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        plat = dict(data["platform"])
        libc = plat.pop("libc")
        return cls(
            schema_version=data["schema_version"],
            tools_version=data.get("tools_version", ""),
            gateway=dict(data.get("gateway") or {}),
            python=PythonInfo(**data["python"]),
            platform=PlatformInfo(**plat, libc_family=libc["family"], libc_version=libc["version"]),
            tags=list(data["tags"]),
            marker_environment=dict(data["marker_environment"]),
            distributions=dict(data["distributions"]),
            libraries={k: Library(**v) for k, v in (data.get("libraries") or {}).items()},
            site_packages=list(data.get("site_packages") or []),
        )

    def with_overrides(self, python: str | None = None, libc: str | None = None) -> Manifest:
        """A copy with another Python version and/or libc (``-g`` / ``-l``); tags recomputed."""
        if python is None and libc is None:
            return self
        data = self.to_dict()
        impl = self.python.implementation
        if python is not None:
            parts = python.split(".")
            if not (2 <= len(parts) <= 3 and all(p.isdigit() for p in parts)):
                raise InputError(f"invalid Python version {python!r}: expected X.Y or X.Y.Z")
            if len(parts) == 2:
                parts.append(
                    "0" if python != ".".join(self.python.version.split(".")[:2]) else self.python.version.split(".")[2]
                )
            full = ".".join(parts)
            tag = f"cp{parts[0]}{parts[1]}"
            data["python"].update(
                version=full,
                abi_tags=[tag + ("t" if self.python.free_threaded else ""), "abi3", "none"],
                soabi=self.python.soabi.replace(self.python.interpreter_tag[2:], tag[2:], 1),
                ext_suffix=self.python.ext_suffix.replace(self.python.interpreter_tag[2:], tag[2:], 1),
            )
            data["marker_environment"].update(
                python_full_version=full,
                python_version=f"{parts[0]}.{parts[1]}",
                implementation_version=full,
            )
        if libc is not None:
            new = Libc.parse(libc)
            data["platform"]["libc"] = {"family": new.family, "version": new.version_text}
        manifest = Manifest.from_dict(data)
        manifest.tags = compute_tags(manifest.python, manifest.platform.libc, manifest.platform.machine, impl)
        return manifest


def compute_tags(python: PythonInfo, libc: Libc, machine: str, impl: str = "cpython") -> list[str]:
    """The ordered wheel tags this interpreter on this platform accepts."""
    from packaging import tags

    platforms = platform_tags(libc, machine)
    version = python.minor
    if impl == "cpython":
        abis = [a for a in python.abi_tags if a not in ("abi3", "none")]
        found = list(tags.cpython_tags(version, abis, platforms))
        found += tags.compatible_tags(version, python.interpreter_tag, platforms)
    else:
        found = list(tags.generic_tags(None, python.abi_tags, platforms))
        found += tags.compatible_tags(version, None, platforms)
    return [str(t) for t in dict.fromkeys(found)]


def _abi_tags(facts: dict[str, Any]) -> list[str]:
    major, minor = facts["version"].split(".")[:2]
    if facts["implementation"] != "cpython":
        soabi = facts.get("soabi") or ""
        return [soabi.replace("-", "_").replace(".", "_")] if soabi else ["none"]
    tag = f"cp{major}{minor}" + ("t" if facts["free_threaded"] else "") + ("d" if facts["debug"] else "")
    return [tag] + ([] if facts["free_threaded"] else ["abi3"]) + ["none"]


def symbol_versions(path: str) -> list[str]:
    """Version names a shared library defines (``.gnu.version_d``), e.g. GLIBC_2.34."""
    from krakend_tools.elf import ElfError, read_elf

    try:
        return read_elf(path).version_defs
    except (OSError, ElfError):
        return []


def from_facts(facts: dict[str, Any], gateway: dict[str, str | None] | None = None) -> Manifest:
    """Build a manifest from :func:`krakend_tools.introspect.facts` output."""
    from packaging.utils import canonicalize_name

    python = PythonInfo(
        implementation=facts["implementation"],
        version=facts["version"],
        abi_tags=_abi_tags(facts),
        soabi=facts["soabi"],
        ext_suffix=facts["ext_suffix"],
        free_threaded=facts["free_threaded"],
        debug=facts["debug"],
        executable=facts.get("executable"),
    )
    machine = facts["machine"]
    plat = PlatformInfo(
        "linux", MACHINE_ARCH.get(machine, machine), machine, facts["libc_family"], facts["libc_version"]
    )
    libraries = {name: Library(path, symbol_versions(path)) for name, path in sorted(facts["libraries"].items())}
    return Manifest(
        gateway=gateway or {"name": None, "version": None},
        python=python,
        platform=plat,
        tags=compute_tags(python, plat.libc, machine, python.implementation),
        marker_environment=facts["marker_environment"],
        distributions={str(canonicalize_name(k)): v for k, v in sorted(facts["distributions"].items())},
        libraries=libraries,
        site_packages=facts["site_packages"],
    )


def introspect(python: str | None = None) -> dict[str, Any]:
    """Run the stdlib-only introspection script in ``python`` (default: this interpreter)."""
    if python is None:
        from krakend_tools import introspect as here

        return here.facts()
    import subprocess

    script = Path(__file__).with_name("introspect.py")
    try:
        proc = subprocess.run([python, "-I", str(script)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InputError(f"cannot run {python}: {err}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot introspect {python}: {last}")
    facts: dict[str, Any] = json.loads(proc.stdout)
    return facts


def from_lock(
    lockfile: Path, target: Target, python_version: str, libc: str | None, gateway: dict[str, str | None] | None = None
) -> Manifest:
    """A manifest for a gateway that cannot run here, from its lockfile and target."""
    from krakend_tools.lockfiles import load_lockfile

    parts = python_version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise InputError(f"invalid --python-version {python_version!r}: expected X.Y.Z")
    default_libc = "MUSL-1.2.4" if target.libc_family == "musl" else "GLIBC-2.36"
    lib = Libc.parse(libc or default_libc)
    if lib.family != target.libc_family:
        raise InputError(f"--libc {lib} does not fit target {target} ({target.libc_family})")
    major, minor = parts[0], parts[1]
    multiarch = f"{target.machine}-linux-{'musl' if lib.family == 'musl' else 'gnu'}"
    facts: dict[str, Any] = {
        "implementation": "cpython",
        "version": python_version,
        "soabi": f"cpython-{major}{minor}-{multiarch}",
        "ext_suffix": f".cpython-{major}{minor}-{multiarch}.so",
        "free_threaded": False,
        "debug": False,
        "executable": None,
        "machine": target.machine,
        "libc_family": lib.family,
        "libc_version": lib.version_text,
        "marker_environment": target_environment(target, python_version),
        "distributions": {},
        "libraries": {},
        "site_packages": [],
    }
    manifest = from_facts(facts, gateway)
    lock = load_lockfile(lockfile)
    selected = lock.select(manifest.marker_environment)
    manifest.distributions = {
        p.name: str(p.version) for p in sorted(selected, key=lambda p: p.name) if p.version is not None
    }
    return manifest


def target_environment(target: Target, python_version: str) -> dict[str, str]:
    """The PEP 508 marker environment of CPython ``python_version`` on ``target``."""
    return {
        "implementation_name": "cpython",
        "implementation_version": python_version,
        "os_name": "posix",
        "platform_machine": target.machine,
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": python_version,
        "platform_python_implementation": "CPython",
        "python_version": ".".join(python_version.split(".")[:2]),
        "sys_platform": "linux",
    }


def load(path: Path | str) -> Manifest:
    """Read and validate a manifest file."""
    from krakend_tools.schema import validate

    try:
        text = Path(path).read_text()
    except OSError as err:
        raise InputError(f"cannot read manifest: {err.strerror}", path=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON: {err.msg}", path=path, line=err.lineno) from None
    problem = validate(data, json.loads(SCHEMA_PATH.read_text()))
    if problem:
        raise InputError(f"invalid manifest: {problem}", path=path)
    if data["schema_version"] != SCHEMA_VERSION:
        raise InputError(f"unsupported manifest schema_version {data['schema_version']}", path=path)
    return Manifest.from_dict(data)


def resolve(manifest_path: str | None) -> Manifest:
    """The manifest a command works against: a file, ``$KRAKEND_MANIFEST``, or this interpreter."""
    path = manifest_path or os.environ.get("KRAKEND_MANIFEST")
    if path:
        return load(path)
    return from_facts(introspect(None))
