"""Text to video and image to video with Hugging Face diffusers.

`VideoGenerator` holds one preset's pipeline. app.py turns it into Modal GPU classes
(`VideoModel`, `LargeVideoModel`); locally the same class runs in-process through `.local()`.
Heavy imports happen inside the methods so that app.py, which the web container imports, stays
light.

One clip at a time per instance: a clip keeps a GPU busy on its own, so there is no batching
(the local backend and Modal give each instance one call at a time). A clip that starts from a
picture runs on the image-to-video pipeline made from the loaded one (`from_pipe`: the same
weights). Progress follows the denoising steps, then the VAE's decode chunk by chunk
(models/video/decoding.py), then the encode; between steps the clip's middle frame is
previewed from its latents (models/video/previews.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import modal

from models.common import recipes, speed
from models.common.cancel import STOPS, stopping
from models.common.device import gpu_snapshots, target_device
from models.common.errors import Cancelled
from models.common.events import File, ModelEvent, ResultEvent, result_event
from models.common.fields import checked_again
from models.common.progress import ModelThread, Report, stream
from models.common.weights import LOAD_LOCK, quiet_loading
from models.image import uploads
from models.presets import VideoPreset, get_preset
from models.video import decoding, encoding, families, previews
from models.video.request import VideoJob, check_limits


class VideoGenerator:
    preset: str  # which VideoPreset this instance serves; a modal.parameter in app.py

    @modal.enter(snap=True)
    def load(self) -> None:
        """Load the pipeline onto the CPU: this state is what a Modal memory snapshot keeps."""
        quiet_loading()
        started = time.perf_counter()
        self.spec: VideoPreset = get_preset("video", self.preset)
        with LOAD_LOCK:
            self.pipe = families.load_pipeline(self.spec, speed.load_dtype(self.spec.speed, self.spec.gpu_dtype))
        self.pipe.set_progress_bar_config(disable=True)
        self.load_seconds = round(time.perf_counter() - started, 3)
        if gpu_snapshots():  # the GPU is there while the snapshot is taken (models/common/device.py)
            self._place()

    @modal.enter(snap=False)
    def to_device(self) -> None:
        if not gpu_snapshots():  # else placed in load, before the snapshot
            self._place()

    def _place(self) -> None:
        """Onto the device, with the preset's speed options and the derived pipeline."""
        self.device = target_device()
        self.pipe.to(self.device)
        speed.apply_runtime(self.spec.speed, self.pipe.transformer, self.pipe.vae)
        speed.compile_pipeline(self.spec.speed, self.pipe.transformer, self.pipe.vae)
        self.animate = families.image_pipeline(self.spec, self.pipe)  # None: text to video only
        self.thread = ModelThread(f"atelier-video-{self.spec.name}")

    @modal.method()
    def generate(self, job: VideoJob, call_id: str | None = None) -> Iterator[ModelEvent]:
        """Yield progress events (denoising, decoding, encoding), then a result event with the MP4,
        its poster and the record. Once the call `call_id` is asked to stop (models/common/cancel.py),
        the model stops at its next step (a denoising step, a decoded part) and the stream ends
        without a result."""
        checked = checked_again(VideoJob, job)  # direct callers get the same checks as the UI
        check_limits(checked, self.spec)
        with STOPS.watch(call_id) as stop:
            try:
                yield from stream(lambda report: self._run(checked, stopping(report, stop)), on=self.thread)
            except Cancelled:
                return

    def _run(self, job: VideoJob, report: Report) -> ResultEvent:
        import torch

        started = time.perf_counter()
        report(0, job.steps, "denoising")
        pipe, inputs = self._inputs(job)
        families.decode_in_chunks(self.spec, self.pipe.vae, job)  # the pipelines share this VAE
        chunks = families.decoder_calls(self.spec, self.pipe.vae, families.latent_shape(self.spec, job))
        with decoding.followed(self.pipe.vae.decoder, chunks, report):
            output = pipe(
                prompt=job.prompt,
                negative_prompt=job.negative_prompt or None,
                width=job.width,
                height=job.height,
                num_frames=job.frames,
                num_inference_steps=job.steps,
                guidance_scale=job.guidance,
                generator=torch.Generator(self.device).manual_seed(job.seed),
                callback_on_step_end=self._step_reporter(job, report),
                output_type="pt",
                **inputs,
                **families.call_arguments(self.spec, job),
            )
        # Frames to 8-bit on the device: a quarter of the bytes to bring back.
        video = (output.frames[0] * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        generated = time.perf_counter()
        report(0, 1, "encoding")
        files = self._files(job, video)
        report(1, 1, "encoding")
        seconds = {"load": self.load_seconds, "generate": round(generated - started, 3),
                   "encode": round(time.perf_counter() - generated, 3)}
        return result_event(files, self._record(job, seconds))

    def _inputs(self, job: VideoJob) -> tuple:
        """The pipeline for the job (image-to-video with a start picture) and its own arguments."""
        if job.image is None:
            return self.pipe, {}
        from PIL import Image

        picture = uploads.load(job.image).resize((job.width, job.height), Image.LANCZOS)
        return self.animate, {"image": picture}

    def _step_reporter(self, job: VideoJob, report: Report):
        """The pipeline's step callback: progress after each step, with the middle frame's preview
        while it stays within its time budget (none after the last step: the decode comes next)."""
        factors = previews.FACTORS[self.spec.family]
        throttle = previews.Throttle()

        def on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            done = step + 1
            latents = callback_kwargs.get("latents")
            if latents is None or done >= job.steps or not throttle.due():
                report(done, job.steps, "denoising")
                return callback_kwargs
            data = throttle.timed(lambda: previews.preview_bytes(families.middle_frame(self.spec, latents, job), factors))
            report(done, job.steps, "denoising", preview={"mime": previews.MIME, "data": data})
            return callback_kwargs

        return on_step_end

    @staticmethod
    def _files(job: VideoJob, video) -> list[File]:
        """The MP4 with its recipe, and its middle frame as the poster."""
        tags = recipes.mp4_tags(VideoGenerator._parameters(job))
        return [
            {"name": "video.mp4", "mime": "video/mp4", "data": encoding.mp4_bytes(video, job.fps, tags)},
            {"name": "poster.webp", "mime": "image/webp", "data": encoding.poster_webp(video[len(video) // 2])},
        ]

    @staticmethod
    def _parameters(job: VideoJob) -> dict:
        # The start picture stays out of the recipe and the record (bytes would bloat the store):
        # its hash says what the clip started from.
        return job.model_dump(exclude={"kind", "image"})

    def _record(self, job: VideoJob, seconds: dict) -> dict:
        weights = [w.describe() for w in (self.spec.weights, self.spec.checkpoint) if w is not None]
        record = {
            "kind": "video",
            "model": {"preset": self.spec.name, "weights": " + ".join(weights), "device": self.device}
            | speed.record(self.spec.speed),
            "parameters": self._parameters(job),
            "seed": job.seed,
            "duration": round(job.duration, 3),
            "seconds": seconds,
        }
        if job.image is not None:
            record["input"] = {"mode": "image-to-video", "image_sha256": job.image_sha256}
        return record
