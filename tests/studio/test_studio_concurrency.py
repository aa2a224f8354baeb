"""N visitors at once reach the backend at once: the web side only awaits.

The backend is FixedLatencyBackend, a test double standing in for N remote GPUs (every job
sleeps the same time), so what is measured is the studio itself: Gradio's queue settings
and our handlers. Timing is asserted as a ratio to one request's own time through the same
stack, never as wall-clock seconds.
"""

from __future__ import annotations

import time

from gradio_client import Client

from tests.support.servers import FixedLatencyBackend, serving
from ui.store import ResultStore
from ui.web import create_app

VISITORS = 20
LATENCY = 5.0  # seconds per job in the test double: long beside 20 clients' own overhead on 2 busy cores


def test_twenty_visitors_finish_in_about_the_time_of_one(tmp_path, monkeypatch):
    # Twenty visitors, not one visitor twenty times: each has an address of its own, as behind a
    # proxy, or the gate's limit per visitor (10 a minute) would refuse the eleventh.
    monkeypatch.setenv("ATELIER_CLIENT_IP_HEADER", "X-Forwarded-For")
    backend = FixedLatencyBackend(latency=LATENCY, steps=4)
    with serving(create_app(backend, ResultStore(tmp_path / "store"))) as url:
        clients = [
            Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / f"c{i}"),
                   headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
            for i in range(VISITORS)
        ]
        try:
            started = time.monotonic()
            clients[0].predict("one visitor alone", api_name="/generate_image")
            single = time.monotonic() - started

            started = time.monotonic()
            jobs = [
                c.submit(f"visitor {i}", api_name="/generate_image" if i % 2 else "/generate_music")
                for i, c in enumerate(clients)
            ]
            seeds = [job.result(timeout=60)[1] for job in jobs]
            together = time.monotonic() - started
        finally:
            for c in clients:
                c.close()

    assert len(seeds) == VISITORS and all(isinstance(s, int) for s in seeds)
    assert backend.peak == VISITORS  # every request was with the backend at the same moment
    # One after another would take VISITORS times as long; all at once, about one request's time.
    assert together / single < 2.0, f"{VISITORS} visitors took {together:.1f} s, one took {single:.1f} s"
