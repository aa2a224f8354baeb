"""The SDXL and FLUX training paths (models/training/objectives.py, loop.py), on tiny pipelines of
their real classes: prompts encoded by the pipeline, pictures through its VAE, LoRA steps on its
denoiser, and an adapter file its family's loader reads and that changes what it draws. (SD2's
and SD3's paths run end to end through the trainer in test_training.py, on the tiny presets.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.requests import parse
from models.training import cache as caching
from models.training.families import TRAINERS
from models.training.loop import LoraTraining
from models.training.objectives import OBJECTIVES
from tests.support.tiny_families import tiny_flux_pipeline, tiny_sdxl_pipeline
from tests.support.training import pictures


def draw(pipe, seed: int = 3) -> np.ndarray:
    image = pipe(prompt="qwerty", num_inference_steps=2, guidance_scale=0.0, width=64, height=64,
                 generator=torch.Generator("cpu").manual_seed(seed)).images[0]
    return np.asarray(image).astype(int)


@pytest.mark.parametrize("family, build", [("sdxl", tiny_sdxl_pipeline), ("flux", tiny_flux_pipeline)])
def test_a_family_trains_an_adapter_its_own_pipeline_loads(family, build, tmp_path):
    pipe = build()
    pipe.set_progress_bar_config(disable=True)
    job = parse("training", {"pictures": pictures(3), "trigger": "qwerty", "steps": 3, "learning_rate": 1e-2,
                             "batch_size": 2}).resolve("tiny")
    trainer = TRAINERS[family]
    objective = OBJECTIVES[trainer.objective](pipe, job.resolution)
    prompt_of, conds = caching.encode_prompts(pipe, job.prompts, objective, "cpu")
    encoded = [caching.encode_picture(pipe.vae, picture, "cpu") for picture in job.pictures]
    cache = caching.Cache(caching.Encoded(torch.cat([m for m, _ in encoded]), torch.cat([s for _, s in encoded]),
                                          prompt_of, conds), sample={})
    assert set(conds[0]) == {"prompt_embeds", "pooled_prompt_embeds"}  # the pipeline's own argument names

    base = draw(pipe)
    denoiser = getattr(pipe, trainer.denoiser)
    training = LoraTraining(denoiser, trainer, job, objective, cache, "cpu")
    losses = [training.step(number) for number in range(job.steps)]
    assert all(np.isfinite(losses))
    layers = training.adapter_layers()
    assert any("lora_B" in name and value.abs().sum() > 0 for name, value in layers.items())  # it learnt
    type(pipe).save_lora_weights(tmp_path, weight_name="adapter.safetensors",
                                 **{f"{trainer.denoiser}_lora_layers": layers})
    training.close()
    # Closed: the denoiser as it was. Within one level: the tiny FLUX pipeline itself draws a pixel
    # one level apart from one call to the next on this CPU, adapter or not.
    assert np.abs(draw(pipe) - base).max() <= 1

    pipe.load_lora_weights(str(tmp_path), weight_name="adapter.safetensors", adapter_name="trained")
    assert np.abs(draw(pipe) - base).mean() > 0.5
