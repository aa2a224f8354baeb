"""The video model on `tiny-video` (LTX-Video's architecture in miniature), through the calls the
local backend makes: `VideoModel(preset=...).generate.local(job)`. The MP4s are read back by
ffprobe (Debian's ffmpeg package) and PyAV, as a browser or another tool would read them."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from models.common.errors import RequestError
from models.image.previews import PREVIEW_SIDE
from models.requests import VideoRequest
from models.video.previews import MIME

FFPROBE = shutil.which("ffprobe")


def picture(width: int, height: int, color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def model(model_classes):
    """One instance for the module, as a container holds one: loaded by its first call."""
    return model_classes["video"](preset="tiny-video")


def run(model, **fields) -> tuple[list[dict], dict]:
    job = VideoRequest(prompt="waves at dusk", **fields).resolve("tiny-video")
    events = list(model.generate.local(job.model_dump()))
    assert events[-1]["type"] == "result" and all(e["type"] == "progress" for e in events[:-1])
    return events[:-1], events[-1]


def probe(data: bytes, tmp_path) -> dict:
    if FFPROBE is None:
        pytest.skip("ffprobe is missing: sudo apt-get install -y ffmpeg")
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    out = subprocess.run([FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def frames_of(data: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data)) as clip:
        return np.stack([f.to_ndarray(format="rgb24") for f in clip.decode(video=0)])


@pytest.fixture(scope="module")
def clip(model):
    """One clip of three steps at 96×64, 17 frames at 8 fps: its events and result."""
    return run(model, seed=5, steps=3)


def test_the_mp4_plays_in_browsers_and_carries_its_recipe(clip, tmp_path):
    _, result = clip
    mp4 = next(f for f in result["files"] if f["name"] == "video.mp4")
    assert mp4["mime"] == "video/mp4"
    info = probe(mp4["data"], tmp_path)
    stream = info["streams"][0]
    assert (stream["codec_name"], stream["pix_fmt"], stream["profile"]) == ("h264", "yuv420p", "High")
    assert (stream["width"], stream["height"], int(stream["nb_frames"]), stream["r_frame_rate"]) == (96, 64, 17, "8/1")
    assert float(info["format"]["duration"]) == pytest.approx(17 / 8)
    assert stream["color_space"] == "bt709"
    assert mp4["data"].index(b"moov") < mp4["data"].index(b"mdat")  # faststart: the index first
    tags = info["format"]["tags"]
    assert tags["title"] == "waves at dusk"
    assert tags["comment"] == ("waves at dusk\nFrames: 17, FPS: 8, Steps: 3, CFG scale: 1, Seed: 5, Size: 96x64, "
                               "Model: tiny-video, Version: Atelier")
    assert json.loads(tags["atelier"]) == result["record"]["parameters"]


def test_the_poster_is_the_clips_middle_frame(clip):
    _, result = clip
    poster = next(f for f in result["files"] if f["name"] == "poster.webp")
    assert poster["mime"] == "image/webp"
    still = Image.open(io.BytesIO(poster["data"]))
    assert still.format == "WEBP" and still.size == (96, 64)
    frames = frames_of(result["files"][0]["data"]).astype(int)
    distance = np.abs(frames - np.asarray(still.convert("RGB")).astype(int)).mean(axis=(1, 2, 3))
    assert distance.argmin() == 8  # of 17 frames, two lossy codecs apart: nearest the middle one


def test_progress_follows_denoising_then_the_decode_chunk_by_chunk_then_the_encode(clip):
    progress, _ = clip
    stages = [(e["stage"], e["done"], e["total"]) for e in progress]
    # 17 frames are 3 latent frames; tiny-video decodes 16 frames (2 latent) at a time, one latent
    # frame apart: three runs of the decoder.
    assert stages == ([("denoising", i, 3) for i in range(4)] + [("decoding", i, 3) for i in range(4)]
                      + [("encoding", 0, 1), ("encoding", 1, 1)])


def test_the_forming_clip_is_previewed_by_its_middle_frame(clip):
    progress, _ = clip
    previews = [e for e in progress if "preview" in e]
    assert previews and all(e["stage"] == "denoising" and 0 < e["done"] < 3 for e in previews)
    for e in previews:
        assert e["preview"]["mime"] == MIME
        still = Image.open(io.BytesIO(e["preview"]["data"]))
        assert still.format == "WEBP" and still.size == (PREVIEW_SIDE, round(PREVIEW_SIDE * 2 / 3))  # 96×64's shape


def test_the_record_says_what_was_made(clip):
    _, result = clip
    record = result["record"]
    assert record["kind"] == "video" and record["seed"] == 5 and record["duration"] == pytest.approx(2.125)
    assert record["model"] == {"preset": "tiny-video", "weights": "tiny-video: random weights built offline", "device": "cpu"}
    assert record["parameters"] == {"prompt": "waves at dusk", "negative_prompt": "", "preset": "tiny-video", "width": 96,
                                    "height": 64, "frames": 17, "fps": 8, "steps": 3, "guidance": 1.0, "seed": 5}
    assert set(record["seconds"]) == {"load", "generate", "encode"} and "input" not in record


def test_same_seed_same_settings_same_frames(model, clip):
    _, again = run(model, seed=5, steps=3)
    assert again["files"][0]["data"] == clip[1]["files"][0]["data"]  # the very same MP4 bytes
    _, other = run(model, seed=6, steps=3)
    assert not np.array_equal(frames_of(other["files"][0]["data"]), frames_of(clip[1]["files"][0]["data"]))


def test_a_start_picture_is_animated_at_its_shape_and_recorded_by_its_hash(model):
    red, blue = picture(60, 80, (220, 30, 30)), picture(60, 80, (30, 30, 220))
    _, from_red = run(model, seed=5, image=red, frames=9)
    _, from_blue = run(model, seed=5, image=blue, frames=9)
    parameters = from_red["record"]["parameters"]
    assert (parameters["width"], parameters["height"]) == (64, 96)  # portrait, like the picture, on the grid of 32
    assert from_red["record"]["input"]["mode"] == "image-to-video"
    assert from_red["record"]["input"]["image_sha256"] != from_blue["record"]["input"]["image_sha256"]
    assert not np.array_equal(frames_of(from_red["files"][0]["data"]), frames_of(from_blue["files"][0]["data"]))


def test_guidance_reads_the_negative_prompt(model):
    _, plain = run(model, seed=5, guidance=3.0, frames=9)
    _, negative = run(model, seed=5, guidance=3.0, frames=9, negative_prompt="blurry")
    assert negative["record"]["parameters"]["negative_prompt"] == "blurry"
    assert not np.array_equal(frames_of(plain["files"][0]["data"]), frames_of(negative["files"][0]["data"]))


def test_a_job_the_model_cannot_make_is_refused_before_any_work(model):
    """A job built by hand (not through a request) meets the same rules in the model."""
    job = VideoRequest(prompt="waves").resolve("tiny-video").model_dump() | {"frames": 12}
    with pytest.raises(RequestError, match="tiny-video makes clips of 8k\\+1 frames, at least 9: use 9 instead of 12"):
        list(model.generate.local(job))
