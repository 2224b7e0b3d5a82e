"""Shared Docker fixtures: the running engine (DOCKER_HOST) and the local image registry.

The default path is tested as a user runs it: official-shaped Python images
(``python:<V>-slim-bookworm``, ``python:<V>-alpine<A>``, amd64 + arm64 under one name) served
by the local registry in ``$KRAKEND_IMAGE_REGISTRY`` (``scripts/local-registry.sh``,
``scripts/make-base-images.sh``), and no ``--base-image``. No engine or registry: the Docker
tests fail loudly when ``CI=true``, and are skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TARGETS = ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64")
ROOT = Path(__file__).resolve().parent.parent


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Docker tests need an engine in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Served:
    """What the local registry serves: its address and the official-shaped image names."""

    registry: str
    python: str  # 3.11.2
    slim: str  # REG/python:3.11.2-slim-bookworm
    alpine: str  # REG/python:3.11.2-alpine3.17


def served_images(registry: str) -> Served | None:
    """The official-shaped Python images in ``registry`` (HTTP API v2), or None."""
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/python/tags/list", timeout=5) as resp:
            tags = json.load(resp).get("tags") or []
    except (OSError, ValueError):
        return None
    slim = sorted(t for t in tags if re.fullmatch(r"\d+\.\d+\.\d+-slim-bookworm", t))
    if not slim:
        return None
    version = slim[-1].split("-")[0]
    alpine = sorted(t for t in tags if re.fullmatch(rf"{re.escape(version)}-alpine[\d.]+", t))
    if not alpine:
        return None
    return Served(registry, version, f"{registry}/python:{slim[-1]}", f"{registry}/python:{alpine[-1]}")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client for the engine in DOCKER_HOST."""
    try:
        import docker
    except ImportError:
        _unavailable("the docker SDK is not installed")
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means "no engine"
        _unavailable(
            f"no Docker engine at {os.environ.get('DOCKER_HOST') or 'default socket'} "
            f'({type(err).__name__}); run: eval "$(scripts/docker-env.sh start)"'
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def served(docker_client: Any) -> Served:
    registry = os.environ.get("KRAKEND_IMAGE_REGISTRY", "")
    found = served_images(registry) if registry else None
    if found is None:
        _unavailable(
            "no local registry with the official-shaped Python images in "
            f'KRAKEND_IMAGE_REGISTRY ({registry or "unset"}); run: eval "$(scripts/'
            'local-registry.sh start)" && scripts/make-base-images.sh'
        )
    assert found is not None
    return found


@pytest.fixture(scope="session")
def docker_env(served: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for ``krakend``: the gateway runs the served Python; only the registry
    setting differs from a user's defaults."""
    from tests.conftest import gateway_manifest

    manifest = gateway_manifest(tmp_path_factory.mktemp("gateway"), python=served.python, libc="GLIBC-2.36")
    return {"KRAKEND_IMAGE_REGISTRY": served.registry, "KRAKEND_MANIFEST": str(manifest)}


def our_containers(client: Any) -> list[str]:
    """Every container (running or not) that krakend-tools started."""
    return [c.id for c in client.containers.list(all=True, filters={"label": "io.krakend.run"})]
