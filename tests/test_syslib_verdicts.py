"""The KO line of a build that needs a system library the builder lacks, and of a failed
``before-build``, read from real logs (pyyaml 6.0.4 and lxml 6.1.3 in the builder, a hook that
failed): which header or library, and how to provide it."""

from __future__ import annotations

import zipfile
from pathlib import Path

from krakend_tools.build import verdicts

HOW = "provide it with [tool.krakend.build] before-build and environment, see docs/build.md)"
BUILDER = "# generic/amd64: krakend-tools/builder:py3.11.2-linux-generic-amd64 (linux/amd64) $ krakend-run "
# what lxml 6.1.3's setup.py says when neither pkg-config nor xml2-config finds libxml2
LXML_LOG = (
    BUILDER + "krakend-build-wheel /src /out\n"
    "krakend-build-wheel: build environment: Cython>=3.2.9,<3.3, setuptools (offline, isolated)\n"
    "Building lxml version 6.1.3.\n"
    "Building without Cython.\n"
    "Error: Please make sure the libxml2 and libxslt development packages are installed.\n"
)
# pyyaml 6.0.4 without libyaml: the compiler's error, then its fall-back to pure Python
PYYAML_LOG = (
    "building 'yaml._yaml' extension\n"
    "krakend-cc -Wsign-compare -DNDEBUG -g -fwrapv -O3 -Wall -fPIC -I/usr/local/include/python3.11 -c yaml/_yaml.c\n"
    "In file included from yaml/_yaml.c:1255:\n"
    "yaml/_yaml.h:2:10: fatal error: 'yaml.h' file not found\n"
    "    2 | #include <yaml.h>\n"
    "1 error generated.\n"
    "Error compiling module, falling back to pure Python\n"
    "built pyyaml-6.0.4-cp311-cp311-linux_x86_64.whl\n"
)
# the first line is the builder's command, which carries the hook's own text
HOOK_COMMAND = (
    BUILDER + 'sh -c echo "+ before-build: $KRAKEND_BEFORE_BUILD"; sh -c "$KRAKEND_BEFORE_BUILD" || '
    '{ code=$?; echo "krakend: error: before-build failed (exit $code)"; exit $code; }; exec "$@" sh\n'
)


def test_lxml_stopping_before_the_compiler_names_libxml2_and_the_hook() -> None:
    assert verdicts.error_line(LXML_LOG) == (
        "Error: Please make sure the libxml2 and libxslt development packages are installed."
        " (the builder lacks a system library the project needs; " + HOW
    )


def test_a_build_scripts_own_line_about_a_missing_library_gets_the_hook() -> None:
    for said in (
        "The headers or library files could not be found for jpeg,",
        "Error: pg_config executable not found.",
        "Package libxml-2.0 was not found in the pkg-config search path.",
        "xslt-config: not found",
    ):
        line = verdicts.error_line(f"running build_ext\n{said}\nsome closing words\n")
        assert line == f"{said} (the builder lacks a system library the project needs; {HOW}", line


def test_no_hook_for_other_failures_and_an_exception_still_wins() -> None:
    assert verdicts.error_line("make: *** [all] Error 2\nbuild stopped\n") == "make: *** [all] Error 2"
    assert verdicts.error_line("Building without Cython.\nERROR: one\n") == "ERROR: one"
    raised = "Error: the development packages are installed\nRuntimeError: the version is wrong\n"
    assert verdicts.error_line(raised) == "RuntimeError: the version is wrong"


def test_pyyaml_without_libyaml_names_yaml_h_and_the_hook(tmp_path: Path) -> None:
    (tmp_path / "yaml").mkdir()
    (tmp_path / "yaml" / "_yaml.pyx").write_text("")
    wheel = tmp_path / "pyyaml-6.0.4-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:  # platform-tagged, yet no extension module inside
        zf.writestr("yaml/__init__.py", "")
    assert verdicts.lost_extensions([wheel], tmp_path, PYYAML_LOG) == (
        "pyyaml-6.0.4-cp311-cp311-linux_x86_64.whl is pure Python, yet the project compiles yaml/_yaml.pyx:"
        " yaml/_yaml.h:2:10: fatal error: 'yaml.h' file not found"
        " (the builder has no yaml.h: a system library the project needs; " + HOW
    )


def test_a_failed_before_build_says_so_with_its_own_decisive_line() -> None:
    failed = (
        HOOK_COMMAND + "+ before-build: sh vendor/build-libyaml.sh /opt/yaml\n"
        "Traceback (most recent call last):\n"
        '  File "<string>", line 1, in <module>\n'
        "TypeError: TarFile.extractall() got an unexpected keyword argument 'filter'\n"
        "krakend: error: before-build failed (exit 1)\n"
    )
    assert verdicts.error_line(failed) == (
        "before-build failed (exit 1): TypeError: TarFile.extractall() got an unexpected keyword argument 'filter'"
    )
    compiler = (
        "ValueError: an earlier step, not the hook\n"
        "+ before-build: sh vendor/build-libfoo.sh\n"
        "vendor/foo/foo.c:3:10: fatal error: 'zlib.h' file not found\n"
        "krakend: error: before-build failed (exit 2)\n"
    )
    assert verdicts.error_line(compiler) == (
        "before-build failed (exit 2): vendor/foo/foo.c:3:10: fatal error: 'zlib.h' file not found"
        " (the builder has no zlib.h: a system library the project needs; " + HOW
    )
    silent = "+ before-build: false\nkrakend: error: before-build failed (exit 1)\n"
    assert verdicts.error_line(silent) == "before-build failed (exit 1): no output"


def test_the_builders_command_line_alone_is_not_a_failed_hook() -> None:
    ran = HOOK_COMMAND + "+ before-build: true\nsrc/x.c:1:1: error: boom\n"
    assert verdicts.error_line(ran) == "src/x.c:1:1: error: boom"
