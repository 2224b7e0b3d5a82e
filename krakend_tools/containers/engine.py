"""The Docker SDK behind one typed class: :class:`Engine` and its :class:`Container`.

Nothing else in krakend-tools imports the SDK (it is imported lazily here: ~120 ms).
:func:`connect` is the preflight: a reachable engine, or one line saying how to get one.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import os
import platform as host_platform
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from krakend_tools.errors import InputError

LABEL_RUN = "io.krakend.run"  # on every container we start: cleanup finds them by it
START_HINT = (
    "start one (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST or "
    "`docker context use` at a running engine"
)
QEMU_FIX = (
    "arm64 needs QEMU emulation on this amd64 host: `sudo apt-get install "
    "qemu-user-static binfmt-support && sudo update-binfmts --enable qemu-aarch64`, "
    "or build it on an arm64 engine (--engine generic/arm64=ssh://host)"
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
        return context_host(name, cfg_dir), f"docker context {name!r}"
    return None, "default socket"


def context_host(name: str, cfg_dir: Path | None = None) -> str:
    """The engine URL of docker context ``name``."""
    cfg_dir = cfg_dir or Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    meta = cfg_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    try:
        data = json.loads((meta / "meta.json").read_text())
        return str(data["Endpoints"]["docker"]["Host"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(
            f"docker context {name!r} not found in {cfg_dir / 'contexts'}; "
            "run `docker context use default` or set DOCKER_HOST"
        ) from None


def qemu_arm64_ready() -> bool:
    """True when arm64 binaries can run here: native arm64, or QEMU binfmt registered."""
    if host_platform.machine() in ("aarch64", "arm64"):
        return True
    try:
        return Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").read_text().startswith("enabled")
    except OSError:
        return False


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


KEEP_LINES = 10_000  # of a container's output, what is kept in memory (the rest streams by)
KEEP_BYTES = 4 * 1024 * 1024


@dataclass
class RunResult:
    """How a container's command ended."""

    exit_code: int | None  # None: timed out or interrupted
    log: str
    elapsed: float
    timed_out: bool = False
    stderr: str = ""
    stdout: str = ""


@dataclass
class Container:
    """A created container: copy files in and out, run it once. Remove it with the engine."""

    engine: Engine
    handle: Any
    platform: str

    @property
    def id(self) -> str:
        return str(self.handle.id)

    def copy_into(self, tar_bytes: bytes, dest: str = "/") -> None:
        """Unpack a tar at ``dest`` in the container (works on remote engines too)."""
        self.handle.put_archive(dest, tar_bytes)

    def copy_out(self, path: str) -> bytes | None:
        """``path`` of the container as a tar, or None when it does not exist."""
        from docker.errors import APIError, NotFound

        try:
            stream, _ = self.handle.get_archive(path)
        except (NotFound, APIError):
            return None
        return b"".join(stream)

    def run(self, *, timeout: float, on_line: Progress = _noop, stdin: bytes | None = None) -> RunResult:
        """Start, stream output lines to ``on_line``, wait; killed after ``timeout`` s.

        ``stdin`` (for a container created with ``stdin=True``) is written before anything
        else runs and then closed. What is kept of the output is bounded: the last
        ``KEEP_LINES`` lines of the log, the last ``KEEP_BYTES`` of stdout and of stderr."""
        start = time.monotonic()
        self._start(stdin)
        lines: collections.deque[str] = collections.deque(maxlen=KEEP_LINES)
        done, timed_out = threading.Event(), threading.Event()
        threading.Thread(target=self._kill_after, args=(timeout, done, timed_out), daemon=True).start()
        try:
            self._follow(lines, on_line)
            status = self.handle.wait()
        finally:
            done.set()
        code = None if timed_out.is_set() else int(status.get("StatusCode", 1))
        if code is not None and code > 128:
            code = -(code - 128)  # killed by a signal, as subprocess says it
        stdout, stderr = (
            self.handle.logs(stdout=out, stderr=not out, tail=KEEP_LINES).decode(errors="replace")[-KEEP_BYTES:]
            for out in (True, False)
        )
        return RunResult(code, "\n".join(lines) + "\n", time.monotonic() - start, timed_out.is_set(), stderr, stdout)

    def _start(self, stdin: bytes | None) -> None:
        """Start the container; ``stdin`` is written to it, then its standard input is closed."""
        sock = self.handle.attach_socket(params={"stdin": 1, "stream": 1}) if stdin is not None else None
        self.handle.start()
        if sock is not None:
            raw = getattr(sock, "_sock", sock)
            try:
                raw.sendall(stdin)
            finally:
                raw.close()  # stdin_once: the container's stdin ends here

    def _kill_after(self, timeout: float, done: threading.Event, timed_out: threading.Event) -> None:
        """The watchdog: kill the container unless ``done`` is set within ``timeout`` s."""
        if not done.wait(timeout):
            timed_out.set()
            with contextlib.suppress(Exception):  # already gone is fine
                self.handle.kill()

    def _follow(self, lines: collections.deque[str], on_line: Progress) -> None:
        """The container's output, line by line into ``lines`` and ``on_line``, until it ends."""
        pending = b""
        for chunk in self.handle.logs(stream=True, follow=True, stdout=True, stderr=True):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            pending = pending[-KEEP_BYTES:]  # one endless line stays bounded too
            for raw_line in complete:
                lines.append(raw_line.decode(errors="replace").rstrip("\r")[-KEEP_BYTES:])
                on_line(lines[-1])
        if pending:
            lines.append(pending.decode(errors="replace"))
            on_line(lines[-1])


@dataclass
class Engine:
    """One connection to a Docker engine, and the containers started through it."""

    client: Any
    url: str
    source: str
    arch: str = "amd64"
    local: bool = True
    last_error: str = ""  # why the last pull failed
    _active: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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

    def images_labelled(self, labels: Mapping[str, str]) -> list[str]:
        """Tags of the images carrying all ``labels``, newest first."""
        found = self.client.images.list(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        found.sort(key=lambda image: str(image.attrs.get("Created", "")), reverse=True)
        return [str(tag) for image in found for tag in image.tags[:1]]

    def pull(self, name: str, platform: str, *, as_name: str) -> bool:
        """Pull ``name`` for ``platform`` and tag it ``as_name``; False (reason in
        ``last_error``) when it cannot be pulled."""
        from docker.errors import APIError, NotFound

        repo, tag = split_reference(name)
        try:
            image = self.client.images.pull(repo, tag=tag, platform=platform)
            new_repo, new_tag = split_reference(as_name)
            image.tag(new_repo, new_tag)
        except (APIError, NotFound) as err:
            self.last_error = api_message(err)
            return False
        return True

    def build_image(
        self,
        context: Path,
        tag: str,
        *,
        buildargs: Mapping[str, str],
        platform: str,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
        progress: Progress = _noop,
    ) -> None:
        """``docker build`` through the API, each output line to ``progress``."""
        from docker.errors import APIError

        try:
            stream = self.client.api.build(
                path=str(context),
                tag=tag,
                buildargs=dict(buildargs),
                target=target,
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
        stdin: bool = False,
        mem_limit: int | None = None,
        pids_limit: int | None = None,
    ) -> Container:
        """Create (not start) a container; it is tracked until :meth:`remove`. With ``stdin``,
        :meth:`Container.run` can write to its standard input once."""
        from docker.errors import APIError, ImageNotFound

        try:
            handle = self.client.containers.create(
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
                stdin_open=stdin,
                tty=False,
                tmpfs=dict(tmpfs or {}),
                mem_limit=mem_limit,
                pids_limit=pids_limit,
            )
        except ImageNotFound:
            raise InputError(f"image {image} not found on the Docker engine") from None
        except APIError as err:
            raise InputError(f"cannot start a container of {image}: {api_message(err, platform, image)}") from None
        with self._lock:
            self._active.add(handle.id)
        return Container(self, handle, platform)

    @contextlib.contextmanager
    def container(self, image: str, command: Sequence[str], **kwargs: Any) -> Iterator[Container]:
        """:meth:`create` as a context: the container is removed whatever happens."""
        created = self.create(image, command, **kwargs)
        try:
            yield created
        finally:
            self.remove(created)

    def remove(self, container: Container) -> None:
        """Force-remove, never raising: the one place containers go away."""
        from docker.errors import APIError, NotFound

        try:
            container.handle.remove(force=True, v=True)
        except NotFound:
            pass
        except APIError:
            time.sleep(0.2)
            with contextlib.suppress(APIError, NotFound):
                container.handle.remove(force=True, v=True)
        with self._lock:
            self._active.discard(container.id)

    def cleanup(self) -> None:
        """Remove every container this engine object still has (Ctrl-C, errors)."""
        from docker.errors import APIError, NotFound

        with self._lock:
            ids = list(self._active)
        for cid in ids:
            with contextlib.suppress(APIError, NotFound):
                self.client.api.remove_container(cid, force=True, v=True)
            with self._lock:
                self._active.discard(cid)

    def run_command(self, image: str, command: Sequence[str], *, platform: str, timeout: float = 300) -> RunResult:
        """Run a short command (``--network none``) to completion."""
        with self.container(image, command, platform=platform) as box:
            return box.run(timeout=timeout)

    def read_files(self, image: str, paths: Sequence[str], *, platform: str) -> dict[str, bytes]:
        """Files (or folders, as tars) out of an image, without running it: path -> tar."""
        found: dict[str, bytes] = {}
        with self.container(image, ["true"], platform=platform) as box:
            for path in paths:
                data = box.copy_out(path)
                if data is not None:
                    found[path] = data
        return found


def first_file(tar_bytes: bytes) -> bytes | None:
    """The content of the first regular file of a tar (``get_archive`` of one file)."""
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                fh = tar.extractfile(member)
                return fh.read() if fh else None
    return None


def split_reference(name: str) -> tuple[str, str]:
    """``registry:5000/repo:tag`` -> (``registry:5000/repo``, ``tag``)."""
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "latest"
    return repo, tag


def connect(url: str | None = None) -> Engine:
    """Preflight: a reachable engine (``url``, else DOCKER_HOST / docker context), or InputError."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise InputError("the Docker SDK is not installed: pip install docker") from None
    source = "--engine"
    if url is None:
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
    local = shown.startswith(("unix://", "npipe://"))
    return Engine(client, shown, source, arch, local)
