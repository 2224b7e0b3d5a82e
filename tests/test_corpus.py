"""Real public projects' lockfiles (fixtures/real/) against the lock tools' own exports.

scripts/export-corpus.py ran each tool (uv, Poetry, PDM, pipenv; uv's installer for pylock
and requirements files) on each entry and saved its answer under expected/. Here, with no
network, the exports' markers are evaluated for each target the way ``version --from-lock``
builds a gateway's marker environment, and check-plugin's selection must be the same set of
packages at the same versions. An export the tool refused is a visible skip with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from krakend_tools.check.job import check_plugin
from krakend_tools.lockfiles import load_lockfile
from krakend_tools.lockfiles.select import select as select_packages
from krakend_tools.manifest.from_lock import target_environment
from krakend_tools.manifest.platforms import Target

from .test_lockfile_semantics import _manifest

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "real"
TARGETS = [
    (t, p) for t in ("generic/amd64", "generic/arm64", "alpine/amd64", "alpine/arm64") for p in ("3.11.9", "3.12.4")
]
EXPORTS = sorted(CORPUS.glob("*/expected/*.txt"))
SKIPS = sorted(CORPUS.glob("*/expected/*.skip"))


def header(export: Path) -> dict[str, str]:
    first = export.read_text().splitlines()[0]
    assert first.startswith("# krakend-corpus: "), export
    return dict(item.split("=", 1) for item in first.split(": ", 1)[1].split())


def exported(export: Path, environment: dict[str, str]) -> tuple[set[str], set[str]]:
    """(``name==version`` of registry packages, names of URL/VCS/local ones) for ``environment``."""
    pinned: set[str] = set()
    other: set[str] = set()
    for raw in export.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", "./", "../", "file:", "/")):
            continue  # options (-i, --hash), and -e/path lines: the project or its members
        # pipenv prints "name==" + a 2017 lock's bare pin, which already starts with "=="
        line = re.sub(r"^([A-Za-z0-9._-]+)====(?=[0-9])", r"\1==", line)
        req = Requirement(line.rstrip("\\").strip())
        if req.marker is not None and not req.marker.evaluate(environment):
            continue
        name = canonicalize_name(req.name)
        if req.url:
            if not req.url.startswith("file:"):
                other.add(name)
            continue
        (version,) = [s.version for s in req.specifier if s.operator in ("==", "===")]
        pinned.add(f"{name}=={version}")
    return pinned, other


def selected(
    lock_path: Path, environment: dict[str, str], groups: list[str], extras: list[str]
) -> tuple[set[str], set[str]]:
    lock = load_lockfile(lock_path)
    pinned: set[str] = set()
    other: set[str] = set()
    for pkg in select_packages(lock, environment, groups=groups, extras=extras):
        if pkg.name == lock.project or pkg.source == "path":
            continue
        if pkg.version is None or pkg.source in ("git", "vcs", "url"):
            other.add(pkg.name)
        else:
            pinned.add(f"{pkg.name}=={pkg.version}")
    return pinned, other


def _id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


@pytest.mark.parametrize("export", EXPORTS, ids=_id)
def test_selection_equals_the_tools_export(export: Path) -> None:
    facts = header(export)
    lock = export.parent.parent / facts["lock"]
    targets = [(facts["target"], facts["python"] + ".4")] if "target" in facts else TARGETS
    for target, python in targets:
        environment = target_environment(Target.parse(target), python)
        want = exported(export, environment)
        have = selected(
            lock,
            environment,
            [g for g in facts.get("groups", "").split(",") if g],
            [e for e in facts.get("extras", "").split(",") if e],
        )
        dropped = {canonicalize_name(n) for n in facts.get("dropped", "").split(",") if n}
        have = ({p for p in have[0] if p.split("==")[0] not in dropped}, have[1] - dropped)
        assert have == want, (
            f"{target} py{python}: only ours {sorted(have[0] - want[0])}, "
            f"only the tool's {sorted(want[0] - have[0])}, "
            f"by name {sorted(have[1] ^ want[1])}"
        )


@pytest.mark.parametrize("skip", SKIPS, ids=_id)
def test_tool_could_not_export(skip: Path) -> None:
    """A file the tool refused is still read; where uv refused to install a package for a
    target (no wheel fits), check-plugin must fail that package for that target too."""
    lock_line, reason = skip.read_text().split("\n", 1)
    lock = load_lockfile(skip.parent.parent / lock_line.split("=", 1)[1])
    refused = re.search(r"`([^`]+)` \(v[^)]*\) (?:only has wheels|can't be installed)", reason)
    wheel = re.search(r"/([^/\s]+\.whl)\) dependency is incompatible", reason)
    name = refused[1] if refused else parse_wheel_filename(wheel[1])[0] if wheel else None
    found = re.search(r"-(generic|alpine)-(amd64|arm64)-(3\.\d+)$", skip.stem)
    if name and found:
        manifest = _manifest(f"{found[1]}/{found[2]}", f"{found[3]}.4")
        report = check_plugin(lock, manifest)
        assert name in {f.name for f in report.findings if not f.ok}, report.findings
        return
    pytest.skip(f"{skip.stem} cannot export it: {reason.strip()}")


def test_corpus_is_there() -> None:
    assert len({p.parent.parent for p in EXPORTS + SKIPS}) >= 2
    for entry in (p for p in CORPUS.iterdir() if p.is_dir()):
        assert (entry / "SOURCE").is_file(), entry
        assert "commit:" in (entry / "SOURCE").read_text()


LOCKS = sorted(
    {e.parent.parent / header(e)["lock"] for e in EXPORTS}
    | {s.parent.parent / s.read_text().split("\n", 1)[0].split("=", 1)[1] for s in SKIPS}
)


@pytest.mark.parametrize("lock_path", LOCKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_check_plugin_runs_on_every_target(lock_path: Path) -> None:
    """Every corpus lockfile gives a report (no exception) for every target and Python."""
    lock = load_lockfile(lock_path)
    for target, python in TARGETS:
        report = check_plugin(lock, _manifest(target, python))
        assert report.meta["lockfiles"][0]["packages"] >= 0 and report.exit_code in (0, 1)
