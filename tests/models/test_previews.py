"""Live previews on the tiny image model: what they are, when they come, what they cost."""

from __future__ import annotations

import io
from types import SimpleNamespace

from PIL import Image

from models.previews import PREVIEW_SIDE, Throttle, factors_for
from models.requests import ImageRequest


def events(model_classes, request: ImageRequest) -> list[dict]:
    job = request.resolve("tiny")
    return list(model_classes["image"](preset=job.preset).generate.local(job.model_dump()))


def test_an_image_forming_is_previewed_between_steps(model_classes):
    progress = [e for e in events(model_classes, ImageRequest(prompt="a fox", steps=6, width=64, height=96))
                if e["type"] == "progress"]
    with_preview = [e for e in progress if "preview" in e]
    assert with_preview, "no preview in six steps"
    assert all(0 < e["done"] < 6 for e in with_preview)  # none before the first step, none at the end
    for e in with_preview:
        assert e["preview"]["mime"] == "image/webp"
        picture = Image.open(io.BytesIO(e["preview"]["data"]))
        assert picture.format == "WEBP" and max(picture.size) == PREVIEW_SIDE
        assert picture.size[1] > picture.size[0]  # the image's own aspect (64×96)


def test_each_request_in_a_batch_gets_a_preview_of_its_own_image(model_classes):
    """Two different seeds: two different pictures forming (checked through the batch path)."""
    from models.batching import Batch
    from models.image import ImageGenerator

    model = ImageGenerator()
    model.preset = "tiny"
    model.load()
    model.to_device()
    seen: dict[int, list[bytes]] = {0: [], 1: []}
    jobs = [ImageRequest(prompt="a fox", seed=s, steps=4).resolve("tiny") for s in (1, 2)]

    def reporter(i):
        return lambda done, total, stage, preview=None: preview and seen[i].append(preview["data"])

    model._run_batch(Batch(jobs, [reporter(0), reporter(1)]))
    assert seen[0] and seen[1] and seen[0][0] != seen[1][0]


def test_previews_stay_within_their_share_of_the_time():
    now = [0.0]
    throttle = Throttle(budget=0.10, clock=lambda: now[0])
    assert throttle.due()  # the first one is free to go
    now[0] += 0.0
    throttle.timed(lambda: now.__setitem__(0, now[0] + 0.5))  # a preview that took 0.5 s
    now[0] += 1.0  # 1.5 s in, 0.5 s of it previews
    assert not throttle.due()
    now[0] += 3.5  # 5 s in: 10%
    assert throttle.due()


def test_pipelines_without_4_channel_unet_latents_get_no_preview():
    assert factors_for(SimpleNamespace(transformer=object())) is None  # FLUX: packed latents
    assert factors_for(SimpleNamespace(unet=SimpleNamespace(config=SimpleNamespace(in_channels=9)))) is None
