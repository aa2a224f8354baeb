"""Weights on Modal: a GPU container never downloads (its image sets ATELIER_FETCH_WEIGHTS=0)
and stops at once, naming the command, where its preset's weights are missing from the Volume;
`modal run app.py::download_weights` fills what it is asked for. Locally, missing weights are
still fetched at first use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import app
from models.common.errors import RequestError, WeightsUnavailable
from models.common.weights import HubWeights
from models.image.guides import guide_weights
from models.image.safety import checker_weights
from models.presets import ImagePreset, all_weights, presets_named

# A GPU class's first call, run the way the local backend runs it (`.local()` runs its enter hooks).
FIRST_CALL = """
import sys
import app
from models.common.errors import WeightsUnavailable
from models.image.request import ImageRequest
from models.music.request import MusicRequest

kind, preset = sys.argv[1:]
if kind == "image":
    instance, job = app.ImageModel(preset=preset), ImageRequest(prompt="fox").resolve(preset)
else:
    instance, job = app.MusicModel(preset=preset), MusicRequest(prompt="beat", duration=1).resolve(preset)
try:
    list(instance.generate.local(job.model_dump()))
except WeightsUnavailable as e:
    print(e)
"""


def first_call(kind: str, preset: str, tmp_path, **env: str) -> str:
    """What a GPU container's first call says, its hub cache empty and the hub a closed port (so
    an attempt to download answers "unreachable" at once instead of reaching the network)."""
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0",
           "HF_ENDPOINT": "http://127.0.0.1:9", **env}
    env = {k: v for k, v in env.items() if v}
    out = subprocess.run([sys.executable, "-c", FIRST_CALL, kind, preset], capture_output=True, text=True,
                         timeout=180, env=env, cwd=app.__file__.rsplit("/", 1)[0])
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_a_gpu_container_missing_its_weights_stops_at_once_naming_the_command(tmp_path):
    gpu_image = {"ATELIER_FETCH_WEIGHTS": app.MODEL_ENV["ATELIER_FETCH_WEIGHTS"], "ATELIER_APP_NAME": ""}
    assert first_call("image", "sd-turbo", tmp_path, **gpu_image) == (
        "The weights of sd-turbo (stabilityai/sd-turbo, madebyollin/taesd) are not on the weights Volume, and GPU "
        "containers don't download: run `modal run app.py::download_weights --presets sd-turbo` once, then try again."
    )
    staging = {**gpu_image, "ATELIER_APP_NAME": "atelier-staging"}  # a second deployment's image carries its name
    assert first_call("music", "musicgen-small", tmp_path, **staging) == (
        "The weights of musicgen-small (facebook/musicgen-small) are not on the weights Volume, and GPU containers "
        "don't download: run `ATELIER_APP_NAME=atelier-staging modal run app.py::download_weights --presets "
        "musicgen-small` once, then try again."
    )
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").iterdir())  # nothing fetched, nothing begun


def test_locally_missing_weights_are_still_fetched_at_first_use(tmp_path):
    said = first_call("image", "sd-turbo", tmp_path, ATELIER_FETCH_WEIGHTS="")
    assert said.startswith("Can't download stabilityai/sd-turbo: the Hugging Face hub is unreachable")  # it tried


class VolumeDouble:
    """Stands in for the weights Volume: counts commits."""

    def __init__(self):
        self.commits = 0

    def commit(self):
        self.commits += 1


def test_download_weights_builds_what_it_is_asked_for_where_gpu_containers_may_not(monkeypatch, tmp_path):
    monkeypatch.setenv("ATELIER_FETCH_WEIGHTS", "0")  # the image it runs on is the GPU classes'
    monkeypatch.setenv("ATELIER_HOME", str(tmp_path))
    volume = VolumeDouble()
    monkeypatch.setattr(app, "weights_volume", volume)
    app.download_weights.local("tiny")
    built = {p.name for p in (tmp_path / "weights").iterdir() if (p / ".complete").exists()}
    guides = {w.name for w in guide_weights("tiny")}  # the image preset's ControlNets, IP-Adapter, annotators
    assert guides and built == {"tiny-image", "tiny-music", "tiny-safety-checker"} | guides
    assert volume.commits == 2  # the image preset and the music preset, each committed when done


def test_download_weights_all_fills_every_hub_preset_and_names_those_it_could_not(monkeypatch):
    from models.common import weights

    asked = []

    def ensure_weights_double(w):  # stands in for the download: no hub here
        asked.append(w)
        if w.gated:
            raise WeightsUnavailable(f"{w.repo} needs a Hugging Face token.")
        return f"/cache/hf/{w.repo}"

    monkeypatch.setattr(weights, "ensure_weights", ensure_weights_double)
    volume = VolumeDouble()
    monkeypatch.setattr(app, "weights_volume", volume)
    with pytest.raises(WeightsUnavailable) as e:
        app.download_weights.local("all")
    hub_presets = presets_named("all")
    assert {p.name for p in hub_presets} >= {"sdxl-turbo", "flux-schnell", "sd3.5-large-turbo", "musicgen-large",
                                             "audiocraft-musicgen-medium", "audiogen-medium"}
    assert not any(p.name.startswith("tiny") or p.twin_of for p in hub_presets)
    expected = set()
    for preset in hub_presets:
        image = isinstance(preset, ImagePreset)  # with its guides and the safety checker
        for w in all_weights(preset) + (guide_weights(preset.name) + [checker_weights(preset)] if image else []):
            expected.add(w)
            if w.gated:
                break  # a preset stops at its first failure; the next preset is still filled
    assert set(asked) == expected and all(isinstance(w, HubWeights) for w in asked)
    assert any("controlnet" in w.repo for w in asked)  # guides come with their image presets
    assert volume.commits == len(hub_presets)  # each preset committed, the failed ones too
    assert str(e.value).startswith("Not filled: flux-schnell: black-forest-labs/FLUX.1-schnell needs a Hugging Face")
    assert "sd3.5-large-turbo: stabilityai/stable-diffusion-3.5-large-turbo needs" in str(e.value)


def test_download_weights_refuses_an_unknown_preset_with_the_known_ones():
    with pytest.raises(RequestError, match=r"^Unknown preset 'sdxl': name presets separated by commas, or `all`\. "
                                           r"Known presets: .*sdxl-turbo"):
        app.download_weights.local("sdxl-turbo,sdxl")
