"""The plugin contract: what a Python plugin module exposes so the gateway can load it.

It mirrors KrakenD's three plugin types. A plugin is an importable module (a ``.py``
file, a package, or a compiled extension: C, Cython, Rust...) that exposes, at top
level, one or more *registerers*:

==========  ======================  =====================================================
type        registerer attribute    method the gateway calls
==========  ======================  =====================================================
server      ``HandlerRegisterer``   ``register_handlers(register)``
client      ``ClientRegisterer``    ``register_clients(register)``
modifier    ``ModifierRegisterer``  ``register_modifiers(register)``
==========  ======================  =====================================================

The registerer is any object with that method: an instance, a module, or a class that
can be instantiated without arguments (the gateway instantiates it once). Inside the
method the plugin calls ``register`` once per name it provides:

* server:   ``register(name: str, factory)`` where
  ``factory(extra_config: dict, next_handler) -> handler``; the handler is a WSGI-style
  callable the gateway stacks in front of ``next_handler``.
* client:   ``register(name: str, factory)`` where ``factory(extra_config: dict) -> handler``;
  the handler replaces the gateway's HTTP client for one backend.
* modifier: ``register(name: str, factory, applies_to_request: bool,
  applies_to_response: bool)`` where ``factory(extra_config: dict) -> modifier`` and
  ``modifier(obj) -> obj`` changes a request or a response.

Names are non-empty strings, unique per type within a plugin; factories are callables;
the two modifier flags are real ``bool`` values. Optional hooks, on any registerer:
``register_logger(logger)`` (the gateway's :class:`Logger`), and on a modifier
registerer ``register_context(ctx)`` (a :class:`Context` that is done when the gateway
shuts down). The gateway imports the module once, at start-up, before serving traffic:
import-time code must not block, exit, or crash the process.

This module is stdlib-only: plugin authors can copy it or import it to type-check
their registerers (``isinstance(obj, ServerRegisterer)`` works at runtime).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Final, Protocol, runtime_checkable

__all__ = [
    "METHODS",
    "REGISTERERS",
    "TYPES",
    "ClientFactory",
    "ClientHandler",
    "ClientRegisterer",
    "Context",
    "Logger",
    "ModifierFactory",
    "ModifierFunc",
    "ModifierRegisterer",
    "PluginType",
    "RegisterClient",
    "RegisterHandler",
    "RegisterModifier",
    "ServerFactory",
    "ServerHandler",
    "ServerRegisterer",
    "protocol_for",
    "registerer_of",
]


class PluginType(StrEnum):
    """The plugin types, in the order the gateway (and ``test-plugin``) goes through them."""

    SERVER = "server"
    CLIENT = "client"
    MODIFIER = "modifier"


TYPES: Final[tuple[str, ...]] = tuple(PluginType)
"""The plugin types as a tuple (each member equals its name: ``"server"``...)."""

REGISTERERS: Final[Mapping[str, str]] = {
    PluginType.SERVER: "HandlerRegisterer",
    PluginType.CLIENT: "ClientRegisterer",
    PluginType.MODIFIER: "ModifierRegisterer",
}
"""Plugin type -> the module attribute the gateway looks up."""

METHODS: Final[Mapping[str, str]] = {
    PluginType.SERVER: "register_handlers",
    PluginType.CLIENT: "register_clients",
    PluginType.MODIFIER: "register_modifiers",
}
"""Plugin type -> the registerer method the gateway calls."""

# -- what the gateway hands to plugins -------------------------------------------------


@runtime_checkable
class Logger(Protocol):
    """The gateway's logger, given to ``register_logger``; each method takes values to log."""

    def debug(self, *values: object) -> None: ...
    def info(self, *values: object) -> None: ...
    def warning(self, *values: object) -> None: ...
    def error(self, *values: object) -> None: ...
    def critical(self, *values: object) -> None: ...


@runtime_checkable
class Context(Protocol):
    """The gateway's lifetime, given to ``register_context``: done once it shuts down."""

    def done(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


# -- what plugins hand to the gateway --------------------------------------------------

ServerHandler = Callable[..., Any]
"""A request handler (WSGI-style ``handler(environ, start_response)``)."""
ServerFactory = Callable[[Mapping[str, Any], ServerHandler], ServerHandler]
"""``factory(extra_config, next_handler) -> handler``."""
ClientHandler = Callable[..., Any]
"""Performs the backend call for one request and returns the response."""
ClientFactory = Callable[[Mapping[str, Any]], ClientHandler]
"""``factory(extra_config) -> handler``."""
ModifierFunc = Callable[[Any], Any]
"""``modifier(obj) -> obj``: changes a request or a response wrapper."""
ModifierFactory = Callable[[Mapping[str, Any]], ModifierFunc]
"""``factory(extra_config) -> modifier``."""


class RegisterHandler(Protocol):
    """The ``register`` function ``register_handlers`` receives."""

    def __call__(self, name: str, factory: ServerFactory, /) -> None: ...


class RegisterClient(Protocol):
    """The ``register`` function ``register_clients`` receives."""

    def __call__(self, name: str, factory: ClientFactory, /) -> None: ...


class RegisterModifier(Protocol):
    """The ``register`` function ``register_modifiers`` receives."""

    def __call__(
        self, name: str, factory: ModifierFactory, applies_to_request: bool, applies_to_response: bool, /
    ) -> None: ...


@runtime_checkable
class ServerRegisterer(Protocol):
    """The shape of ``HandlerRegisterer`` (server / handler plugins)."""

    def register_handlers(self, register: RegisterHandler) -> None: ...


@runtime_checkable
class ClientRegisterer(Protocol):
    """The shape of ``ClientRegisterer`` (HTTP client plugins)."""

    def register_clients(self, register: RegisterClient) -> None: ...


@runtime_checkable
class ModifierRegisterer(Protocol):
    """The shape of ``ModifierRegisterer`` (request/response modifiers)."""

    def register_modifiers(self, register: RegisterModifier) -> None: ...


@runtime_checkable
class LoggerAware(Protocol):
    """A registerer that wants the gateway's logger."""

    def register_logger(self, logger: Logger) -> None: ...


@runtime_checkable
class ContextAware(Protocol):
    """A modifier registerer that wants the gateway's lifetime."""

    def register_context(self, ctx: Context) -> None: ...


_PROTOCOLS: Final[Mapping[str, type]] = {
    PluginType.SERVER: ServerRegisterer,
    PluginType.CLIENT: ClientRegisterer,
    PluginType.MODIFIER: ModifierRegisterer,
}


def protocol_for(kind: str) -> type:
    """The Protocol class a registerer of plugin type ``kind`` satisfies."""
    return _PROTOCOLS[kind]


def registerer_of(module: object, kind: str) -> object | None:
    """The registerer ``module`` exposes for ``kind`` (a class is instantiated), or None."""
    obj: object | None = getattr(module, REGISTERERS[kind], None)
    if obj is None:
        return None
    if isinstance(obj, type):
        obj = obj()
    return obj
