"""What a video VAE's decode holds in memory, per megapixel-frame: the figure tests/test_app.py's
GPU arithmetic for the video presets rests on.

    .venv/bin/python bench/bench_decode_memory.py        # LTX-Video 2B's and Mochi 1's decoders

Each decoder is built at its real size and layout with random weights (LTX-Video 2B's from its
twin's config, Mochi 1's from diffusers' AutoencoderKLMochi defaults, the published config),
float32, on this CPU, and decodes random latents at two small sizes under torch's profiler; the
peak of live tensors above the weights (the profiler's memory timeline) over the megapixel-frames
decoded gives the slope. bf16 on a GPU holds half the bytes per tensor; cuDNN's workspaces come on
top (the test leaves an allowance for them). Each size in its own process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import RESULTS, cpu_name, write_table  # noqa: E402  (bench/machine.py)

# (family, latent frames, height, width): two sizes each, for the slope.
SIZES = [("ltx", 2, 64, 64), ("ltx", 3, 128, 128), ("mochi", 2, 64, 64), ("mochi", 3, 128, 128)]


def measure(family: str, frames: int, height: int, width: int) -> dict:
    """One decode under the profiler: megapixel-frames out, peak GB of live tensors above the weights."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    if family == "ltx":
        from models.random_weights.video_twins import ltx_video_components

        vae = ltx_video_components()["vae"]()
        latents, extra = torch.randn(1, 128, frames, height // 32, width // 32), (torch.tensor([0.05]),)
    else:
        from diffusers import AutoencoderKLMochi

        vae = AutoencoderKLMochi()
        latents, extra = torch.randn(1, 12, frames, height // 8, width // 8), ()
    vae.encoder = None  # only the decoder runs; its weights are the timeline's floor
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                                  with_stack=True) as prof:
        out = vae.decode(latents, *extra).sample
    with tempfile.NamedTemporaryFile(suffix=".json") as timeline:
        prof.export_memory_timeline(timeline.name, device="cpu")
        _, sizes = json.loads(Path(timeline.name).read_text())
    totals = [sum(s) for s in sizes]
    return {"megapixel_frames": out.shape[2] * height * width / 1e6, "above_weights_gb": (max(totals) - totals[0]) / 1e9,
            "frames": out.shape[2]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        family, *numbers = sys.argv[2:]
        print(json.dumps(measure(family, *map(int, numbers))))
        return
    rows = []
    for family, frames, height, width in SIZES:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", family, str(frames), str(height), str(width)],
                             capture_output=True, text=True, cwd=ROOT, check=True)
        rows.append((family, height, width, json.loads(out.stdout.strip().splitlines()[-1]), time.perf_counter() - started))
        print(rows[-1], file=sys.stderr, flush=True)
    lines = [f"# bench_decode_memory: {time.strftime('%Y-%m-%d %H:%M')}", "",
             f"Device: {cpu_name()}, float32; `bench/bench_decode_memory.py`. Live tensors above the decoder's weights "
             "at the peak of one decode (torch profiler memory timeline).", "",
             "| decoder | clip decoded | megapixel-frames | peak above weights GB | s |", "|---|---|---|---|---|"]
    for family, height, width, r, seconds in rows:
        lines.append(f"| {family} | {width}×{height}, {r['frames']} frames | {r['megapixel_frames']:.3f} | "
                     f"{r['above_weights_gb']:.3f} | {seconds:.0f} |")
    lines += ["", "| decoder | GB per megapixel-frame, float32 (slope) | bf16 (half) |", "|---|---|---|"]
    for family in ("ltx", "mochi"):
        (_, _, _, a, _), (_, _, _, b, _) = [row for row in rows if row[0] == family]
        slope = (b["above_weights_gb"] - a["above_weights_gb"]) / (b["megapixel_frames"] - a["megapixel_frames"])
        lines.append(f"| {family} | {slope:.3f} | {slope / 2:.3f} |")
    write_table("\n".join(lines) + "\n", RESULTS / "decode-memory-cpu.md")


if __name__ == "__main__":
    main()
