"""The request schemas: every bound, with the message a person reads."""

from __future__ import annotations

import pytest

from models.common.errors import RequestError
from models.common.fields import MAX_PROMPT_CHARS
from models.presets import IMAGE_PRESETS, LOCAL_DEFAULTS, MUSIC_PRESETS, PRESETS, all_weights, choose_defaults
from models.requests import parse


@pytest.mark.parametrize(
    "kind, data, message",
    [
        ("image", {"prompt": ""}, "Prompt must not be empty."),
        ("image", {"prompt": "   "}, "Prompt must not be empty."),
        ("image", {}, "Prompt is required."),
        ("image", {"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "Prompt is too long (1001 characters; the limit is 1000)."),
        ("image", {"prompt": "a", "width": 4096}, "Width should be less than or equal to 2048 (got 4096)."),
        ("image", {"prompt": "a", "width": 100}, "Width must be a multiple of 8 (got 100)."),
        ("image", {"prompt": "a", "steps": 0}, "Steps should be greater than or equal to 1 (got 0)."),
        ("image", {"prompt": "a", "num_images": 9}, "Num images should be less than or equal to 4 (got 9)."),
        ("image", {"prompt": "a", "seed": -1}, "Seed should be greater than or equal to 0 (got -1)."),
        ("image", {"prompt": "a", "steps": "many"}, "Steps: should be a valid integer"),
        ("image", {"prompt": "a", "colour": "red"}, "Unknown field 'colour'."),
        ("music", {"prompt": "a", "duration": 0.5}, "Duration should be greater than or equal to 1 (got 0.5)."),
        ("music", {"prompt": "a", "duration": 3600}, "Duration should be less than or equal to 300 (got 3600)."),
        ("music", {"prompt": "a", "format": "ogg"}, "Format: should be 'wav' or 'mp3'."),
        ("music", {"prompt": "a", "temperature": 0}, "Temperature should be greater than 0 (got 0)."),
    ],
)
def test_bad_input_gets_a_readable_message(kind, data, message):
    with pytest.raises(RequestError) as e:
        parse(kind, data)
    assert message in str(e.value)


def test_several_problems_are_all_reported():
    with pytest.raises(RequestError) as e:
        parse("image", {"prompt": "", "steps": 0})
    assert "Prompt must not be empty." in str(e.value) and "Steps" in str(e.value)


def test_defaults_come_from_the_preset():
    for name, preset in IMAGE_PRESETS.items():
        job = parse("image", {"prompt": "fox", "preset": name}).resolve("tiny")
        assert (job.width, job.height, job.steps, job.guidance) == (preset.size, preset.size, preset.steps, preset.guidance)
    for name, preset in MUSIC_PRESETS.items():
        job = parse("music", {"prompt": "fox", "preset": name}).resolve("tiny")
        assert job.window == preset.window_s and job.top_k == preset.top_k
        assert job.overlap < job.window / 2


def test_negative_prompt_is_dropped_for_presets_that_ignore_it():
    assert parse("image", {"prompt": "a", "negative_prompt": "b", "preset": "sd-turbo"}).resolve("tiny").negative_prompt == ""
    assert parse("image", {"prompt": "a", "negative_prompt": "b"}).resolve("tiny").negative_prompt == "b"


def test_request_without_preset_uses_the_servers_default():
    assert parse("image", {"prompt": "a"}).resolve("sd-turbo").preset == "sd-turbo"


def test_preset_tiny_switches_every_modality():
    assert choose_defaults("tiny", LOCAL_DEFAULTS) == {"image": "tiny", "music": "tiny", "video": "tiny-video"}
    assert choose_defaults(None, LOCAL_DEFAULTS) == LOCAL_DEFAULTS
    assert choose_defaults("sdxl-turbo", LOCAL_DEFAULTS) == LOCAL_DEFAULTS | {"image": "sdxl-turbo"}
    with pytest.raises(RequestError, match="Unknown preset 'nope'. Known presets: .*tiny"):
        choose_defaults("nope", LOCAL_DEFAULTS)


def test_every_hub_preset_pins_a_full_commit():
    from models.common.weights import HubWeights

    for table in PRESETS.values():
        for preset in table.values():
            for weights in all_weights(preset):
                if isinstance(weights, HubWeights):
                    assert len(weights.revision) == 40 and int(weights.revision, 16) >= 0
