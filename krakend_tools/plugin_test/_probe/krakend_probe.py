"""Import one plugin module and register it the way the gateway does; print one JSON line.

Run as a script by the gateway's own interpreter (any CPython >= 3.8, including a musl
build in a minimal image without pip), so it is stdlib-only and never imports
``krakend_tools``::

    python -I krakend_probe.py --path DIR [--path DIR ...] --module NAME [--type server ...]

The ``--path`` folders are put first on ``sys.path``, the ``--overlay`` folders (the plugin's
own locked dependencies) last, after the gateway's packages; ``NAME`` is imported; for each
``--type`` (server, client, modifier) the registerer is looked up and its ``register_*``
method called with a recorder that validates every call. The last stdout line is::

    {"module": NAME, "file": ..., "python": "3.11.7", "error": null,
     "results": {"server": {"ok": true, "registered": ["a"], "error": null, ...}}}

``error`` is set when the import itself fails (``"ImportError: ..."``). Anything the
plugin prints goes to stderr, so stdout holds the probe's records only. Crashes, hangs and
``os._exit`` leave no JSON: the caller reads the exit status instead.

With ``--secret-stdin`` the probe first reads a per-run secret from stdin (then points
stdin at /dev/null) and starts every record with it: ``SECRET importing NAME``,
``SECRET registering KIND``, ``SECRET {json}``. The caller also counts a result only when
the probe exited with status 0. ``--memory BYTES`` caps the address space (RLIMIT_AS).

The plugin runs in this process, so what it can reach must not decide the verdict. The
secret, the channel and the verdict live only in an audit hook (``sys.addaudithook``,
which cannot be removed) installed before the plugin is imported, with its own copies of
this module's functions and of the builtins. The code that imports and registers (the
*driver*) tells the hook what happens through ``sys.audit`` events that count only from
the driver's own frame; ``register`` is a relay that raises an event, validated inside the
hook on stand-ins that run no plugin code. Events that reach into the probe (its frames'
code, gc, tracing, its functions' code or defaults, ctypes memory, another process's
``/proc/PID/fd`` or ``mem``, signals to the parent) write a ``tampered`` record at once,
before the operation runs, and are refused: the caller then never reports a pass. Records
start on a fresh line, so a partial line the plugin wrote cannot swallow them. A compiled
plugin can still do anything in-process (read the secret from memory, write records);
the caller's sandbox is what keeps it from everything else.
"""

from __future__ import annotations

import os
import sys
import time
from types import FrameType, FunctionType, MappingProxyType, MethodType, TracebackType

TYPE_CHECKING = False  # typing and json are not imported: they would double start-up time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

TYPES = ("server", "client", "modifier")
# Read-only mappings: a plugin that reaches this module cannot change them.
REGISTERERS = MappingProxyType(
    {"server": "HandlerRegisterer", "client": "ClientRegisterer", "modifier": "ModifierRegisterer"}
)
METHODS = MappingProxyType(
    {"server": "register_handlers", "client": "register_clients", "modifier": "register_modifiers"}
)
# Positional arguments the gateway passes to each type's factory.
FACTORY_ARGS = MappingProxyType({"server": 2, "client": 1, "modifier": 1})
MARKER = "krakend-probe: importing "
REGISTERING = "krakend-probe: registering "
EVENT = "krakend.probe"  # the audit event the driver and ``register`` tell the hook through
# Audit events that only reach into the probe's state (or the caller) while a plugin is probed.
FLAGGED = frozenset(
    (
        "sys._current_frames",
        "sys.settrace",
        "sys.setprofile",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.cdata",
        "os.killpg",
    )
)
# What reaches outside this process is refused too; the rest is only recorded (that settles the verdict).
REFUSED = ("os.kill", "opening")
FUNCTION_PARTS = frozenset(("__code__", "__defaults__", "__kwdefaults__"))
PROC_PARTS = frozenset(("fd", "fdinfo", "mem", "map_files", "root", "cwd", "environ"))
USAGE = (
    "usage: python -I krakend_probe.py [--secret-stdin] [--memory BYTES] --path DIR [--path DIR ...] "
    "[--overlay DIR ...] --module NAME [--type server|client|modifier ...]"
)


def last_line(exc: BaseException) -> str:
    """``Type: last line of the message``, the one line a report shows."""
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[-1]}" if text else name


def _arity_problem(func: Any, count: int) -> str | None:
    """Why ``func`` cannot take ``count`` positional arguments, when that is certain."""
    target = getattr(func, "__func__", None)  # a bound method: self is already there
    bound = 1 if target is not None and getattr(func, "__self__", None) is not None else 0
    if target is None:
        target = func
    code = getattr(target, "__code__", None)
    if code is None or not isinstance(getattr(code, "co_argcount", None), int):
        return None
    positional = code.co_argcount - bound
    required = positional - len(getattr(target, "__defaults__", None) or ())
    varargs = bool(code.co_flags & 0x04)
    if count < required or (count > positional and not varargs):
        want = f"{required}" if required == positional else f"{required} to {positional}"
        return f"takes {want} positional argument(s), the gateway passes {count}"
    return None


class Recorder:
    """The ``register`` function a registerer receives; records and validates each call."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.names: list[str] = []
        self.factories: dict[str, Any] = {}
        self.flags: dict[str, list[bool]] = {}
        self.problems: list[str] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        want = 4 if self.kind == "modifier" else 2
        if kwargs:
            params = ["name", "factory", "applies_to_request", "applies_to_response"][:want]
            unknown = [k for k in kwargs if k not in params[len(args) :]]
            if unknown:
                self.problems.append(f"register() got unexpected keyword(s): {', '.join(unknown)}")
                return
            args = args + tuple(kwargs[p] for p in params[len(args) :] if p in kwargs)
        if len(args) != want:
            sig = (
                "register(name, factory, applies_to_request, applies_to_response)"
                if want == 4
                else "register(name, factory)"
            )
            self.problems.append(f"{sig} called with {len(args)} argument(s)")
            return
        name, factory = args[0], args[1]
        label = repr(name) if isinstance(name, str) else f"<{type(name).__name__}>"
        if not isinstance(name, str) or not name.strip():
            self.problems.append(f"name {label} is not a non-empty string")
            return
        if not callable(factory):
            self.problems.append(f"factory for {label} is not callable ({type(factory).__name__})")
            return
        arity = _arity_problem(factory, FACTORY_ARGS[self.kind])
        if arity:
            self.problems.append(f"factory for {label} {arity}")
        if want == 4:
            flags = [args[2], args[3]]
            for i, param in enumerate(("applies_to_request", "applies_to_response")):
                flag = flags[i]
                if not isinstance(flag, bool):
                    self.problems.append(f"{param} for {label} is not a bool ({type(flag).__name__})")
            if flags == [False, False]:
                self.problems.append(f"modifier {label} applies to neither request nor response")
            self.flags[name] = [bool(f) for f in flags]
        if name in self.factories:
            self.problems.append(f"name {label} registered twice")
        else:
            self.names.append(name)
        self.factories[name] = factory


class Logger:
    """A stand-in for the gateway's logger: lines go to stderr."""

    def _log(self, level: str, values: tuple[object, ...]) -> None:
        sys.stderr.write(f"[PLUGIN] {level}: {' '.join(map(str, values))}\n")

    def debug(self, *values: object) -> None:
        self._log("DEBUG", values)

    def info(self, *values: object) -> None:
        self._log("INFO", values)

    def warning(self, *values: object) -> None:
        self._log("WARNING", values)

    def error(self, *values: object) -> None:
        self._log("ERROR", values)

    def critical(self, *values: object) -> None:
        self._log("CRITICAL", values)

    def fatal(self, *values: object) -> None:
        self._log("FATAL", values)


class Context:
    """A stand-in for the gateway's lifetime: never done while the plugin is probed."""

    def done(self) -> bool:
        return False

    def wait(self, timeout: float | None = None) -> bool:
        while timeout is None:
            time.sleep(3600)
        time.sleep(max(0.0, timeout))
        return False


def _traceback() -> None:
    """The traceback of the exception being handled, without the probe's own frame."""
    import traceback

    exc = sys.exc_info()[1]
    if exc is not None:
        tb = exc.__traceback__
        traceback.print_exception(type(exc), exc, tb.tb_next if tb is not None else None, file=sys.stderr)


def call_registerer(
    module: Any,
    kind: str,
    register: Any,
    logger: Any = None,
    ctx: Any = None,
    on_error: Callable[[], None] = _traceback,
    *,
    _attrs: Any = REGISTERERS,
    _methods: Any = METHODS,
    _getattr: Any = getattr,
    _callable: Any = callable,
    _isinstance: Any = isinstance,
    _last_line: Any = last_line,
) -> tuple[str | None, list[str]]:
    """Look up ``kind``'s registerer on ``module`` and call its method with ``register``:
    the error (None when it returned) and the hooks called. Its helpers are bound here, so a
    plugin that rebinds this module's names or the builtins does not change the lookup."""
    attr, method = _attrs[kind], _methods[kind]
    hooks: list[str] = []
    obj = _getattr(module, attr, None)
    if obj is None:
        return f"The plugin does not contain a {attr}.", hooks
    try:
        if _isinstance(obj, type):
            obj = obj()
        func = _getattr(obj, method, None)
        if not _callable(func):
            return f"{attr} does not implement {method}(register)", hooks
        for hook, arg in (("register_logger", logger), ("register_context", ctx)):
            if hook == "register_context" and kind != "modifier":
                continue
            fn = _getattr(obj, hook, None)
            if _callable(fn) and arg is not None:
                fn(arg)
                hooks.append(hook)
        func(register)
    except BaseException as exc:  # noqa: BLE001 - everything the plugin raises is a result
        if _isinstance(exc, SystemExit):
            return f"{attr}.{method} called exit({getattr(exc, 'code', None)!r})", hooks
        on_error()
        return f"{attr}.{method} raised {_last_line(exc)}", hooks
    return None, hooks


def verdict(recorder: Recorder, error: str | None, hooks: list[str]) -> dict[str, Any]:
    """A type's JSON-ready result from what its registerer did and the calls ``recorder`` saw."""
    kind = recorder.kind
    result: dict[str, Any] = {"ok": False, "registered": [], "error": error, "problems": [], "hooks": list(hooks)}
    if error is not None:
        return result
    result["registered"] = list(recorder.names)
    result["problems"] = list(recorder.problems)
    if recorder.problems:
        result["error"] = "; ".join(recorder.problems)
    elif not recorder.names:
        result["error"] = f"{REGISTERERS[kind]}.{METHODS[kind]} registered nothing"
    else:
        result["ok"] = True
    if kind == "modifier":
        result["flags"] = recorder.flags
    return result


def register_type(
    module: Any,
    kind: str,
    logger: Any = None,
    ctx: Any = None,
    on_error: Callable[[], None] = _traceback,
    recorder: Recorder | None = None,
) -> dict[str, Any]:
    """Look up ``kind``'s registerer on ``module`` and register it; a JSON-ready result.

    Pass ``recorder`` to keep the registered factories (the in-process loader does).
    """
    recorder = recorder if recorder is not None else Recorder(kind)
    error, hooks = call_registerer(module, kind, recorder, logger, ctx, on_error)
    return verdict(recorder, error, hooks)


_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\t"): "\\t"})


def _string(text: str) -> str:
    text = text.translate(_ESCAPES)
    if any("\ud800" <= c <= "\udfff" for c in text):  # undecodable file names
        text = "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in text)
    return f'"{text}"'


def dumps(obj: Any) -> str:
    """JSON for the probe's own output (str, int, float, bool, None, list, dict)."""
    if obj is None:
        return "null"
    if obj is True or obj is False:
        return "true" if obj else "false"
    if isinstance(obj, str):
        return _string(obj)
    if isinstance(obj, int):
        return str(int(obj))
    if isinstance(obj, float):
        return repr(obj) if obj == obj and obj not in (float("inf"), -float("inf")) else "null"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_string(str(k))}: {dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(dumps(v) for v in obj) + "]"
    return _string(repr(obj))


def parse_args(argv: list[str]) -> dict[str, Any]:
    """``--path``/``--module``/``--type``/``--memory`` into a dict; ValueError on anything else."""
    opts: dict[str, Any] = {"path": [], "overlay": [], "module": None, "type": [], "secret_stdin": False, "memory": 0}
    it = iter(argv)
    for arg in it:
        if arg == "--secret-stdin":
            opts["secret_stdin"] = True
            continue
        key, eq, value = arg.partition("=")
        if key not in ("--path", "--overlay", "--module", "--type", "--memory"):
            raise ValueError(f"unknown argument {arg!r}")
        if not eq:
            following = next(it, None)
            if following is None:
                raise ValueError(f"{key} needs a value")
            value = following
        if key == "--module":
            opts["module"] = value
        elif key == "--memory":
            if not value.isdigit():
                raise ValueError(f"--memory {value!r} is not a number of bytes")
            opts["memory"] = int(value)
        else:
            opts[key[2:]].append(value)
    if not opts["module"]:
        raise ValueError("--module is required")
    bad = [t for t in opts["type"] if t not in TYPES]
    if bad:
        raise ValueError(f"unknown --type {bad[0]!r}: expected server, client or modifier")
    return opts


def _read_secret() -> str:
    """The per-run secret, one line on stdin; stdin then becomes /dev/null."""
    data = b""
    while not data.endswith(b"\n") and len(data) < 256:
        chunk = os.read(0, 256 - len(data))
        if not chunk:
            break
        data += chunk
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return data.decode("ascii", "replace").strip()


def _cap_memory(limit: int) -> None:
    """RLIMIT_AS for this process and its children (soft and hard: it cannot be raised back
    without privileges)."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def register(*args: Any, _audit: Any = sys.audit, **kwargs: Any) -> None:
    """The ``register`` a registerer receives: each call goes to the hook, which validates it."""
    _audit(EVENT, "register", args, kwargs)


def _text(value: object) -> str | None:
    """A plain str copy of a str (or str subclass) without running its methods; else None."""
    return str.__str__(value) if issubclass(type(value), str) else None


def _stand_in(value: Any, _self: object = object()) -> Any:
    """What the hook's recorder sees instead of a plugin object: plain values as they are,
    functions and methods as clean copies, anything else an empty object of the same type
    name (callable when it was), so validating a call runs no plugin code."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if issubclass(kind, str):
        return str.__str__(value)
    if kind is FunctionType:
        return FunctionType(value.__code__, {}, "factory", value.__defaults__, value.__closure__)
    if kind is MethodType and type(value.__func__) is FunctionType:
        return MethodType(_stand_in(value.__func__), _self)
    name = type.__dict__["__name__"].__get__(kind)
    return type(name, (), {"__call__": lambda *a, **k: None} if callable(value) else {})()


def _proc_of_another(path: object, pid: int, cwd: Callable[[], str]) -> str | None:
    """``path`` as a plain string when it names the descriptors, memory or root of another
    process in /proc; else None."""
    if issubclass(type(path), bytes):
        path = bytes.decode(path, "utf-8", "surrogateescape")  # type: ignore[arg-type]
    text = _text(path)
    if text is None:
        return None
    parts: list[str] = []
    for part in (text if text.startswith("/") else cwd() + "/" + text).split("/"):
        if part == "..":
            parts = parts[:-1]
        elif part and part != ".":
            parts.append(part)
    if len(parts) < 3 or parts[0] != "proc" or parts[1] in ("self", "thread-self", str(pid)):
        return None
    what = parts[4] if parts[2] == "task" and len(parts) > 4 else parts[2]
    return text if what in PROC_PARTS else None


def _make_hook(
    channel: int, prefix: str, name: str, kinds: tuple[str, ...], module: dict[str, Any]
) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook that holds the channel and decides the verdict (see the module doc);
    ``module``: the probe module's namespace, whose frames and functions it guards too."""
    import _thread

    getpid, getppid, getcwd, getframe, ident = os.getpid, os.getppid, os.getcwd, sys._getframe, _thread.get_ident
    write, fstat = os.write, os.fstat
    pid = getpid()
    pipe = fstat(channel)
    mine = (globals(), module)
    state: dict[str, Any] = {"driver": None, "kind": None, "file": None, "error": None, "closed": False}
    recorders: dict[str, Recorder] = {}
    results: dict[str, Any] = {}
    busy: set[int] = set()
    v = sys.version_info
    python = f"{v.major}.{v.minor}.{v.micro}" + ("" if v.releaselevel == "final" else f"{v.releaselevel[0]}{v.serial}")

    def emit(record: str, anyone: bool = False) -> None:
        """Write a record: from this process only, but a ``tampered`` one from its forks too."""
        now = fstat(channel) if (anyone or getpid() == pid) and not state["closed"] else None
        if now is not None and (now.st_dev, now.st_ino) == (pipe.st_dev, pipe.st_ino):
            data = f"\n{prefix}{record}\n".encode("utf-8", "backslashreplace")
            while data:
                data = data[write(channel, data) :]

    def tampered(what: str) -> None:
        emit(f"tampered {what}", anyone=True)
        if what.startswith(REFUSED):
            raise PermissionError(f"krakend probe: {what} is refused while a plugin is probed")

    def ours(frame: Any) -> bool:
        return frame is state["driver"] or any(frame.f_globals is g for g in mine)

    def suspicious(event: str, args: tuple[Any, ...]) -> str | None:
        if event in FLAGGED:
            return event
        if event == "sys._getframe" and type(args[0]) is FrameType and ours(args[0]):
            return "sys._getframe into the probe"
        if (
            event == "object.__getattr__"
            and type(args[0]) is FrameType
            and _text(args[1]) == "f_code"
            and ours(args[0])
        ):
            return "reading the code of a probe frame"
        if event == "object.__getattr__" and type(args[0]) is TracebackType and _text(args[1]) == "tb_frame":
            return "reading a probe frame from a traceback" if ours(args[0].tb_frame) else None
        if event == "object.__setattr__" and type(args[0]) is FunctionType and _text(args[1]) in FUNCTION_PARTS:
            return f"setting {_text(args[1])} of a function" if any(args[0].__globals__ is g for g in mine) else None
        if event == "open" and (path := _proc_of_another(args[0], pid, getcwd)) is not None:
            return f"opening {path!r}"
        if event == "os.kill" and type(args[0]) is int and (args[0] < 0 or args[0] == 1 or args[0] == getppid()):
            return f"os.kill({args[0]}, {args[1] if type(args[1]) is int else '?'})"
        return None

    def registering(kind: str | None) -> None:
        if kind is None or kind not in kinds or kind in results or state["kind"] is not None:
            tampered("a registration out of order")
            return
        state["kind"] = kind
        recorders[kind] = Recorder(kind)
        emit(f"registering {kind}")

    def registered(given: object, error: object, hooks: Any) -> None:
        kind = _text(given)
        if kind is None or kind != state["kind"]:
            tampered("a registration result out of order")
            return
        names = [_text(h) for h in hooks] if type(hooks) is tuple else []
        results[kind] = verdict(recorders[kind], _text(error), [h for h in names if h])
        state["kind"] = None

    def on_register(args: tuple[Any, ...]) -> None:
        kind = state["kind"]
        if kind is None or len(args) != 2:
            return  # a register kept for later: the gateway would not record it either
        call, named = args
        if type(call) is not tuple or type(named) is not dict:
            tampered("a forged register call")
            return
        kwargs = {str.__str__(k): _stand_in(val) for k, val in named.items()}
        recorders[kind](*[_stand_in(a) for a in call], **kwargs)

    def done() -> None:
        never = "the probe never registered it"
        out = {"module": name, "file": state["file"], "python": python, "error": state["error"], "results": {}}
        if state["error"] is None:
            out["results"] = {k: results.get(k) or verdict(Recorder(k), never, []) for k in kinds}
        emit(dumps(out))
        state["closed"] = True

    def driver_event(what: object, args: tuple[Any, ...], caller: Any) -> None:
        what = _text(what)
        if what == "begin" and state["driver"] is None:
            state["driver"] = caller
            emit(f"importing {name}")
            return
        if caller is not state["driver"] or state["driver"] is None:
            tampered("a forged probe event")
            return
        if what == "imported":
            state["file"] = _text(args[0])
        elif what == "failed":
            state["error"] = _text(args[0]) or "the import failed"
        elif what == "registering":
            registering(_text(args[0]))
        elif what == "registered" and len(args) == 3:
            registered(*args)
        elif what == "done":
            done()
        else:
            tampered(f"an unknown probe event {what!r}")

    def hook(given: str, args: tuple[Any, ...]) -> None:
        me = ident()
        if me in busy:
            return
        busy.add(me)
        try:
            event = _text(given)  # the plugin may raise events too: nothing of its runs here
            if event == EVENT and args and _text(args[0]) == "register":
                on_register(args[1:])
            elif event == EVENT and args:
                driver_event(args[0], args[1:], getframe(1))
            elif event is not None:
                what = suspicious(event, args)
                if what is not None:
                    tampered(what)
        finally:
            busy.discard(me)

    return hook


def _private() -> dict[str, Any]:
    """A copy of this module's namespace for the hook: functions and classes rebound to it,
    and its own copy of the builtins, so nothing the plugin reaches changes what it runs."""
    import builtins

    space = dict(globals())
    space["__builtins__"] = dict(vars(builtins))

    def rebind(func: FunctionType) -> FunctionType:
        return FunctionType(func.__code__, space, func.__name__, func.__defaults__, func.__closure__)

    for key, value in list(space.items()):
        if type(value) is FunctionType and value.__module__ == __name__:
            space[key] = rebind(value)
        elif isinstance(value, type) and value.__module__ == __name__:
            body = {k: rebind(f) if type(f) is FunctionType else f for k, f in vars(value).items()}
            body = {k: f for k, f in body.items() if k not in ("__dict__", "__weakref__")}
            space[key] = type(value.__name__, value.__bases__, body)
    return space


def _arm(opts: dict[str, Any]) -> None:
    """Read the secret, keep the real stdout as the channel, point fd 1 at stderr and install
    the hook; nothing of the channel stays anywhere the plugin can reach."""
    prefix = f"{_read_secret()} " if opts["secret_stdin"] else ""
    sys.stdout.flush()
    channel = os.dup(1)
    os.dup2(2, 1)  # the plugin's prints, even from C, land on stderr
    sys.stdout = sys.stderr
    hook = _private()["_make_hook"](channel, prefix, opts["module"], tuple(opts["type"]), globals())
    sys.addaudithook(hook)


def probe(
    paths: list[str],
    name: str,
    types: list[str],
    logger: Any = None,
    ctx: Any = None,
    *,
    _audit: Any = sys.audit,
    _import: Any = __import__,
    _modules: Any = sys.modules,
    _call: Any = call_registerer,
    _register: Any = register,
    _getattr: Any = getattr,
    _last_line: Any = last_line,
) -> None:
    """The driver: import ``name`` from ``paths`` and register each of ``types``, telling
    the hook each step (it writes the records)."""
    _audit(EVENT, "begin")
    kinds = tuple(types)
    sys.path[0:0] = [p for p in paths if p not in sys.path]
    sys.dont_write_bytecode = True  # no __pycache__ next to a .py plugin
    sys.stderr.write(f"{MARKER}{name}\n")
    sys.stderr.flush()
    try:
        _import(name)
        module = _modules[name]
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        detail = "" if isinstance(exc.code, (int, type(None))) else f": {exc.code}"
        _audit(EVENT, "failed", f"exited with code {code} during import{detail}")
        _audit(EVENT, "done")
        return
    except BaseException as exc:  # noqa: BLE001 - the import failing is the result
        _traceback()
        _audit(EVENT, "failed", _last_line(exc))
        _audit(EVENT, "done")
        return
    _audit(EVENT, "imported", _getattr(module, "__file__", None))
    for kind in kinds:
        sys.stderr.write(f"{REGISTERING}{kind}\n")
        sys.stderr.flush()
        _audit(EVENT, "registering", kind)
        error, hooks = _call(module, kind, _register, logger, ctx)
        _audit(EVENT, "registered", kind, error, tuple(hooks))
    _audit(EVENT, "done")


def main(argv: list[str] | None = None) -> int:
    """Script entry point; the records go to the original stdout, all else to stderr."""
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except ValueError as err:
        sys.stderr.write(f"krakend-probe: error: {err}\n{USAGE}\n")
        return 64
    if opts["memory"]:
        _cap_memory(opts["memory"])
    if __name__ != "__main__":
        sys.modules.pop(__name__, None)  # not importable by name from the plugin
    _arm(opts)
    sys.path.extend(p for p in opts["overlay"] if p not in sys.path)  # after the gateway's packages
    probe(opts["path"], opts["module"], opts["type"], Logger(), Context())
    return 0


def run() -> None:
    """Run :func:`main` and leave at once: plugin finalizers are not part of loading."""
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # the probe's folder, put there by the caller's boot line
    code = main()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
