"""Batching across visitors: N simultaneous visitors on one model instance, batched vs one at a time.

    .venv/bin/python bench/bench_batching.py                      # tiny preset, 1/4/8/16 visitors
    .venv/bin/python bench/bench_batching.py --preset sd-turbo-twin --visitors 1 4   # a real-size twin

Each row sends N compatible image requests at once through the local backend (the path the
studio and the API take locally; on Modal a GPU container's concurrent inputs reach the same
batcher), plus a mixed row where the visitors ask for different sizes, so only some can share
a call; each row `--rounds` times. "one at a time" is the same preset with max_batch=1, and
"25 ms window" the batcher with its first rule (a batch's first request always waited 25 ms
for company, where now it waits at most a tenth of the last call: models/common/batching.py
WINDOW_SHARE), all in the same process, so every figure is a ratio measured in one run. It
prints a markdown table and writes it to bench/results/batching-<preset>-<device>.md.

A CPU computes a batch about as fast as the same images one after another: there the table
shows the mechanism and what it costs. The gain is on a GPU, where a few-step model's call
is mostly fixed overhead and a batch of 8 costs little more than one.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ATELIER_HOME", tempfile.mkdtemp(prefix="atelier-bench-"))

import torch  # noqa: E402
from machine import RESULTS, device_kind, device_name, write_table  # noqa: E402  (bench/machine.py)

from app import ImageModel, MusicModel  # noqa: E402
from models import presets  # noqa: E402
from models.common import batching
from models.requests import ImageRequest  # noqa: E402
from ui.generation import LocalBackend  # noqa: E402


def requests(visitors: int, mixed: bool, size: int) -> list[ImageRequest]:
    sizes = [size, size + 64] if mixed else [size]
    return [ImageRequest(prompt=f"visitor {i}", seed=i, width=sizes[i % len(sizes)], height=size) for i in range(visitors)]


async def run_load(backend: LocalBackend, load: list[ImageRequest], preset: str) -> tuple[float, list[float], list[int]]:
    """(wall seconds, each visitor's latency, each visitor's batch size)."""

    async def one(request: ImageRequest) -> tuple[float, int]:
        started = time.perf_counter()
        async for event in backend.generate(request.model_copy(update={"preset": preset}).resolve(preset)):
            if event["type"] == "result":
                return time.perf_counter() - started, event["record"]["batch"]["requests"]
        raise RuntimeError("no result")

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(r) for r in load))
    return time.perf_counter() - started, [o[0] for o in outcomes], [o[1] for o in outcomes]


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def backend_for(preset: str, max_batch: int, window_share: float | None = None) -> LocalBackend:
    spec, share = presets.IMAGE_PRESETS[preset], batching.WINDOW_SHARE
    presets.IMAGE_PRESETS[preset] = dataclasses.replace(spec, max_batch=max_batch)  # read when the model loads
    batching.WINDOW_SHARE = share if window_share is None else window_share  # read when its batcher is made
    backend = LocalBackend({"image": ImageModel, "music": MusicModel}, {"image": preset, "music": "tiny"})
    asyncio.run(run_load(backend, requests(1, False, spec.size), preset))  # load it and warm it up
    presets.IMAGE_PRESETS[preset], batching.WINDOW_SHARE = spec, share
    return backend


def rounds_of(backend: LocalBackend, load: list[ImageRequest], preset: str, rounds: int) -> tuple[float, list, list]:
    """The load `rounds` times: (total wall seconds, every latency, every batch size)."""
    wall, latencies, sizes = 0.0, [], []
    for _ in range(rounds):
        w, lat, size = asyncio.run(run_load(backend, load, preset))
        wall, latencies, sizes = wall + w, latencies + lat, sizes + size
    return wall, latencies, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--visitors", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--rounds", type=int, default=5, help="times each row's load is sent (default 5)")
    args = parser.parse_args()
    spec = presets.IMAGE_PRESETS[args.preset]
    batched, alone = backend_for(args.preset, spec.max_batch), backend_for(args.preset, 1)
    fixed = backend_for(args.preset, spec.max_batch, window_share=float("inf"))  # always the whole 25 ms

    lines = [
        f"# Batching: {args.preset}, {spec.size}², {spec.steps} steps, max_batch {spec.max_batch}",
        "",
        f"Device: {device_name()}; torch {torch.__version__}; {time.strftime('%Y-%m-%d')}. "
        f"`bench/bench_batching.py --rounds {args.rounds}`, all columns in one run, each row's load sent "
        f"{args.rounds} times in turn to each way.",
        "",
        "| visitors | load | images/s batched | images/s one at a time | images/s 25 ms window | throughput × "
        "| p50 s batched | p50 s alone | p50 s 25 ms window | p95 s batched | p95 s alone | p95 s 25 ms window "
        "| p95 batched ÷ lone request | batch sizes seen |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lone_p50 = None
    for visitors in args.visitors:
        for mixed in (False, True) if visitors >= 4 else (False,):
            load = requests(visitors, mixed, spec.size)
            wall_b, lat_b, sizes = rounds_of(batched, load, args.preset, args.rounds)
            wall_a, lat_a, _ = rounds_of(alone, load, args.preset, args.rounds)
            wall_f, lat_f, _ = rounds_of(fixed, load, args.preset, args.rounds)
            if visitors == 1:
                lone_p50 = statistics.median(lat_a)
            served = visitors * args.rounds
            lines.append(
                f"| {visitors} | {'mixed sizes' if mixed else 'compatible'} | {served / wall_b:.2f} | "
                f"{served / wall_a:.2f} | {served / wall_f:.2f} | {wall_a / wall_b:.2f} | {statistics.median(lat_b):.3f} | "
                f"{statistics.median(lat_a):.3f} | {statistics.median(lat_f):.3f} | {p95(lat_b):.3f} | {p95(lat_a):.3f} | "
                f"{p95(lat_f):.3f} | {p95(lat_b) / lone_p50:.2f} | {sorted(set(sizes))} |"
            )
            print(lines[-1], flush=True)
    write_table("\n".join(lines) + "\n", RESULTS / f"batching-{args.preset}-{device_kind()}.md")


if __name__ == "__main__":
    main()
