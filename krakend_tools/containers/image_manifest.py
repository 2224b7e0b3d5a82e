"""The gateway manifest of an image: read from its own interpreter, or from its label."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from krakend_tools.containers.engine import Engine, connect, first_file
from krakend_tools.errors import InputError
from krakend_tools.manifest.model import Library, Manifest
from krakend_tools.safefs import private_folder

LABEL_MANIFEST = "io.krakend.manifest"


def introspect_image(
    engine: Engine, image: str, platform: str, gateway: dict[str, str | None] | None = None
) -> Manifest:
    """Run the stdlib-only introspection in ``image``; assemble the manifest here."""
    from krakend_tools.manifest import facts as manifest_facts

    script = Path(manifest_facts.__file__).with_name("introspect.py").read_text()
    result = engine.run_command(image, ["python3", "-I", "-c", script], platform=platform)
    lines = result.stdout.strip().splitlines()
    if result.exit_code != 0 or not lines:
        last = (result.stderr.strip().splitlines() or result.log.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot introspect the Python of image {image}: {last}")
    facts: dict[str, Any] = json.loads(lines[-1])
    libraries: dict[str, str] = dict(facts.get("libraries") or {})
    facts["libraries"] = {}
    manifest = manifest_facts.from_facts(facts, gateway)
    copies = engine.read_files(image, list(libraries.values()), platform=platform)
    found: dict[str, Library] = {}
    with private_folder("krakend-libs-") as tmp:
        for name, path in sorted(libraries.items()):
            versions: list[str] = []
            data = first_file(copies[path]) if path in copies else None
            if data is not None:
                copy = tmp / "library"  # never a name the image gave: it could be ../anything
                copy.write_bytes(data)
                versions = manifest_facts.symbol_versions(str(copy))
            found[name] = Library(path, versions)
    manifest.libraries = found
    return manifest


def manifest_from_labels(engine: Engine, image: str) -> Manifest:
    """The manifest label of ``image`` on ``engine``."""
    text = engine.labels(image).get(LABEL_MANIFEST)
    if not text:
        raise InputError(
            f"image {image} carries no gateway manifest (label {LABEL_MANIFEST}); images made by `krakend build` do"
        )
    try:
        return Manifest.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"image {image}: unreadable manifest label ({err})") from None


def manifest_from_image(image: str) -> Manifest:
    """The gateway manifest a builder or runtime image carries (``krakend version --image``)."""
    from krakend_tools.arguments import image_name

    image_name(image)
    return manifest_from_labels(connect(), image)
