"""MusicGen's decoding speed on this machine: ways of making one clip, in alternating rounds in one process.

    .venv/bin/python bench/bench_music_speed.py --seconds 10 --rounds 2 --ways plain,atelier,none
    .venv/bin/python bench/bench_music_speed.py --seconds 2 --profile    # where one clip's time goes

bench_models.py gives each way a process of its own (cold start, load, peak RSS); on a machine
shared with other jobs its ways run minutes apart, under different loads, so a 10% switch is lost
in the noise. Here every way is loaded once, then the ways take turns: round 1 runs each way once,
round 2 again, and so on, so each way meets the same load; the table gives each way's min and median
and its ratio to the plain call, round by round.

- `plain`: MusicgenForConditionalGeneration.generate in float32, as Modal's example calls it, in a
  worker thread (model_ways.in_worker_thread: in the main thread, on this 2-core CPU, OpenMP stalls).
- `atelier`: the app's MusicModel through `.local()` with the preset's SpeedOptions.
- `atelier[variant]` (any of model_ways.VARIANTS, e.g. static-cache): the same with other options.

`--profile` runs Atelier's way once more under torch.profiler and splits the clip's time into the
decoder's matrix products and attention (the compute a token must do) and everything else (norms,
activations, copies, sampling, Python: per-token overhead), and EnCodec's decode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_models import device_line  # noqa: E402  (bench/bench_models.py)
from machine import RESULTS, write_table  # noqa: E402  (bench/machine.py)
from model_ways import VARIANTS, atelier_music, in_worker_thread, plain_music  # noqa: E402

from models.presets import PRESETS  # noqa: E402

# The decoder's own products: what a token costs however little overhead surrounds it.
COMPUTE_OPS = ("quantized::linear_dynamic", "aten::mm", "aten::addmm", "aten::bmm",
               "aten::_scaled_dot_product_flash_attention_for_cpu")


def way_call(way: str, preset: str, seconds: float):
    """A call that makes one clip the way `way` says (loaded here, outside the rounds)."""
    if way == "plain":
        from models.common.weights import ensure_weights

        spec = PRESETS["music"][preset]
        _, call = plain_music(ensure_weights(spec.weights), spec, None, seconds, cuda=False)
        return in_worker_thread(call)
    name = preset
    if way != "atelier":  # a variant: the preset under another name, with other options
        variant = way[len("atelier[") : way.index("]")]
        spec = PRESETS["music"][preset]
        name = f"{preset}-{variant}"
        PRESETS["music"][name] = replace(spec, name=name, speed=VARIANTS[variant](spec.speed))
    _, call = atelier_music(name, None, seconds)
    call()  # the load, and a first clip: nothing below waits for either
    return call


def rounds(ways: dict, count: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {way: [] for way in ways}
    for n in range(count):
        for way, call in ways.items():
            started = time.perf_counter()
            call()
            times[way].append(time.perf_counter() - started)
            print(f"round {n + 1} {way}: {times[way][-1]:.1f} s (load {os.getloadavg()[0]:.1f})", file=sys.stderr,
                  flush=True)
    return times


def profile_split(preset: str, seconds: float) -> dict:
    """One clip of the preset's own way under torch.profiler: seconds of compute, of the rest, of EnCodec."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from models.music.engines.transformers_musicgen import TransformersEngine

    spec = PRESETS["music"][preset]
    engine = TransformersEngine(spec)
    engine.load()
    engine.to_device("cpu")
    processor_inputs = engine.processor(text=["lofi hip hop beat"], padding=True, return_tensors="pt")
    tokens = round(seconds * engine.frame_rate) + engine.model.decoder.num_codebooks - 1

    def clip() -> dict:
        torch.manual_seed(1)
        with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
            started = time.perf_counter()
            engine.model.generate(**processor_inputs, do_sample=True, guidance_scale=3.0, max_new_tokens=tokens)
            wall = time.perf_counter() - started
        # EnCodec's decode of the clip's codes on its own (generate() ends with it): random codes of the same shape.
        codes = torch.randint(0, engine.model.config.audio_encoder.codebook_size, (1, 1, engine.model.decoder.num_codebooks, round(seconds * engine.frame_rate)))
        with torch.inference_mode():
            started = time.perf_counter()
            engine.model.audio_encoder.decode(codes, [None])
            encodec = time.perf_counter() - started
        ops = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
        return {"tokens": tokens, "wall_s": wall, "encodec_s": encodec, "profiled_cpu_s": sum(ops.values()),
                "compute_s": sum(ops.get(op, 0.0) for op in COMPUTE_OPS),
                "top": sorted(ops.items(), key=lambda kv: -kv[1])[:10]}

    return in_worker_thread(clip)()


def render(args, times: dict[str, list[float]], split: dict | None) -> str:
    plain = times.get("plain")
    lines = [
        f"# bench_music_speed: {time.strftime('%Y-%m-%d %H:%M')}", "",
        f"Device: {device_line()}", "",
        f"Command: `bench/bench_music_speed.py {' '.join(sys.argv[1:])}`. Preset {args.preset}, a {args.seconds:g} s clip, "
        f"{args.rounds} rounds; in each round every way makes one clip, in the order below, so each way meets "
        f"the same load. Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.", "",
        "| way | min s | median s | s per audio s (min) | vs plain, per round (median) | speed options |",
        "|---|---|---|---|---|---|",
    ]
    for way, seen in times.items():
        ratios = [t / p for t, p in zip(seen, plain)] if plain and way != "plain" else []
        ratio = f"{statistics.median(ratios):.2f}× ({', '.join(f'{r:.2f}' for r in ratios)})" if ratios else ""
        options = "library defaults" if way == "plain" else _options(args.preset, way)
        lines.append(f"| {way} | {min(seen):.1f} | {statistics.median(seen):.1f} | {min(seen) / args.seconds:.2f} | "
                     f"{ratio} | {options} |")
    if split:
        lines += ["", f"Profile of one {args.seconds:g} s clip ({split['tokens']} tokens), Atelier's options, "
                  f"in a worker thread, under the profiler: {split['wall_s']:.1f} s wall ({split['wall_s'] / split['tokens'] * 1000:.0f} ms "
                  f"per token, EnCodec's decode included); profiled CPU time {split['profiled_cpu_s']:.1f} s, of which the "
                  f"decoder's matrix products and attention ({', '.join(COMPUTE_OPS)}) {split['compute_s']:.1f} s. "
                  f"EnCodec's decode of a clip this long, timed alone: {split['encodec_s']:.1f} s.", "",
                  "| op | self CPU s |", "|---|---|"]
        lines += [f"| {name} | {seconds:.2f} |" for name, seconds in split["top"]]
    return "\n".join(lines + [""])


def _options(preset: str, way: str) -> str:
    name = preset if way == "atelier" else f"{preset}-{way[len('atelier[') : way.index(']')]}"
    from models.common.speed import applied

    return ", ".join(f"{k}={v}" for k, v in applied(PRESETS["music"][name].speed).items()) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="musicgen-small-twin")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ways", default="plain,atelier",
                        help=f"plain, atelier, and any of: {', '.join(VARIANTS)}")
    parser.add_argument("--profile", action="store_true", help="also split one clip's time (see above)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    names = [w if w in ("plain", "atelier") else f"atelier[{w}]" for w in args.ways.split(",") if w]
    ways = {}
    for way in names:
        print(f"loading {way}...", file=sys.stderr, flush=True)
        ways[way] = way_call(way, args.preset, args.seconds)
    times = rounds(ways, args.rounds) if ways else {}
    split = profile_split(args.preset, args.seconds) if args.profile else None
    out = args.out or RESULTS / f"music-speed-{time.strftime('%Y-%m-%d')}-cpu.md"
    write_table(render(args, times, split), out)


if __name__ == "__main__":
    main()
