"""Text to image with Hugging Face diffusers.

`ImageGenerator` holds one preset's pipeline. app.py turns it into a Modal GPU class
(`ImageModel`); locally the same class runs in-process through `.local()`. Heavy imports
happen inside the methods so that app.py, which the web container imports, stays light.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import modal

from models import speed
from models.device import target_device
from models.presets import ImagePreset, get_preset
from models.progress import Report, result_event, stream
from models.requests import ImageJob
from models.weights import LOAD_LOCK, ensure_weights, quiet_loading


class ImageGenerator:
    preset: str  # which ImagePreset this instance serves; a modal.parameter in app.py

    @modal.enter(snap=True)
    def load(self) -> None:
        """Load the pipeline onto the CPU: this state is what a Modal memory snapshot keeps."""
        from diffusers import AutoPipelineForText2Image

        quiet_loading()
        started = time.perf_counter()
        self.spec: ImagePreset = get_preset("image", self.preset)
        dtype = speed.load_dtype(self.spec.speed, self.spec.gpu_dtype)
        with LOAD_LOCK:
            folder = ensure_weights(self.spec.weights)
            # A fast decoder replaces the VAE at load: the full VAE is then never read.
            decoder = speed.load_fast_decoder(self.spec.speed, dtype)
            extra = {"vae": decoder} if decoder is not None else {}
            self.pipe = AutoPipelineForText2Image.from_pretrained(folder, dtype=dtype, **extra)
        self.pipe.set_progress_bar_config(disable=True)
        self.load_seconds = round(time.perf_counter() - started, 3)

    @modal.enter(snap=False)
    def to_device(self) -> None:
        self.device = target_device()
        self.pipe.to(self.device)
        speed.apply_runtime(self.spec.speed, getattr(self.pipe, "unet", None), getattr(self.pipe, "vae", None))

    @modal.method()
    def generate(self, job: dict) -> Iterator[dict]:
        """Yield denoising progress events, then a result event with PNG files and a record."""
        checked = ImageJob.model_validate(job)  # direct callers get the same checks as the UI
        yield from stream(lambda report: self._generate(checked, report))

    def _generate(self, job: ImageJob, report: Report) -> dict:
        import torch

        started = time.perf_counter()
        report(0, job.steps, "denoising")

        def on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            report(step + 1, job.steps, "denoising")
            return callback_kwargs

        extra = {"negative_prompt": job.negative_prompt} if job.negative_prompt else {}
        output = self.pipe(
            prompt=job.prompt,
            width=job.width,
            height=job.height,
            num_inference_steps=job.steps,
            guidance_scale=job.guidance,
            num_images_per_prompt=job.num_images,
            generator=torch.Generator(self.device).manual_seed(job.seed),
            callback_on_step_end=on_step_end,
            **extra,
        )
        files = [
            {"name": f"image-{i}.png", "mime": "image/png", "data": _png(image)} for i, image in enumerate(output.images)
        ]
        record = {
            "kind": "image",
            "model": {"preset": self.spec.name, "weights": self.spec.weights.describe(), "device": self.device}
            | speed.record(self.spec.speed),
            "parameters": job.model_dump(exclude={"kind"}),
            "seed": job.seed,
            "seconds": {"load": self.load_seconds, "generate": round(time.perf_counter() - started, 3)},
        }
        return result_event(files, record)


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
