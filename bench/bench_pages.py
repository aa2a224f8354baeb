"""How the share pages' latency grows with the store: 10 results vs 10,000, side by side.

    .venv/bin/python bench/bench_pages.py [--big 10000] [--requests 200]

Each store is filled through ResultStore.save with stand-in results (the record shape the
models write, tiny media; see tests/test_pages_support.py), half of them published, images
and music alternating. Requests go through the whole app in-process (FastAPI + pages +
the studio at "/"), so the numbers are server time without a network: median and 95th
percentile per route, and how much slower the big store is (ratio of medians).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def fill(store, n: int) -> list[str]:
    from tests.support.pages import stand_in_result

    events = [stand_in_result("image", prompt="a lighthouse at dusk"), stand_in_result("music", prompt="slow piano")]
    ids = []
    for i in range(n):
        saved = store.save(events[i % 2])
        if i % 4 < 2:  # half published: the gallery skips the rest as it pages
            store.set_published(saved.record["id"], saved.owner_token, True)
        ids.append(saved.record["id"])
    return ids


def measure(client, paths: list[str], requests: int, headers: dict | None = None) -> tuple[float, float]:
    """(median, p95) in milliseconds over `requests` GETs, cycling through `paths`."""
    for path in paths[:3]:
        assert client.get(path, headers=headers).status_code == 200, path  # warm, and check
    times = []
    for i in range(requests):
        start = time.perf_counter()
        r = client.get(paths[i % len(paths)], headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def bench(n: int, requests: int) -> dict[str, tuple[float, float]]:
    from fastapi.testclient import TestClient

    from app import ImageModel, MusicModel
    from tests.support.pages import with_studio_at_root
    from ui.generation import LocalBackend
    from ui.store import ResultStore
    from ui.web import create_app

    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(Path(folder), max_results=max(n, 10_000))
        started = time.perf_counter()
        ids = fill(store, n)
        print(f"  {n:,} results saved in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        backend = LocalBackend({"image": ImageModel, "music": MusicModel}, {"image": "tiny", "music": "tiny"})
        client = TestClient(with_studio_at_root(create_app(backend, store)))
        rng = random.Random(0)
        some = [rng.choice(ids) for _ in range(50)]
        published = [r["id"] for r in store.list(limit=n)]
        middle = published[len(published) // 2]
        return {
            "permalink /r/{id}": measure(client, [f"/r/{i}" for i in some], requests),
            "gallery, first page": measure(client, ["/gallery"], requests),
            "gallery ?kind=music": measure(client, ["/gallery?kind=music"], requests),
            "gallery, mid-store page": measure(client, [f"/gallery?before={middle}"], requests),
            "more cards (htmx)": measure(client, [f"/gallery?before={middle}"], requests, {"HX-Request": "true"}),
            "cover.png (cached)": measure(client, [f"/r/{some[0]}/cover.png"], requests),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    small, big = bench(args.small, args.requests), bench(args.big, args.requests)

    head = f"{'route':<26} {f'{args.small:,} results':>18} {f'{args.big:,} results':>18} {'ratio':>7}"
    print(head)
    print(f"{'':<26} {'median / p95 ms':>18} {'median / p95 ms':>18} {'':>7}")
    print("-" * len(head))
    for route in small:
        (m1, p1), (m2, p2) = small[route], big[route]
        print(f"{route:<26} {f'{m1:.2f} / {p1:.2f}':>18} {f'{m2:.2f} / {p2:.2f}':>18} {m2 / m1:>6.2f}×")


if __name__ == "__main__":
    main()
