"""Whole-process time of `krakend check-plugin` on 1,000-package lockfiles, per format.

Prints the median wall time of `krakend check-plugin -s FILE --manifest M` next to a bare
`python -I -c 'import tomllib; tomllib.load(...)'` (json.load / readlines for the JSON and
text formats) of the same file, and their ratio; then the same for CPU time (user + system of
the child), which a busy machine disturbs less, the ratio of the best CPU times, and the CPU
time of the command on a 5-package lock of the format (its fixed cost). The first line gives
the floor under any Typer command: the interpreter's start-up and `import typer`.
Target (P1, TOML lockfiles): ratio <= 2.0.

    python bench/check_plugin.py [--packages 1000] [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "https://registry.invalid"
MARKERS = ['sys_platform == "win32"', 'platform_machine == "aarch64"', 'python_version >= "3.8"']


def _names(n: int) -> list[tuple[str, str]]:
    return [(f"pkg-{i:04d}", f"1.{i % 7}.{i % 13}") for i in range(n)]


def _wheel(name: str, version: str) -> str:
    return f"{name.replace('-', '_')}-{version}-cp311-cp311-manylinux_2_17_x86_64.whl"


def _sdist(name: str, version: str) -> str:
    return f"{name.replace('-', '_')}-{version}.tar.gz"


def poetry(n: int) -> str:
    out = []
    for i, (name, version) in enumerate(_names(n)):
        out.append(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\ndescription = ""\n'
            f'optional = false\npython-versions = ">=3.8"\ngroups = ["main"]\n'
            + (f"markers = '{MARKERS[i % 3]}'\n" if i % 4 == 0 else "")
            + f'files = [\n    {{file = "{_wheel(name, version)}", hash = "sha256:{i:064x}"}},\n'
            f'    {{file = "{_sdist(name, version)}", hash = "sha256:{i + 1:064x}"}},\n]\n'
            + (f'\n[package.dependencies]\npkg-{i + 1:04d} = ">=1.0"\n' if i + 1 < n else "")
        )
    out.append('[metadata]\nlock-version = "2.1"\npython-versions = "^3.11"\ncontent-hash = "0000"\n')
    return "\n".join(out)


def uv(n: int) -> str:
    names = _names(n)
    deps = ", ".join(f'{{ name = "{name}" }}' for name, _ in names)
    out = [
        'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n',
        f'[[package]]\nname = "bench-plugin"\nversion = "0.1.0"\nsource = {{ editable = "." }}\n'
        f"dependencies = [{deps}]\n",
    ]
    for i, (name, version) in enumerate(names):
        out.append(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\n'
            f'source = {{ registry = "{HOST}/simple" }}\n'
            f'sdist = {{ url = "{HOST}/f/{_sdist(name, version)}", hash = "sha256:{i:064x}", size = 1 }}\n'
            f'wheels = [\n    {{ url = "{HOST}/f/{_wheel(name, version)}", '
            f'hash = "sha256:{i:064x}", size = 1 }},\n]\n'
        )
    return "\n".join(out)


def pylock(n: int) -> str:
    out = ['lock-version = "1.0"\ncreated-by = "bench"\nrequires-python = ">=3.11"\n']
    for i, (name, version) in enumerate(_names(n)):
        out.append(
            f'[[packages]]\nname = "{name}"\nversion = "{version}"\n'
            + (f"marker = '{MARKERS[i % 3]}'\n" if i % 4 == 0 else "")
            + f'index = "{HOST}/simple"\n'
            f'sdist = {{ url = "{HOST}/f/{_sdist(name, version)}", hashes = {{ sha256 = "{i:064x}" }} }}\n'
            f'wheels = [{{ url = "{HOST}/f/{_wheel(name, version)}", hashes = {{ sha256 = "{i:064x}" }} }}]\n'
        )
    return "\n".join(out)


def pdm(n: int) -> str:
    out = [
        '[metadata]\ngroups = ["default"]\nstrategy = ["inherit_metadata"]\n'
        'lock_version = "4.5.0"\ncontent_hash = "sha256:0"\n\n[[metadata.targets]]\n'
        'requires_python = ">=3.11"\n'
    ]
    for i, (name, version) in enumerate(_names(n)):
        out.append(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\nrequires_python = ">=3.8"\n'
            f'summary = ""\ngroups = ["default"]\n'
            + (f"marker = '{MARKERS[i % 3]}'\n" if i % 4 == 0 else "")
            + f'files = [\n    {{file = "{_wheel(name, version)}", hash = "sha256:{i:064x}"}},\n'
            f'    {{file = "{_sdist(name, version)}", hash = "sha256:{i:064x}"}},\n]\n'
        )
    return "\n".join(out)


def pipfile(n: int) -> str:
    default = {}
    for i, (name, version) in enumerate(_names(n)):
        entry = {"hashes": [f"sha256:{i:064x}"], "index": "pypi", "version": f"=={version}"}
        if i % 4 == 0:
            entry["markers"] = MARKERS[i % 3]
        default[name] = entry
    return json.dumps(
        {
            "_meta": {
                "hash": {"sha256": "0"},
                "pipfile-spec": 6,
                "requires": {"python_version": "3.11"},
                "sources": [{"name": "pypi", "url": f"{HOST}/simple", "verify_ssl": True}],
            },
            "default": default,
            "develop": {},
        },
        indent=4,
    )


def requirements(n: int) -> str:
    out = []
    for i, (name, version) in enumerate(_names(n)):
        marker = f" ; {MARKERS[i % 3]}" if i % 4 == 0 else ""
        out.append(f"{name}=={version}{marker} \\\n    --hash=sha256:{i:064x}\n    # via bench")
    return "\n".join(out) + "\n"


FORMATS = {
    "poetry.lock": (poetry, "tomllib"),
    "uv.lock": (uv, "tomllib"),
    "pylock.toml": (pylock, "tomllib"),
    "pdm.lock": (pdm, "tomllib"),
    "Pipfile.lock": (pipfile, "json"),
    "requirements.txt": (requirements, "text"),
}
BARE = {
    "tomllib": "import tomllib,sys; tomllib.load(open(sys.argv[1],'rb'))",
    "json": "import json,sys; json.load(open(sys.argv[1]))",
    "text": "import sys; open(sys.argv[1]).readlines()",
}


def _cpu_and_wall(argv: list[str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, code


def interleaved(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float, float, int]]:
    """Median wall, median CPU (user + system) and best CPU time of each command, and its exit
    code; the commands take turns, so a machine that slows down mid-run slows them all."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    codes = dict.fromkeys(commands, 0)
    for _ in range(runs):
        for name, argv in commands.items():
            wall, cpu, codes[name] = _cpu_and_wall(argv)
            samples[name].append((wall, cpu))
    return {
        name: (
            statistics.median(w for w, _ in got),
            statistics.median(c for _, c in got),
            min(c for _, c in got),
            codes[name],
        )
        for name, got in samples.items()
    }


def compile_bytecode(python: str) -> str:
    """Byte-compile the krakend_tools that ``python`` imports, as ``pip install`` does: an
    editable checkout run with PYTHONDONTWRITEBYTECODE would otherwise compile on every run."""
    where = subprocess.run(
        [python, "-c", "import krakend_tools, os; print(os.path.dirname(krakend_tools.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run([python, "-m", "compileall", "-q", where], check=True, stdout=subprocess.DEVNULL)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    krakend = shutil.which("krakend") or str(Path(sys.executable).with_name("krakend"))
    with open(krakend, "rb") as fh:  # the interpreter of the console script, as installed
        first = fh.readline().decode(errors="replace")
    python = first[2:].strip() if first.startswith("#!") else sys.executable
    print(f"krakend: {krakend} (byte-compiled: {compile_bytecode(python)})", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "gateway.json"
        manifest.write_text(
            subprocess.run([krakend, "version", "-o", "json"], check=True, capture_output=True, text=True).stdout
        )
        floor = interleaved(
            {"python": [python, "-I", "-c", "pass"], "typer": [python, "-c", "import typer"]}, args.runs
        )
        print(
            f"start-up (best CPU): python {floor['python'][2] * 1000:.0f}ms, "
            f"python + import typer {floor['typer'][2] * 1000:.0f}ms"
        )
        print(
            f"{'format':<18}{'check-plugin':>14}{'bare load':>12}{'ratio':>8}"
            f"{'cpu':>9}{'bare cpu':>10}{'ratio':>7}{'best':>7}{'5 pkgs':>9}  exit"
        )
        for filename, (make, kind) in FORMATS.items():
            folder = Path(tmp) / filename.replace(".", "_")
            small = folder / "small"
            small.mkdir(parents=True)
            path = folder / filename
            path.write_text(make(args.packages))
            (small / filename).write_text(make(5))
            got = interleaved(
                {
                    "ours": [krakend, "check-plugin", "-s", str(path), "--manifest", str(manifest)],
                    "bare": [python, "-I", "-c", BARE[kind], str(path)],
                    "small": [krakend, "check-plugin", "-s", str(small / filename), "--manifest", str(manifest)],
                },
                args.runs,
            )
            ours, bare, few = got["ours"], got["bare"], got["small"]
            print(
                f"{filename:<18}{ours[0] * 1000:>12.0f}ms{bare[0] * 1000:>10.0f}ms{ours[0] / bare[0]:>8.2f}"
                f"{ours[1] * 1000:>7.0f}ms{bare[1] * 1000:>8.0f}ms{ours[1] / bare[1]:>7.2f}"
                f"{ours[2] / bare[2]:>7.2f}{few[1] * 1000:>7.0f}ms  {ours[3]}"
            )


if __name__ == "__main__":
    main()
