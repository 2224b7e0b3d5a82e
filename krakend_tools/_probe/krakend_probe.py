"""Import one plugin module and register it the way the gateway does; print one JSON line.

Run as a script by the gateway's own interpreter (any CPython >= 3.8, including a musl
build in a minimal image without pip), so it is stdlib-only and never imports
``krakend_tools``::

    python -I krakend_probe.py --path DIR [--path DIR ...] --module NAME [--type server ...]

The ``--path`` folders are put first on ``sys.path``; ``NAME`` is imported; for each
``--type`` (server, client, modifier) the registerer is looked up and its ``register_*``
method called with a recorder that validates every call. The last stdout line is::

    {"module": NAME, "file": ..., "python": "3.11.7", "error": null,
     "results": {"server": {"ok": true, "registered": ["a"], "error": null, ...}}}

``error`` is set when the import itself fails (``"ImportError: ..."``). Anything the
plugin prints goes to stderr, so stdout holds the JSON only. Crashes, hangs and
``os._exit`` leave no JSON: the caller reads the exit status instead.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing and json are not imported: they would double start-up time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

TYPES = ("server", "client", "modifier")
REGISTERERS = {"server": "HandlerRegisterer", "client": "ClientRegisterer", "modifier": "ModifierRegisterer"}
METHODS = {"server": "register_handlers", "client": "register_clients", "modifier": "register_modifiers"}
# Positional arguments the gateway passes to each type's factory.
FACTORY_ARGS = {"server": 2, "client": 1, "modifier": 1}
MARKER = "krakend-probe: importing "
REGISTERING = "krakend-probe: registering "
USAGE = (
    "usage: python -I krakend_probe.py --path DIR [--path DIR ...] --module NAME [--type server|client|modifier ...]"
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
    import traceback

    traceback.print_exc(file=sys.stderr)


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
    attr, method = REGISTERERS[kind], METHODS[kind]
    result: dict[str, Any] = {"ok": False, "registered": [], "error": None, "problems": [], "hooks": []}
    obj = getattr(module, attr, None)
    if obj is None:
        result["error"] = f"The plugin does not contain a {attr}."
        return result
    try:
        if isinstance(obj, type):
            obj = obj()
        func = getattr(obj, method, None)
        if not callable(func):
            result["error"] = f"{attr} does not implement {method}(register)"
            return result
        recorder = recorder if recorder is not None else Recorder(kind)
        for hook, arg in (("register_logger", logger), ("register_context", ctx)):
            if hook == "register_context" and kind != "modifier":
                continue
            fn = getattr(obj, hook, None)
            if callable(fn) and arg is not None:
                fn(arg)
                result["hooks"].append(hook)
        func(recorder)
    except BaseException as exc:  # noqa: BLE001 - everything the plugin raises is a result
        if isinstance(exc, SystemExit):
            result["error"] = f"{attr}.{method} called exit({exc.code!r})"
        else:
            on_error()
            result["error"] = f"{attr}.{method} raised {last_line(exc)}"
        return result
    result["registered"] = recorder.names
    result["problems"] = recorder.problems
    if recorder.problems:
        result["error"] = "; ".join(recorder.problems)
    elif not recorder.names:
        result["error"] = f"{attr}.{method} registered nothing"
    else:
        result["ok"] = True
    if kind == "modifier":
        result["flags"] = recorder.flags
    return result


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
    """``--path``/``--module``/``--type`` into a dict; ValueError on anything else."""
    opts: dict[str, Any] = {"path": [], "module": None, "type": []}
    it = iter(argv)
    for arg in it:
        key, eq, value = arg.partition("=")
        if key not in ("--path", "--module", "--type"):
            raise ValueError(f"unknown argument {arg!r}")
        if not eq:
            following = next(it, None)
            if following is None:
                raise ValueError(f"{key} needs a value")
            value = following
        if key == "--module":
            opts["module"] = value
        else:
            opts[key[2:]].append(value)
    if not opts["module"]:
        raise ValueError("--module is required")
    bad = [t for t in opts["type"] if t not in TYPES]
    if bad:
        raise ValueError(f"unknown --type {bad[0]!r}: expected server, client or modifier")
    return opts


def probe(paths: list[str], name: str, types: list[str]) -> dict[str, Any]:
    """Import ``name`` from ``paths`` and register each of ``types``: the JSON object."""
    v = sys.version_info
    version = f"{v.major}.{v.minor}.{v.micro}"
    if v.releaselevel != "final":
        version += f"{v.releaselevel[0]}{v.serial}"
    out: dict[str, Any] = {"module": name, "file": None, "python": version, "results": {}, "error": None}
    sys.path[0:0] = [p for p in paths if p not in sys.path]
    sys.stderr.write(f"{MARKER}{name}\n")
    sys.stderr.flush()
    try:
        __import__(name)
        module = sys.modules[name]
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out["error"] = f"exited with code {code} during import"
        if not isinstance(exc.code, (int, type(None))):
            out["error"] += f": {exc.code}"
        return out
    except BaseException as exc:  # noqa: BLE001 - the import failing is the result
        _traceback()
        out["error"] = last_line(exc)
        return out
    out["file"] = getattr(module, "__file__", None)
    logger, ctx = Logger(), Context()
    for kind in types:
        sys.stderr.write(f"{REGISTERING}{kind}\n")
        sys.stderr.flush()
        out["results"][kind] = register_type(module, kind, logger, ctx)
    return out


def main(argv: list[str] | None = None) -> int:
    """Script entry point; the JSON goes to the original stdout, all else to stderr."""
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except ValueError as err:
        sys.stderr.write(f"krakend-probe: error: {err}\n{USAGE}\n")
        return 64
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)  # the plugin's prints, even from C, land on stderr
    sys.stdout = sys.stderr
    out = probe(opts["path"], opts["module"], opts["type"])
    line = dumps(out) + "\n"
    sys.stderr.flush()
    data = line.encode()
    while data:
        data = data[os.write(real_stdout, data) :]
    return 0


def run() -> None:
    """Run :func:`main` and leave at once: plugin finalizers are not part of loading."""
    code = main()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
