"""Bad input against a real server (uvicorn on 127.0.0.1, the tiny models): each case gets the
right 4xx in the one error shape, and the server stays healthy. The table of what each case
returned is written to test-artifacts/api-bad-inputs.md."""

from __future__ import annotations

import base64
import http.client
import io
import json
from urllib.parse import urlsplit

import pytest
from PIL import Image

from models.image.uploads import MAX_IMAGE_BYTES
from tests.support.api_doubles import serving
from tests.support.images import png_claiming
from ui.settings import API_ENV_VARS
from ui.web import create_app

JSON = {"Content-Type": "application/json"}
RID = "{rid}"  # replaced by a real result id


def j(data) -> bytes:
    return json.dumps(data).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def picture(size=(64, 64), mode="RGB", fmt="PNG", color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format=fmt)
    return buf.getvalue()


NOISE = io.BytesIO()
Image.effect_noise((128, 128), 80).convert("RGB").save(NOISE, format="PNG")
IMAGE = b64(picture())
WHITE_MASK = b64(picture(mode="L", color=255))


# (what, method, path, body, headers, expected status, expected code)
CASES = [
    ("empty prompt", "POST", "/api/v1/images", j({"prompt": ""}), JSON, 422, "invalid_request"),
    ("whitespace-only prompt", "POST", "/api/v1/images", j({"prompt": "   \n\t"}), JSON, 422, "invalid_request"),
    ("prompt of 1001 characters", "POST", "/api/v1/images", j({"prompt": "x" * 1001}), JSON, 422, "invalid_request"),
    ("prompt of 200 000 characters", "POST", "/api/v1/images", j({"prompt": "x" * 200_000}), JSON, 422, "invalid_request"),
    ("prompt of 15 MB (over the body limit)", "POST", "/api/v1/images", j({"prompt": "x" * 15_000_000}), JSON, 413, "body_too_large"),
    ("missing prompt", "POST", "/api/v1/images", j({"steps": 2}), JSON, 422, "invalid_request"),
    ("width 4096", "POST", "/api/v1/images", j({"prompt": "x", "width": 4096}), JSON, 422, "invalid_request"),
    ("width 100 (not a multiple of 8)", "POST", "/api/v1/images", j({"prompt": "x", "width": 100}), JSON, 422, "invalid_request"),
    ("width 2048, over the tiny preset's largest", "POST", "/api/v1/images", j({"prompt": "x", "width": 2048}), JSON, 422, "invalid_request"),
    ("steps 0", "POST", "/api/v1/images", j({"prompt": "x", "steps": 0}), JSON, 422, "invalid_request"),
    ("steps 10 000", "POST", "/api/v1/images", j({"prompt": "x", "steps": 10_000}), JSON, 422, "invalid_request"),
    ("num_images 5", "POST", "/api/v1/images", j({"prompt": "x", "num_images": 5}), JSON, 422, "invalid_request"),
    ("seed -1", "POST", "/api/v1/images", j({"prompt": "x", "seed": -1}), JSON, 422, "invalid_request"),
    ("seed 2**32", "POST", "/api/v1/images", j({"prompt": "x", "seed": 2**32}), JSON, 422, "invalid_request"),
    ("seed 10**400", "POST", "/api/v1/images", b'{"prompt": "x", "seed": 1' + b"0" * 400 + b"}", JSON, 422, "invalid_request"),
    ("seed of 5000 digits (over Python's int parsing limit)", "POST", "/api/v1/images", b'{"prompt": "x", "seed": 1' + b"0" * 5000 + b"}", JSON, 400, "bad_request"),
    ("guidance -1", "POST", "/api/v1/images", j({"prompt": "x", "guidance": -1}), JSON, 422, "invalid_request"),
    ("guidance NaN", "POST", "/api/v1/images", b'{"prompt": "x", "guidance": NaN}', JSON, 422, "invalid_request"),
    ("guidance Infinity", "POST", "/api/v1/images", b'{"prompt": "x", "guidance": Infinity}', JSON, 422, "invalid_request"),
    ("unknown preset", "POST", "/api/v1/images", j({"prompt": "x", "preset": "sd-99"}), JSON, 422, "invalid_request"),
    ("music duration 0", "POST", "/api/v1/music", j({"prompt": "x", "duration": 0}), JSON, 422, "invalid_request"),
    ("music duration 1e6", "POST", "/api/v1/music", j({"prompt": "x", "duration": 1e6}), JSON, 422, "invalid_request"),
    ("music temperature 0", "POST", "/api/v1/music", j({"prompt": "x", "temperature": 0}), JSON, 422, "invalid_request"),
    ("music format flac", "POST", "/api/v1/music", j({"prompt": "x", "format": "flac"}), JSON, 422, "invalid_request"),
    ("music melody that is not base64", "POST", "/api/v1/music", j({"prompt": "x", "melody": "not base64!"}), JSON, 422, "invalid_request"),
    ("music melody that is not audio", "POST", "/api/v1/music", j({"prompt": "x", "melody": "aGVsbG8gd29ybGQ="}), JSON, 422, "invalid_request"),
    ("image: a text file (named .png or not)", "POST", "/api/v1/images", j({"prompt": "x", "image": b64(b"just some text, saved as cat.png")}), JSON, 422, "invalid_request"),
    ("image: a GIF", "POST", "/api/v1/images", j({"prompt": "x", "image": b64(picture(fmt="GIF"))}), JSON, 422, "invalid_request"),
    ("image: an SVG", "POST", "/api/v1/images", j({"prompt": "x", "image": b64(b'<svg xmlns="http://www.w3.org/2000/svg"/>')}), JSON, 422, "invalid_request"),
    ("image: a PDF", "POST", "/api/v1/images", j({"prompt": "x", "image": b64(b"%PDF-1.7\n%%EOF")}), JSON, 422, "invalid_request"),
    ("image: a truncated PNG", "POST", "/api/v1/images", j({"prompt": "x", "image": b64(NOISE.getvalue()[:20_000])}), JSON, 422, "invalid_request"),
    ("image: a PNG claiming 50000×50000 pixels", "POST", "/api/v1/images", j({"prompt": "x", "image": b64(png_claiming(50_000, 50_000))}), JSON, 422, "invalid_request"),
    ("image: a PNG claiming 5000×5000 pixels", "POST", "/api/v1/images", j({"prompt": "x", "image": b64(png_claiming(5000, 5000))}), JSON, 422, "invalid_request"),
    ("image: over the byte limit", "POST", "/api/v1/images", j({"prompt": "x", "image": "A" * ((MAX_IMAGE_BYTES + 2) // 3 * 4 + 8)}), JSON, 422, "invalid_request"),
    ("image: not base64", "POST", "/api/v1/images", j({"prompt": "x", "image": "not base64!"}), JSON, 422, "invalid_request"),
    ("image: a number", "POST", "/api/v1/images", j({"prompt": "x", "image": 7}), JSON, 422, "invalid_request"),
    ("mask without an image", "POST", "/api/v1/images", j({"prompt": "x", "mask": WHITE_MASK}), JSON, 422, "invalid_request"),
    ("mask of another size than the image", "POST", "/api/v1/images", j({"prompt": "x", "image": IMAGE, "mask": b64(picture((32, 32), "L", color=255))}), JSON, 422, "invalid_request"),
    ("mask all black", "POST", "/api/v1/images", j({"prompt": "x", "image": IMAGE, "mask": b64(picture(mode="L", color=0))}), JSON, 422, "invalid_request"),
    ("mask that is a text file", "POST", "/api/v1/images", j({"prompt": "x", "image": IMAGE, "mask": b64(b"paint here")}), JSON, 422, "invalid_request"),
    ("strength 1.5", "POST", "/api/v1/images", j({"prompt": "x", "image": IMAGE, "strength": 1.5}), JSON, 422, "invalid_request"),
    ("strength -0.1", "POST", "/api/v1/images", j({"prompt": "x", "image": IMAGE, "strength": -0.1}), JSON, 422, "invalid_request"),
    ("strength too low for the steps", "POST", "/api/v1/images", j({"prompt": "x", "image": IMAGE, "strength": 0.0001}), JSON, 422, "invalid_request"),
    ("image_result: unknown id", "POST", "/api/v1/images", j({"prompt": "x", "image_result": "AAAAAAAAAAAAAAAA"}), JSON, 422, "invalid_request"),
    ("image_result: ../ id", "POST", "/api/v1/images", j({"prompt": "x", "image_result": "../../etc/passwd"}), JSON, 422, "invalid_request"),
    ("image_result and image both", "POST", "/api/v1/images", j({"prompt": "x", "image": IMAGE, "image_result": RID}), JSON, 422, "invalid_request"),
    ("image_result: an id of 65 characters", "POST", "/api/v1/images", j({"prompt": "x", "image_result": "A" * 65}), JSON, 422, "invalid_request"),
    ("job whose image is a GIF", "POST", "/api/v1/jobs", j({"kind": "image", "request": {"prompt": "x", "image": b64(picture(fmt="GIF"))}}), JSON, 422, "invalid_request"),
    ("job whose image_result is unknown", "POST", "/api/v1/jobs", j({"kind": "image", "request": {"prompt": "x", "image_result": "AAAAAAAAAAAAAAAA"}}), JSON, 422, "invalid_request"),
    ("prompt as a number", "POST", "/api/v1/images", j({"prompt": 123}), JSON, 422, "invalid_request"),
    ("steps as words", "POST", "/api/v1/images", j({"prompt": "x", "steps": "ten"}), JSON, 422, "invalid_request"),
    ("steps as a fraction", "POST", "/api/v1/images", j({"prompt": "x", "steps": 2.5}), JSON, 422, "invalid_request"),
    ("steps as a list", "POST", "/api/v1/images", j({"prompt": "x", "steps": [2]}), JSON, 422, "invalid_request"),
    ("prompt as an object", "POST", "/api/v1/images", j({"prompt": {"text": "x"}}), JSON, 422, "invalid_request"),
    ("unknown field", "POST", "/api/v1/images", j({"prompt": "x", "style": "noir"}), JSON, 422, "invalid_request"),
    ("body is a list", "POST", "/api/v1/images", j([{"prompt": "x"}]), JSON, 422, "invalid_request"),
    ("body is a string", "POST", "/api/v1/images", j("a fox"), JSON, 422, "invalid_request"),
    ("body is null", "POST", "/api/v1/images", b"null", JSON, 422, "invalid_request"),
    ("empty body", "POST", "/api/v1/images", b"", JSON, 422, "invalid_request"),
    ("malformed JSON", "POST", "/api/v1/images", b'{"prompt": "x",', JSON, 400, "malformed_json"),
    ("single-quoted JSON", "POST", "/api/v1/images", b"{'prompt': 'x'}", JSON, 400, "malformed_json"),
    ("invalid UTF-8", "POST", "/api/v1/images", b'{"prompt": "\xff\xfe"}', JSON, 400, "bad_request"),
    ("JSON nested 100 000 deep", "POST", "/api/v1/images", b"[" * 100_000 + b"]" * 100_000, JSON, 400, "bad_request"),
    ("text/plain body", "POST", "/api/v1/images", j({"prompt": "x"}), {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    ("form-encoded body", "POST", "/api/v1/images", b"prompt=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ("body without a content type", "POST", "/api/v1/images", j({"prompt": "x"}), {}, 415, "unsupported_media_type"),
    ("declared body over the limit (no body sent)", "POST", "/api/v1/images", b"", {**JSON, "Content-Length": "999999999"}, 413, "body_too_large"),
    ("job of unknown kind", "POST", "/api/v1/jobs", j({"kind": "sculpture", "request": {"prompt": "x"}}), JSON, 422, "invalid_request"),
    ("video too long", "POST", "/api/v1/videos", j({"prompt": "x", "duration": 600}), JSON, 422, "invalid_request"),
    ("video start image not a picture", "POST", "/api/v1/videos", j({"prompt": "x", "image": "bm90IGEgcGljdHVyZQ=="}), JSON, 422, "invalid_request"),
    ("job without a request", "POST", "/api/v1/jobs", j({"kind": "image"}), JSON, 422, "invalid_request"),
    ("job with a bad request", "POST", "/api/v1/jobs", j({"kind": "music", "request": {"prompt": "x", "duration": -3}}), JSON, 422, "invalid_request"),
    ("job with a non-URL callback", "POST", "/api/v1/jobs", j({"kind": "image", "request": {"prompt": "x"}, "callback_url": "not a url"}), JSON, 422, "invalid_request"),
    ("job with a file: callback", "POST", "/api/v1/jobs", j({"kind": "image", "request": {"prompt": "x"}, "callback_url": "file:///etc/passwd"}), JSON, 422, "invalid_request"),
    ("job with a callback but no webhook secret", "POST", "/api/v1/jobs", j({"kind": "image", "request": {"prompt": "x"}, "callback_url": "https://example.com/h"}), JSON, 422, "webhooks_not_configured"),
    ("unknown result id", "GET", "/api/v1/results/AAAAAAAAAAAAAAAA", None, {}, 404, "not_found"),
    ("malformed result id", "GET", "/api/v1/results/not-an-id", None, {}, 404, "not_found"),
    ("result id ../", "GET", "/api/v1/results/../../../etc/passwd", None, {}, 404, "not_found"),
    ("result id ..", "GET", "/api/v1/results/..", None, {}, 404, "not_found"),
    ("result id %2e%2e%2f", "GET", "/api/v1/results/%2e%2e%2f%2e%2e%2fetc%2fpasswd", None, {}, 404, "not_found"),
    ("result id %2e%2e", "GET", "/api/v1/results/%2e%2e", None, {}, 404, "not_found"),
    ("result id with a NUL", "GET", "/api/v1/results/AAAAAAAA%00AAAAAAA", None, {}, 404, "not_found"),
    ("media ..%2frecord.json", "GET", f"/results/{RID}/..%2frecord.json", None, {}, 404, "not_found"),
    ("media record.json (not a listed file)", "GET", f"/results/{RID}/record.json", None, {}, 404, "not_found"),
    ("media under a traversal id", "GET", "/results/%2e%2e/%2e%2e%2fpyproject.toml", None, {}, 404, "not_found"),
    ("media path ../../pyproject.toml", "GET", "/results/../../pyproject.toml", None, {}, 404, "not_found"),
    ("POST to a media file", "POST", f"/results/{RID}/image-0.png", None, {}, 405, "method_not_allowed"),
    ("unknown job id", "GET", "/api/v1/jobs/AAAAAAAAAAAAAAAA", None, {}, 404, "not_found"),
    ("job id ../", "GET", "/api/v1/jobs/%2e%2e%2f", None, {}, 404, "not_found"),
    ("events of an unknown job", "GET", "/api/v1/jobs/AAAAAAAAAAAAAAAA/events", None, {}, 404, "not_found"),
    ("publish without the owner token", "POST", f"/api/v1/results/{RID}/publish", None, {}, 403, "forbidden"),
    ("delete with a wrong owner token", "DELETE", f"/api/v1/results/{RID}", None, {"X-Owner-Token": "guess"}, 403, "forbidden"),
    ("publish an unknown result", "POST", "/api/v1/results/AAAAAAAAAAAAAAAA/publish", None, {"X-Owner-Token": "guess"}, 404, "not_found"),
    ("list with limit 0", "GET", "/api/v1/results?limit=0", None, {}, 422, "invalid_request"),
    ("list with limit abc", "GET", "/api/v1/results?limit=abc", None, {}, 422, "invalid_request"),
    ("list of kind sculpture", "GET", "/api/v1/results?kind=sculpture", None, {}, 422, "invalid_request"),
    ("GET on a POST endpoint", "GET", "/api/v1/images", None, {}, 405, "method_not_allowed"),
    ("PUT on a result", "PUT", f"/api/v1/results/{RID}", j({}), JSON, 405, "method_not_allowed"),
    ("unknown API path", "GET", "/api/v2/images", None, {}, 404, "not_found"),
    # LoRA adapters: "bad-input-lora" is a good tiny adapter, "bad-input-corrupt" a damaged one (fixture below)
    ("unknown LoRA adapter", "POST", "/api/v1/images", j({"prompt": "x", "loras": [{"id": "nope"}]}), JSON, 422, "invalid_request"),
    ("LoRA adapter for another family", "POST", "/api/v1/images", j({"prompt": "x", "preset": "sd-turbo", "loras": [{"id": "bad-input-lora"}]}), JSON, 422, "invalid_request"),
    ("LoRA scale 2.5", "POST", "/api/v1/images", j({"prompt": "x", "loras": [{"id": "bad-input-lora", "scale": 2.5}]}), JSON, 422, "invalid_request"),
    ("LoRA scale NaN", "POST", "/api/v1/images", b'{"prompt": "x", "loras": [{"id": "bad-input-lora", "scale": NaN}]}', JSON, 422, "invalid_request"),
    ("5 LoRA adapters", "POST", "/api/v1/images", j({"prompt": "x", "loras": [{"id": f"l{i}"} for i in range(5)]}), JSON, 422, "invalid_request"),
    ("the same LoRA adapter twice", "POST", "/api/v1/images", j({"prompt": "x", "loras": [{"id": "bad-input-lora"}] * 2}), JSON, 422, "invalid_request"),
    ("LoRA id ../", "POST", "/api/v1/images", j({"prompt": "x", "loras": [{"id": "../weights"}]}), JSON, 422, "invalid_request"),
    ("LoRA as a number", "POST", "/api/v1/images", j({"prompt": "x", "loras": 5}), JSON, 422, "invalid_request"),
    ("LoRA as text with a bad scale", "POST", "/api/v1/images", j({"prompt": "x", "loras": "bad-input-lora:lots"}), JSON, 422, "invalid_request"),
    ("damaged LoRA adapter file", "POST", "/api/v1/images", j({"prompt": "x", "loras": [{"id": "bad-input-corrupt"}]}), JSON, 422, "invalid_request"),
    ("LoRA list for an unknown preset", "GET", "/api/v1/loras?preset=sd-99", None, {}, 422, "invalid_request"),
]


def request(base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """A raw HTTP request: the path goes out exactly as written (no client-side ../ clean-up)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        headers = dict(headers or {})
        if body is not None and "Content-Length" not in headers:
            headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body:
            conn.send(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(model_classes, tmp_path_factory):
    """The whole app under uvicorn, on the tiny models, with default API settings, and two
    adapters in the library: a good one, and one whose file was damaged after it was added."""
    from models.image import loras
    from models.random_weights.tiny_lora import add_demo_lora
    from ui.generation import LocalBackend
    from ui.store import ResultStore

    for adapter_id in ("bad-input-lora", "bad-input-corrupt"):
        if adapter_id not in {a.id for a in loras.list_adapters()}:
            add_demo_lora(adapter_id)
    loras.adapter_file("bad-input-corrupt").write_bytes(b"\0" * 64)

    with pytest.MonkeyPatch.context() as env:  # settings are read once, when the app is made
        for name in API_ENV_VARS:
            env.delenv(name, raising=False)
        store = ResultStore(tmp_path_factory.mktemp("bad-input-store"))
        app = create_app(LocalBackend(model_classes, {"image": "tiny", "music": "tiny", "video": "tiny-video"}), store)
    with serving(app) as base:
        yield base


def test_every_bad_input_gets_the_right_4xx_and_the_server_stays_healthy(server, artifacts):
    status, _, body = request(server, "POST", "/api/v1/images", j({"prompt": "a fox", "steps": 2}), JSON)
    assert status == 201, body
    rid = json.loads(body)["result"]["id"]

    rows, wrong = [], []
    for what, method, path, payload, headers, want_status, want_code in CASES:
        payload = payload.replace(RID.encode(), rid.encode()) if payload else payload
        status, response_headers, body = request(server, method, path.replace(RID, rid), payload, headers)
        try:
            error = json.loads(body)["error"]
            code, message = error["code"], error["message"]
        except (ValueError, KeyError, TypeError):
            code, message = None, body[:200].decode(errors="replace")
        rows.append(f"| {what} | {method} | {status} | {code} | {message[:110].replace('|', '/')} |")
        if (status, code) != (want_status, want_code) or "Traceback" in body.decode(errors="replace"):
            wrong.append((what, status, code, message))
        assert response_headers.get("content-type", "").startswith("application/json"), what

    (artifacts / "api-bad-inputs.md").write_text(
        "| input | method | status | code | message |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    assert wrong == []

    # Still healthy: health answers, and a good request still makes an image.
    status, _, body = request(server, "GET", "/api/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, _, body = request(server, "POST", "/api/v1/images", j({"prompt": "still here", "steps": 2}), JSON)
    assert status == 201, body
    lora = {"prompt": "still here", "steps": 2, "loras": [{"id": "bad-input-lora", "scale": 0.5}]}
    status, _, body = request(server, "POST", "/api/v1/images", j(lora), JSON)
    assert status == 201 and json.loads(body)["result"]["parameters"]["loras"] == lora["loras"], body


def test_a_valid_but_unusual_prompt_is_simply_made(server):
    for prompt in ["🦊 in the snow", "שועל", "a\u0000fox", "x" * 1000]:
        status, _, body = request(server, "POST", "/api/v1/images", j({"prompt": prompt, "steps": 2}), JSON)
        assert status == 201, (prompt, body)
