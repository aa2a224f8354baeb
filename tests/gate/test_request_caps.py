"""What a single request may be: bodies and uploads to the studio's API under the same cap as the
API's (an upload refused before a byte of it is written), the same request limit, and request
heads capped at 16 KB a header and 64 KB in all, in the app and in the server that parses them."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import FixedLatencyBackend, serving
from ui.gate.headers import MAX_HEAD_BYTES, MAX_HEADER_BYTES
from ui.gate.server import HEAD_LIMIT
from ui.settings import API_ENV_VARS
from ui.store import ResultStore
from ui.studio.page import MAX_UPLOAD
from ui.web import create_app


@pytest.fixture
def site(monkeypatch, tmp_path):
    """site(**env) → (url, uploads folder): the whole app on a real server, Gradio's files in a folder of its own."""
    uploads = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))

    def start(**env: str):
        for name in API_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return serving(create_app(FixedLatencyBackend(latency=0.0, steps=1), ResultStore(tmp_path / "store"))), uploads

    return start


def files_in(folder: Path) -> list[Path]:
    """What visitors' uploads wrote in Gradio's folder: not the pictures Gradio caches there itself
    when the page is built (the studio's own components' values, under names no upload here has)."""
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return [p for p in files if p.suffix == ".wav"]  # every upload here is a .wav


def upload(url: str, size: int, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/gradio_api/upload", files={"files": ("tune.wav", b"\0" * size, "audio/wav")},
                      timeout=120, **kwargs)


# --- bodies and uploads -----------------------------------------------------------------------------


def test_uploads_over_the_cap_are_refused_before_anything_is_written(site):
    server, uploads = site(ATELIER_API_MAX_BODY="2M", ATELIER_RATE_LIMIT="0")
    with server as url:
        refused = upload(url, 3 * 2**20)
        assert refused.status_code == 413 and refused.json()["error"]["code"] == "body_too_large"
        assert files_in(uploads) == []

        def chunked():  # no Content-Length: the length can't be judged before Gradio writes it
            yield b"--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.wav\"\r\n\r\n"
            yield b"\0" * 1000
            yield b"\r\n--x--\r\n"

        unmeasured = httpx.post(f"{url}/gradio_api/upload", content=chunked(),
                                headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert unmeasured.status_code == 411 and "Content-Length" in unmeasured.json()["error"]["message"]
        assert files_in(uploads) == []

        taken = upload(url, 100_000)
        assert taken.status_code == 200
        (path,) = taken.json()
        assert Path(path).parent.parent == uploads and files_in(uploads) == [Path(path)]


def test_one_file_may_be_no_larger_than_the_largest_any_request_takes(site):
    server, uploads = site(ATELIER_RATE_LIMIT="0")  # the body cap (13.4M) is over one file's (10 MB)
    with server as url:
        refused = upload(url, MAX_UPLOAD + 1000)
        assert refused.status_code == 413 and "maximum allowed size" in refused.text
        assert files_in(uploads) == []  # Gradio removes what it had begun to write


def test_a_call_s_json_body_has_the_api_s_cap(site):
    server, _ = site(ATELIER_RATE_LIMIT="0")
    with server as url:
        huge = httpx.post(f"{url}/gradio_api/call/generate_image", timeout=120,
                          content=b'{"data": ["' + b"x" * (30 * 2**20) + b'"]}',
                          headers={"Content-Type": "application/json"})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"


def test_the_studio_s_posts_count_against_the_request_limit(site):
    server, uploads = site(ATELIER_RATE_LIMIT="2")
    with server as url:
        assert [upload(url, 10).status_code for _ in range(2)] == [200, 200]
        limited = upload(url, 10)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert httpx.get(f"{url}/").status_code == 200  # pages are not counted


def test_a_locked_studio_takes_no_upload_from_a_stranger(site):
    server, uploads = site(ATELIER_STUDIO_TOKEN="let-me-in", ATELIER_RATE_LIMIT="0")
    with server as url:
        assert upload(url, 1000).status_code == 401
        assert upload(url, 1000, headers={"Authorization": "Bearer let-me-in"}).status_code == 200
        assert len(files_in(uploads)) == 1


# --- request heads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("GET", "/"), ("GET", "/api/health"), ("GET", "/gallery"),
                                         ("POST", "/gradio_api/upload"), ("POST", "/api/v1/images"),
                                         ("GET", "/results/AAAAAAAAAAAAAAAA/image-0.png")])
def test_heads_over_the_caps_get_431_on_every_route(site, method, path):
    server, _ = site()
    with server as url, httpx.Client(base_url=url, timeout=60) as client:
        one_big = client.request(method, path, headers={"X-Big": "a" * MAX_HEADER_BYTES})
        assert one_big.status_code == 431 and one_big.json()["error"]["code"] == "headers_too_large"
        assert "'x-big' header is too large" in one_big.json()["error"]["message"]
        many = {f"X-Part-{i}": "b" * (MAX_HEADER_BYTES - 100) for i in range(MAX_HEAD_BYTES // MAX_HEADER_BYTES + 1)}
        assert client.request(method, path, headers=many).status_code == 431
        fits = client.request(method, path, headers={"X-Fine": "c" * (MAX_HEADER_BYTES - 100)})
        assert fits.status_code != 431


def test_the_server_stops_reading_a_huge_head_and_keeps_serving(site):
    """150 MB headers held a gigabyte and the event loop for seconds: now the server closes the
    connection (with a 431) early, and goes on serving everyone else. (What it holds meanwhile is
    measured exactly below, on the protocol itself: the sockets' own buffers blur it here.)"""
    server, _ = site()
    with server as url:
        port = int(url.rsplit(":", 1)[1])
        sent, answer = 0, b""
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: atelier.test\r\nX-Flood: ")
            try:
                while sent < 150 * 2**20:
                    sock.sendall(b"a" * 65536)
                    sent += 65536
            except (BrokenPipeError, ConnectionResetError):
                pass
            sock.settimeout(10)
            try:
                answer = sock.recv(4096)
            except (ConnectionResetError, TimeoutError):
                pass
        assert sent < 150 * 2**20, "the server read a 150 MB head to its end"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:100]
        started = time.monotonic()
        assert httpx.get(f"{url}/api/health").status_code == 200
        assert time.monotonic() - started < 5


class FakeTransport:
    """TEST DOUBLE for an asyncio transport: keeps what the protocol writes, notes that it closed."""

    def __init__(self):
        self.written, self.closed = b"", False

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol) -> None:
        pass


def feed(reads: list[bytes]) -> tuple[int, FakeTransport, list[dict]]:
    """Feed a BoundedHttpTools connection these reads; (bytes it took before closing, transport, requests seen)."""
    import asyncio

    import uvicorn
    from uvicorn.server import ServerState

    from ui.gate.server import BoundedHttpTools

    seen: list[dict] = []

    async def app(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append({"path": scope["path"], "body": len(body)})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def run() -> tuple[int, FakeTransport]:
        config = uvicorn.Config(app, http=BoundedHttpTools, lifespan="off", log_level="warning")
        protocol = BoundedHttpTools(config=config, server_state=ServerState(), app_state={})
        transport = FakeTransport()
        protocol.connection_made(transport)
        taken = 0
        for data in reads:
            if transport.closed:
                break
            protocol.data_received(data)
            taken += len(data)
            await asyncio.sleep(0)  # let the app answer, as the loop would between reads
        await asyncio.sleep(0.05)
        return taken, transport

    taken, transport = asyncio.run(run())
    return taken, transport, seen


def test_an_unfinished_head_is_cut_off_past_the_limit_by_the_protocol_itself():
    chunk = 65536
    taken, transport, seen = feed([b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: "] + [b"a" * chunk] * 2400)  # 150 MB
    assert transport.closed and transport.written.startswith(b"HTTP/1.1 431")
    assert taken <= HEAD_LIMIT + 2 * chunk, taken
    assert seen == []


def test_heads_in_many_reads_and_bodies_in_the_same_reads_pass():
    body = b"z" * 300_000
    request = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nX-Some: %s\r\n\r\n" % (len(body), b"h" * 40_000)
    stream = request + body + request + body  # two requests, kept alive
    reads = [stream[i:i + 262_144] for i in range(0, len(stream), 262_144)]  # each read holds head and body
    small = [request[i:i + 7] for i in range(0, len(request), 7)] + [body]  # a head dribbled in 7-byte reads
    for attempt in (reads, small):
        _, transport, seen = feed(attempt)
        assert not transport.written.startswith(b"HTTP/1.1 431") and not transport.closed
        assert seen and all(s == {"path": "/upload", "body": len(body)} for s in seen)


def test_large_bodies_on_a_kept_alive_connection_are_not_mistaken_for_heads(site):
    server, _ = site(ATELIER_RATE_LIMIT="0")
    with server as url, httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(4):  # one connection: each request's head and its 3 MB body arrive in the same reads
            answer = client.post("/api/v1/images", json={"prompt": "x" * (3 * 2**20)})
            assert answer.status_code == 422  # read whole, judged by the schema: too long a prompt
