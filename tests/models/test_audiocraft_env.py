"""The audiocraft engine's environment: its pins install together, the local venv is built
from them, and where it is missing a person is told what to do."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

import app
from models.music.engines.audiocraft_process import interpreter
from models.requests import MusicRequest
from tests.support.music import require_audiocraft_venv


def _pip(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(interpreter()), "-m", "pip", *args], capture_output=True, text=True, timeout=timeout)


def test_the_venv_is_built_from_the_images_pins():
    require_audiocraft_venv()
    built_from = (interpreter().parent.parent / "requirements.txt").read_text().split()
    assert built_from == app.AUDIOCRAFT_PACKAGES, "run `make audiocraft-env`: the pins in app.py changed"
    frozen = dict(line.split("==") for line in _pip("freeze").stdout.split() if "==" in line)
    frozen = {name.lower().replace("_", "-"): version for name, version in frozen.items()}
    for pin in app.AUDIOCRAFT_PACKAGES:
        name, version = pin.split("==")
        assert frozen[name.lower()].split("+")[0] == version, pin  # torch reports 2.1.0+cu121


def test_the_installed_set_is_consistent():
    require_audiocraft_venv()
    out = _pip("check")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_pins_resolve_together_against_the_registry(tmp_path):
    """pip's resolver in dry-run mode, with the image's Python, ignoring what is installed:
    what `pip_install(*AUDIOCRAFT_PACKAGES)` in the Modal image will do."""
    require_audiocraft_venv()
    report = tmp_path / "report.json"
    out = _pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
               *app.AUDIOCRAFT_PACKAGES)
    assert out.returncode == 0, out.stderr[-3000:]
    resolved = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    for pin in app.AUDIOCRAFT_PACKAGES:
        name, version = pin.split("==")
        assert resolved[name.lower().replace("_", "-")] == version, pin
    assert "torch" in resolved and resolved["torch"] == "2.1.0"  # nothing pulled in a newer torch


def test_a_missing_venv_is_a_503_that_says_what_to_do(backend, monkeypatch, tmp_path):
    from ui.errors import ModelUnavailable

    monkeypatch.setenv("ATELIER_AUDIOCRAFT_PYTHON", str(tmp_path / "no-such-python"))
    job = MusicRequest(prompt="x", preset="tiny-audiogen", duration=1).resolve("tiny")

    async def drain():
        return [e async for e in backend.generate(job)]

    with pytest.raises(ModelUnavailable, match=r"audiocraft engine isn't installed here.*make audiocraft-env") as e:
        asyncio.run(drain())
    assert e.value.status == 503


def test_the_worker_exits_when_let_go(model_classes):
    require_audiocraft_venv()
    instance = model_classes["music"](preset="tiny-audiogen")
    job = MusicRequest(prompt="rain", preset="tiny-audiogen", duration=1).resolve("tiny")
    assert list(instance.generate.local(job))[-1]["type"] == "result"
    process = instance.engine.proc
    instance.engine.close()
    assert process.returncode == 0
