"""Property-based fuzzing (hypothesis) of every reader that meets user input.

Whatever the bytes, the CLI answers with a result (0/1) or one line and exit 2: never a
traceback. Profiles: ``ci`` (the default, a fixed and modest example budget, derandomized)
and ``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``: many more). ``bench/fuzz.py`` runs 100,000+ cases.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import (
    LOCKFILE_NAMES,
    Seeds,
    check_verdict,
    elf_case,
    lockfile_case,
    make_seeds,
    manifest_case,
    mutate,
    mutate_json,
    rebuild_wheel,
    wheel_case,
)

settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile("fuzz", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    folder = tmp_path_factory.mktemp("fuzz")
    return make_seeds(folder)


mutation = st.tuples(st.integers(0, 5), st.floats(0, 1), st.integers(0, 255), st.binary(min_size=1, max_size=16))
mutations = st.lists(mutation, min_size=1, max_size=6)


@given(name=st.sampled_from(LOCKFILE_NAMES), pick=st.integers(0, 1000), muts=mutations)
def test_lockfile_parsers(seeds: Seeds, name: str, pick: int, muts: list[tuple[int, float, int, bytes]]) -> None:
    choices = seeds.lockfiles[name] or [b""]
    check_verdict(lockfile_case(seeds, name, mutate(choices[pick % len(choices)], muts)))


@given(name=st.sampled_from(LOCKFILE_NAMES), text=st.text(max_size=400))
def test_lockfile_parsers_on_any_text(seeds: Seeds, name: str, text: str) -> None:
    check_verdict(lockfile_case(seeds, name, text.encode("utf-8", "surrogatepass")))


@given(seed=st.integers(0, 2**32 - 1), muts=mutations, structural=st.booleans())
def test_manifest_loader(seeds: Seeds, seed: int, muts: list[tuple[int, float, int, bytes]], structural: bool) -> None:
    if structural:
        rng = random.Random(seed)
        doc = mutate_json(json.loads(seeds.manifest_bytes), rng)
        data = json.dumps(doc).encode()
    else:
        data = mutate(seeds.manifest_bytes, muts)
    check_verdict(manifest_case(seeds, data))


@given(muts=mutations, head=st.booleans())
def test_elf_reader(seeds: Seeds, muts: list[tuple[int, float, int, bytes]], head: bool) -> None:
    if head:  # aim at the headers and dynamic tables
        muts = [(k, w * 0.05, n, p) for k, w, n, p in muts]
    check_verdict(elf_case(seeds, mutate(seeds.elves[0], muts)))


@given(muts=mutations, seed=st.integers(0, 2**32 - 1), rebuild=st.booleans())
def test_wheel_reader(seeds: Seeds, muts: list[tuple[int, float, int, bytes]], seed: int, rebuild: bool) -> None:
    data = rebuild_wheel(seeds.wheels[0], random.Random(seed)) if rebuild else mutate(seeds.wheels[0], muts)
    check_verdict(wheel_case(seeds, data))


def test_seeds_are_real(seeds: Seeds) -> None:
    """The fuzz starts from real inputs that the tool reads fine."""
    for name, found in seeds.lockfiles.items():
        assert found, name
        assert lockfile_case(seeds, name, found[0]).code in (0, 1), name
    assert manifest_case(seeds, seeds.manifest_bytes).code in (0, 1)
    assert elf_case(seeds, seeds.elves[0]).code in (0, 1)
    assert wheel_case(seeds, seeds.wheels[0]).code in (0, 1)
    assert Path(seeds.manifest).is_file()
