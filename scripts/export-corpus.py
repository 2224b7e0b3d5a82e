#!/usr/bin/env python3
"""Ask the lock tools themselves what each real lockfile in fixtures/real/ installs.

For every entry ``fixtures/real/NAME/`` (a public project's lockfile with the pyproject.toml
or Pipfile of the same commit, see its SOURCE) this runs the tool that wrote the lockfile and
saves its answer under ``NAME/expected/``:

- uv.lock           ``uv export --frozen --no-default-groups --no-hashes``
- NAME.py.lock      ``uv export --script NAME.py --frozen --no-hashes``
- poetry.lock       ``poetry export --only main --without-hashes`` (poetry-plugin-export;
                    Poetry 2.x, else 1.8 for a lock it calls stale)
- pdm.lock          ``pdm export --prod --no-hashes``
- Pipfile.lock      ``pipenv requirements``
- pylock*.toml and requirements*.txt: no tool exports them with markers, so uv installs
  them (``uv pip install --dry-run``) for each target instead: one file per target.

An export the tool refuses is saved as ``expected/TOOL.skip`` with the tool's own last line:
tests/test_corpus.py reports it as a visible skip. Every index/file host of the real package
index in what is saved is rewritten to registry.invalid, as scripts/regen-fixtures.sh does;
the scratch copy the tools run in gets the real hosts back.

Usage: scripts/export-corpus.py [NAME...]    (needs python3.11 and the package index)
       scripts/export-corpus.py --import DIR  copy DIR/NAME/ entries in, hosts rewritten
  TOOLS=dir  where the tool venvs live (default .cache/tools)
  HIDE_HOSTS=host,...  other index/file hosts to rewrite to registry.invalid on --import
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "real"
TOOLS = Path(os.environ.get("TOOLS", ROOT / ".cache" / "tools"))
PLACEHOLDER = "https://registry.invalid"
VERSIONS = {  # venv name -> what is installed in it
    "uv": ["uv==0.13.9"],
    "poetry": ["poetry==2.5.1", "poetry-plugin-export==1.9.0"],
    "poetry18": ["poetry==1.8.5", "poetry-plugin-export==1.8.0"],  # writes lock-version 2.0
    "pdm": ["pdm[locked]==2.29.3"],
    "pipenv": ["pipenv==2026.10.3"],
}
# The targets tests/test_corpus.py compares: uv's --python-platform for each.
TARGETS = {
    "generic/amd64": "x86_64-manylinux_2_36",
    "generic/arm64": "aarch64-manylinux_2_36",
    "alpine/amd64": "x86_64-unknown-linux-musl",
    "alpine/arm64": "aarch64-unknown-linux-musl",
}
PYTHONS = ("3.11", "3.12")


def tool(name: str) -> Path:
    """The venv of one tool, made on first use with pinned versions."""
    venv = TOOLS / name
    stamp = venv / ".ok"
    want = " ".join(VERSIONS[name])
    if not stamp.is_file() or stamp.read_text().strip() != want:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([os.environ.get("PYTHON", "python3.11"), "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *VERSIONS[name]], check=True)
        stamp.write_text(want + "\n")
    return venv / "bin"


def hosts() -> tuple[str, str]:
    """The real index URL and file host, as pip itself defines them (so no host is named here)."""
    out = subprocess.run(
        [
            str(tool("uv") / "python"),
            "-c",
            "from pip._internal.models.index import PyPI as P; print(P.simple_url, P.file_storage_domain)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[0], out[1]


INDEX, FILES_HOST = hosts()
INDEX_HOST = INDEX.split("://", 1)[1].split("/", 1)[0]


# Other package indexes an entry names (e.g. a PyTorch wheel index), given at run time so that
# no registry host is written here: HIDE_HOSTS=host[,host...] scripts/export-corpus.py --import DIR
OTHER_HOSTS = [h for h in os.environ.get("HIDE_HOSTS", "").split(",") if h]


def hide(text: str) -> str:
    """Real hosts -> registry.invalid."""
    text = text.replace(f"https://{FILES_HOST}/", f"{PLACEHOLDER}/").replace(INDEX.rstrip("/"), f"{PLACEHOLDER}/simple")
    for host in OTHER_HOSTS:
        text = text.replace(host, "registry.invalid")
    return text.replace(INDEX_HOST, "registry.invalid").replace(FILES_HOST, "registry.invalid")


def reveal(text: str) -> str:
    """registry.invalid -> the real hosts, for the tools' scratch copy."""
    text = text.replace(f"{PLACEHOLDER}/simple", INDEX.rstrip("/"))
    return text.replace(f"{PLACEHOLDER}/", f"https://{FILES_HOST}/")


def run(args: list[str], cwd: Path) -> tuple[bool, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "POETRY_", "PDM_", "PIPENV_"))
    }
    env.update(
        PIP_CONFIG_FILE="/dev/null",
        UV_NO_PROGRESS="1",
        PDM_CHECK_UPDATE="false",
        PDM_NON_INTERACTIVE="1",
        PIPENV_IGNORE_VIRTUALENVS="1",
        PIPENV_YES="1",
        PIPENV_VERBOSITY="-1",
        NO_COLOR="1",
        POETRY_VIRTUALENVS_CREATE="false",
    )
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        return False, (" ".join(lines[-3:]) if lines else f"exit {proc.returncode}")
    if args[1:3] == ["pip", "install"]:  # uv reports a dry run on stderr
        return True, proc.stdout + proc.stderr
    return True, proc.stdout


def groups_of(work: Path, lock: str) -> list[str]:
    """The optional dependency groups a lockfile's project defines (each exported too)."""
    import tomllib

    data = tomllib.loads((work / lock).read_text())
    pyproject = work / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text()) if pyproject.is_file() else {}
    if lock == "pdm.lock":
        return [g for g in data.get("metadata", {}).get("groups", []) if g != "default"]
    if lock == "uv.lock":
        found = set(project.get("dependency-groups", {}))
        found |= set(project.get("tool", {}).get("uv", {}).get("dev-dependencies", []) and ["dev"])
        return sorted(found)
    if lock == "poetry.lock":
        poetry = project.get("tool", {}).get("poetry", {})
        found = set(poetry.get("group", {})) | ({"dev"} if poetry.get("dev-dependencies") else set())
        return sorted(found)
    return []


def poetries(lock: Path) -> tuple[str, ...]:
    """Poetry installs to try, the one that writes the lock's version first: Poetry 2's export
    plugin drops packages reached through a dependency's extras from lock-version 2.0 files
    (uvloop of uvicorn[standard]) although its installer installs them."""
    version = re.search(r'(?m)^lock-version = "([^"]+)"', lock.read_text())
    if version and version.group(1) in ("1.0", "1.1", "2.0"):
        return ("poetry18", "poetry")
    return ("poetry", "poetry18")


def extras_of(work: Path, lock: str) -> list[str]:
    """The project's extras (each exported too), for the tools that export one at a time."""
    import tomllib

    pyproject = work / "pyproject.toml"
    if lock not in ("uv.lock", "poetry.lock", "pyproject") or not pyproject.is_file():
        return []
    project = tomllib.loads(pyproject.read_text())
    return sorted(
        set(project.get("project", {}).get("optional-dependencies", {}))
        | set(project.get("tool", {}).get("poetry", {}).get("extras", {}))
    )


def exports(work: Path) -> dict[str, tuple[str, list[str], list[list[str]]]]:
    """expected file stem -> (lockfile, header args, commands to try in order)."""
    uv = str(tool("uv") / "uv")
    out: dict[str, tuple[str, list[str], list[list[str]]]] = {}
    for lock in sorted(p for p in work.iterdir() if ".readback." not in p.name):
        name = lock.name
        for group in groups_of(work, name) if name in ("uv.lock", "pdm.lock", "poetry.lock") else []:
            cmd = {
                "uv.lock": [
                    [
                        uv,
                        "export",
                        "--frozen",
                        "--no-default-groups",
                        "--group",
                        group,
                        "--no-hashes",
                        "--no-emit-project",
                        "--format",
                        "requirements-txt",
                    ]
                ],
                "pdm.lock": [[str(tool("pdm") / "pdm"), "export", "-G", group, "--no-hashes", "-f", "requirements"]],
                "poetry.lock": [
                    [
                        str(tool(t) / "poetry"),
                        "export",
                        "--with",
                        group,
                        "--without-hashes",
                        "-f",
                        "requirements.txt",
                        "-n",
                    ]
                    for t in poetries(lock)
                ]
                if name == "poetry.lock"
                else [],
            }[name]
            if name == "pdm.lock" and group in extras_of(work, "pyproject"):
                # PDM locks extras as groups; -G adds the dev groups unless --prod
                out[f"pdm-extra-{group}"] = (name, [f"extras={group}"], [[*cmd[0], "--prod"]])
                continue
            out[f"{name.split('.')[0]}-group-{group}"] = (name, [f"groups={group}"], cmd)
        for extra in extras_of(work, name) if name != "pyproject" else []:
            extra_cmds = {
                "uv.lock": [
                    [
                        uv,
                        "export",
                        "--frozen",
                        "--no-default-groups",
                        "--extra",
                        extra,
                        "--no-hashes",
                        "--no-emit-project",
                        "--format",
                        "requirements-txt",
                    ]
                ],
                "poetry.lock": [
                    [
                        str(tool(t) / "poetry"),
                        "export",
                        "--only",
                        "main",
                        "--extras",
                        extra,
                        "--without-hashes",
                        "-f",
                        "requirements.txt",
                        "-n",
                    ]
                    for t in poetries(lock)
                ]
                if name == "poetry.lock"
                else [],
            }
            out[f"{name.split('.')[0]}-extra-{extra}"] = (name, [f"extras={extra}"], extra_cmds[name])
        if name == "uv.lock":
            out["uv"] = (
                name,
                [],
                [
                    [
                        uv,
                        "export",
                        "--frozen",
                        "--no-default-groups",
                        "--no-hashes",
                        "--no-emit-project",
                        "--format",
                        "requirements-txt",
                    ]
                ],
            )
        elif name.endswith(".py.lock"):
            script = name[: -len(".lock")]
            out["uv-script"] = (name, [], [[uv, "export", "--script", script, "--frozen", "--no-hashes"]])
        elif name == "poetry.lock":
            export = ["export", "--only", "main", "--without-hashes", "-f", "requirements.txt", "-n"]
            out["poetry"] = (name, [], [[str(tool(t) / "poetry"), *export] for t in poetries(lock)])
        elif name == "pdm.lock":
            out["pdm"] = (
                name,
                [],
                [[str(tool("pdm") / "pdm"), "export", "--prod", "--no-hashes", "-f", "requirements"]],
            )
            if "inherit_metadata" not in lock.read_text():
                # pdm export refuses a lock without markers; its installer still reads it, for
                # this machine only (glibc x86_64, the CPython PDM picks for the project)
                sync = [str(tool("pdm") / "pdm"), "sync", "--dry-run", "--no-self"]
                host = ["target=generic/amd64", "python=3.11"]
                out["pdm-sync-host"] = (name, host, [[*sync, "--prod"]])
                for group in groups_of(work, name):
                    out[f"pdm-sync-host-group-{group}"] = (name, [*host, f"groups={group}"], [[*sync, "-G", group]])
        elif name == "Pipfile.lock":
            out["pipenv"] = (name, [], [[str(tool("pipenv") / "pipenv"), "requirements"]])
            out["pipenv-group-dev"] = (
                name,
                ["groups=dev"],
                [[str(tool("pipenv") / "pipenv"), "requirements", "--dev"]],
            )
        elif re.fullmatch(r"pylock(\.[^.]+)?\.toml|requirements.*\.(txt|lock)", name):
            source = name
            dropped: list[str] = []
            if not name.endswith(".toml"):  # the project (-e) and VCS lines cannot be fetched here
                source = "requirements.readback.txt"
                kept = []
                for line in lock.read_text().splitlines():
                    vcs = re.match(r"([A-Za-z0-9._-]+)\s*@\s*(git|hg|svn|bzr)\+", line)
                    if vcs:
                        dropped.append(vcs.group(1))
                    elif not line.startswith(("-e ", "--editable")):
                        kept.append(line)
                (work / source).write_text("\n".join(kept) + "\n")
            if name.endswith(".toml"):  # the project's own directory entry cannot be built here
                source = "pylock.readback.toml"
                # pipenv writes `environments = []` (no environment at all), which uv refuses
                text = re.sub(r"(?m)^environments = \[\]\n", "", lock.read_text())
                blocks = re.split(r"(?m)^(?=\[\[packages\]\]$)", text)
                (work / source).write_text(
                    "".join(b for b in blocks if not re.search(r"(?m)^(directory = |\[packages\.directory\])", b))
                )
            if 'created-by = "pdm"' in lock.read_text():  # PDM reads its own pylock back
                pdm = [str(tool("pdm") / "pdm"), "export", "--no-hashes", "-f", "requirements", "-L", name]
                out["pdm-pylock"] = (name, [], [[*pdm, "--prod"]])
                for group in ("dev",):
                    out[f"pdm-pylock-group-{group}"] = (name, [f"groups={group}"], [[*pdm, "-G", group]])
            for target, platform in TARGETS.items():
                for python in PYTHONS:
                    stem = f"uv-pip-{name}-{target.replace('/', '-')}-{python}"
                    flag = [] if name.endswith(".toml") else ["--no-deps"]
                    out[stem] = (
                        name,
                        [
                            f"target={target}",
                            f"python={python}",
                            *([f"dropped={','.join(dropped)}"] if dropped else []),
                        ],
                        [
                            [
                                uv,
                                "pip",
                                "install",
                                "--dry-run",
                                "--target",
                                str(work / ".target"),
                                "--python-platform",
                                platform,
                                "--python-version",
                                python,
                                "--index-url",
                                INDEX,
                                *flag,
                                "-r",
                                source,
                            ]
                        ],
                    )
    return out


def as_requirements(stdout: str) -> str:
    """``uv pip install --dry-run`` lines ``+ name==version`` as requirement lines."""
    return "".join(
        f"{m.group(1)}{' @ ' + m.group(2) if m.group(2) else ''}\n"
        for m in re.finditer(r"(?m)^ \+ (\S+)(?: @ (\S+))?", stdout)
    )


def export(entry: Path) -> None:
    expected = entry / "expected"
    shutil.rmtree(expected, ignore_errors=True)
    expected.mkdir()
    with tempfile.TemporaryDirectory(prefix="krakend-corpus.") as scratch:
        work = Path(scratch) / entry.name
        shutil.copytree(entry, work, ignore=shutil.ignore_patterns("expected", "SOURCE"))
        for path in work.rglob("*"):
            if path.is_file():
                path.write_text(reveal(path.read_text()))
        for stem, (lock, extra, commands) in exports(work).items():
            why = "no command"
            for command in commands:
                ok, text = run(command, work)
                if ok:
                    if stem.startswith("uv-pip-"):
                        text = as_requirements(text)
                    elif stem.startswith("pdm-sync-host"):  # "  - name version" lines
                        text = "".join(f"{m[1]}=={m[2]}\n" for m in re.finditer(r"(?m)^  - (\S+) (\S+)$", text))
                        python = subprocess.run(  # the interpreter PDM picked for the project
                            [
                                str(work / ".venv" / "bin" / "python"),
                                "-c",
                                "import sys; print('%d.%d' % sys.version_info[:2])",
                            ],
                            capture_output=True,
                            text=True,
                            check=True,
                        ).stdout.strip()
                        extra = [e if not e.startswith("python=") else f"python={python}" for e in extra]
                    header = (
                        f"# krakend-corpus: lock={lock} tool={Path(command[0]).parent.parent.name} {' '.join(extra)}\n"
                    )
                    (expected / f"{stem}.txt").write_text(header + hide(text))
                    break
                why = text
            else:
                (expected / f"{stem}.skip").write_text(f"lock={lock}\n{hide(why)}\n")
                print(f"{entry.name}: {stem} skipped: {hide(why)}", file=sys.stderr)


def import_entries(raw: Path) -> list[str]:
    """Copy each ``raw/NAME/`` (files as fetched) to fixtures/real/NAME/, hosts rewritten."""
    names = []
    for source in sorted(p for p in raw.iterdir() if p.is_dir()):
        for path in source.rglob("*"):
            if path.is_file():
                dest = CORPUS / source.name / path.relative_to(source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(hide(path.read_text()))
        names.append(source.name)
    return names


def main(names: list[str]) -> int:
    if names[:1] == ["--import"]:
        names = import_entries(Path(names[1]))
    entries = [CORPUS / n for n in names] if names else sorted(p for p in CORPUS.iterdir() if p.is_dir())
    for entry in entries:
        print(f"--- {entry.name}", file=sys.stderr)
        export(entry)
    left = [
        str(p)
        for p in CORPUS.rglob("*")
        if p.is_file() and (INDEX_HOST in p.read_text(errors="replace") or FILES_HOST in p.read_text(errors="replace"))
    ]
    if left:
        print("a real host name is left in: " + ", ".join(left), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
