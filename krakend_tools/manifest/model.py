"""The gateway manifest: everything a plugin must match, for one gateway build. Its model, its
JSON form (``krakend version -o json``), and its validation: the schema, then the fields that
must agree. The modules beside this one make manifests: :mod:`.facts` from an interpreter,
:mod:`.from_lock` from a gateway's lockfile, :mod:`.resolve` from a command's ``--manifest``."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from krakend_tools import __version__
from krakend_tools.errors import InputError
from krakend_tools.manifest.platforms import MACHINE_ARCH, Libc, tag_machine
from krakend_tools.manifest.tags import compute_tags

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "manifest.schema.json"
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_GATEWAY_FIELD = 256  # characters of the gateway's name or version (the schema's limit)


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
    # True: ``libraries`` is every soname the gateway's loader resolves; False: only some
    # (a --from-lock manifest's libc base set, an older manifest), the rest is unknown.
    libraries_complete: bool = False
    schema_version: int = SCHEMA_VERSION
    tools_version: str = __version__
    # Where this manifest came from: a file path, "host", "image NAME"; not serialized.
    source: str | None = field(default=None, compare=False)

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
            "libraries_complete",
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
            libraries_complete=bool(data.get("libraries_complete", False)),
        )

    def summary(self) -> dict[str, Any]:
        """Which manifest a result was checked against (``meta.manifest`` of every report)."""
        plat = self.platform
        return {
            "source": self.source or "unknown",
            "gateway": {"name": self.gateway.get("name"), "version": self.gateway.get("version")},
            "python": self.python.version,
            "soabi": self.python.soabi,
            "platform": f"{plat.os}/{plat.arch}",
            "libc": f"{plat.libc_family} {plat.libc_version}".strip(),
            "libraries_complete": self.libraries_complete,
        }

    def with_overrides(self, python: str | None = None, libc: str | None = None) -> Manifest:
        """A copy with another Python version and/or libc (``-g`` / ``-l``); tags recomputed."""
        if python is None and libc is None:
            return self
        data = self.to_dict()
        if python is not None:
            self._override_python(data, python)
        if libc is not None:
            new = Libc.parse(libc)
            data["platform"]["libc"] = {"family": new.family, "version": new.version_text}
        manifest = Manifest.from_dict(data)
        manifest.source = self.source
        plat = manifest.platform
        manifest.tags = compute_tags(manifest.python, plat.libc, plat.machine, self.python.implementation)
        return manifest

    def _override_python(self, data: dict[str, Any], python: str) -> None:
        """Python ``python`` (``-g X.Y[.Z]``) in ``data``, this manifest's dict: its version, ABI
        tags, SOABI, extension suffix and marker environment (X.Y alone keeps this patch level
        when it is this manifest's X.Y, else .0)."""
        from krakend_tools.arguments import python_version

        own = self.python.version.split(".")
        parts = [str(n) for n in python_version(python, "-g")]
        if len(parts) == 2:
            parts.append(own[2] if python == ".".join(own[:2]) else "0")
        full = ".".join(parts)
        tag = f"cp{parts[0]}{parts[1]}"
        old = self.python.interpreter_tag[2:]
        data["python"].update(
            version=full,
            abi_tags=[tag + ("t" if self.python.free_threaded else ""), "abi3", "none"],
            soabi=self.python.soabi.replace(old, tag[2:], 1),
            ext_suffix=self.python.ext_suffix.replace(old, tag[2:], 1),
        )
        data["marker_environment"].update(
            python_full_version=full, python_version=f"{parts[0]}.{parts[1]}", implementation_version=full
        )


def gateway_fields(gateway: dict[str, str | None]) -> dict[str, str | None]:
    """``gateway`` (from --gateway-name/--gateway-version, $KRAKEND_GATEWAY_NAME/VERSION) if the schema
    takes its values: at most MAX_GATEWAY_FIELD characters, no control characters."""
    from krakend_tools.files import excerpt

    for key, value in gateway.items():
        if value is not None and (len(value) > MAX_GATEWAY_FIELD or any(ord(c) < 0x20 for c in value)):
            raise InputError(
                f"gateway {key} {excerpt(value)}: at most {MAX_GATEWAY_FIELD} characters, no control characters"
            )
    return gateway


def load(path: Path | str) -> Manifest:
    """Read and validate a manifest file."""
    from krakend_tools.files import load_json, read_text

    data = load_json(Path(path), read_text(path, "manifest", MAX_MANIFEST_BYTES))
    manifest = Manifest.from_dict(validated(data, path))
    manifest.source = str(path)
    return manifest


@functools.cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def validated(data: Any, path: Path | str) -> dict[str, Any]:
    """``data`` once it passed the schema and the checks the schema cannot express."""
    from krakend_tools.schema import validate

    problem = validate(data, _schema())
    if problem:
        raise InputError(f"invalid manifest: {problem}", path=path)
    if data["schema_version"] != SCHEMA_VERSION:
        raise InputError(f"unsupported manifest schema_version {data['schema_version']}", path=path)
    try:
        Libc.parse(f"{data['platform']['libc']['family']}-{data['platform']['libc']['version'] or '0'}")
    except InputError as err:
        raise InputError(f"invalid manifest: $.platform.libc: {err}", path=path) from None
    data["distributions"] = _distributions(data["distributions"], path)
    contradiction = _contradiction(data)
    if contradiction:
        raise InputError(f"invalid manifest: {contradiction}", path=path)
    checked: dict[str, Any] = data
    return checked


def _distributions(found: dict[str, str], path: Path | str) -> dict[str, str]:
    """The distributions keyed by their PEP 503 names (a ``Requests`` key must match a lockfile's
    ``requests``); an invalid name, or two spellings of one name with two versions, is refused."""
    from packaging.utils import InvalidName, canonicalize_name

    from krakend_tools.files import excerpt

    names: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for key, version in found.items():
        try:
            name = canonicalize_name(key, validate=True)
        except InvalidName:
            raise InputError(f"invalid manifest: $.distributions: invalid name {excerpt(key)}", path=path) from None
        if names.setdefault(name, version) != version:
            raise InputError(
                f"invalid manifest: $.distributions: {excerpt(spelled[name])} and {excerpt(key)} are both {name}, "
                f"with two versions ({excerpt(names[name])}, {excerpt(version)})",
                path=path,
            )
        spelled.setdefault(name, key)
    return names


def _contradiction(data: dict[str, Any]) -> str | None:
    """The first pair of fields of a (schema-valid) manifest that cannot both be true, as a message."""
    from krakend_tools.files import excerpt

    for (field_a, a), (field_b, b) in _pairs(data):
        if a != b:
            return f"{field_a} ({excerpt(a)}) and {field_b} ({excerpt(b)}) contradict each other"
    return None


def _pairs(data: dict[str, Any]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Pairs of fields that must agree, each as ``((field, value), (field, what it implies))``;
    the Python ones first, then the platform's."""
    py, env, plat = data["python"], data["marker_environment"], data["platform"]
    major, minor = py["version"].split(".")[:2]
    machine, implementation = plat["machine"], env["implementation_name"]
    pairs = [
        (("python.version", py["version"]), ("marker_environment.python_full_version", env["python_full_version"])),
        (("python.version", f"{major}.{minor}"), ("marker_environment.python_version", env["python_version"])),
        (("python.implementation", py["implementation"]), ("marker_environment.implementation_name", implementation)),
        (("platform.os", plat["os"]), ("marker_environment.sys_platform", env["sys_platform"])),
        (("platform.machine", machine), ("marker_environment.platform_machine", env["platform_machine"])),
        (("platform.machine", MACHINE_ARCH.get(machine, machine)), ("platform.arch", plat["arch"])),
    ]
    if py["implementation"] == "cpython":
        cp = f"cp{major}{minor}"
        for tag in py["abi_tags"]:
            if tag.startswith("cp"):
                pairs.append((("python.version", cp), ("python.abi_tags", tag.rstrip("dmt"))))
        if py["soabi"]:  # cpython-311-x86_64-linux-gnu
            parts = [*py["soabi"].split("-"), "", ""]
            pairs.append((("python.version", cp), ("python.soabi", "cp" + parts[1].rstrip("dmt"))))
            if {parts[2], machine} & {"x86_64", "aarch64"}:  # others spell it apart (i686: i386)
                pairs.append((("platform.machine", machine), ("python.soabi", parts[2])))
            pairs.append((("python.soabi", f".{py['soabi']}.so"), ("python.ext_suffix", py["ext_suffix"])))
    family = plat["libc"]["family"]
    for platform in sorted({tag.rsplit("-", 1)[-1] for tag in data["tags"]} - {"any"}):
        if platform.startswith(("manylinux", "musllinux")):
            pairs.append((("platform.libc", family), ("tags", "musl" if platform.startswith("musl") else "glibc")))
        pairs.append((("platform.machine", machine), ("tags", tag_machine(platform) or machine)))
    return pairs
