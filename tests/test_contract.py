"""The plugin contract: Protocols, names shared with the probe, and registration checks."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from krakend_tools.plugin_test import contract
from krakend_tools.plugin_test._probe import krakend_probe as probe

SRC = Path(__file__).resolve().parent.parent / "fixtures" / "plugins_src"


def load_fixture(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"contract_fixture_{name}", SRC / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_uses_the_contract_names() -> None:
    """The probe runs alone under the gateway's interpreter, so it keeps its own copies."""
    assert probe.TYPES == tuple(contract.PluginType) == contract.TYPES
    assert probe.REGISTERERS == contract.REGISTERERS
    assert probe.METHODS == contract.METHODS


def test_each_plugin_type_is_a_finding_kind() -> None:
    """test-plugin's findings are named by the plugin type they tested."""
    from krakend_tools.report import FindingKind

    assert {str(t) for t in contract.PluginType} <= set(FindingKind)


def test_good_plugin_satisfies_the_protocols() -> None:
    good = load_fixture("good_plugin")
    for kind in contract.TYPES:
        registerer = contract.registerer_of(good, kind)
        assert isinstance(registerer, contract.protocol_for(kind)), kind
    server = contract.registerer_of(good, "server")
    assert isinstance(server, contract.LoggerAware)
    assert isinstance(contract.registerer_of(good, "modifier"), contract.ContextAware)
    assert not isinstance(contract.registerer_of(good, "client"), contract.ServerRegisterer)


def test_registerer_without_method_is_not_a_registerer() -> None:
    typo = load_fixture("registerer_without_method")
    obj = contract.registerer_of(typo, "server")
    assert obj is not None
    assert not isinstance(obj, contract.ServerRegisterer)
    assert contract.registerer_of(typo, "client") is None


def test_probe_stand_ins_satisfy_logger_and_context() -> None:
    assert isinstance(probe.Logger(), contract.Logger)
    ctx = probe.Context()
    assert isinstance(ctx, contract.Context)
    assert ctx.done() is False
    assert ctx.wait(0) is False


def test_probe_is_stdlib_only() -> None:
    tree = ast.parse(Path(probe.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported, "no imports found: the check itself is broken"
    assert "krakend_tools" not in imported
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def record(kind: str, *calls: tuple[Any, ...]) -> probe.Recorder:
    rec = probe.Recorder(kind)
    for args in calls:
        rec(*args)
    return rec


def server_factory(cfg: Any, nxt: Any) -> Any:
    return nxt


def one_arg(cfg: Any) -> Any:
    return cfg


def test_recorder_accepts_valid_registrations() -> None:
    rec = record("server", ("a", server_factory), ("b", server_factory))
    assert rec.names == ["a", "b"] and rec.problems == []
    rec = record("modifier", ("m", one_arg, True, False))
    assert rec.names == ["m"] and rec.flags == {"m": [True, False]} and rec.problems == []
    rec = probe.Recorder("modifier")
    rec("kw", one_arg, applies_to_request=False, applies_to_response=True)
    assert rec.names == ["kw"] and rec.problems == []


@pytest.mark.parametrize(
    ("kind", "args", "problem"),
    [
        ("server", ("", server_factory), "is not a non-empty string"),
        ("server", (42, server_factory), "<int> is not a non-empty string"),
        ("client", ("c", "not callable"), "factory for 'c' is not callable (str)"),
        ("server", ("s", one_arg), "takes 1 positional argument(s), the gateway passes 2"),
        ("client", ("c", server_factory), "takes 2 positional argument(s), the gateway passes 1"),
        ("modifier", ("m", one_arg, 1, False), "applies_to_request for 'm' is not a bool (int)"),
        ("modifier", ("m", one_arg, False, False), "applies to neither request nor response"),
        ("modifier", ("m", one_arg), "called with 2 argument(s)"),
        ("server", ("s", server_factory, True), "register(name, factory) called with 3"),
    ],
)
def test_recorder_flags_bad_registrations(kind: str, args: tuple[Any, ...], problem: str) -> None:
    rec = record(kind, args)
    assert len(rec.problems) == 1, rec.problems
    assert problem in rec.problems[0]


def test_recorder_flags_duplicates_once_and_keeps_first_order() -> None:
    rec = record("server", ("a", server_factory), ("b", server_factory), ("a", server_factory))
    assert rec.names == ["a", "b"]
    assert rec.problems == ["name 'a' registered twice"]


def test_arity_check_knows_methods_varargs_and_defaults() -> None:
    class Factory:
        def make(self, cfg: Any, nxt: Any) -> Any:
            return nxt

    assert probe._arity_problem(Factory().make, 2) is None
    assert probe._arity_problem(Factory().make, 1) is not None
    assert probe._arity_problem(lambda *a: a, 5) is None
    assert probe._arity_problem(lambda cfg, nxt=None: cfg, 1) is None
    assert probe._arity_problem(len, 3) is None  # builtins: unknown, never a false KO


def test_register_type_on_the_fixtures() -> None:
    good = load_fixture("good_plugin")
    server = probe.register_type(good, "server", probe.Logger(), probe.Context())
    assert server["ok"] and server["registered"] == ["good-auth", "good-headers"]
    assert server["hooks"] == ["register_logger"]
    modifier = probe.register_type(good, "modifier", probe.Logger(), probe.Context())
    assert modifier["ok"] and modifier["hooks"] == ["register_context"]
    assert modifier["flags"] == {"good-modifier": [True, False]}
    assert good.SEEN["ctx"] is not None

    missing = probe.register_type(load_fixture("missing_registerer"), "server")
    assert missing["error"] == "The plugin does not contain a HandlerRegisterer."
    typo = probe.register_type(load_fixture("registerer_without_method"), "server")
    assert typo["error"] == "HandlerRegisterer does not implement register_handlers(register)"
    raises = probe.register_type(load_fixture("registerer_raises"), "client", on_error=lambda: None)
    assert raises["error"] == ("ClientRegisterer.register_clients raised ValueError: no backend configured")
    bad = probe.register_type(load_fixture("bad_registrations"), "server")
    assert not bad["ok"] and len(bad["problems"]) == 4
    assert bad["registered"] == ["dup", "arity"]


def test_registering_nothing_is_a_failure() -> None:
    module = ModuleType("empty_plugin")

    class HandlerRegisterer:
        def register_handlers(self, register: Any) -> None:
            pass

    module.HandlerRegisterer = HandlerRegisterer  # type: ignore[attr-defined]
    res = probe.register_type(module, "server")
    assert not res["ok"]
    assert res["error"] == "HandlerRegisterer.register_handlers registered nothing"
