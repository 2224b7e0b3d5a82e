"""The wheel tags an interpreter accepts: its ABI tags from its facts, and the ordered tag list
of its Python on its platform (what a lockfile's wheels are matched against)."""

from __future__ import annotations

from typing import Any, Protocol

from krakend_tools.manifest.platforms import Libc, platform_tags, tag_python


class PythonInfo(Protocol):
    """What the tags need of an interpreter (a manifest's ``python``)."""

    @property
    def minor(self) -> tuple[int, int]: ...
    @property
    def abi_tags(self) -> list[str]: ...
    @property
    def interpreter_tag(self) -> str: ...


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


def abi_tags(facts: dict[str, Any]) -> list[str]:
    """The ABI tags of the interpreter the introspection ``facts`` describe, best first."""
    major, minor = facts["version"].split(".")[:2]
    if facts["implementation"] != "cpython":
        soabi = facts.get("soabi") or ""
        return [soabi.replace("-", "_").replace(".", "_")] if soabi else ["none"]
    tag = f"cp{major}{minor}" + ("t" if facts["free_threaded"] else "") + ("d" if facts["debug"] else "")
    return [tag] + ([] if facts["free_threaded"] else ["abi3"]) + ["none"]
