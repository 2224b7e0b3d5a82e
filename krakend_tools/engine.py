"""The Docker engine behind one class: preflight, images, containers, probe runner.

Everything else talks to :class:`Engine`, never to the Docker SDK, which is imported
only inside functions (it costs ~120 ms). Public entry points:

* :func:`connect` -> :class:`Engine` (preflight: unreachable engine, one clear line)
* :func:`manifest_from_image` -> the gateway manifest an image carries (its label)
* :func:`runtime_runner` / :class:`DockerRunner` -> the ``importtest.Runner`` that runs
  the import probe inside a target's runtime image (``--network none``, read-only mounts)
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform as host_platform
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krakend_tools.errors import InputError
from krakend_tools.platforms import Target

if TYPE_CHECKING:
    from krakend_tools.importtest import Completed
    from krakend_tools.manifest import Manifest

LABEL_MANIFEST = "io.krakend.manifest"
LABEL_ROLE = "io.krakend.role"
LABEL_TARGET = "io.krakend.target"
LABEL_DIGEST = "io.krakend.builder-digest"
LABEL_CROSS = "io.krakend.cross"
LABEL_RUN = "io.krakend.run"  # on every container we start: cleanup finds them by it
BUILDER_REPO = "krakend-tools/builder"
RUNTIME_REPO = "krakend-tools/runtime"
CACHE_VOLUME = "krakend-tools-cache"
BUILDERS_DIR = Path(os.environ.get("KRAKEND_BUILDERS_DIR") or Path(__file__).resolve().parent.parent / "builders")
START_HINT = (
    "start one (`sudo systemctl start docker`, or in this repository "
    '`eval "$(sudo scripts/docker-env.sh start)"`), or point DOCKER_HOST or '
    "`docker context use` at a running engine"
)
Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def docker_host() -> tuple[str | None, str]:
    """(base URL, where it came from): DOCKER_HOST, else the current docker context."""
    env = os.environ.get("DOCKER_HOST")
    if env:
        return env, "DOCKER_HOST"
    cfg_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    name = os.environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            name = json.loads((cfg_dir / "config.json").read_text()).get("currentContext")
        except (OSError, ValueError):
            name = None
    if name and name != "default":
        meta = cfg_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
        try:
            data = json.loads((meta / "meta.json").read_text())
            host = data["Endpoints"]["docker"]["Host"]
            return str(host), f"docker context {name!r}"
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(
                f"docker context {name!r} not found in {cfg_dir / 'contexts'}; "
                "run `docker context use default` or set DOCKER_HOST"
            ) from None
    return None, "default socket"


def qemu_arm64_ready() -> bool:
    """True when arm64 binaries can run here: native arm64, or QEMU binfmt registered."""
    if host_platform.machine() in ("aarch64", "arm64"):
        return True
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    try:
        text = entry.read_text()
    except OSError:
        return False
    return text.startswith("enabled")


QEMU_FIX = (
    "arm64 needs QEMU emulation on this amd64 host: `sudo apt-get install "
    "qemu-user-static binfmt-support && sudo update-binfmts --enable qemu-aarch64` "
    "(or `sudo scripts/docker-env.sh start`)"
)


@dataclass
class RunResult:
    """How a build container ended."""

    exit_code: int | None  # None: timed out or interrupted
    log: str
    elapsed: float
    timed_out: bool = False


@dataclass
class Engine:
    """One connection to a Docker engine, and the containers started through it."""

    client: Any
    url: str
    source: str
    arch: str = "amd64"
    local: bool = True
    _active: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- preflight -------------------------------------------------------------------

    def require_platform(self, target_arch: str) -> None:
        """InputError when containers of ``target_arch`` cannot run on this engine."""
        if target_arch == self.arch or target_arch != "arm64":
            return
        if self.local and not qemu_arm64_ready():
            raise InputError(QEMU_FIX)

    # -- images ----------------------------------------------------------------------

    def image_attrs(self, name: str) -> dict[str, Any] | None:
        """The image's inspect data, or None when it is not on the engine."""
        from docker.errors import ImageNotFound

        try:
            attrs: dict[str, Any] = self.client.images.get(name).attrs
            return attrs
        except ImageNotFound:
            return None

    def labels(self, name: str) -> dict[str, str]:
        attrs = self.image_attrs(name)
        if attrs is None:
            raise InputError(f"image {name} not found on the Docker engine ({self.url})")
        return dict((attrs.get("Config") or {}).get("Labels") or {})

    def build_image(
        self,
        context: Path,
        dockerfile: str,
        tag: str,
        *,
        buildargs: Mapping[str, str],
        platform: str,
        labels: Mapping[str, str] | None = None,
        progress: Progress = _noop,
    ) -> None:
        """``docker build`` through the API, each output line to ``progress``."""
        from docker.errors import APIError

        try:
            stream = self.client.api.build(
                path=str(context),
                dockerfile=dockerfile,
                tag=tag,
                buildargs=dict(buildargs),
                platform=platform,
                labels=dict(labels or {}),
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in stream:
                if "error" in chunk:
                    raise InputError(f"building image {tag} failed: {str(chunk['error']).strip().splitlines()[-1]}")
                line = str(chunk.get("stream") or chunk.get("status") or "").rstrip()
                if line:
                    progress(line)
        except APIError as err:
            raise InputError(f"building image {tag} failed: {api_message(err, platform)}") from None

    def remove_image(self, name: str) -> None:
        from docker.errors import APIError

        with contextlib.suppress(APIError):
            self.client.images.remove(name, force=True)

    # -- containers ------------------------------------------------------------------

    def _track(self, cid: str) -> None:
        with self._lock:
            self._active.add(cid)

    def remove_container(self, container: Any) -> None:
        """Force-remove, never raising: the one place containers go away."""
        from docker.errors import APIError, NotFound

        try:
            container.remove(force=True, v=True)
        except NotFound:
            pass
        except APIError:
            time.sleep(0.2)
            with contextlib.suppress(APIError, NotFound):
                container.remove(force=True, v=True)
        with self._lock:
            self._active.discard(container.id)

    def cleanup(self) -> None:
        """Remove every container this engine object still has running (Ctrl-C, errors)."""
        from docker.errors import APIError, NotFound

        with self._lock:
            ids = list(self._active)
        for cid in ids:
            with contextlib.suppress(APIError, NotFound):
                self.client.api.remove_container(cid, force=True, v=True)
            with self._lock:
                self._active.discard(cid)

    def create(
        self,
        image: str,
        command: Sequence[str],
        *,
        platform: str,
        network: str = "none",
        environment: Mapping[str, str] | None = None,
        volumes: Mapping[str, Mapping[str, str]] | None = None,
        working_dir: str | None = None,
        read_only: bool = False,
        user: str | None = None,
        tmpfs: Mapping[str, str] | None = None,
    ) -> Any:
        """Create (not start) a container; it is tracked for cleanup."""
        from docker.errors import APIError, ImageNotFound

        try:
            container = self.client.containers.create(
                image,
                list(command),
                platform=platform,
                network_mode=network,
                environment=dict(environment or {}),
                volumes=dict(volumes or {}),
                working_dir=working_dir,
                read_only=read_only,
                user=user,
                labels={LABEL_RUN: "1"},
                stdin_open=False,
                tty=False,
                tmpfs=dict(tmpfs or {}),
            )
        except ImageNotFound:
            raise InputError(f"image {image} not found on the Docker engine") from None
        except APIError as err:
            raise InputError(f"cannot start a container of {image}: {api_message(err, platform, image)}") from None
        self._track(container.id)
        return container

    def run_streaming(self, container: Any, *, timeout: float, on_line: Progress = _noop) -> RunResult:
        """Start ``container``, stream its output lines, wait; kill it on timeout."""
        start = time.monotonic()
        container.start()
        lines: list[str] = []
        timed_out = threading.Event()

        def watchdog() -> None:
            if not done.wait(timeout):
                timed_out.set()
                with contextlib.suppress(Exception):  # already gone is fine
                    container.kill()

        done = threading.Event()
        dog = threading.Thread(target=watchdog, daemon=True)
        dog.start()
        try:
            pending = b""
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    line = raw.decode(errors="replace").rstrip("\r")
                    lines.append(line)
                    on_line(line)
            if pending:
                lines.append(pending.decode(errors="replace"))
                on_line(lines[-1])
            status = container.wait()
        finally:
            done.set()
        code = None if timed_out.is_set() else int(status.get("StatusCode", 1))
        return RunResult(code, "\n".join(lines) + "\n", time.monotonic() - start, timed_out.is_set())

    def run_command(
        self, image: str, command: Sequence[str], *, platform: str, timeout: float = 120
    ) -> tuple[int | None, str, str]:
        """Run a short command (``--network none``); (exit code, stdout, stderr)."""
        container = self.create(image, command, platform=platform)
        try:
            container.start()
            try:
                status = container.wait(timeout=timeout)
                code: int | None = int(status.get("StatusCode", 1))
            except Exception:  # noqa: BLE001 - requests timeout
                code = None
            out = container.logs(stdout=True, stderr=False).decode(errors="replace")
            err = container.logs(stdout=False, stderr=True).decode(errors="replace")
            return code, out, err
        finally:
            self.remove_container(container)

    def read_files(self, image: str, paths: Iterable[str], dest: Path, *, platform: str) -> dict[str, Path]:
        """Copy files out of an image (no process is run); container path -> host path."""
        from docker.errors import APIError, NotFound

        container = self.create(image, ["true"], platform=platform)
        found: dict[str, Path] = {}
        try:
            for n, path in enumerate(paths):
                try:
                    stream, _ = container.get_archive(path)
                except (NotFound, APIError):
                    continue
                data = b"".join(stream)
                with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                    for member in tar.getmembers():
                        if member.isfile():
                            fh = tar.extractfile(member)
                            if fh is not None:
                                out = dest / f"{n}-{os.path.basename(path)}"
                                out.write_bytes(fh.read())
                                found[path] = out
                            break
        finally:
            self.remove_container(container)
        return found


def api_message(err: Exception, platform: str | None = None, image: str | None = None) -> str:
    """One line for an APIError; a platform mismatch (a failed pull) said plainly."""
    text = str(getattr(err, "explanation", None) or err).strip().splitlines()
    line = text[-1] if text else type(err).__name__
    low = line.lower()
    if platform and (
        "pull access denied" in low
        or "does not match the specified platform" in low
        or "no matching manifest" in low
        or "repository does not exist" in low
        or ("pull" in low and "platform" in low)
    ):
        what = f"image {image}" if image else "the image"
        return (
            f"{what} is not available for {platform} on this engine (it tried to pull "
            f"it): build it for {platform} (docker build --platform {platform}) or pass "
            f"an image made for that platform ({line})"
        )
    return line


def connect() -> Engine:
    """Preflight: a reachable engine, or InputError with one line saying how to get one."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise InputError("the Docker SDK is not installed: pip install 'krakend-tools[docker]'") from None
    url, source = docker_host()
    shown = url or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=url, timeout=600) if url else docker.from_env(timeout=600)
        version = client.version()
    except DockerException as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "Permission denied" in reason:
            reason = "permission denied on the socket (add yourself to the docker group)"
        elif (
            "No such file" in reason
            or "Connection refused" in reason
            or "ConnectionRefused" in reason
            or "FileNotFound" in reason
        ):
            reason = "nothing listening there"
        raise InputError(f"cannot reach the Docker engine at {shown} ({source}): {reason}; {START_HINT}") from None
    arch = str(version.get("Arch") or "amd64")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)
    local = shown.startswith("unix://") or shown.startswith("npipe://")
    return Engine(client, shown, source, arch, local)


# -- images for targets ------------------------------------------------------------------


def python_minor(manifest: Manifest | None) -> str:
    if manifest is None:
        return "3.11"
    return ".".join(manifest.python.version.split(".")[:2])


def gateway_version(manifest: Manifest | None) -> str:
    """The version an image tag names: the gateway's, else ``py<X.Y>``."""
    version = (manifest.gateway.get("version") if manifest else None) or os.environ.get("KRAKEND_GATEWAY_VERSION")
    return str(version) if version else f"py{python_minor(manifest)}"


def image_tag(repo: str, target: Target, version: str, base: str | None) -> str:
    """KrakenD-style tags: ``<v>-<arch>`` (alpine), ``<v>-linux-generic-<arch>``."""
    flavour = "" if target.flavour == "alpine" else "-linux-generic"
    suffix = "-local-" + hashlib.sha256(base.encode()).hexdigest()[:8] if base else ""
    return f"{repo}:{version}{flavour}-{target.arch}{suffix}"


def upstream_base(target: Target, minor: str, role: str) -> str:
    if target.flavour == "alpine":
        return f"python:{minor}-alpine"
    return f"python:{minor}-slim-bookworm"


def _dir_digest(*dirs: Path) -> str:
    digest = hashlib.sha256()
    for root in dirs:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(root.parent)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def manifest_for_image(
    engine: Engine, image: str, platform: str, gateway: dict[str, str | None] | None = None
) -> Manifest:
    """Run the stdlib-only introspection in ``image``; assemble the manifest here."""
    import tempfile

    from krakend_tools import manifest as mf
    from krakend_tools.manifest import Library

    script = Path(mf.__file__).with_name("introspect.py").read_text()
    code, out, err = engine.run_command(image, ["python3", "-I", "-c", script], platform=platform)
    if code != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"cannot introspect the Python of image {image}: {last}")
    facts: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    libraries: dict[str, str] = dict(facts.get("libraries") or {})
    facts["libraries"] = {}
    manifest = mf.from_facts(facts, gateway)
    with tempfile.TemporaryDirectory(prefix="krakend-libs-") as tmp:
        copies = engine.read_files(image, libraries.values(), Path(tmp), platform=platform)
        manifest.libraries = {
            name: Library(path, mf.symbol_versions(str(copies[path])) if path in copies else [])
            for name, path in sorted(libraries.items())
        }
    return manifest


def ensure_image(
    engine: Engine,
    target: Target,
    role: str,
    *,
    manifest: Manifest | None,
    base: str | None,
    progress: Progress = _noop,
    rebuild: bool = False,
) -> str:
    """The builder or runtime image for ``target``; built from ``builders/`` when missing.

    The image carries the gateway manifest (label ``io.krakend.manifest``) read from its
    own interpreter, and, for builders, whether it can cross-compile to arm64.
    """
    repo = BUILDER_REPO if role == "builder" else RUNTIME_REPO
    version = gateway_version(manifest)
    tag = image_tag(repo, target, version, base)
    minor = python_minor(manifest)
    base_image = base or upstream_base(target, minor, role)
    sub = target.flavour if role == "builder" else "runtime"
    context = BUILDERS_DIR
    if not (context / sub / "Dockerfile").is_file():
        raise InputError(f"builder definitions not found in {context} (set KRAKEND_BUILDERS_DIR)")
    base_attrs = engine.image_attrs(base_image)
    digest = _dir_digest(context / sub, context / "common") + ":" + str((base_attrs or {}).get("Id", base_image))[:19]
    attrs = engine.image_attrs(tag)
    if attrs is not None and not rebuild:
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        if labels.get(LABEL_DIGEST) == digest and LABEL_MANIFEST in labels:
            return tag
    buildargs = {"BASE_IMAGE": base_image, "PYTHON_VERSION": minor, "FLAVOUR": target.flavour}
    progress(f"building {role} image {tag} from {base_image}")
    stage = f"{tag}-stage"
    try:
        engine.build_image(
            context, f"{sub}/Dockerfile", stage, buildargs=buildargs, platform=target.platform, progress=progress
        )
    except InputError as err:
        if base_attrs is not None:
            raise
        option = "--base-image" if role == "builder" else "--runtime-base-image"
        reason = str(err).rpartition(" failed: ")[2]
        raise InputError(
            f"{target}: base image {base_image} is not on this engine and cannot "
            f"be pulled ({reason}); pull it, or pass {option} {target}=IMAGE "
            "(scripts/make-base-images.sh makes local ones)"
        ) from None
    try:
        gateway: dict[str, str | None] = dict(manifest.gateway) if manifest else {"name": None, "version": None}
        found = manifest_for_image(engine, stage, target.platform, gateway)
        labels = {
            LABEL_MANIFEST: json.dumps(found.to_dict(), separators=(",", ":")),
            LABEL_ROLE: role,
            LABEL_TARGET: str(target),
            LABEL_DIGEST: digest,
        }
        if role == "builder" and target.arch == "amd64":
            code, _, _ = engine.run_command(stage, ["krakend-cross", "--check", "aarch64"], platform=target.platform)
            labels[LABEL_CROSS] = "aarch64" if code == 0 else ""
        engine.build_image(
            context,
            f"{sub}/Dockerfile",
            tag,
            buildargs=buildargs,
            platform=target.platform,
            labels=labels,
            progress=progress,
        )
    finally:
        engine.remove_image(stage)
    if attrs is not None:  # the version this one replaces, now untagged
        old_id = str(attrs.get("Id"))
        new = engine.image_attrs(tag)
        if new is not None and new.get("Id") != old_id:
            engine.remove_image(old_id)
    return tag


def manifest_from_image(image: str) -> Manifest:
    """The gateway manifest a builder or runtime image carries (``krakend version --image``)."""
    from krakend_tools.arguments import image_name

    image_name(image)
    return manifest_from_labels(connect(), image)


# -- the probe runner for test-plugin ------------------------------------------------------


class DockerRunner:
    """An ``importtest.Runner`` that runs the probe inside a (runtime) image.

    The container has no network, a read-only root, the probe and each path mounted
    read-only, and is removed afterwards whatever happens.
    """

    def __init__(
        self, image: str, platform: str | None = None, engine: Engine | None = None, python: str = "python3"
    ) -> None:
        from krakend_tools.arguments import image_name

        image_name(image)
        self.engine = engine or connect()
        attrs = self.engine.image_attrs(image)
        if attrs is None:
            raise InputError(f"image {image} not found on the Docker engine ({self.engine.url})")
        arch = str(attrs.get("Architecture") or "amd64")
        if platform and platform.split("/")[-1] != arch:
            raise InputError(
                f"image {image} is linux/{arch}, not {platform}: this engine "
                f"would try to pull a {platform} variant; pass an image built "
                f"for {platform} (docker build --platform {platform})"
            )
        self.platform = platform or f"linux/{arch}"
        self.engine.require_platform(self.platform.split("/")[-1])
        self.image = image
        self.python = python
        self.description = f"docker {image} ({self.platform})"

    def run_probe(self, paths: Sequence[str], module: str, types: Sequence[str], timeout: float) -> Completed:
        from krakend_tools.importtest import PROBE_PATH, Completed, probe_argv

        volumes = {str(PROBE_PATH): {"bind": "/krakend/krakend_probe.py", "mode": "ro"}}
        inside = []
        for n, path in enumerate(paths):
            where = f"/plugin/{n}"
            volumes[str(Path(path).resolve())] = {"bind": where, "mode": "ro"}
            inside.append(where)
        argv = probe_argv(self.python, "/krakend/krakend_probe.py", inside, module, types)
        start = time.monotonic()
        local = self.engine.local  # a remote engine cannot see our paths: copy them in
        try:
            container = self.engine.create(
                self.image,
                argv,
                platform=self.platform,
                volumes=volumes if local else None,
                working_dir="/tmp",
                read_only=local,
                tmpfs={"/tmp": "rw,size=64m"},
            )
        except InputError as err:
            return Completed(None, "", str(err))
        timed_out = False
        try:
            if not local:
                container.put_archive("/", _copy_in_tar(volumes))
            container.start()
            try:
                status = container.wait(timeout=timeout)
                code: int | None = int(status.get("StatusCode", 1))
                if code is not None and code > 128:
                    code = -(code - 128)  # killed by a signal: importtest's convention
            except Exception:  # noqa: BLE001 - requests' read timeout
                timed_out, code = True, None
                with contextlib.suppress(Exception):
                    container.kill()
            out = container.logs(stdout=True, stderr=False).decode(errors="replace")
            errors = container.logs(stdout=False, stderr=True).decode(errors="replace")
        finally:
            self.engine.remove_container(container)
        return Completed(code, out, errors, timed_out, time.monotonic() - start)


def _copy_in_tar(volumes: Mapping[str, Mapping[str, str]]) -> bytes:
    """The mounted paths as one tar (for a remote engine), read-only for everyone."""
    buf = io.BytesIO()

    def readonly(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mode &= 0o555
        info.uid = info.gid = 0
        return info

    with tarfile.open(fileobj=buf, mode="w") as tar:
        for host, spec in volumes.items():
            tar.add(host, arcname=spec["bind"].lstrip("/"), filter=readonly)
    return buf.getvalue()


def runtime_runner(
    target: Target | str,
    *,
    image: str | None = None,
    base_image: str | None = None,
    manifest: Manifest | None = None,
    progress: Progress = _noop,
) -> DockerRunner:
    """The runner for ``test-plugin --target T`` (or ``--image IMAGE``).

    With ``image``: that image. Otherwise the target's runtime image, built from
    ``builders/runtime`` when missing, on ``base_image`` (default: ``$KRAKEND_RUNTIME_BASE_IMAGES``
    entry for the target, else the official Python image).
    """
    tgt = Target.parse(target) if isinstance(target, str) else target
    engine = connect()
    engine.require_platform(tgt.arch)
    if image is None:
        base = base_image or env_base_images("KRAKEND_RUNTIME_BASE_IMAGES").get(str(tgt))
        image = ensure_image(engine, tgt, "runtime", manifest=manifest, base=base, progress=progress)
    return DockerRunner(image, tgt.platform, engine)


def env_base_images(var: str) -> dict[str, str]:
    """``alpine/amd64=IMG,generic/arm64=IMG`` from an environment variable."""
    found: dict[str, str] = {}
    for item in filter(None, (os.environ.get(var) or "").replace(";", ",").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise InputError(f"{var}: expected TARGET=IMAGE, got {item!r}")
        found[str(Target.parse(key))] = value.strip()
    return found


def run_id() -> str:
    return uuid.uuid4().hex[:12]


def manifest_from_labels(engine: Engine, image: str) -> Manifest:
    """The manifest label of ``image`` on ``engine``."""
    from krakend_tools.manifest import Manifest

    text = engine.labels(image).get(LABEL_MANIFEST)
    if not text:
        raise InputError(
            f"image {image} carries no gateway manifest (label {LABEL_MANIFEST}); images made by `krakend build` do"
        )
    try:
        return Manifest.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"image {image}: unreadable manifest label ({err})") from None


def probe_runner(*, image: str | None = None, target: str | None = None) -> tuple[DockerRunner, Manifest | None]:
    """For ``test-plugin --image/--target``: the runner and the image's manifest (if any)."""
    if image is None and target is None:
        raise InputError("--image or --target is needed to import in a runtime image")
    if image is not None:
        engine = connect()
        tgt = Target.parse(target) if target else None
        runner = DockerRunner(image, tgt.platform if tgt else None, engine)
    else:
        assert target is not None
        runner = runtime_runner(target)
    labels = runner.engine.labels(runner.image)
    manifest = manifest_from_labels(runner.engine, runner.image) if labels.get(LABEL_MANIFEST) else None
    return runner, manifest
