"""The training request schema (models/training/request.py): bad input gets one sentence, and a
good request becomes a job of prepared pictures whose run id says what is learnt."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from models.common.errors import RequestError
from models.requests import parse
from models.training import families
from models.training.request import MAX_PICTURE_BYTES, RECIPES, TrainingJob
from tests.support.images import png_claiming
from tests.support.training import pictures


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="GIF")
    return buffer.getvalue()


def request(**fields) -> dict:
    return {"pictures": pictures(3), "trigger": "a photo of qwerty the dog"} | fields


def resolve(**fields):
    return parse("training", request(**fields)).resolve("tiny")


@pytest.mark.parametrize("fields, message", [
    ({"pictures": pictures(2)}, "Training needs 3 to 30 pictures; this request has 2."),
    ({"pictures": pictures(1) * 31}, "Training needs 3 to 30 pictures; this request has 31."),
    ({"pictures": [*pictures(2), gif()]}, "Picture 3 must be a PNG, JPEG or WebP image; this is a GIF image."),
    ({"trigger": "x" * 500}, "Trigger is too long (500 characters; the limit is 100)."),
    ({"trigger": " "}, "Trigger must not be empty."),
    ({"captions": ["on a sofa"]}, "Send one caption per picture (3 pictures, 1 caption), or none."),
    ({"pictures": [*pictures(2), b"\xff\xd8\xff" + b"0" * (MAX_PICTURE_BYTES + 1)]},
     "Picture 3 file is 8.0 MB; the limit is 8 MB."),
    ({"resolution": 100}, "Resolution must be a multiple of 64 (got 100)."),
    ({"rank": 0}, "Rank should be greater than or equal to 1 (got 0)."),
    ({"learning_rate": 1}, "Learning rate should be less than or equal to 0.01 (got 1)."),
    ({"adapter_id": "My Dog"}, "'My Dog' can't be an adapter id: use lowercase letters, digits and hyphens (at most 63)."),
])
def test_bad_requests_get_one_sentence_before_a_picture_is_decoded(fields, message):
    with pytest.raises(RequestError) as e:
        parse("training", request(**fields))
    assert message in str(e.value)


@pytest.mark.parametrize("fields, message", [
    ({"preset": "musicgen-small"}, "Unknown image preset 'musicgen-small'."),
    ({"resolution": 512}, "A resolution of 512 px is too large for tiny: its largest side is 256 px."),
    ({"pictures": [*pictures(2), png_claiming(5000, 4000)]},
     "Picture 3 is 5000×4000 (20.0 megapixels); the limit is 16 megapixels."),
    ({"pictures": [*pictures(2), pictures(1, size=(30, 90))[0]]},
     "Picture 3 is 30×90; training at 64 px needs pictures at least 32 px on their shorter side."),
    ({"pictures": [*pictures(2), pictures(1)[0][:200]]}, "Picture 3 is truncated or corrupt"),
])
def test_what_depends_on_the_preset_or_the_pixels_is_refused_when_resolved(fields, message):
    with pytest.raises(RequestError) as e:
        resolve(**fields)
    assert message in str(e.value)


def test_a_family_without_a_trainer_is_refused_naming_those_that_train(monkeypatch):
    # A stand-in table without the tiny family: every family Atelier serves has a trainer today.
    monkeypatch.setattr(families, "TRAINERS", {k: v for k, v in families.TRAINERS.items() if k != "tiny"})
    with pytest.raises(RequestError, match=r"tiny's family \(tiny\) has no LoRA trainer. Presets that train: sd-turbo"):
        resolve()


def test_pictures_are_prepared_as_the_trainer_sees_them_and_hashed_as_sent():
    sent = pictures(3, size=(120, 80))
    job = resolve(pictures=sent, captions=["on a sofa", "qwerty THE dog at the beach, a photo of qwerty the dog", ""])
    for data in job.pictures:
        with Image.open(io.BytesIO(data)) as picture:
            assert (picture.format, picture.mode, picture.size) == ("PNG", "RGB", (64, 64))  # the centre square
    assert job.picture_sha256 == [hashlib.sha256(p).hexdigest() for p in sent]
    assert job.prompts == ["a photo of qwerty the dog, on a sofa",
                           "qwerty THE dog at the beach, a photo of qwerty the dog", "a photo of qwerty the dog"]


def test_defaults_follow_the_goal_and_the_preset():
    subject, style = resolve(), resolve(goal="style")
    for job, goal in ((subject, "subject"), (style, "style")):
        assert (job.steps, job.rank, job.learning_rate) == tuple(RECIPES[goal][k] for k in ("steps", "rank", "learning_rate"))
    assert subject.resolution == 64  # the tiny preset's own size; 512 for the real ones
    assert parse("training", request(preset="sd-turbo-twin", pictures=pictures(3, size=(300, 256)))).resolve("tiny").resolution == 512
    assert (subject.preview_every, subject.checkpoint_every) == (100, 100)
    assert subject.adapter_id == f"a-photo-of-qwerty-the-dog-{subject.run_id[:8]}"


def test_the_run_id_is_what_is_learnt_and_nothing_else():
    job = resolve()
    assert resolve().run_id == job.run_id  # the same request after a restart finds its run
    assert TrainingJob.model_validate(job.model_dump()).run_id == job.run_id  # as the model side checks it
    assert TrainingJob.model_validate_json(job.model_dump_json()).run_id == job.run_id  # and across the wire
    assert resolve(adapter_id="other", preview_every=3, checkpoint_every=7).run_id == job.run_id
    for changed in ({"seed": 1}, {"steps": 10}, {"rank": 4}, {"captions": ["a", "b", "c"]}, {"pictures": pictures(3, seed=1)}):
        assert resolve(**changed).run_id != job.run_id, changed


def test_a_job_sent_straight_to_the_model_side_has_its_pictures_checked():
    job = resolve().model_dump()
    with pytest.raises(ValueError, match="square RGB picture"):
        TrainingJob.model_validate(job | {"pictures": pictures(3)})  # not prepared: 96×80
    with pytest.raises(ValueError, match="as many"):
        TrainingJob.model_validate(job | {"prompts": job["prompts"][:2]})
