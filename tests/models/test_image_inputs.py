"""Image-to-image and inpainting on the tiny image model: strength 0 keeps the input, strength 1
draws anew, inpainting changes only what the mask covers, and the pipelines share the loaded
model's weights."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.common.batching import Batch
from models.image.generator import ImageGenerator, batch_key
from models.image.request import schedule_length
from models.requests import ImageRequest
from tests.support.images import placed_generator

SIZE = 64


@pytest.fixture(scope="module")
def generator() -> ImageGenerator:
    return placed_generator("tiny")


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def picture() -> Image.Image:
    """A smooth, varied picture: gradients in each channel."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    rgb = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def left_half_mask() -> Image.Image:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:, : SIZE // 2] = 255
    return Image.fromarray(mask, "L")


def make(generator: ImageGenerator, **fields) -> tuple[list[np.ndarray], dict, list[tuple]]:
    """Run one request alone; its images as arrays, its record, and its progress events."""
    job = ImageRequest(prompt="a fox", seed=fields.pop("seed", 3), image=png(picture()), **fields).resolve("tiny")
    events = []
    (result,) = generator._run_batch(Batch([job], [lambda *a, **k: events.append(a)]))
    images = [np.asarray(Image.open(io.BytesIO(f["data"])).convert("RGB")) for f in result["files"]]
    return images, result["record"], events


def test_the_input_pipelines_share_the_loaded_models_modules(generator):
    for derived in (generator.img2img, generator.inpaint):
        assert derived is not generator.pipe
        for name in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
            assert getattr(derived, name) is getattr(generator.pipe, name), name
    assert type(generator.img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(generator.inpaint).__name__ == "StableDiffusionInpaintPipeline"


def test_strength_0_returns_the_input_image_unchanged(generator):
    (image,), record, _ = make(generator, strength=0)
    assert np.array_equal(image, np.asarray(picture()))
    assert record["parameters"]["strength"] == 0
    assert record["input"]["mode"] == "image-to-image"


def test_strength_1_draws_anew_and_the_seed_reproduces_it(generator):
    (first,), _, _ = make(generator, strength=1.0, seed=5)
    (again,), _, _ = make(generator, strength=1.0, seed=5)
    (other,), _, _ = make(generator, strength=1.0, seed=6)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.abs(first.astype(int) - np.asarray(picture()).astype(int)).mean() > 10  # nothing like the input


def test_lower_strength_stays_closer_to_the_input(generator):
    original = np.asarray(picture()).astype(int)
    distance = {s: np.abs(make(generator, strength=s, steps=4)[0][0].astype(int) - original).mean() for s in (0.25, 1.0)}
    assert 0 < distance[0.25] < distance[1.0]


def test_the_steps_asked_for_are_the_steps_that_run(generator):
    for strength in (0.3, 0.5, 0.6, 1.0):
        _, _, events = make(generator, strength=strength, steps=3)
        assert [(done, total) for done, total, _ in events] == [(i, 3) for i in range(4)], strength


def test_schedule_length_makes_diffusers_run_exactly_the_steps():
    for steps in range(1, 11):
        for strength in (0.01, 0.1, 0.3, 1 / 3, 0.5, 0.6, 0.7, 0.99, 1.0):
            length = schedule_length(steps, strength)
            assert min(int(length * strength), length) == steps  # SD's and SDXL's get_timesteps
            length = schedule_length(steps, strength, rounds_up=True)
            init = min(length * strength, length)  # SD3's and FLUX's get_timesteps
            assert length - int(max(length - init, 0)) == steps, (steps, strength)


@pytest.mark.parametrize("preset", ["tiny-sd3"])
def test_a_transformer_pipeline_runs_the_steps_asked_for_and_inpaints(preset):
    model = placed_generator(preset)
    for derived in (model.img2img, model.inpaint):
        assert derived.transformer is model.pipe.transformer and derived.vae is model.pipe.vae
    for strength in (0.3, 0.7):  # at 0.7 a schedule of 5 runs 3 steps on SD, 4 on SD3: this one asks for 4
        job = ImageRequest(prompt="x", image=png(picture()), strength=strength, steps=3, guidance=0).resolve(preset)
        events = []
        model._run_batch(Batch([job], [lambda *a, **k: events.append(a)]))
        assert [(done, total) for done, total, _ in events] == [(i, 3) for i in range(4)], strength
    job = ImageRequest(prompt="x", image=png(picture()), mask=png(left_half_mask()), guidance=0).resolve(preset)
    (result,) = model._run_batch(Batch([job], [lambda *a, **k: None]))
    image = np.asarray(Image.open(io.BytesIO(result["files"][0]["data"])).convert("RGB")).astype(int)
    original = np.asarray(picture()).astype(int)
    assert np.abs(image[:, SIZE // 2 :] - original[:, SIZE // 2 :]).max() <= 1
    assert np.abs(image[:, : SIZE // 2] - original[:, : SIZE // 2]).mean() > 10


def test_inpainting_keeps_unmasked_pixels_and_changes_masked_ones(generator):
    (image,), record, _ = make(generator, mask=png(left_half_mask()))
    original = np.asarray(picture()).astype(int)
    kept, changed = image[:, SIZE // 2 :].astype(int), image[:, : SIZE // 2].astype(int)
    assert np.abs(kept - original[:, SIZE // 2 :]).max() <= 1
    assert np.abs(changed - original[:, : SIZE // 2]).mean() > 10
    assert record["parameters"]["strength"] == 1.0  # inpainting's default
    assert record["input"]["mode"] == "inpainting" and len(record["input"]["mask_sha256"]) == 64


def test_the_output_takes_the_input_images_size_unless_told(generator):
    wide = png(Image.new("RGB", (200, 100), "teal"))
    job = ImageRequest(prompt="x", image=wide).resolve("tiny")
    assert (job.width, job.height) == (200, 96)
    job = ImageRequest(prompt="x", image=png(Image.new("RGB", (1000, 500), "teal"))).resolve("tiny")
    assert (job.width, job.height) == (256, 128)  # the tiny preset's largest side
    job = ImageRequest(prompt="x", image=png(Image.new("RGB", (40, 20), "teal"))).resolve("tiny")
    assert (job.width, job.height) == (128, 64)  # the smallest side the models take
    job = ImageRequest(prompt="x", image=wide, width=128).resolve("tiny")
    assert (job.width, job.height) == (128, 64)
    (result,) = generator._run_batch(Batch([job.model_copy(update={"strength": 0.5})], [lambda *a, **k: None]))
    assert Image.open(io.BytesIO(result["files"][0]["data"])).size == (128, 64)


def test_uploads_stay_out_of_the_recipe_and_the_record(generator):
    from models.common.recipes import parse_a1111, recipe_from_png

    job = ImageRequest(prompt="x", image=png(picture()), mask=png(left_half_mask()), strength=0.5).resolve("tiny")
    (result,) = generator._run_batch(Batch([job], [lambda *a, **k: None]))
    record = result["record"]
    assert "image" not in record["parameters"] and "mask" not in record["parameters"]
    recipe = recipe_from_png(result["files"][0]["data"])
    assert recipe["strength"] == 0.5 and "image" not in recipe and "mask" not in recipe
    a1111 = Image.open(io.BytesIO(result["files"][0]["data"])).info["parameters"]
    assert "Denoising strength: 0.5, " in a1111  # as AUTOMATIC1111 writes an img2img recipe
    assert parse_a1111(a1111)["strength"] == 0.5
    assert len(result["files"][0]["data"]) < 50_000


def test_jobs_with_inputs_share_a_call_only_with_the_same_input():
    text = ImageRequest(prompt="x", seed=1, width=64, height=64).resolve("tiny")
    start = ImageRequest(prompt="x", seed=1, image=png(picture())).resolve("tiny")
    same_start = ImageRequest(prompt="another", seed=9, image=png(picture())).resolve("tiny")
    other_strength = ImageRequest(prompt="x", seed=1, image=png(picture()), strength=0.3).resolve("tiny")
    other_image = ImageRequest(prompt="x", seed=1, image=png(picture().rotate(90))).resolve("tiny")
    masked = ImageRequest(prompt="x", seed=1, image=png(picture()), mask=png(left_half_mask())).resolve("tiny")
    assert batch_key(start) == batch_key(same_start)
    keys = [batch_key(j) for j in (text, start, other_strength, other_image, masked)]
    assert len(set(keys)) == len(keys)


def test_a_batch_from_one_input_keeps_each_seeds_image(generator):
    """Each job's noise is its own seed's, batched or alone. The VAE encodes the batch's input
    images as one tensor, whose float maths may move a pixel by one 8-bit level; nothing more."""
    jobs = [ImageRequest(prompt=p, seed=s, image=png(picture()), strength=0.5, guidance=0).resolve("tiny")
            for p, s in (("a fox", 1), ("a cat", 2))]
    together = generator._run_batch(Batch(jobs, [lambda *a, **k: None] * 2))
    for job, batched in zip(jobs, together, strict=True):
        (alone,) = generator._run_batch(Batch([job], [lambda *a, **k: None]))
        a, b = (np.asarray(Image.open(io.BytesIO(r["files"][0]["data"]))).astype(int) for r in (alone, batched))
        assert np.abs(a - b).max() <= 1
