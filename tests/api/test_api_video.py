"""Video through the REST API on `tiny-video` (LTX-Video's architecture in miniature, random
weights): POST /api/v1/videos, `"kind": "video"` jobs with their progress and previews, a saved
image animated by its id, the MP4 and its poster served from the result store, and bad input
answered with a 422 and one sentence. The MP4s are read back by ffprobe, as another tool would."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess

import pytest

from tests.generation.test_jobs import sse_events

pytestmark = pytest.mark.anyio

CLIP = {"prompt": "a paper boat on a river", "frames": 9, "seed": 4}  # 96×64, 9 frames at 8 fps: ~1 s on a CPU


def probe(data: bytes, tmp_path) -> dict:
    ffprobe = shutil.which("ffprobe")
    assert ffprobe, "ffprobe is missing: sudo apt-get install -y ffmpeg"
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    out = subprocess.run([ffprobe, "-v", "error", "-count_frames", "-show_format", "-show_streams", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


async def test_a_video_is_made_and_served_as_an_mp4_with_its_poster(client_for, backend, tmp_path):
    async with client_for(backend) as client:
        made = await client.post("/api/v1/videos", json=CLIP)
        assert made.status_code == 201, made.text
        result, owner_token = made.json()["result"], made.json()["owner_token"]
        assert result["kind"] == "video" and result["seed"] == 4 and result["parameters"]["frames"] == 9
        assert result["duration"] == pytest.approx(9 / 8)
        files = {f["name"]: f for f in result["files"]}
        assert set(files) == {"video.mp4", "poster.webp"}

        clip = await client.get(files["video.mp4"]["url"])
        assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
        assert len(clip.content) == files["video.mp4"]["bytes"]
        [stream] = probe(clip.content, tmp_path)["streams"]
        assert (stream["codec_name"], stream["pix_fmt"], stream["width"], stream["height"]) == ("h264", "yuv420p", 96, 64)
        assert int(stream["nb_read_frames"]) == 9
        # Browsers seek with range requests.
        part = await client.get(files["video.mp4"]["url"], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100 and part.content == clip.content[:100]
        poster = await client.get(files["poster.webp"]["url"])
        assert poster.headers["content-type"] == "image/webp" and poster.content[8:12] == b"WEBP"

        await client.post(f"/api/v1/results/{result['id']}/publish", headers={"X-Owner-Token": owner_token})
        listed = (await client.get("/api/v1/results", params={"kind": "video"})).json()["results"]
        assert [r["id"] for r in listed] == [result["id"]]
        assert (await client.get("/api/v1/results", params={"kind": "image"})).json()["results"] == []


async def test_a_video_job_streams_denoising_decoding_and_encoding_with_previews(client_for, backend):
    async with client_for(backend) as client:
        submitted = await client.post("/api/v1/jobs", json={"kind": "video", "request": CLIP | {"steps": 4}})
        assert submitted.status_code == 202, submitted.text
        job = submitted.json()["job"]
        assert job["kind"] == "video"
        stream = await asyncio.wait_for(client.get(f"/api/v1/jobs/{job['id']}/events", params={"previews": "true"}), 120)
        events = sse_events(stream.text)
        assert events[-1][0] == "succeeded", events[-1]
        stages = [data["stage"] for name, data in events if name == "progress"]
        assert "denoising" in stages and "encoding" in stages
        assert stages.index("denoising") < stages.index("encoding")
        previews = [data for name, data in events if name == "preview"]
        assert previews and all(base64.b64decode(p["data"])[8:12] == b"WEBP" for p in previews)
        assert events[-1][1]["job"]["result"]["kind"] == "video"


async def test_a_saved_image_is_animated_by_its_id(client_for, backend):
    async with client_for(backend) as client:
        image = (await client.post("/api/v1/images", json={"prompt": "a boat", "steps": 1, "seed": 2})).json()["result"]
        made = await client.post("/api/v1/videos", json=CLIP | {"image_result": image["id"]})
        assert made.status_code == 201, made.text
        result = made.json()["result"]
        assert result["input"]["mode"] == "image-to-video" and len(result["input"]["image_sha256"]) == 64
        # Without a size the clip takes the picture's shape (tiny's square image: a square clip).
        assert result["parameters"]["width"] == result["parameters"]["height"]

        music = (await client.post("/api/v1/music", json={"prompt": "a beat", "duration": 1})).json()["result"]
        refused = await client.post("/api/v1/videos", json=CLIP | {"image_result": music["id"]})
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == (f"Image result {music['id']} is music, not an image: "
                                                     "start from an image result.")


BAD = [
    ({"image": base64.b64encode(b"plain text, not a picture").decode()}, "this is not an image we recognise"),
    ({"duration": 600, "frames": None}, "600 s is too long for tiny-video"),
    ({"frames": 12}, "use 9 instead of 12"),
    ({"width": 100, "height": 64}, "not on tiny-video's grid of 32 px: use 96"),
    ({"width": 512, "height": 512}, "too large for tiny-video"),
    ({"duration": 1}, "Send duration or frames, not both."),
    ({"preset": "no-such-model"}, "Unknown video preset 'no-such-model'"),
    ({"prompt": ""}, "Prompt must not be empty."),
    ({"image_result": "AAAAAAAAAAAAAAAA"}, "there is no image result with that id"),
    ({"fps": 1000}, "less than or equal to 60"),
]


@pytest.mark.parametrize(("fields", "said"), BAD, ids=[next(iter(f)) + str(i) for i, (f, _) in enumerate(BAD)])
async def test_bad_video_input_is_a_422_with_one_sentence(client_for, backend, fields, said):
    async with client_for(backend) as client:
        for path, body in (("/api/v1/videos", CLIP | fields), ("/api/v1/jobs", {"kind": "video", "request": CLIP | fields})):
            response = await client.post(path, json=body)
            assert response.status_code == 422, (path, response.text)
            message = response.json()["error"]["message"]
            assert said.lower() in message.lower() and "Traceback" not in message and message.endswith("."), message
        assert (await client.get("/api/health")).status_code == 200


async def test_a_video_past_the_request_limit_is_answered_with_its_job(client_for, backend):
    # A limit of 0.01 s stands for Modal's 150: making and encoding even a tiny clip takes longer (the
    # model may already be loaded by an earlier test: its ~40 ms of denoising and ~20 ms of encoding remain).
    async with client_for(backend, ATELIER_REQUEST_LIMIT="0.01") as client:
        response = await client.post("/api/v1/videos", json=CLIP)
        assert response.status_code == 202, response.text
        location = response.headers["location"]
        while (job := (await client.get(location)).json())["status"] != "succeeded":
            assert job["status"] in ("queued", "running"), job
            await asyncio.sleep(0.2)
        assert job["kind"] == "video" and {f["name"] for f in job["result"]["files"]} == {"video.mp4", "poster.webp"}


async def test_a_video_model_that_fails_to_load_leaves_the_other_kinds_serving(client_for, backend):
    async with client_for(backend) as client:
        # ltx-video's weights are not on this machine (offline): its model fails to load.
        failed = await client.post("/api/v1/videos", json={"prompt": "waves", "preset": "ltx-video"})
        assert failed.status_code == 503 and failed.json()["error"]["code"] == "model_unavailable"
        assert "Lightricks/LTX-Video" in failed.json()["error"]["message"]
        assert (await client.post("/api/v1/images", json={"prompt": "a fox", "steps": 1})).status_code == 201
        assert (await client.post("/api/v1/videos", json=CLIP)).status_code == 201  # tiny-video still serves
        states = {m["preset"]: m["state"] for m in (await client.get("/api/health")).json()["models"]}
        assert states["ltx-video"] == "failed" and states["tiny-video"] == "ready" and states["tiny"] == "ready"
