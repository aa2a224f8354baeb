"""Training LoRA adapters (models/training/) on the tiny presets, through the same `.local()`
calls a local backend makes: a training end to end, its adapter at work in the image model,
a training interrupted and resumed, a cancelled one, the flow-matching path, prior preservation."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from models.common import recipes
from models.common.errors import Cancelled, RequestError
from models.image import loras
from models.requests import ImageRequest, parse
from models.training import cancel, run
from models.training.session import KeptSamples
from tests.support.training import pictures

STEPS = 20


@pytest.fixture(scope="module")
def trainer_class():
    from app import Trainer

    return Trainer


def training_job(**fields):
    request = {"pictures": pictures(4), "trigger": "a photo of qwerty the dog", "steps": STEPS,
               "learning_rate": 1e-3, "checkpoint_every": 10, "preview_every": 10} | fields
    return parse("training", request).resolve("tiny")


@pytest.fixture(scope="module")
def trained(trainer_class):
    """One tiny training of 20 steps, uninterrupted: its events and its adapter file's tensors."""
    job = training_job(adapter_id="qwerty-uninterrupted")
    events = list(trainer_class(preset="tiny").generate.local(job.model_dump()))
    return job, events, load_file(loras.adapter_file(job.adapter_id))


def image(model, **fields) -> np.ndarray:
    job = ImageRequest(**fields).resolve("tiny")
    result = list(model.generate.local(job.model_dump()))[-1]
    return np.asarray(Image.open(io.BytesIO(result["files"][0]["data"]))).astype(int)


def test_a_training_streams_its_progress_and_ends_with_an_adapter_in_the_library(trained):
    job, events, _ = trained
    stages = [e["stage"] for e in events if e["type"] == "progress"]
    assert stages[:4] == ["encoding pictures"] * 4 and stages[4:] == ["training"] * STEPS
    steps = [e for e in events if e.get("stage") == "training"]
    assert [e["done"] for e in steps] == list(range(1, STEPS + 1)) and {e["total"] for e in steps} == {STEPS}
    assert all(np.isfinite(e["loss"]) and e["lr"] == 1e-3 and e["resumed_from"] == 0 for e in steps)
    assert steps[0]["eta_s"] is None and all(e["eta_s"] >= 0 for e in steps[1:]) and steps[-1]["eta_s"] == 0
    assert "extrapolated" in steps[2]["estimate"]["basis"] and steps[2]["estimate"]["seconds"] >= 0
    assert [e["done"] for e in steps if "checkpoint" in e] == [10]  # none at the end: the adapter is the end
    previews = [e for e in steps if "preview" in e]
    assert [e["done"] for e in previews] == [10]
    assert Image.open(io.BytesIO(previews[0]["preview"]["data"])).size == (64, 64)

    result = events[-1]
    assert result["type"] == "result" and result["record"]["kind"] == "training"
    # the result keeps the final sample and the samples drawn as it trained, for the adapter's share page
    assert [(f["name"], f["mime"]) for f in result["files"]] == [("sample.png", "image/png"),
                                                                 ("sample-step-10.webp", "image/webp")]
    assert result["files"][1]["data"] == previews[0]["preview"]["data"]
    assert result["record"]["samples"] == [{"name": "sample-step-10.webp", "step": 10}]
    info = loras.get(job.adapter_id)
    assert (info.family, info.rank, info.trigger) == ("tiny", 16, "a photo of qwerty the dog")
    assert info.training["pictures_sha256"] == job.picture_sha256 == [hashlib.sha256(p).hexdigest() for p in pictures(4)]
    assert info.training["recipe"]["steps"] == STEPS and info.training["run_id"] == job.run_id
    assert not (run.runs_folder() / job.run_id).exists()  # the run's folder goes once the adapter is in


@pytest.mark.parametrize("drawn, kept", [
    (3, [1, 2, 3]),
    (4, [1, 2, 3, 4]),
    (5, [2, 4]),  # one too many: every other one goes, and from now on every second is kept
    (8, [2, 4, 6, 8]),
    (100, [32, 64, 96]),  # never more than 4 held, however long the run
])
def test_a_long_training_keeps_a_few_samples_spread_over_the_run(drawn, kept):
    samples = KeptSamples(most=4)
    for number in range(1, drawn + 1):
        samples.add(number * 10, bytes([number]))
    assert [step // 10 for step, _ in samples.kept] == kept
    assert all(data == bytes([step // 10]) for step, data in samples.kept)


def test_the_adapter_changes_the_image_its_sample_is_what_the_image_model_draws_and_scale_zero_is_the_base(
        trained, model_classes):
    job, events, _ = trained
    sample = events[-1]["files"][0]["data"]
    recipe = recipes.recipe_from_png(sample)  # the image request that draws the sample again
    assert recipe["loras"] == [{"id": job.adapter_id, "scale": 1.0}] and recipe["prompt"] == job.trigger
    model = model_classes["image"](preset="tiny")
    adapted = image(model, **recipe)
    base = image(model, **(recipe | {"loras": []}))
    assert np.abs(adapted - base).mean() > 0.5  # trained for 20 steps, it shows
    assert np.array_equal(adapted, np.asarray(Image.open(io.BytesIO(sample))).astype(int))
    assert np.array_equal(image(model, **(recipe | {"loras": [{"id": job.adapter_id, "scale": 0.0}]})), base)


def test_a_training_interrupted_after_a_checkpoint_resumes_from_it_and_ends_with_the_same_weights(
        trained, trainer_class):
    _, _, uninterrupted = trained
    job = training_job(adapter_id="qwerty-resumed")  # the same pictures and recipe: the same run
    assert job.run_id == trained[0].run_id
    first = trainer_class(preset="tiny").generate.local(job.model_dump())
    for event in first:
        if event.get("checkpoint") == 10:
            break
    first.close()  # the container dies here, its checkpoint written
    assert run.RunFolder(job.run_id).latest_checkpoint()[0] == 10

    events = list(trainer_class(preset="tiny").generate.local(job.model_dump()))  # a new container
    steps = [e for e in events if e.get("stage") == "training"]
    assert [e["done"] for e in steps] == list(range(11, STEPS + 1)) and steps[0]["resumed_from"] == 10
    assert not any(e.get("stage") == "encoding pictures" for e in events)  # the encodings were kept
    resumed = load_file(loras.adapter_file("qwerty-resumed"))
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)  # bit for bit
    assert events[-1]["record"]["steps"] == {"done": STEPS, "resumed_from": 10}


def test_a_cancelled_training_leaves_nothing_behind(trainer_class):
    job = training_job(seed=7, adapter_id="qwerty-cancelled")
    events = trainer_class(preset="tiny").generate.local(job.model_dump())
    with pytest.raises(Cancelled, match="cancelled at step 3 of 20"):
        for event in events:
            if event.get("stage") == "training" and event["done"] == 3:
                cancel.request(job.run_id)  # as the web side will, from another thread
    assert "qwerty-cancelled" not in {a.id for a in loras.list_adapters()}
    assert not (run.runs_folder() / job.run_id).exists()
    assert not [p for p in loras.library_folder().iterdir() if p.name.startswith(".")]  # no half adapter
    assert not cancel.requested(job.run_id)  # a new request for it starts afresh


def test_the_same_training_twice_at_once_is_refused_and_a_taken_id_before_any_work(trained, trainer_class):
    job = training_job(seed=11, steps=2, adapter_id="qwerty-twice")
    trainer = trainer_class(preset="tiny")
    first = trainer.generate.local(job.model_dump())
    next(first)
    with pytest.raises(RequestError, match="already running"):
        next(trainer.generate.local(job.model_dump()))
    first.close()
    with pytest.raises(RequestError, match="already in the library"):
        # resolve() refuses a taken id too; the trainer checks again for direct callers and races
        next(trainer.generate.local(job.model_copy(update={"adapter_id": trained[0].adapter_id}).model_dump()))
    with pytest.raises(RequestError, match="loaded with tiny"):
        next(trainer.generate.local(job.model_copy(update={"preset": "tiny-sd3"}).model_dump()))


def test_sd3s_flow_matching_path_trains_an_adapter_the_sd3_image_model_takes(trainer_class, model_classes):
    job = parse("training", {"pictures": pictures(3), "trigger": "qwerty", "preset": "tiny-sd3", "steps": 6,
                             "learning_rate": 1e-2, "preview_every": 3}).resolve("tiny")
    events = list(trainer_class(preset="tiny-sd3").generate.local(job.model_dump()))
    assert [e["done"] for e in events if e.get("stage") == "training"] == list(range(1, 7))
    assert any("preview" in e for e in events)
    assert loras.get(job.adapter_id).family == "tiny-sd3"
    model = model_classes["image"](preset="tiny-sd3")
    fields = {"prompt": "qwerty", "preset": "tiny-sd3", "seed": 1}
    base = image(model, **fields)
    assert np.abs(image(model, **fields, loras=[{"id": job.adapter_id, "scale": 1.0}]) - base).mean() > 0.5


def test_prior_preservation_draws_the_class_and_trains_on_it_too(trainer_class):
    job = training_job(steps=2, class_prompt="a photo of a dog", prior_images=2, adapter_id="qwerty-prior")
    events = list(trainer_class(preset="tiny").generate.local(job.model_dump()))
    stages = [e["stage"] for e in events if e["type"] == "progress"]
    assert stages.count("drawing class pictures") == 2 and stages.count("encoding class pictures") == 2
    assert loras.get("qwerty-prior").training["recipe"]["class_prompt"] == "a photo of a dog"
    assert job.run_id != training_job().run_id  # prior preservation learns something else: another run
