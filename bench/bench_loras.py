"""LoRA adapter switching: what applying adapters per request costs, on the tiny preset and on
a real-size twin, side by side in one run.

    .venv/bin/python bench/bench_loras.py                                  # tiny and sd-turbo-twin
    .venv/bin/python bench/bench_loras.py --presets tiny --repeats 5

Each preset's model is loaded once, as a serving container does (the app's ImageModel class run
locally), with two random adapters of `--rank` for its family built offline (models/random_weights/tiny_lora.py;
the twin's are the size a rank-r SD 2.1 LoRA on the attention projections is). Then, medians of
`--repeats`:

- the adapter operations on the loaded pipeline: load from disk into it (`load_lora_weights`),
  apply (enable + `set_adapters`), unload (`disable_lora`), delete (`delete_adapters`);
- whole requests through the model (models/image/lora_cache.py does the above per batch): the base
  model with no adapter ever loaded, one adapter (already loaded), two at once, one adapter not
  yet loaded (a switch: load included), and the base again with adapters loaded but off.

Writes a markdown table to bench/results/loras-<device>.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ATELIER_HOME", tempfile.mkdtemp(prefix="atelier-bench-"))

import torch  # noqa: E402
from machine import RESULTS, device_kind, device_name, write_table  # noqa: E402  (bench/machine.py)

from app import ImageModel  # noqa: E402
from models.image import loras  # noqa: E402
from models.presets import IMAGE_PRESETS  # noqa: E402
from models.random_weights.tiny_lora import build_random_lora  # noqa: E402
from models.requests import ImageRequest  # noqa: E402


def timed(action) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    action()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def median_of(repeats: int, action, before=lambda: None) -> float:
    times = []
    for _ in range(repeats):
        before()
        times.append(timed(action))
    return statistics.median(times)


def bench_preset(preset: str, rank: int, repeats: int, size: int | None, steps: int | None) -> dict[str, float]:
    spec = IMAGE_PRESETS[preset]
    ids = [f"bench-{preset}-{i}" for i in range(3)]
    with tempfile.TemporaryDirectory() as tmp:
        for i, adapter_id in enumerate(ids):
            if adapter_id not in {a.id for a in loras.list_adapters()}:
                loras.add(str(build_random_lora(spec.family, Path(tmp) / f"{adapter_id}.safetensors", rank=rank, seed=i)),
                          spec.family, adapter_id)
    model = ImageModel(preset=preset)
    fields = dict(prompt="a lighthouse", seed=1, preset=preset, width=size, height=size, steps=steps)

    def request(*choices: str) -> None:
        job = ImageRequest(**fields, loras=[{"id": c, "scale": 0.8} for c in choices]).resolve(preset)
        list(model.generate.local(job))

    seconds: dict[str, float] = {}
    seconds["first request (loads the model)"] = timed(request)  # and builds a twin's weights the first time
    request()
    seconds["request: base, no adapter ever loaded"] = median_of(repeats, request)

    instance = model  # the Modal class handle, run locally, passes attributes through to the instance
    pipe, path = instance.pipe, loras.adapter_file(ids[2])

    def delete_probe() -> None:
        if "probe" in {n for names in pipe.get_list_adapters().values() for n in names}:
            pipe.delete_adapters("probe")

    def load_probe() -> None:
        pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name="probe")

    seconds["load adapter from disk"] = median_of(repeats, load_probe, before=delete_probe)
    seconds["apply (enable + set_adapters)"] = median_of(
        repeats, lambda: (pipe.enable_lora(), pipe.set_adapters(["probe"], adapter_weights=[0.8])))
    seconds["unload (disable_lora)"] = median_of(repeats, pipe.disable_lora)
    seconds["delete adapter"] = median_of(repeats, lambda: pipe.delete_adapters("probe"),
                                          before=lambda: (delete_probe(), load_probe()))

    request(ids[0])
    seconds["request: 1 adapter, loaded"] = median_of(repeats, lambda: request(ids[0]))
    request(ids[1])
    seconds["request: 2 adapters, loaded"] = median_of(repeats, lambda: request(ids[0], ids[1]))
    seconds["request: 1 adapter, not loaded (switch)"] = median_of(
        repeats, lambda: request(ids[2]), before=lambda: instance.loras._delete(ids[2]))
    seconds["request: base, adapters loaded but off"] = median_of(repeats, request)
    seconds["adapter file MB"] = path.stat().st_size / 2**20
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "sd-turbo-twin"])
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="image side for the real-size presets (tiny: 64)")
    parser.add_argument("--steps", type=int, default=1)
    args = parser.parse_args()

    columns = {}
    for preset in args.presets:
        size = None if preset == "tiny" else args.size
        columns[preset] = bench_preset(preset, args.rank, args.repeats, size, args.steps)
        print(preset, columns[preset], flush=True)

    rows = list(next(iter(columns.values())))
    lines = [
        f"# LoRA adapter switching: rank {args.rank}, {args.steps} step(s), {args.size}² (tiny: 64²), "
        f"median of {args.repeats}",
        "",
        f"Device: {device_name()}; torch {torch.__version__}; {time.strftime('%Y-%m-%d')}. "
        "`bench/bench_loras.py`, every column in one run. Seconds, except the file size.",
        "",
        "| | " + " | ".join(columns) + " | " + " | ".join(f"÷ base request ({p})" for p in columns) + " |",
        "|---|" + "---|" * (2 * len(columns)),
    ]
    for row in rows:
        values = [columns[p][row] for p in columns]
        ratios = ["" if row in ("adapter file MB", "first request (loads the model)") else
                  f"{columns[p][row] / columns[p]['request: base, no adapter ever loaded']:.2f}" for p in columns]
        lines.append(f"| {row} | " + " | ".join(f"{v:.4f}" if v < 10 else f"{v:.1f}" for v in values)
                     + " | " + " | ".join(ratios) + " |")
    write_table("\n".join(lines) + "\n", RESULTS / f"loras-{device_kind()}.md")


if __name__ == "__main__":
    main()
