"""Shared Docker fixtures: the running engine (DOCKER_HOST) and the local base images.

No engine: the Docker tests fail loudly when ``CI=true``, and are skipped elsewhere.
The base images come from ``scripts/make-base-images.sh``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

BASE_REPO = os.environ.get("KRAKEND_BASE_REPO", "krakend-tools/base")
TARGETS = ("alpine/amd64", "alpine/arm64", "generic/amd64", "generic/arm64")


def base(target: str, role: str) -> str:
    return f"{BASE_REPO}:{target.replace('/', '-')}-{role}"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Docker tests need an engine in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client for the engine in DOCKER_HOST, with every local base image present."""
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
    missing = [base(t, r) for t in TARGETS for r in ("builder", "runtime") if not client.images.list(name=base(t, r))]
    if missing:
        _unavailable(f"local base images missing ({', '.join(missing)}); run scripts/make-base-images.sh")
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_env(docker_client: Any) -> dict[str, str]:
    """Environment for ``krakend`` so every target uses the local bases."""
    return {
        "KRAKEND_BASE_IMAGES": ",".join(f"{t}={base(t, 'builder')}" for t in TARGETS),
        "KRAKEND_RUNTIME_BASE_IMAGES": ",".join(f"{t}={base(t, 'runtime')}" for t in TARGETS),
    }


def our_containers(client: Any) -> list[str]:
    """Every container (running or not) that krakend-tools started."""
    return [c.id for c in client.containers.list(all=True, filters={"label": "io.krakend.run"})]
