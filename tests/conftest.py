"""Test-wide settings and markers.

One intra-op thread: small tensors gain nothing from more, and OpenMP threads spinning against a busy second
core make backward passes 30x slower on a 2-core machine.

Markers (registered in pyproject.toml):

* ``slow``: subprocesses (the CLI, worker pools, Ray), int8 builds, training loops, the browser.
  ``pytest -m "not slow"`` runs the rest in about a minute; ``make test`` runs everything.
  Whole modules that are slow by nature are listed in ``SLOW_MODULES``.
* ``data(name, ...)``: needs those folders of the research data (``$ROSETTA_DATA`` or ``../shared/data``);
  skipped, with the reason, where they are absent (a fresh clone).
"""

from pathlib import Path

import pytest
import torch

from rosetta.runtime.acc16 import library_or_build

torch.set_num_threads(1)

SLOW_MODULES = {
    "test_int8.py": "builds int8 graphs (calibration, ONNX export)",
    "test_cli.py": "runs the rosetta command in subprocesses",
    "test_web.py": "drives a headless browser against a running service",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def pytest_runtest_setup(item):
    for mark in item.iter_markers(name="data"):
        from rosetta.data.splits import data_root

        root = data_root()
        missing = [name for name in mark.args if not (root / name).is_dir()]
        if missing:
            pytest.skip(f"needs the research data {', '.join(missing)} (not in {root}; set ROSETTA_DATA)")


@pytest.fixture(scope="session")
def lib(tmp_path_factory):
    """The acc16 kernel library: the package's build, else compiled once for the session; skipped without one."""
    found = library_or_build(tmp_path_factory.mktemp("acc16"))
    if found is None:
        pytest.skip("the acc16 kernel could not be built here (no C compiler) or this CPU has no AVX2")
    return found
