"""Model speed on this machine: Atelier's path against the plain library call, side by side.

    .venv/bin/python bench/bench_models.py                       # tiny, sd-turbo-twin, musicgen-small-twin
    .venv/bin/python bench/bench_models.py --presets sd-turbo-twin --steps 1 --variants none,fast-decoder,bf16
    .venv/bin/python bench/bench_models.py --presets musicgen-small-twin --long   # adds a 60 s clip
    .venv/bin/python bench/bench_models.py --presets musicgen-small-twin --variants none --plain thread
    .venv/bin/python bench/bench_models.py --presets ltx-video-twin --size 320x192 --frames 25 --text-encoder small

For each preset, each way runs in its own process (so load time and peak RSS are its own):

- `atelier`: the app's model class through `.local()`, as the local backend runs it, with the
  preset's SpeedOptions; `atelier[variant]` runs it with other SpeedOptions (see VARIANTS).
- `plain`: what Modal's examples do: `DiffusionPipeline.from_pretrained(folder)(prompt)` /
  `MusicgenForConditionalGeneration.generate`, float32 on a CPU, the preset's half precision on CUDA.
- `plain[thread]`: the same plain call in a new thread each time (where Atelier ran its calls
  until it kept one model thread per instance: see models/common/progress.py `ModelThread`).
  A video's plain call is the pipeline's with the same clip's settings (size, frames, rate, steps,
  guidance, LTX's decode timestep and noise), frames as PIL images, no file written; Atelier's
  includes its MP4 encode and poster.

It measures cold start (process start to first result), load time (weights from disk, page
cache as it is), the first call, warm p50/p95
latency (images at the preset's size and steps unless --steps; music as seconds of compute per
second of audio), peak RSS and, on CUDA, peak GPU memory; and writes a markdown table to
bench/results/ naming the device. Speed-ups are ratios of two ways measured in the same run.
Weights are built first (ATELIER_HOME, default ~/.cache/atelier), outside the timings.

`--text-encoder small` (video twins): both ways load the twin with a one-layer T5 of T5-XXL's
width in place of T5-XXL (19 GB in float32, more than a small machine has), so what is measured
is what follows the prompt's encoding, the transformer and VAE at their real size, the same text
encoder for both ways (models/random_weights/video_twins.py).

With `--control canny` (image presets; any mode the preset's guides have) the ways are the
preset without a control (`atelier`), with one control made from a new picture each call by the
mode's annotator (`atelier+control`), and diffusers' own ControlNet pipeline called as its docs do,
with the same ControlNet and the annotator's picture made in the call (`plain+control`): the table
gives the control against the plain ControlNet call, and what a control adds over none.

    .venv/bin/python bench/bench_models.py --presets sd-turbo-twin --control canny --steps 1

On a GPU machine (bench/gpu.sh runs what the README's GPU table came from):

    python3 bench/bench_models.py --presets sdxl-turbo-twin --build-on-gpu --variants fuse-qkv,compile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import RESULTS, cpu_name, write_table  # noqa: E402  (bench/machine.py)
from model_ways import CACHED, SMALL_TEXT, VARIANTS, applies, child, kinds_of, with_small_text_encoder  # noqa: E402

from models.presets import PRESETS  # noqa: E402

# --- the run: children side by side, one table ----------------------------------------------


def device_line() -> str:
    import torch

    cpu = cpu_name()
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    native = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return (f"{cpu}, {os.cpu_count()} cores ({', '.join(native) or 'no native bf16'}){gpu}; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; Python {platform.python_version()}")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_child(kind, preset, way, args, seconds) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, preset, way, "--repeats", str(args.repeats),
           "--seconds", str(seconds), "--t0", repr(time.time())] + (["--steps", str(args.steps)] if args.steps else []) \
        + (["--control", args.control] if args.control else []) \
        + ["--size", args.size, "--frames", str(args.frames), "--text-encoder", args.text_encoder]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:g} s"}
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "PRESET", "WAY"), help=argparse.SUPPRESS)
    parser.add_argument("--presets", default="tiny,sd-turbo-twin,musicgen-small-twin")
    parser.add_argument("--steps", type=int, help="image steps (default: the preset's)")
    parser.add_argument("--seconds", type=float, default=10.0, help="music clip length (default 10)")
    parser.add_argument("--long", action="store_true", help="also a 60 s music clip (Atelier's windows only)")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls after the first (default 3)")
    parser.add_argument("--variants", default="", help=f"also run Atelier with: {', '.join(VARIANTS)}")
    parser.add_argument("--plain", choices=["both", "thread", "none"], default="both",
                        help="which plain ways to run: plain and plain[thread] (default), plain[thread] only, none")
    parser.add_argument("--timeout", type=float, help="give up on one way after this many seconds")
    parser.add_argument("--build-on-gpu", action="store_true",
                        help="draw twins' random weights on the GPU, saved in the preset's GPU dtype (models/random_weights/twins.py)")
    parser.add_argument("--json", type=Path, help="also write every measurement as JSON here")
    parser.add_argument("--from-json", type=Path, help="only write the table of a run's --json file")
    parser.add_argument("--t0", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, metavar=("KIND", "PRESET"), help=argparse.SUPPRESS)
    parser.add_argument("--control", help="image presets: with and without a control of this mode, and the plain "
                        "ControlNet pipeline (see above)")
    parser.add_argument("--size", default="320x192", help="video clip width x height (default 320x192)")
    parser.add_argument("--frames", type=int, default=25, help="video clip frames (default 25)")
    parser.add_argument("--text-encoder", choices=["real", "small"], default="real",
                        help="video twins: small = both ways with a one-layer T5 in T5-XXL's place (see above)")
    parser.add_argument("--out", type=Path, help="markdown file (default bench/results/models-<date>.md)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    clip = (*(int(n) for n in args.size.split("x")), args.frames)
    if args.text_encoder == "small":
        for preset in SMALL_TEXT:
            with_small_text_encoder("video", preset)
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.seconds, args.repeats, args.t0, args.control, clip)))
        return
    if args.build:  # in its own process too: a GPU build's memory is gone before anything is timed
        from models.common.weights import ensure_weights
        from models.presets import all_weights, get_preset

        for weights in all_weights(get_preset(*args.build)):
            ensure_weights(weights)
        return
    if args.from_json:  # a run's measurements, e.g. fetched from a GPU machine, as its table
        write_table(render(json.loads(args.from_json.read_text())), args.out or default_out())
        return
    run = {"device": device_line(), "command": f"bench/bench_models.py {' '.join(sys.argv[1:])}",
           "date": time.strftime("%Y-%m-%d %H:%M"), "repeats": args.repeats, "steps": args.steps,
           "clip": list(clip), "rows": []}
    for preset in args.presets.split(","):
        for kind in kinds_of(preset):
            if built(kind, preset, args, run):
                lengths = [args.seconds] + ([60.0] if args.long and kind == "music" else [])
                for seconds in lengths:
                    measure(kind, preset, seconds, args, run)
    write_table(render(run), args.out or default_out())


def built(kind: str, preset: str, args: argparse.Namespace, run: dict) -> bool:
    """Build (or find) the preset's weights in a process of their own; a failed build is a row."""
    if args.build_on_gpu:  # the build process inherits it
        spec = PRESETS[kind][preset]
        os.environ["ATELIER_TWIN_BUILD"] = f"cuda:{getattr(spec, 'gpu_dtype', 'float16')}"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--build", kind, preset, "--text-encoder", args.text_encoder],
                          cwd=ROOT)
    print(f"{kind} {preset}: weights ready in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    if done.returncode != 0:
        run["rows"].append((kind, preset, args.seconds, {"build": {"error": f"exit {done.returncode}"}}))
    return done.returncode == 0


def ways_for(kind: str, preset: str, seconds: float, args: argparse.Namespace) -> list[str]:
    """Atelier, each variant that applies (compiling ones twice: empty cache, then warm), the plain calls."""
    ways = ["atelier"]
    for v in (v for v in args.variants.split(",") if v):
        if applies(VARIANTS[v], kind, preset):
            ways += [f"atelier[{v}]"] + ([f"atelier[{v}]{CACHED}"] if "compile" in v else [])
    if args.control and kind == "image":  # against the plain ControlNet call, instead of the plain one
        return ways + ["atelier+control", "plain+control"]
    if args.plain != "none" and seconds <= 30:  # one generate() call makes at most 30 s
        # The same plain call in a new thread each time: what the thread a call runs
        # on costs, told apart from anything Atelier does. On this 2-core CPU MusicGen's
        # many small per-token ops ran ~8× slower in the main thread than in a worker
        # thread (so slow for the musicgen-small twin that `--plain thread` skips it).
        ways += (["plain"] if args.plain == "both" else []) + ["plain[thread]"]
    return ways


def measure(kind: str, preset: str, seconds: float, args: argparse.Namespace, run: dict) -> None:
    """Every way of one row, each in a process of its own; the JSON rewritten after each way."""
    results: dict = {}
    run["rows"].append((kind, preset, seconds, results))
    for way in ways_for(kind, preset, seconds, args):
        if "compile" in way and not way.endswith(CACHED):  # an empty cache for the cold run
            os.environ["ATELIER_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="atelier-compile-")
        print(f"{kind} {preset} {way} {seconds if kind == 'music' else ''}...", file=sys.stderr, flush=True)
        results[way] = run_child(kind, preset, way, args, seconds)
        print(f"  {results[way]}", file=sys.stderr, flush=True)
        if args.json:  # after every way, so a run cut short keeps what it measured
            args.json.write_text(json.dumps(run, indent=1))


def default_out() -> Path:
    return RESULTS / f"models-{time.strftime('%Y-%m-%d')}.md"


def render(run: dict) -> str:
    lines = [
        f"# bench_models: {run['date']}",
        "",
        f"Device: {run['device']}",
        "",
        f"Command: `{run['command']}`. Each way in its own process; "
        f"warm = {run['repeats']} calls after the first. Twins have random weights (noise output). "
        "Cold start: from spawning the way's process to its first result (imports, load, first call; "
        "a twin's one-off build excluded). Model p50: Atelier's own timing of the model call inside a warm request "
        "(without its batching window, PNG encoding and event stream). `… cache warm`: the compiling way again, in a new process, "
        "with the compile cache the row above filled. "
        "Load avg: the machine's 1-minute load average as each way finished (other processes share the cores).",
        "",
        "| kind | preset | way | what | cold start s | load s | first call s | warm p50 s | warm p95 s | model p50 s | "
        "s per audio s | peak RSS GiB | peak GPU GiB | p50 vs plain | speed options in effect | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, preset, seconds, results in run["rows"]:
        spec = PRESETS[kind][preset]
        steps = f"{run['steps'] or getattr(spec, 'steps', '')} step(s)"
        what = {"image": lambda: f"{spec.size}², {steps}", "music": lambda: f"{seconds:g} s clip",
                "video": lambda: "{}×{}, {} frames, ".format(*run.get("clip", ("?",) * 3)) + steps}[kind]()
        # The ratio's baseline: the call as Modal's examples make it; in a thread where only that ran.
        baseline = "plain" if "plain" in results else "plain+control" if "plain+control" in results else "plain[thread]"
        plain = results.get(baseline, {})
        plain_p50 = statistics.median(plain["warm_s"]) if plain.get("warm_s") else None
        of = {"plain": "", "plain+control": " of plain+control"}.get(baseline, " of [thread]")
        for way, r in results.items():
            if "error" in r:
                lines.append(f"| {kind} | {preset} | {way} | {what} | error: {r['error'][:120]} ||||||||||||")
                continue
            p50 = statistics.median(r["warm_s"])
            rtf = f"{p50 / seconds:.2f}" if kind == "music" else ""
            ratio = f"{p50 / plain_p50:.2f}×{of}" if plain_p50 and way != baseline else ""
            if way == "atelier+control" and results.get("atelier", {}).get("warm_s"):  # what the control adds
                ratio += f"; {p50 / statistics.median(results['atelier']['warm_s']):.2f}× of atelier"
            gpu = f"{r['peak_gpu_gib']:.2f}" if r["peak_gpu_gib"] is not None else ""
            model = f"{statistics.median(r['warm_model_s']):.3f}" if r.get("warm_model_s") else ""
            speed = ", ".join(f"{k}={v}" for k, v in r["speed"].items()) if not way.startswith("plain") else "library defaults"
            lines.append(
                f"| {kind} | {preset} | {way} | {what} | {r['cold_start_s']:.2f} | {r['load_s']:.2f} | {r['first_s']:.2f} | {p50:.3f} | "
                f"{p95(r['warm_s']):.3f} | {model} | {rtf} | {r['peak_rss_gib']:.2f} | {gpu} | {ratio} | {speed or 'none'} | "
                f"{r.get('load_avg', float('nan')):.1f} |"
            )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
