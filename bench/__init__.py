"""Benchmarks and the mutation score, each run as a script (``python bench/NAME.py``).

A package so that mypy names ``bench/build.py`` ``bench.build``: as a top-level ``build`` it
would shadow the fixtures' plugin builder that tests import as ``build``.
"""
