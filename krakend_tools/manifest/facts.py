"""A manifest from an interpreter's facts: the introspection script run in an interpreter (or its
output saved by a gateway that embeds CPython), what it printed checked, the manifest made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.errors import InputError

if TYPE_CHECKING:
    from krakend_tools.manifest.model import Manifest

SCRIPT = Path(__file__).with_name("introspect.py")  # stdlib only: any interpreter runs it


def host() -> Manifest:
    """The manifest of the running interpreter (``--manifest host``)."""
    manifest = from_facts(introspect(None))
    manifest.source = "host"
    return manifest


def introspect(python: str | None = None) -> dict[str, Any]:
    """Run the stdlib-only introspection script in ``python`` (default: this interpreter)."""
    if python is None:
        from krakend_tools.manifest import introspect as here

        return here.facts()
    from krakend_tools.manifest.introspect import TIMEOUT
    from krakend_tools.subproc import OutputTooLarge, run_bounded

    try:
        code, out, err = run_bounded([python, "-I", str(SCRIPT)], timeout=TIMEOUT)
    except (OSError, ValueError, TimeoutError, OutputTooLarge) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"cannot run {python}: {reason}") from None
    if code != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot introspect {python}: {last}")
    return checked_facts(out, python)


def checked_facts(out: bytes | str, source: str) -> dict[str, Any]:
    """The facts the introspection script printed when run by ``--python`` (``source``),
    validated like a loaded manifest: nothing downstream meets an unchecked value."""
    try:
        facts = json.loads(out)
    except (ValueError, RecursionError):
        facts = None
    if not isinstance(facts, dict) or facts.get("implementation") != "cpython":
        raise InputError(f"{source} is not a CPython interpreter (its introspection printed no CPython facts)")
    _check_facts(facts, source, f"{source} is not a CPython interpreter (unexpected introspection output)")
    return facts


def facts_file(path: Path) -> dict[str, Any]:
    """The facts the introspection script printed inside a gateway that embeds CPython, saved in
    ``path`` (``version --facts``), validated like :func:`checked_facts`; what is wrong with the
    file is said of the file."""
    from krakend_tools.files import excerpt, load_json, read_text

    facts = load_json(path, read_text(path, "facts file"))
    if not isinstance(facts, dict):
        raise InputError(f"not introspection facts: a JSON {type(facts).__name__}, not an object", path=path)
    if facts.get("implementation") != "cpython":
        found = excerpt(facts.get("implementation"))
        raise InputError(f"facts of implementation {found}, not a CPython interpreter", path=path)
    _check_facts(facts, str(path), f"{path}: not the facts of a CPython interpreter (unexpected introspection output)")
    return facts


def _check_facts(facts: dict[str, Any], source: str, unexpected: str) -> None:
    """An InputError (``unexpected`` as its message) unless ``facts`` make a valid manifest."""
    from krakend_tools.manifest.introspect import MAX_LIBRARIES

    libraries = facts.get("libraries")
    if isinstance(libraries, dict) and len(libraries) > MAX_LIBRARIES:
        raise InputError(f"{source} reports {len(libraries)} libraries, more than {MAX_LIBRARIES}")
    try:
        if not isinstance(libraries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and "\0" not in v for k, v in libraries.items()
        ):
            raise TypeError("libraries")
        from_facts({**facts, "libraries": {}})
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        raise InputError(unexpected) from None


def refuse_too_old(version: str) -> None:
    """An InputError for a gateway Python older than the oldest krakend-tools reads (the one
    line an interpreter that old prints when asked with --python)."""
    from krakend_tools.manifest.introspect import OLDEST

    release = tuple(int(n) for n in version.split(".")[:2])
    if release < OLDEST:
        oldest = ".".join(map(str, OLDEST))
        raise InputError(f"Python {version} is older than {oldest}, the oldest krakend-tools reads")


def symbol_versions(path: str) -> list[str]:
    """Version names a shared library defines (``.gnu.version_d``), e.g. GLIBC_2.34."""
    from krakend_tools.elf import ElfError, read_elf

    try:
        return read_elf(path, symbols=False).version_defs
    except (OSError, ElfError):
        return []


def from_facts(facts: dict[str, Any], gateway: dict[str, str | None] | None = None) -> Manifest:
    """Build a manifest from :func:`krakend_tools.manifest.introspect.facts` output, validated
    (never one its own loader refuses)."""
    from krakend_tools.manifest.model import Library, Manifest, PlatformInfo, PythonInfo, gateway_fields, validated
    from krakend_tools.manifest.platforms import MACHINE_ARCH
    from krakend_tools.manifest.tags import abi_tags, compute_tags

    python = PythonInfo(
        implementation=facts["implementation"],
        version=facts["version"],
        abi_tags=abi_tags(facts),
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
    manifest = Manifest(
        gateway=gateway_fields(gateway or {"name": None, "version": None}),
        python=python,
        platform=plat,
        tags=compute_tags(python, plat.libc, machine, python.implementation),
        marker_environment=facts["marker_environment"],
        distributions=_distributions(facts["distributions"]),
        libraries={name: Library(path, symbol_versions(path)) for name, path in sorted(facts["libraries"].items())},
        site_packages=facts["site_packages"],
        libraries_complete=bool(facts.get("libraries_complete", False)),
    )
    validated(manifest.to_dict(), "the manifest made")
    return manifest


def _distributions(found: dict[str, str]) -> dict[str, str]:
    """The distributions by their canonical names, sorted; a broken install's invalid name (which
    could never match a lockfile's) left out."""
    from packaging.utils import InvalidName, canonicalize_name

    names = {}
    for name, version in sorted(found.items()):
        try:
            names[str(canonicalize_name(name, validate=True))] = version
        except (InvalidName, TypeError):
            continue
    return names
