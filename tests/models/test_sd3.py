"""SD3 on the tiny-sd3 preset (a StableDiffusion3Pipeline in miniature, built offline), through
the same calls the local backend makes, and the real sd3.5-large-turbo preset's settings."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from models.common.weights import HubWeights, ensure_weights
from models.presets import IMAGE_PRESETS
from models.random_weights.image_twins import sd35_large_turbo_components
from models.requests import ImageRequest


def run(model_classes, request: ImageRequest) -> tuple[list[dict], dict]:
    job = request.resolve("tiny-sd3")
    events = list(model_classes["image"](preset=job.preset).generate.local(job))
    assert events[-1]["type"] == "result"
    assert all(e["type"] == "progress" for e in events[:-1])
    return events[:-1], events[-1]


def pixels(result: dict) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(f["data"]))) for f in result["files"]]


def test_tiny_sd3_is_built_as_the_real_models_pipeline():
    """The folder holds what stabilityai's SD3.5 repos hold: the same pipeline class and the same
    components (three text encoders and tokenizers, an MMDiT, a 16-channel VAE, flow matching)."""
    folder = ensure_weights(IMAGE_PRESETS["tiny-sd3"].weights)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusion3Pipeline"
    assert {name for name, value in index.items() if isinstance(value, list) and value[0]} == set(sd35_large_turbo_components())
    assert index["transformer"] == ["diffusers", "SD3Transformer2DModel"]
    assert index["scheduler"] == ["diffusers", "FlowMatchEulerDiscreteScheduler"]
    assert json.loads((folder / "vae" / "config.json").read_text())["latent_channels"] == 16


def test_tiny_sd3_makes_a_64_px_image_in_the_requested_steps(model_classes):
    progress, result = run(model_classes, ImageRequest(prompt="a red fox", preset="tiny-sd3", steps=3, seed=1))
    assert [(e["done"], e["total"]) for e in progress] == [(i, 3) for i in range(4)]
    [image] = pixels(result)
    assert image.shape == (64, 64, 3) and image.std() > 0  # noise, not a blank frame
    record = result["record"]
    assert record["model"]["preset"] == "tiny-sd3" and record["model"]["device"] == "cpu"
    assert record["parameters"]["steps"] == 3 and record["seed"] == 1


def test_tiny_sd3_seed_reproduces_and_differs(model_classes):
    def image(seed: int) -> np.ndarray:
        return pixels(run(model_classes, ImageRequest(prompt="fox", preset="tiny-sd3", seed=seed))[1])[0]

    assert np.array_equal(image(7), image(7))
    assert not np.array_equal(image(7), image(8))


def test_tiny_sd3_makes_several_images_of_any_allowed_shape(model_classes):
    _, result = run(model_classes, ImageRequest(prompt="fox", preset="tiny-sd3", width=96, height=64, num_images=2))
    images = pixels(result)
    assert [im.shape for im in images] == [(64, 96, 3)] * 2
    assert not np.array_equal(images[0], images[1])  # one generator, drawn in turn: two noises


def test_an_sd3_image_forming_is_previewed_from_its_16_channel_latents(model_classes):
    progress, _ = run(model_classes, ImageRequest(prompt="a fox", preset="tiny-sd3", steps=6, width=64, height=96))
    with_preview = [e for e in progress if "preview" in e]
    assert with_preview, "no preview in six steps"
    assert all(0 < e["done"] < 6 for e in with_preview)
    picture = Image.open(io.BytesIO(with_preview[0]["preview"]["data"]))
    assert picture.format == "WEBP" and picture.size[1] > picture.size[0]  # the image's own aspect (64×96)
    assert np.asarray(picture).std() > 0


def test_tiny_sd3_has_no_negative_prompt_to_take():
    job = ImageRequest(prompt="fox", preset="tiny-sd3", negative_prompt="blurry").resolve("tiny")
    assert job.negative_prompt == ""


def test_sd35_large_turbo_preset_follows_the_model_card():
    preset = IMAGE_PRESETS["sd3.5-large-turbo"]
    assert isinstance(preset.weights, HubWeights) and preset.weights.gated
    assert preset.weights.repo == "stabilityai/stable-diffusion-3.5-large-turbo"
    assert len(preset.weights.revision) == 40 and int(preset.weights.revision, 16) >= 0  # a commit, pinned
    assert (preset.steps, preset.guidance, preset.size, preset.negative_prompt) == (4, 0.0, 1024, False)
    assert preset.gpu_dtype == "bfloat16" and preset.family == "sd3"
    # Its tiny twin has the same pipeline but its own sizes, so SD3.5 adapters don't fit it.
    assert IMAGE_PRESETS["tiny-sd3"].family == "tiny-sd3"
    assert not preset.local  # 28 GB of weights: never a laptop default
    job = ImageRequest(prompt="fox", preset="sd3.5-large-turbo", negative_prompt="blurry").resolve("tiny")
    assert (job.width, job.height, job.steps, job.guidance, job.negative_prompt) == (1024, 1024, 4, 0.0, "")


def test_sd35_large_turbo_refuses_sizes_beyond_its_maximum():
    from models.common.errors import RequestError

    with pytest.raises(RequestError, match="largest side it supports is 1440"):
        ImageRequest(prompt="fox", preset="sd3.5-large-turbo", width=2048).resolve("tiny")
