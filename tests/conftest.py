"""Shared fixtures. Tests run offline, on a CPU, with the tiny presets.

The tiny weights are built once per test session into a temporary ATELIER_HOME, through
the same `atelier weights`-style path (models.common.weights.ensure_weights) a user's run takes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports huggingface_hub: no test may reach for the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TINY = {"image": "tiny", "music": "tiny", "video": "tiny-video"}


@pytest.fixture(scope="session", autouse=True)
def atelier_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("atelier-home")
    os.environ["ATELIER_HOME"] = str(home)
    os.environ["ATELIER_RESULTS"] = str(home / "results")
    return home


@pytest.fixture(scope="session")
def model_classes():
    """The Modal app's GPU classes, exactly as the local backend runs them."""
    from app import ImageModel, MusicModel, VideoModel

    return {"image": ImageModel, "music": MusicModel, "video": VideoModel}


@pytest.fixture
def backend(model_classes):
    from ui.generation import LocalBackend

    return LocalBackend(model_classes, TINY)


@pytest.fixture
def store(tmp_path):
    from ui.store import ResultStore

    return ResultStore(tmp_path / "store")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# The suite never silently tests less: a skipped test (a missing browser, a missing venv) is
# reported as a failure with its reason, which names the command that fixes it. `make test`
# installs all of it first (Makefile: system-deps, audiocraft-env).
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"not run, and a skip counts as a failure here: {reason}"
