"""``krakend build``: the command line of :mod:`krakend_tools.build.job` (progress on stderr)."""

# No ``from __future__ import annotations`` here: typer reads the commands' annotations, and
# real objects spare it an eval of each (half of building the command, ~3 ms a run).

import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from krakend_tools.cli.options import IgnoreOpt, ManifestOpt, OutputsOpt

if TYPE_CHECKING:
    from krakend_tools.build.options import BuildOptions
    from krakend_tools.report import Report


def _table(report: "Report", stream: TextIO, color: bool) -> None:
    """The final per-target table (``-o text``)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    report = report.escaped()  # names, paths, messages from the build: no control character
    console = Console(
        file=stream, no_color=not color, highlight=False, force_terminal=color, width=None if color else 200
    )
    table = Table(title=None, show_lines=False, box=None if not color else None)
    for col in ("TARGET", "RESULT", "ARTIFACT", "SIZE", "BUILD", "TEST"):
        table.add_column(col, no_wrap=col != "TEST")
    for f in report.findings:
        d = f.details
        size = d.get("size")
        size_text = f"{size / 1024:.1f} KB" if isinstance(size, int) else "-"
        build_time = d.get("build_time")
        test = str(d.get("test") or "-")
        if d.get("test_message"):
            test += f" ({d['test_message']})"
        elif not f.ok:
            test = f.message
        row = (
            f.name,
            "OK" if f.ok else ("IGNORED" if f.ignored is not None else "KO"),
            str(d.get("artifact") or "-"),
            size_text,
            f"{build_time:.1f}s" if isinstance(build_time, int | float) else "-",
            test,
        )
        table.add_row(*map(Text, row))  # Text: no markup, no :emoji: codes
    failed = len(report.failures)
    from krakend_tools.escape import unforged_lines
    from krakend_tools.report import manifest_line

    used = manifest_line(report.meta)
    with console.capture() as captured:  # a wrapped cell starts a line too: none may read as a workflow command
        console.print(table)
        if used:
            console.print(Text(used))
        console.print(
            Text(
                f"{len(report.findings) - failed} OK, {failed} KO in {report.elapsed:.1f}s; "
                f"logs: {', '.join(str(f.details.get('log')) for f in report.findings)}"
            )
        )
    stream.write(unforged_lines(captured.get()))


class _Display:
    """Rich progress per target on stderr; ``-v`` streams the build log above it."""

    def __init__(self, targets: list[str], verbose: bool) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.verbose = verbose
        self.console = Console(file=sys.stderr, highlight=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[target]:<14}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=not sys.stderr.isatty(),
        )
        self.tasks = {t: self.progress.add_task("waiting", target=t, total=None) for t in targets}
        self.plain = not sys.stderr.isatty()
        self.started = time.monotonic()

    def step(self, target: str, text: str) -> None:
        from rich.markup import escape

        from krakend_tools.escape import shown

        text = shown(text)
        task = self.tasks.get(target)
        if task is not None:
            short = text if len(text) < 70 else text[:67] + "..."
            self.progress.update(task, description=escape(short))
            if text in ("OK", "KO"):
                self.progress.update(task, total=1, completed=1)
        if self.plain and not text.startswith(
            ("Step ", " ---> ", "Removing intermediate", "Successfully", "Sending build context")
        ):
            sys.stderr.write(f"[{time.monotonic() - self.started:6.1f}s] {target}: {text}\n")

    def log(self, target: str, line: str) -> None:
        from krakend_tools.escape import shown

        if not self.verbose:
            return
        line = shown(line)  # a build log is the plugin's own output: no CR, no terminal escape
        if self.plain:
            sys.stderr.write(f"{target} | {line}\n")
        else:
            from rich.text import Text

            self.console.print(Text.assemble((f"{target} | ", "dim"), line), soft_wrap=True)


def build(
    plugin_dir: Annotated[Path, typer.Argument(help="The plugin project (pyproject.toml or setup.py)")] = Path("."),
    target: Annotated[
        list[str] | None,
        typer.Option(
            "-t", "--target", help="alpine|generic/amd64|arm64, or all (repeatable; default: the manifest's own)"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output root: each target writes <out>/<flavour>-<arch>/ (default: PLUGIN_DIR/dist)"
        ),
    ] = None,
    base_image: Annotated[
        list[str] | None,
        typer.Option(
            "--base-image",
            help="TARGET=IMAGE"
            ": builder base instead of the official Python image "
            "(repeatable; also $KRAKEND_BASE_IMAGES=T=IMG,...)",
        ),
    ] = None,
    runtime_base_image: Annotated[
        list[str] | None,
        typer.Option(
            "--runtime-base-image",
            help="TARGET=IMAGE: runtime base for the test (repeatable; also $KRAKEND_RUNTIME_BASE_IMAGES)",
        ),
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            "--command", help="Build command, run by sh in /src; artifacts go to /out (default: build a wheel)"
        ),
    ] = None,
    network: Annotated[
        str | None, typer.Option("--network", help="Container network for the build (default: none)")
    ] = None,
    arm64: Annotated[
        str,
        typer.Option(
            "--arm64", help="cross: cross toolchain in the amd64 builder (fast); emulate: arm64 builder under QEMU"
        ),
    ] = "cross",
    no_test: Annotated[bool, typer.Option("--no-test", help="Skip the import test in the runtime image")] = False,
    allow_missing_extensions: Annotated[
        bool,
        typer.Option(
            "--allow-missing-extensions",
            help="A pure wheel from compiled sources, or compiler errors in a finished build: warn, not KO",
        ),
    ] = False,
    plugin_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="server|client|modifier the test must register (default: what the plugin has)"),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per target build")] = 1800.0,
    jobs: Annotated[int, typer.Option("-j", "--jobs", min=1, help="Targets built in parallel")] = 1,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Stream the build log")] = False,
    rebuild_images: Annotated[
        bool, typer.Option("--rebuild-images", help="Rebuild the builder and runtime images")
    ] = False,
    engine: Annotated[
        list[str] | None,
        typer.Option(
            "--engine",
            help="TARGET=DOCKER_HOST_URL or TARGET=CONTEXT: build that target on another engine, e.g. a "
            "native arm64 one (repeatable; targets on different engines build in parallel)",
        ),
    ] = None,
    image_registry: Annotated[
        str | None,
        typer.Option(
            "--image-registry",
            help="Pull the official Python bases from this registry (HOST:PORT[/PREFIX]; also $KRAKEND_IMAGE_REGISTRY)",
        ),
    ] = None,
    manifest_file: ManifestOpt = None,
    output: OutputsOpt = None,
    ignore: IgnoreOpt = None,
) -> None:
    """Build the plugin in each target's builder image, then import-test it."""
    from krakend_tools.build.options import BuildOptions, parse_targets, resolve
    from krakend_tools.containers.bases import parse_image_map
    from krakend_tools.manifest.resolve import resolve as resolve_manifest
    from krakend_tools.output import emit
    from krakend_tools.settings import CommandLine
    from krakend_tools.settings import resolve as resolve_settings

    settings = resolve_settings("build", plugin_dir, CommandLine(outputs=output or (), ignore=ignore or ()))
    specs = settings.output_specs()
    targets = parse_targets(target) if target else []  # none: the manifest's own
    manifest = resolve_manifest(manifest_file, plugin_dir.resolve())
    request = BuildOptions(
        plugin_dir=plugin_dir.resolve(),
        targets=targets,
        out=out.resolve() if out else None,
        base_images=parse_image_map(base_image or [], "--base-image"),
        runtime_base_images=parse_image_map(runtime_base_image or [], "--runtime-base-image"),
        command=command,
        network=network,
        arm64=arm64,
        test=not no_test,
        types=list(plugin_type or []),
        timeout=timeout,
        jobs=jobs,
        manifest=manifest,
        rebuild_images=rebuild_images,
        engines=parse_image_map(engine or [], "--engine", "URL"),
        registry=image_registry,
        allow_missing_extensions=allow_missing_extensions,
    )
    opts = resolve(request, settings.types)
    report = _build_with_progress(opts, verbose)
    report.apply_ignores(dict(settings.ignore))
    sources = [opts.plugin_dir / "pyproject.toml", opts.plugin_dir / "setup.py", settings.pyproject]
    raise typer.Exit(emit(report, specs, text=_table, inputs=sources))


def _build_with_progress(opts: "BuildOptions", verbose: bool) -> "Report":
    """The build job, its progress drawn on stderr; Ctrl-C or SIGTERM exits 130."""
    from krakend_tools.build import job
    from krakend_tools.build.options import Events

    display = _Display([str(t) for t in opts.targets], verbose)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with display.progress:
            return job.build(opts, Events(step=display.step, log=display.log))
    except KeyboardInterrupt:
        sys.stderr.write("krakend build: interrupted; its containers are removed and no partial artifact was written\n")
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
