"""What bench_models.py measures, one way in one process: Atelier's model class or the plain
library call, loaded, called once, then `repeats` times warm (see bench_models.py's docstring).

Imported by bench_models.py, which runs `bench_models.py --child KIND PRESET WAY` for each way
so that each has a process of its own (load time and peak RSS are its own).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from models.common.speed import NO_SPEEDUPS
from models.presets import PRESETS

if TYPE_CHECKING:  # not imported for real: every way's process start counts in its cold start
    from models.requests import Job

PROMPTS = {"image": "a watercolor fox in a misty forest", "music": "lofi hip hop beat with warm piano chords",
           "video": "waves rolling onto a beach at dusk, slow camera pan"}
# The video twins' stand-in with a small text encoder (--text-encoder small).
SMALL_TEXT = {"ltx-video-twin": "models.random_weights.video_twins:build_ltx_video_twin_small_text"}
# Other SpeedOptions to run a preset with, to see what each option buys on its own.
VARIANTS = {
    "none": lambda s: NO_SPEEDUPS,
    "fast-decoder": lambda s: replace(NO_SPEEDUPS, fast_decoder=s.fast_decoder),
    "bf16": lambda s: replace(NO_SPEEDUPS, cpu_bf16=True),
    "channels-last": lambda s: replace(s, channels_last=True),
    "threads-1": lambda s: replace(s, threads=1),
    # GPU options (models/common/speed.py); compile is ignored on a CPU.
    "fuse-qkv": lambda s: replace(s, fuse_qkv=True),
    "compile": lambda s: replace(s, compile=True),
    "fuse-qkv+compile": lambda s: replace(s, fuse_qkv=True, compile=True),
    "static-cache": lambda s: replace(s, static_cache=True),
    "static-cache+compile": lambda s: replace(s, static_cache=True, compile=True),
    # CPU music option: int8 weights in MusicGen's decoder layers.
    "int8": lambda s: replace(s, cpu_int8=True),
}
# A compiling variant runs twice: first with an empty compile cache, then again in a new process
# with the cache the first one filled (what a second container finds on the Volume).
CACHED = " cache warm"


def applies(variant, kind: str, preset: str) -> bool:
    """Whether the preset takes the variant's options at all (presets refuse options of the other kind)."""
    spec = PRESETS[kind][preset]
    try:
        replace(spec, speed=variant(spec.speed))
    except ValueError:
        return False
    return True


def kinds_of(preset: str) -> list[str]:
    return [kind for kind, table in PRESETS.items() if preset in table]


def with_small_text_encoder(kind: str, preset: str) -> None:
    """--text-encoder small: the preset's weights swapped for its stand-in with a small text encoder."""
    from models.common.weights import BuiltWeights

    spec = PRESETS[kind][preset]
    PRESETS[kind][preset] = replace(spec, weights=BuiltWeights(SMALL_TEXT[preset], f"{preset}-small-text"))


# --- one measurement, in a child process ----------------------------------------------------


def child(kind: str, preset: str, way: str, steps: int | None, seconds: float, repeats: int, t0: float,
          control: str | None = None, clip: tuple[int, int, int] = (320, 192, 25)) -> dict:
    import torch

    from models.common.weights import ensure_weights
    from models.presets import all_weights, get_preset

    imported_at = time.time()
    spec = get_preset(kind, preset)
    folder, *_ = [ensure_weights(w) for w in all_weights(spec)]  # built before timing anything
    if control:  # the mode's ControlNet and annotator too
        from models.image.guides import ANNOTATOR_OF, guide_set

        guides = guide_set(preset)
        ensure_weights(guides.net_for(control).weights)
        if control in ANNOTATOR_OF:
            ensure_weights(guides.annotators[ANNOTATOR_OF[control]])
    cuda = torch.cuda.is_available()
    built = time.time()  # weights on disk from here: cold start counts from now, less the build
    if way.startswith("atelier["):
        variant = way[len("atelier[") : way.index("]")]
        PRESETS[kind][preset] = spec = replace(spec, speed=VARIANTS[variant](spec.speed))
    if kind == "video":
        load, call = plain_video(folder, spec, steps, clip, cuda) if way.startswith("plain") else atelier_video(preset, steps, clip)
        if way == "plain[thread]":
            call = in_worker_thread(call)
    elif way == "plain+control":
        load, call = plain_control_image(spec, steps, control, cuda)
    elif way.startswith("plain"):
        load, call = (plain_image if kind == "image" else plain_music)(folder, spec, steps, seconds, cuda)
        if way == "plain[thread]":
            call = in_worker_thread(call)
    elif way == "atelier+control":
        load, call = None, atelier_control_image(preset, steps, control)
    else:
        load, call = (atelier_image if kind == "image" else atelier_music)(preset, steps, seconds)
    started = time.perf_counter()
    first_record = call()
    first = time.perf_counter() - started  # .local() runs the load inside the first call: taken off below
    # Process start to first result, imports included, the twin's one-off build excluded.
    cold_start = time.time() - t0 - (built - imported_at)
    warm, inside = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        inside.append(call().get("generate"))
        warm.append(time.perf_counter() - started)
    return {
        "cold_start_s": cold_start,
        "load_s": load if load is not None else first_record["load"],
        "first_s": first - (first_record.get("load") or 0.0) if load is None else first,
        "warm_s": warm,
        # Atelier's own timing of the model call inside each warm request (images: the pipeline
        # call, without the batching window, the PNG encoding and the event stream around it).
        "warm_model_s": inside if None not in inside else None,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "device": "cuda" if cuda else "cpu",
        "load_avg": os.getloadavg()[0],  # other processes on the machine skew every timing
        "speed": first_record.get("speed", {}),
    }


def atelier_image(preset: str, steps: int | None, seconds: float):
    from app import ImageModel
    from models.requests import ImageRequest

    job = ImageRequest(prompt=PROMPTS["image"], seed=1, steps=steps, preset=preset).resolve(preset)
    return None, _atelier_call(ImageModel(preset=preset), job)


def control_pictures(size: int):
    """A new picture for every call (so the annotator's cache never answers): a few random shapes."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(1)
    while True:
        picture = Image.new("RGB", (size, size), "black")
        draw = ImageDraw.Draw(picture)
        for _ in range(6):
            x, y, r = rng.randrange(size), rng.randrange(size), rng.randrange(size // 16, size // 4)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
        yield picture


def atelier_control_image(preset: str, steps: int | None, mode: str):
    import io

    from app import ImageModel
    from models.requests import ImageRequest

    model, pictures = ImageModel(preset=preset), control_pictures(PRESETS["image"][preset].size)

    def call() -> dict:
        buffer = io.BytesIO()
        next(pictures).save(buffer, format="PNG")
        job = ImageRequest(prompt=PROMPTS["image"], seed=1, steps=steps, preset=preset,
                           controls=[{"mode": mode, "image": buffer.getvalue()}]).resolve(preset)
        return _atelier_call(model, job)()

    return call


def plain_control_image(spec, steps: int | None, mode: str, cuda: bool):
    """diffusers' ControlNet pipeline as its docs call it, float32 on a CPU, with the preset's ControlNet;
    the control picture made in the call (OpenCV's Canny for canny, else Atelier's annotator)."""
    import numpy as np
    import torch
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline
    from PIL import Image

    from models.common.weights import ensure_weights
    from models.image.annotators import Annotators
    from models.image.guides import guide_set

    guides = guide_set(spec.name)
    started = time.perf_counter()
    dtype = getattr(torch, spec.gpu_dtype) if cuda else torch.float32
    controlnet = ControlNetModel.from_pretrained(ensure_weights(guides.net_for(mode).weights), torch_dtype=dtype)
    pipe = StableDiffusionControlNetPipeline.from_pretrained(ensure_weights(spec.weights), controlnet=controlnet,
                                                             torch_dtype=dtype)
    pipe.to("cuda" if cuda else "cpu")
    load = time.perf_counter() - started
    pipe.set_progress_bar_config(disable=True)
    annotators, pictures = Annotators(guides, "cuda" if cuda else "cpu"), control_pictures(spec.size)

    def call() -> dict:
        import cv2

        picture = next(pictures)
        control = (Image.fromarray(cv2.Canny(np.asarray(picture.convert("L")), 100, 200)).convert("RGB")
                   if mode == "canny" else annotators.annotate(picture, mode))
        pipe(PROMPTS["image"], image=control, num_inference_steps=steps or spec.steps, guidance_scale=spec.guidance,
             height=spec.size, width=spec.size, generator=torch.Generator("cuda" if cuda else "cpu").manual_seed(1))
        return {}

    return load, call


def atelier_music(preset: str, steps: int | None, seconds: float):
    from app import MusicModel
    from models.requests import MusicRequest

    job = MusicRequest(prompt=PROMPTS["music"], seed=1, duration=seconds, preset=preset).resolve(preset)
    return None, _atelier_call(MusicModel(preset=preset), job)


def atelier_video(preset: str, steps: int | None, clip: tuple[int, int, int]):
    from app import VideoModel
    from models.requests import VideoRequest

    width, height, frames = clip
    job = VideoRequest(prompt=PROMPTS["video"], seed=1, steps=steps, preset=preset, width=width, height=height,
                       frames=frames).resolve(preset)
    return None, _atelier_call(VideoModel(preset=preset), job)


def _atelier_call(model, job: Job):
    """One generation through `.local()`; the first call also runs the load (enter hooks)."""

    def call() -> dict:
        *_, result = model.generate.local(job)
        record = result["record"]
        return {"load": record["seconds"]["load"], "speed": record["model"].get("speed", {}),
                "generate": record["seconds"].get("generate")}

    return call


def in_worker_thread(call):
    """`call` run in a new thread, as models/common/progress.py `stream` runs every generation."""

    def threaded() -> dict:
        out: dict = {}

        def run() -> None:
            try:
                out["value"] = call()
            except BaseException as e:  # re-raised below, so a failure is never a fast time
                out["error"] = e

        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
        if "error" in out:
            raise out["error"]
        return out["value"]

    return threaded


def plain_image(folder, spec, steps: int | None, seconds: float, cuda: bool):
    import torch
    from diffusers import DiffusionPipeline

    started = time.perf_counter()
    pipe = DiffusionPipeline.from_pretrained(folder, torch_dtype=getattr(torch, spec.gpu_dtype) if cuda else torch.float32)
    if cuda:
        pipe.to("cuda")
    load = time.perf_counter() - started
    pipe.set_progress_bar_config(disable=True)

    def call() -> dict:
        pipe(PROMPTS["image"], num_inference_steps=steps or spec.steps, guidance_scale=spec.guidance,
             height=spec.size, width=spec.size, generator=torch.Generator("cuda" if cuda else "cpu").manual_seed(1))
        return {}

    return load, call


def plain_music(folder, spec, steps: int | None, seconds: float, cuda: bool):
    import torch
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    started = time.perf_counter()
    processor = AutoProcessor.from_pretrained(folder)
    model = MusicgenForConditionalGeneration.from_pretrained(folder, dtype=torch.float16 if cuda else torch.float32)
    if cuda:
        model.to("cuda")
    load = time.perf_counter() - started
    inputs = processor(text=[PROMPTS["music"]], padding=True, return_tensors="pt").to(model.device)
    frames = round(seconds * model.config.audio_encoder.frame_rate) + model.decoder.num_codebooks - 1

    def call() -> dict:
        torch.manual_seed(1)
        model.generate(**inputs, do_sample=True, guidance_scale=spec.guidance, max_new_tokens=frames)
        return {}

    return load, call


def plain_video(folder, spec, steps: int | None, clip: tuple[int, int, int], cuda: bool):
    """The pipeline call Modal's LTX example makes, with the clip's own settings (the same Atelier
    passes): LTXPipeline from the folder, float32 on a CPU, the preset's dtype on CUDA."""
    import torch
    from diffusers import DiffusionPipeline

    from models.video.families import LTX_DECODE

    started = time.perf_counter()
    pipe = DiffusionPipeline.from_pretrained(folder, torch_dtype=getattr(torch, spec.gpu_dtype) if cuda else torch.float32)
    if cuda:
        pipe.to("cuda")
    load = time.perf_counter() - started
    pipe.set_progress_bar_config(disable=True)
    width, height, frames = clip

    def call() -> dict:
        pipe(PROMPTS["video"], width=width, height=height, num_frames=frames, frame_rate=spec.fps,
             num_inference_steps=steps or spec.steps, guidance_scale=spec.guidance,
             generator=torch.Generator("cuda" if cuda else "cpu").manual_seed(1), **LTX_DECODE)
        return {}

    return load, call
