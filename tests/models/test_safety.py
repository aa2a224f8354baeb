"""The safety checker on the model side (models/image/safety.py): with ATELIER_SAFETY=on every image
passes it, a flagged one comes back blurred and its record says so in a sentence; off, nothing is
checked; and the setting reaches the GPU containers as the deploy chose it (on by default).

The checker here is the tiny random-weight twin (models/random_weights/tiny_safety.py), a TEST
DOUBLE that flags exactly one known picture: a test gets a flagged image by asking the model for
that very picture (image to image at strength 0 returns its input)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.common.batching import Batch
from models.image import safety
from models.random_weights.tiny_safety import flagged_picture
from models.requests import ImageRequest
from tests.support.images import placed_generator
from ui import doctor


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def pixels(result: dict, i: int = 0) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(result["files"][i]["data"])).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def checked_model():
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ATELIER_SAFETY", "on")
        yield placed_generator("tiny")


def run(model, job) -> dict:
    (result,) = model._run_batch(Batch([job], [lambda *a, **k: None]))
    return result


def test_a_flagged_image_comes_back_blurred_and_its_record_says_so(checked_model):
    picture = flagged_picture()
    result = run(checked_model, ImageRequest(prompt="x", image=png(picture), strength=0).resolve("tiny"))
    verdict = result["record"]["safety"]
    assert verdict["checked"] is True and verdict["flagged"] == [0]
    assert verdict["message"] == ("The image was flagged by the safety checker, so it is shown blurred, "
                                  "and this result can't be published.")
    original, returned = np.asarray(picture).astype(int), pixels(result)
    assert returned.shape == original.shape and np.abs(returned - original).mean() > 60  # not the picture
    assert returned.std(axis=(0, 1)).max() < 20  # a smear of colour: nothing of the checkerboard left


def test_images_the_checker_passes_are_handed_on_as_made(checked_model, monkeypatch):
    job = ImageRequest(prompt="a harbour", seed=3, num_images=2).resolve("tiny")
    result = run(checked_model, job)
    assert result["record"]["safety"] == {"checked": True, "flagged": [], "message": None}
    monkeypatch.setattr(checked_model, "safety", None)  # the same call without the checker
    unchecked = run(checked_model, job)
    assert [f["data"] for f in result["files"]] == [f["data"] for f in unchecked["files"]]
    assert "safety" not in unchecked["record"]


def test_one_flagged_image_of_several_is_named_and_the_others_are_kept(checked_model):
    made = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8)) for i in (1, 2)]
    images, verdict = safety.checked(checked_model.safety, [made[0], flagged_picture(), made[1]])
    assert verdict == {"checked": True, "flagged": [1], "message": "Image 2 of 3 was flagged by the safety checker, "
                       "so it is shown blurred, and this result can't be published."}
    assert images[0] is made[0] and images[2] is made[1] and images[1].size == (64, 64)
    assert safety.message([0, 2], 3).startswith("2 of the 3 images were flagged")


def test_with_the_checker_on_no_preview_shows_an_image_before_it_is_checked(checked_model):
    events = []
    job = ImageRequest(prompt="x", seed=1, steps=4).resolve("tiny")
    checked_model._run_batch(Batch([job], [lambda *a, **k: events.append(k.get("preview"))]))
    assert events and all(preview is None for preview in events)


def test_off_by_default_locally(model_classes, monkeypatch):
    monkeypatch.delenv("ATELIER_SAFETY", raising=False)
    assert safety.safety_on() is False
    *_, result = model_classes["image"](preset="tiny").generate.local(ImageRequest(prompt="x").resolve("tiny"))
    assert "safety" not in result["record"]


def test_a_malformed_setting_stops_the_model_with_one_sentence(monkeypatch):
    monkeypatch.setenv("ATELIER_SAFETY", "maybe")
    with pytest.raises(ValueError, match=r"^ATELIER_SAFETY='maybe' is not valid: on or off\.$"):
        placed_generator("tiny")


def test_real_presets_use_the_pinned_checker_and_built_ones_its_twin():
    from models.presets import get_preset

    assert safety.checker_weights(get_preset("image", "sdxl-turbo")) is safety.SAFETY_CHECKER
    assert safety.checker_weights(get_preset("image", "tiny")) is safety.TINY_SAFETY_CHECKER
    assert len(safety.SAFETY_CHECKER.revision) == 40


# --- the setting, from the deploying shell to the GPU containers -----------------------------------


def deploying_shell(**settings) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k != "ATELIER_SAFETY"}
    return {**env, **settings}


@pytest.mark.parametrize(("shell", "expected"), [({}, "on"), ({"ATELIER_SAFETY": "off"}, "off"),
                                                 ({"ATELIER_SAFETY": "ON"}, "on")], ids=["default", "off", "ON"])
def test_the_deploy_choice_reaches_the_gpu_containers_the_same_way(shell, expected):
    deploy = doctor.describe(deploying_shell(**shell))
    assert deploy["images"]["model"]["env"]["ATELIER_SAFETY"] == expected
    inside = doctor.describe(doctor.container_env(deploy["images"]["model"]), doctor.not_shipped(deploy["images"]["model"]))
    assert inside["deploy"]["ATELIER_SAFETY"] == expected  # the container's import of app.py sees the same
    assert doctor.container_differences(deploy, {**doctor.containers(deploy)}) == []


def test_a_deploy_with_a_malformed_choice_stops_with_one_sentence():
    with pytest.raises(doctor.ImportFailed, match=r"ATELIER_SAFETY='maybe' is not valid: on or off\."):
        doctor.describe(deploying_shell(ATELIER_SAFETY="maybe"))
