"""LoRA training speed: Atelier's training loop against diffusers' DreamBooth LoRA example script,
at the same settings, side by side in one run.

    .venv/bin/python bench/bench_train.py --example /path/to/train_dreambooth_lora.py
    .venv/bin/python bench/bench_train.py --example ... --presets tiny --steps 10 40

The example script is not part of Atelier and is not in this repository: take the one of the
installed diffusers' own tag (`pip show diffusers`), from diffusers' repository on GitHub,
examples/dreambooth/train_dreambooth_lora.py at tag v0.42.1, and pass its path. (Its
imports want torchvision, whose registry wheels are CUDA builds that can't load beside a CPU
torch: the script runs with bench/torchvision_stand_in/ first on its path, its five picture
transforms on PIL, and transformers told there is no torchvision.)

Each loop runs in a process of its own, twice: for N1 and for N2 steps, at the same family,
resolution, rank, batch, learning rate, precision, target modules and optimizer, no samples, no
checkpoints. Steps per second = (N2 − N1) / (T(N2) − T(N1)): what happens once (loading, Atelier's
caching of latents and text embeddings, saving) cancels out; what happens at every step stays,
whatever it is made of (the example runs the VAE's encoder and the text encoder at each step,
Atelier once). Peak memory is each process's maximum resident set (os.wait4), the larger of its
two runs. Writes bench/results/train-<device>.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from machine import RESULTS, device_kind, device_name, write_table  # noqa: E402  (bench/machine.py)

PROMPT = "a photo of qwerty the dog"


def settings(preset: str, resolution: int, rank: int, batch: int, learning_rate: float) -> dict:
    """The settings both loops run at. Precision: what Atelier's trainer picks for the preset on
    this device (models/training/trainer.py), which the example is told as --mixed_precision."""
    import torch

    from models.common.speed import uses_cpu_bf16
    from models.presets import IMAGE_PRESETS

    spec = IMAGE_PRESETS[preset]
    bf16 = torch.cuda.is_available() or uses_cpu_bf16(spec.speed)
    return {"preset": preset, "resolution": min(resolution, spec.size), "rank": rank, "batch": batch,
            "learning_rate": learning_rate, "precision": "bf16" if bf16 else "no"}


def write_pictures(folder: Path, resolution: int, count: int = 4) -> list[Path]:
    """Square pictures at the resolution, so the example's random crop and Atelier's centre crop agree."""
    from tests.support.training import pictures

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, data in enumerate(pictures(count, size=(resolution, resolution))):
        paths.append(folder / f"{number}.png")
        paths[-1].write_bytes(data)
    return paths


def run_child(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak resident memory (GB) of one process."""
    started = time.perf_counter()
    log = tempfile.NamedTemporaryFile(prefix="bench-train-", suffix=".log", delete=False)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed; its output is in {log.name}")
    return seconds, usage.ru_maxrss / 2**20  # Linux reports kB


def atelier_command(setup: dict, steps: int, pictures: Path) -> list[str]:
    return [sys.executable, __file__, "--child-atelier", json.dumps(setup | {"steps": steps, "pictures": str(pictures)})]


def example_command(script: Path, setup: dict, steps: int, pictures: Path, weights: Path, out: Path) -> list[str]:
    return [sys.executable, __file__, "--child-example", str(script),
            f"--pretrained_model_name_or_path={weights}", f"--instance_data_dir={pictures}",
            f"--instance_prompt={PROMPT}", f"--output_dir={out}", f"--resolution={setup['resolution']}",
            f"--train_batch_size={setup['batch']}", f"--rank={setup['rank']}",
            f"--learning_rate={setup['learning_rate']}", f"--max_train_steps={steps}", "--seed=0",
            "--checkpointing_steps=1000000", f"--mixed_precision={setup['precision']}",
            "--lr_scheduler=constant", "--lr_warmup_steps=0"]


def child_atelier(spec: dict) -> None:
    """One Atelier training, as the local backend runs it (the app's Trainer class, in-process)."""
    from app import Trainer
    from models.requests import parse

    pictures = [path.read_bytes() for path in sorted(Path(spec["pictures"]).iterdir())]
    job = parse("training", {
        "pictures": pictures, "trigger": PROMPT, "preset": spec["preset"], "steps": spec["steps"],
        "rank": spec["rank"], "batch_size": spec["batch"], "learning_rate": spec["learning_rate"],
        "resolution": spec["resolution"], "preview_every": 0, "checkpoint_every": spec["steps"],
        "adapter_id": f"bench-{spec['steps']}"}).resolve(spec["preset"])
    for _ in Trainer(preset=spec["preset"]).generate.local(job.model_dump()):
        pass


def child_example(argv: list[str]) -> None:
    """The example script, run as `python script.py args`, with the torchvision stand-in."""
    import runpy

    sys.path.insert(0, str(BENCH / "torchvision_stand_in"))
    import transformers.utils
    import transformers.utils.import_utils

    for module in (transformers.utils, transformers.utils.import_utils):  # it isn't there: the stand-in is the script's
        module.is_torchvision_available = lambda: False
    sys.argv = argv
    runpy.run_path(argv[0], run_name="__main__")


def bench_preset(preset: str, args, script: Path) -> dict:
    from models.common.weights import ensure_weights
    from models.presets import IMAGE_PRESETS

    setup = settings(preset, args.resolution, args.rank, args.batch, args.learning_rate)
    weights = ensure_weights(IMAGE_PRESETS[preset].weights)  # built once, outside the timed runs
    few, many = args.twin_steps if IMAGE_PRESETS[preset].twin_of else args.steps
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        home = Path(tmp) / "home"
        (home / "weights").mkdir(parents=True)
        (home / "weights" / weights.name).symlink_to(weights)  # the trainer's own library and runs, fresh
        env = os.environ | {"ATELIER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
        pictures = Path(tmp) / "pictures"
        write_pictures(pictures, setup["resolution"])
        runs: dict[str, dict[int, tuple[float, float]]] = {"atelier": {}, "example": {}}
        for steps in (few, many):  # interleaved, so a change in the machine's load touches both alike
            runs["atelier"][steps] = run_child(atelier_command(setup, steps, pictures), env)
            print(preset, "atelier", steps, runs["atelier"][steps], flush=True)
            runs["example"][steps] = run_child(
                example_command(script, setup, steps, pictures, weights, Path(tmp) / f"out-{steps}"), env)
            print(preset, "example", steps, runs["example"][steps], flush=True)
    speed = {loop: (many - few) / (times[many][0] - times[few][0]) for loop, times in runs.items()}
    memory = {loop: max(times[few][1], times[many][1]) for loop, times in runs.items()}
    return {"setup": setup, "steps": [few, many], "runs": runs, "speed": speed, "memory": memory}


def table(results: dict) -> str:
    lines = [
        "# LoRA training: Atelier's loop and diffusers' DreamBooth LoRA example (train_dreambooth_lora.py)",
        "",
        f"Device: {device_name()}; torch {__import__('torch').__version__}; diffusers "
        f"{__import__('diffusers').__version__}; {time.strftime('%Y-%m-%d')}. `bench/bench_train.py`, every row in "
        "one run. Steps per second = (N2 − N1) / (T(N2) − T(N1)), each T a whole process (load, prepare, train, "
        "save); peak memory = the process's maximum resident set, the larger of its two runs.",
        "",
        "| preset | resolution, rank, batch, precision | N1 / N2 steps | Atelier steps/s | example steps/s "
        "| Atelier ÷ example | Atelier peak GB | example peak GB | T(Atelier) s | T(example) s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset, result in results.items():
        s, speed, memory, runs = result["setup"], result["speed"], result["memory"], result["runs"]
        few, many = result["steps"]
        times = {loop: " / ".join(f"{runs[loop][n][0]:.1f}" for n in (few, many)) for loop in runs}
        lines.append(
            f"| {preset} | {s['resolution']}², {s['rank']}, {s['batch']}, {s['precision'].replace('no', 'fp32')} "
            f"| {few} / {many} | {speed['atelier']:.3f} | {speed['example']:.3f} "
            f"| **{speed['atelier'] / speed['example']:.2f}×** | {memory['atelier']:.2f} | {memory['example']:.2f} "
            f"| {times['atelier']} | {times['example']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--child-atelier"]:
        return child_atelier(json.loads(sys.argv[2]))
    if sys.argv[1:2] == ["--child-example"]:
        return child_example(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", type=Path, required=True,
                        help="diffusers' examples/dreambooth/train_dreambooth_lora.py, at the installed version's tag")
    parser.add_argument("--presets", nargs="+", default=["tiny", "sd-turbo-twin"])
    parser.add_argument("--steps", nargs=2, type=int, default=[10, 40], metavar=("N1", "N2"))
    parser.add_argument("--twin-steps", nargs=2, type=int, default=[2, 5], metavar=("N1", "N2"),
                        help="the same, for the real-size twins (a step takes seconds to minutes on a CPU)")
    parser.add_argument("--resolution", type=int, default=512, help="capped at each preset's own size (tiny: 64)")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    args = parser.parse_args()
    if not args.example.is_file():
        raise SystemExit(f"{args.example} is not a file: see this script's docstring for where to get it.")
    results = {}
    for preset in args.presets:
        results[preset] = bench_preset(preset, args, args.example.resolve())
        print(preset, results[preset]["speed"], results[preset]["memory"], flush=True)
    write_table(table(results), RESULTS / f"train-{device_kind()}.md")


if __name__ == "__main__":
    main()
