"""Shared fixtures. Tests run offline, on a CPU, with the tiny presets.

The tiny weights are built once per test session into a temporary ATELIER_HOME, through
the same `atelier weights`-style path (models.weights.ensure_weights) a user's run takes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports huggingface_hub: no test may reach for the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TINY = {"image": "tiny", "music": "tiny"}


@pytest.fixture(scope="session", autouse=True)
def atelier_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("atelier-home")
    os.environ["ATELIER_HOME"] = str(home)
    os.environ["ATELIER_RESULTS"] = str(home / "results")
    return home


@pytest.fixture(scope="session")
def model_classes():
    """The Modal app's GPU classes, exactly as the local backend runs them."""
    from app import ImageModel, MusicModel

    return {"image": ImageModel, "music": MusicModel}


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
