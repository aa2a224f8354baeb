"""Both model classes on the tiny presets, through the same calls the local backend makes:
`Model(preset=...).generate.local(job)` on the app's Modal classes."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
import soundfile
from PIL import Image
from pydantic import ValidationError

from models.common.errors import RequestError
from models.requests import ImageJob, ImageRequest, MusicRequest


def run(model_classes, kind: str, request) -> tuple[list[dict], dict]:
    """Generate through .local(); return (progress events, result event)."""
    job = request.resolve("tiny")
    events = list(model_classes[kind](preset=job.preset).generate.local(job))
    assert events[-1]["type"] == "result"
    assert all(e["type"] == "progress" for e in events[:-1])
    return events[:-1], events[-1]


# --- image ---------------------------------------------------------------------------------


def test_image_pngs_decode_with_the_requested_size_and_count(model_classes):
    progress, result = run(model_classes, "image", ImageRequest(prompt="a red fox", width=64, height=96, num_images=2))
    images = [Image.open(io.BytesIO(f["data"])) for f in result["files"]]
    assert [f["mime"] for f in result["files"]] == ["image/png", "image/png"]
    assert [im.size for im in images] == [(64, 96), (64, 96)]
    assert np.asarray(images[0]).std() > 0  # not a blank frame


def test_image_progress_counts_every_denoising_step_in_order(model_classes):
    progress, _ = run(model_classes, "image", ImageRequest(prompt="fox", steps=4))
    assert [(e["done"], e["total"]) for e in progress] == [(i, 4) for i in range(5)]
    assert {e["stage"] for e in progress} == {"denoising"}


def test_image_seed_reproduces_and_differs(model_classes):
    def pixels(seed):
        _, result = run(model_classes, "image", ImageRequest(prompt="fox", seed=seed))
        return np.asarray(Image.open(io.BytesIO(result["files"][0]["data"])))

    assert np.array_equal(pixels(7), pixels(7))
    assert not np.array_equal(pixels(7), pixels(8))


def test_image_record_says_what_was_done(model_classes):
    _, result = run(model_classes, "image", ImageRequest(prompt="fox", seed=123))
    record = result["record"]
    assert record["seed"] == 123 and record["parameters"]["seed"] == 123
    assert record["model"]["preset"] == "tiny" and record["model"]["device"] == "cpu"
    assert record["parameters"]["prompt"] == "fox"
    assert record["seconds"]["generate"] > 0


def test_image_random_seed_is_reported(model_classes):
    _, a = run(model_classes, "image", ImageRequest(prompt="fox"))
    _, b = run(model_classes, "image", ImageRequest(prompt="fox"))
    assert a["record"]["seed"] != b["record"]["seed"]  # 1 in 4 billion to collide


def test_model_rejects_an_unchecked_job(model_classes):
    """Direct callers (hybrid clients, scripts) get the same checks as the UI."""
    job = ImageRequest(prompt="fox").resolve("tiny").model_dump()
    job["steps"] = 1000
    with pytest.raises(Exception, match="steps"):
        list(model_classes["image"](preset="tiny").generate.local(job))


@pytest.mark.parametrize("made_by", ["model_copy", "model_construct"])
def test_model_checks_a_job_object_again(model_classes, made_by):
    """A job object is checked from its fields too: pydantic takes an instance as it is, and
    `model_copy(update=...)` or `model_construct` make one that skipped every check."""
    job = ImageRequest(prompt="fox").resolve("tiny")
    if made_by == "model_copy":
        unchecked = job.model_copy(update={"steps": 1000})
    else:
        unchecked = ImageJob.model_construct(**(job.model_dump() | {"steps": 1000}))
    with pytest.raises(ValidationError, match="steps"):
        list(model_classes["image"](preset="tiny").generate.local(unchecked))


def test_an_image_model_refuses_a_music_job(model_classes):
    music = MusicRequest(prompt="beat", duration=1).resolve("tiny")
    with pytest.raises(ValidationError, match="kind"):
        list(model_classes["image"](preset="tiny").generate.local(music))


def test_a_job_crosses_to_a_modal_container_as_itself():
    """Backends hand the job itself to `remote_gen.aio`; Modal pickles arguments with its own
    serializer (modal._serialization, the pickle format it uses unless told CBOR), so the job
    must come back equal, an upload's bytes included."""
    from modal._serialization import deserialize, serialize

    picture = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(picture, format="PNG")
    image = ImageRequest(prompt="fox", image=picture.getvalue()).resolve("tiny")
    music = MusicRequest(prompt="beat", duration=1, seed=4).resolve("tiny")
    for job in (image, music):
        back = deserialize(serialize(job), None)
        assert type(back) is type(job) and back == job and back.model_dump() == job.model_dump()


# --- music ---------------------------------------------------------------------------------


def decode(file: dict) -> tuple[np.ndarray, int]:
    return soundfile.read(io.BytesIO(file["data"]))


def test_music_wav_has_the_right_rate_and_duration(model_classes):
    _, result = run(model_classes, "music", MusicRequest(prompt="lofi beat", duration=2))
    (f,) = result["files"]
    assert f["mime"] == "audio/wav" and f["name"].endswith(".wav")
    with wave.open(io.BytesIO(f["data"])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (32000, 1, 2)
        assert w.getnframes() == 2 * 32000
    audio, _ = decode(f)
    assert np.abs(audio).max() > 0


def test_music_mp3_decodes_to_the_right_duration(model_classes):
    _, result = run(model_classes, "music", MusicRequest(prompt="lofi beat", duration=2, format="mp3"))
    (f,) = result["files"]
    assert f["mime"] == "audio/mpeg"
    audio, rate = decode(f)
    assert rate == 32000
    assert abs(len(audio) / rate - 2.0) < 0.1  # mp3 frames pad the end a little


def test_music_longer_than_one_window_is_continued(model_classes):
    # The tiny preset's window is 4 s: 9 s takes three passes.
    progress, result = run(model_classes, "music", MusicRequest(prompt="lofi beat", duration=9, overlap=1))
    audio, rate = decode(result["files"][0])
    assert len(audio) == 9 * rate
    assert result["record"]["audio"] == {"seconds": 9.0, "sample_rate": 32000, "windows": 3}
    done = [e["done"] for e in progress]
    assert done == sorted(done) and done[-1] == 9000 and progress[-1]["total"] == 9000


def test_music_seed_reproduces(model_classes):
    def samples(seed):
        _, result = run(model_classes, "music", MusicRequest(prompt="lofi", duration=1, seed=seed))
        return decode(result["files"][0])[0]

    assert np.array_equal(samples(5), samples(5))
    assert not np.array_equal(samples(5), samples(6))


# --- bad requests never reach a model ---------------------------------------------------------


@pytest.mark.parametrize(
    "request_, message",
    [
        (lambda: ImageRequest(prompt="fox", width=256, height=512), "too large for tiny"),
        (lambda: ImageRequest(prompt="fox", steps=20), "too many for tiny"),
        (lambda: ImageRequest(prompt="fox", preset="nope"), "Unknown image preset 'nope'"),
        (lambda: MusicRequest(prompt="x", overlap=3), "too long for tiny"),
    ],
)
def test_preset_limits_are_checked_before_generation(request_, message):
    with pytest.raises(RequestError, match=message):
        request_().resolve("tiny")
