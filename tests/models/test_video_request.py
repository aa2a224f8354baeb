"""The video request's rules, before any model runs: lengths, rates, sizes, start images, and the
one sentence each refusal says (nothing here loads a model)."""

from __future__ import annotations

import pytest

from models.common.errors import RequestError
from models.presets import VIDEO_PRESETS, choose_defaults
from models.requests import VideoRequest, parse
from models.video.request import check_limits, fit_size, nearest_frames


def png_bytes(width: int, height: int, color=(200, 40, 40)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def resolve(preset: str = "ltx-video", **fields):
    return VideoRequest(prompt="waves at dusk", **fields).resolve(preset)


def refusal(preset: str = "ltx-video", **fields) -> str:
    with pytest.raises(RequestError) as e:
        resolve(preset, **fields)
    return str(e.value)


def test_defaults_are_the_presets_and_a_clip_is_seconds_times_the_rate():
    job = resolve()
    ltx = VIDEO_PRESETS["ltx-video"]
    assert (job.width, job.height, job.frames, job.fps, job.steps) == (768, 512, 121, 24, 8)
    assert (job.frames, job.guidance) == (ltx.frames, ltx.guidance)
    assert job.duration == pytest.approx(121 / 24)


def test_a_duration_becomes_the_nearest_length_the_model_makes():
    assert resolve(duration=5).frames == 121  # 120 frames at 24 fps → 8k+1
    assert resolve(duration=2, fps=30).frames == 57  # 60 → 57 (61 is as near; k rounds to even)
    assert resolve("mochi-1", duration=3).frames == 91  # Mochi: 6k+1 at 30 fps
    assert resolve(duration=0.1).frames == 9  # the shortest clip


def test_a_frame_count_the_model_cannot_make_is_refused_with_the_nearest_it_can():
    assert refusal(frames=120) == "ltx-video makes clips of 8k+1 frames, at least 9: use 121 instead of 120."
    assert refusal(frames=4) == "ltx-video makes clips of 8k+1 frames, at least 9: use 9 instead of 4."
    assert refusal("mochi-1", frames=90) == "mochi-1 makes clips of 6k+1 frames, at least 7: use 91 instead of 90."


def test_a_ten_minute_video_is_refused_with_the_longest_the_preset_makes():
    assert refusal(duration=600) == "600 s is too long for ltx-video: it makes at most 10.7 s (257 frames at 24 fps)."
    assert refusal(frames=265) == "265 frames is too long for ltx-video: it makes at most 257 (10.7 s at 24 fps)."
    assert refusal("mochi-1", duration=6) == "6 s is too long for mochi-1: it makes at most 5.4 s (163 frames at 30 fps)."
    with pytest.raises(RequestError, match="Duration should be less than or equal to 600"):
        parse("video", {"prompt": "x", "duration": 3600})  # beyond any preset: the schema's bound


def test_sizes_off_the_grid_or_too_large_are_refused_with_one_that_fits():
    assert refusal(width=500, height=512) == "A width of 500 px is not on ltx-video's grid of 32 px: use 512."
    assert refusal("mochi-1", width=848, height=470) == "A height of 470 px is not on mochi-1's grid of 16 px: use 464."
    assert refusal(width=1920, height=1088) == (
        "1920×1088 is too large for ltx-video, which makes at most 1280 px a side and 0.92 megapixels: "
        "try 1248×704, about the same shape."
    )
    w, h = fit_size(1920, 1088, VIDEO_PRESETS["ltx-video"])
    check_limits(resolve(width=w, height=h), VIDEO_PRESETS["ltx-video"])  # the suggestion is one it makes


def test_an_aspect_or_one_side_sets_the_size_on_the_grid():
    assert (resolve(aspect="16:9").width, resolve(aspect="16:9").height) == (832, 480)
    assert (resolve(aspect="9:16").width, resolve(aspect="9:16").height) == (480, 832)
    assert (resolve(aspect="1:1").width, resolve(aspect="1:1").height) == (640, 640)
    tall = resolve(height=768)
    assert (tall.width, tall.height) == (1152, 768)  # the preset's 3:2
    assert (resolve(width=640, aspect="1:1").height) == 640


def test_a_start_image_sets_the_shape_and_only_presets_that_animate_take_one():
    portrait = png_bytes(300, 400)
    job = resolve(image=portrait)
    assert job.width / job.height == pytest.approx(0.75, abs=0.05) and job.width % 32 == job.height % 32 == 0
    assert job.image_sha256 is not None
    assert refusal("mochi-1", image=portrait) == "mochi-1 can't start from an image. Presets that can: ltx-video, tiny-video, ltx-video-twin."


def test_one_side_and_a_thin_start_image_past_the_schemas_limit_is_refused_with_a_size_that_fits():
    """Found by tests/api/test_api_fuzz.py: 1172 px wide at a 30×300 picture's shape made a height of
    11712 px, past what a job may hold (a 500)."""
    assert refusal(width=1184, image=png_bytes(30, 300)) == (
        "1184×4096 is too large for ltx-video, which makes at most 1280 px a side and 0.92 megapixels: "
        "try 384×1280, about the same shape.")


def test_a_start_image_that_is_not_a_picture_is_refused_in_one_sentence():
    with pytest.raises(RequestError) as e:
        parse("video", {"prompt": "x", "image": "JVBERi0xLjQKJcOkw7zDtsOf"})  # base64 of a PDF's first bytes
    assert str(e.value) == "Image must be a PNG, JPEG or WebP image; this is a PDF document."


def test_conflicting_fields_are_refused():
    assert refusal(duration=2, frames=49) == "Send duration or frames, not both."
    assert refusal(aspect="1:1", width=512, height=512) == "Send an aspect or a width and height, not both."
    assert "image_result" not in refusal(image_result="abc")  # said in words, as for images
    assert refusal(steps=31) == "31 steps is too many for ltx-video: use at most 30."


def test_a_negative_prompt_is_kept_only_where_guidance_reads_it():
    assert resolve(negative_prompt="blurry").negative_prompt == ""  # the distilled preset: guidance 1
    assert resolve(negative_prompt="blurry", guidance=3).negative_prompt == "blurry"
    assert resolve("mochi-1", negative_prompt="blurry").negative_prompt == "blurry"


def test_nearest_frames_stays_within_the_preset():
    ltx = VIDEO_PRESETS["ltx-video"]
    assert [nearest_frames(n, ltx) for n in (0, 9, 12, 13, 300)] == [9, 9, 9, 17, 257]


def test_tiny_switches_video_to_tiny_video():
    defaults = {"image": "sd-turbo", "music": "musicgen-small", "video": "ltx-video"}
    assert choose_defaults("tiny", defaults) == {"image": "tiny", "music": "tiny", "video": "tiny-video"}
    assert choose_defaults("mochi-1", defaults)["video"] == "mochi-1"
