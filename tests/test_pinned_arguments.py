"""Exact bounds and messages of the command-line value checks (arguments.py)."""

from __future__ import annotations

import pytest

from krakend_tools import arguments
from krakend_tools.errors import InputError


def refusal(check: object, *args: object, **kwargs: object) -> str:
    """The one-line message ``check(*args, **kwargs)`` raises."""
    assert callable(check)
    with pytest.raises(InputError) as raised:
        check(*args, **kwargs)
    return str(raised.value)


def test_bounds() -> None:
    assert (arguments.MAX_TIMEOUT, arguments.MAX_JOBS, arguments.MAX_ARGUMENT) == (86400.0, 1024, 4096)


@pytest.mark.parametrize(("value", "seconds"), [("0.001", 0.001), (86400, 86400.0), ("2.5", 2.5)])
def test_timeout_accepts(value: float | str, seconds: float) -> None:
    assert arguments.timeout(value) == seconds


@pytest.mark.parametrize("value", [0, "-1", 86400.01, "inf", "nan"])
def test_timeout_out_of_range(value: float | str) -> None:
    message = f"--wait must be above 0 and at most 86400 seconds, not {value!r}"
    assert refusal(arguments.timeout, value, "--wait") == message


def test_timeout_not_a_number() -> None:
    assert refusal(arguments.timeout, "soon") == "--timeout must be a number of seconds, not 'soon'"


@pytest.mark.parametrize("value", [None, 1, 1024])
def test_jobs_accepts(value: int | None) -> None:
    assert arguments.jobs(value) == value


@pytest.mark.parametrize("value", [0, 1025, True, -3, "3"])
def test_jobs_refuses(value: int) -> None:
    assert refusal(arguments.jobs, value) == f"-j must be a whole number from 1 to 1024, not {value!r}"


@pytest.mark.parametrize(
    ("text", "full", "version"), [("3.11", False, [3, 11]), ("3.11.7", False, [3, 11, 7]), ("3.11.7", True, [3, 11, 7])]
)
def test_python_version_accepts(text: str, full: bool, version: list[int]) -> None:
    assert arguments.python_version(text, full=full) == version


def test_python_version_refuses() -> None:
    expected = "invalid Python version '3.11' for --python-version: expected X.Y.Z"
    assert refusal(arguments.python_version, "3.11", "--python-version", full=True) == expected
    for text in ("3", "3.1234", "3.11.7.1", "3.١١"):
        message = f"invalid Python version {text!r} for -g: expected X.Y or X.Y.Z"
        assert refusal(arguments.python_version, text) == message


def test_path_argument() -> None:
    assert arguments.path_argument("a" * 4096) == "a" * 4096
    assert refusal(arguments.path_argument, "a" * 4097, "lockfile") == "lockfile too long (4097 characters, limit 4096)"
    assert refusal(arguments.path_argument, "") == "empty path"
    assert refusal(arguments.path_argument, "a\0b") == "path 'a\\x00b' contains a NUL character"
    assert refusal(arguments.path_argument, "\0" * 90) == f"path {chr(0) * 80!r} contains a NUL character"


def test_image_name() -> None:
    long = "a" * 512
    assert arguments.image_name(long) == long
    reference = "127.0.0.1:5055/python:3.11-slim@sha256:ab"
    assert arguments.image_name(reference) == reference
    assert refusal(arguments.image_name, long + "a") == f"--image: invalid image name {'a' * 80!r}"
    assert refusal(arguments.image_name, " ", "--base") == "--base needs an image name"
    assert refusal(arguments.image_name, "-x") == "--image: invalid image name '-x'"
