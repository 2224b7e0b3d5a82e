"""The gateway manifest: everything a plugin must match, for one gateway build."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from krakend_tools import __version__
from krakend_tools.errors import InputError
from krakend_tools.manifest.platforms import MACHINE_ARCH, Libc, Target, platform_tags, tag_machine, tag_python

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
        impl = self.python.implementation
        if python is not None:
            from krakend_tools.arguments import python_version

            parts = [str(n) for n in python_version(python, "-g")]
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
        manifest.source = self.source
        manifest.tags = compute_tags(manifest.python, manifest.platform.libc, manifest.platform.machine, impl)
        return manifest


def compute_tags(python: PythonInfo, libc: Libc, machine: str, impl: str = "cpython") -> list[str]:
    """The ordered wheel tags this interpreter on this platform accepts."""
    from packaging import tags

    platforms = platform_tags(libc, machine)
    version = tag_python(python.minor)
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
        return read_elf(path, symbols=False).version_defs
    except (OSError, ElfError):
        return []


def from_facts(facts: dict[str, Any], gateway: dict[str, str | None] | None = None) -> Manifest:
    """Build a manifest from :func:`krakend_tools.manifest.introspect.facts` output."""
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
    manifest = Manifest(
        gateway=gateway_fields(gateway or {"name": None, "version": None}),
        python=python,
        platform=plat,
        tags=compute_tags(python, plat.libc, machine, python.implementation),
        marker_environment=facts["marker_environment"],
        distributions={
            str(canonicalize_name(k)): v for k, v in sorted(facts["distributions"].items()) if _is_name(k)
        },  # a broken install's invalid name could never match a lockfile's
        libraries=libraries,
        site_packages=facts["site_packages"],
        libraries_complete=bool(facts.get("libraries_complete", False)),
    )
    _validated(manifest.to_dict(), "the manifest made")  # never one its own loader refuses
    return manifest


def gateway_fields(gateway: dict[str, str | None]) -> dict[str, str | None]:
    """``gateway`` (from --gateway-name/--gateway-version or $KRAKEND_GATEWAY_*) if the schema
    takes its values: at most MAX_GATEWAY_FIELD characters, no control characters."""
    from krakend_tools.check.lockfiles._common import excerpt

    for key, value in gateway.items():
        if value is not None and (len(value) > MAX_GATEWAY_FIELD or any(ord(c) < 0x20 for c in value)):
            raise InputError(
                f"gateway {key} {excerpt(value)}: at most {MAX_GATEWAY_FIELD} characters, no control characters"
            )
    return gateway


def _is_name(name: object) -> bool:
    from packaging.utils import InvalidName, canonicalize_name

    try:
        canonicalize_name(name, validate=True)  # type: ignore[arg-type]
    except (InvalidName, TypeError):
        return False
    return True


def introspect(python: str | None = None) -> dict[str, Any]:
    """Run the stdlib-only introspection script in ``python`` (default: this interpreter)."""
    if python is None:
        from krakend_tools.manifest import introspect as here

        return here.facts()
    from krakend_tools.manifest.introspect import TIMEOUT
    from krakend_tools.subproc import OutputTooLarge, run_bounded

    script = Path(__file__).with_name("introspect.py")
    try:
        code, out, err = run_bounded([python, "-I", str(script)], timeout=TIMEOUT)
    except (OSError, ValueError, TimeoutError, OutputTooLarge) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot run {python}: {reason}") from None
    if code != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot introspect {python}: {last}")
    return checked_facts(out, python)


def checked_facts(out: bytes | str, source: str) -> dict[str, Any]:
    """The facts the introspection script printed (run by ``--python``, or inside a gateway
    that embeds CPython, ``version --facts``), validated like a loaded manifest: nothing
    downstream meets an unchecked value. ``source`` names where they come from."""
    from krakend_tools.manifest.introspect import MAX_LIBRARIES

    try:
        facts = json.loads(out)
    except (ValueError, RecursionError):
        facts = None
    if not isinstance(facts, dict) or facts.get("implementation") != "cpython":
        raise InputError(f"{source} is not a CPython interpreter (its introspection printed no CPython facts)")
    if isinstance(facts.get("libraries"), dict) and len(facts["libraries"]) > MAX_LIBRARIES:
        raise InputError(f"{source} reports {len(facts['libraries'])} libraries, more than {MAX_LIBRARIES}")
    try:
        libraries = facts.get("libraries")
        if not isinstance(libraries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and "\0" not in v for k, v in libraries.items()
        ):
            raise TypeError("libraries")
        _validated(from_facts({**facts, "libraries": {}}).to_dict(), source)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        raise InputError(f"{source} is not a CPython interpreter (unexpected introspection output)") from None
    return facts


def refuse_too_old(version: str) -> None:
    """An InputError for a gateway Python older than the oldest krakend-tools reads (the one
    line an interpreter that old prints when asked with --python)."""
    from krakend_tools.manifest.introspect import OLDEST

    release = tuple(int(n) for n in version.split(".")[:2])
    if release < OLDEST:
        oldest = ".".join(map(str, OLDEST))
        raise InputError(f"Python {version} is older than {oldest}, the oldest krakend-tools reads")


def from_lock(
    lockfile: Path, target: Target, python_version: str, libc: str | None, gateway: dict[str, str | None] | None = None
) -> Manifest:
    """A manifest for a gateway that cannot run here, from its lockfile and target."""
    from krakend_tools.arguments import python_version as check_version
    from krakend_tools.check.lockfiles import load_lockfile

    parts = [str(n) for n in check_version(python_version, "--python-version", full=True)]
    python_version = ".".join(parts)
    refuse_too_old(python_version)
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
        "libraries": dict.fromkeys(base_libraries(lib.family, target.machine), ""),
        "libraries_complete": False,
        "site_packages": [],
    }
    manifest = from_facts(facts, gateway)
    lock = load_lockfile(lockfile)
    selected = lock.select(manifest.marker_environment)
    manifest.distributions = {
        p.name: str(p.version) for p in sorted(selected, key=lambda p: p.name) if p.version is not None
    }
    return manifest


def base_libraries(family: str, machine: str) -> list[str]:
    """Sonames every system of this libc family has: the libc itself and its loader (and,
    for glibc, its split-off libraries and libgcc_s, which libc needs)."""
    if family == "musl":
        return [f"ld-musl-{machine}.so.1", f"libc.musl-{machine}.so.1"]
    loader = {"x86_64": "ld-linux-x86-64.so.2", "aarch64": "ld-linux-aarch64.so.1"}.get(machine)
    names = [
        "libanl.so.1",
        "libc.so.6",
        "libdl.so.2",
        "libgcc_s.so.1",
        "libm.so.6",
        "libpthread.so.0",
        "libresolv.so.2",
        "librt.so.1",
        "libutil.so.1",
    ]
    return sorted([*names, loader] if loader else names)


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
    from krakend_tools.files import load_json, read_text

    data = load_json(Path(path), read_text(path, "manifest", MAX_MANIFEST_BYTES))
    manifest = Manifest.from_dict(_validated(data, path))
    manifest.source = str(path)
    return manifest


@functools.cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def _validated(data: Any, path: Path | str) -> dict[str, Any]:
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

    from krakend_tools.check.lockfiles._common import excerpt

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
    from krakend_tools.check.lockfiles._common import excerpt

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


def host() -> Manifest:
    """The manifest of the running interpreter (``--manifest host``)."""
    manifest = from_facts(introspect(None))
    manifest.source = "host"
    return manifest


NO_MANIFEST = (
    "no gateway manifest: pass --manifest FILE (or --manifest host for this "
    'interpreter), set $KRAKEND_MANIFEST, or add manifest = "PATH" to [tool.krakend] '
    "in the project's pyproject.toml"
)


def resolve(option: str | None, start: Path | None = None) -> Manifest:
    """The manifest a command works against: ``option`` (a path, or "host" for this
    interpreter), else ``$KRAKEND_MANIFEST``, else ``manifest = "PATH"`` in the
    ``[tool.krakend]`` table of the nearest pyproject.toml from ``start`` (default: the
    current folder) upward, relative to that pyproject. Never a silent fallback."""
    from krakend_tools.config import find_config

    chosen = option or os.environ.get("KRAKEND_MANIFEST")
    if chosen:
        return host() if chosen == "host" else load(chosen)
    config = find_config(start if start is not None else Path.cwd())
    if config is not None and "manifest" in config.table:
        value = config.table["manifest"]
        where = config.root / "pyproject.toml"
        if not isinstance(value, str) or not value:
            raise InputError("[tool.krakend] manifest must be a path (a string)", path=where)
        path = config.root / value
        if not _is_file(path):
            from krakend_tools.check.lockfiles._common import excerpt

            raise InputError(f"[tool.krakend] manifest {excerpt(value)}: no such file", path=where)
        return load(path)
    raise InputError(NO_MANIFEST)


def _is_file(path: Path) -> bool:
    """Whether ``path`` names a file (False for a name the system refuses: too long, a loop)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def resolver(option: str | None, *, python: str | None = None, libc: str | None = None) -> Callable[[Path], Manifest]:
    """:func:`resolve` for several folders (the lockfiles of one pre-commit run): each folder's
    own project decides, each resolved once; with ``option`` or ``$KRAKEND_MANIFEST``, one
    manifest for all. ``python``/``libc`` override it (``-g``/``-l``)."""
    one = option or os.environ.get("KRAKEND_MANIFEST")
    found: dict[Path | None, Manifest] = {}

    def manifest_for(folder: Path) -> Manifest:
        key = None if one else folder.absolute()
        if key not in found:
            found[key] = resolve(option, folder).with_overrides(python, libc)
        return found[key]

    return manifest_for
