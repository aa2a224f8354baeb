"""Text to image, image to image and inpainting with Hugging Face diffusers.

`ImageGenerator` holds one preset's pipeline. app.py turns it into a Modal GPU class
(`ImageModel`); locally the same class runs in-process through `.local()`. Heavy imports
happen inside the methods so that app.py, which the web container imports, stays light.

Several calls may be in flight on one instance at once (app.py's `@modal.concurrent`, the
local backend's per-model capacity): each waits in the instance's `Batcher`
(models/common/batching.py), which runs compatible requests — same size, steps, guidance — as one
pipeline call. Each request keeps its own seeded generator, so its noise is exactly what it
would be alone; its record says how big the batch was.

An input image (image-to-image) or an image and a mask (inpainting) run on pipelines built
from the loaded one with `from_pipe`: the same UNet, VAE and text encoders, no second copy
of the weights. Jobs with an input share a call only with jobs starting from the very same
image, mask and strength (`batch_key`).

Guides (models/image/guided.py) ride on the same calls: controls swap in a ControlNet pipeline
made from the loaded one, references attach the IP-Adapter for the batch, and an upscale redraws
its picture tile by tile (models/image/tiles.py). Jobs share a call only with the same guides.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import modal

from models.common import batching, recipes, speed
from models.common.batching import Batch, Batcher
from models.common.cancel import STOPS
from models.common.device import gpu_snapshots, target_device
from models.common.errors import Cancelled
from models.common.events import ModelEvent, ResultEvent, result_event
from models.common.fields import checked_again
from models.common.progress import stream
from models.common.weights import LOAD_LOCK, ensure_weights, quiet_loading, refuse_missing
from models.image import guide_request, previews, safety, tiles, uploads
from models.image.guided import Guides
from models.image.lora_cache import LoraCache
from models.image.request import ImageJob, schedule_length
from models.presets import ImagePreset, all_weights, get_preset


class ImageGenerator:
    preset: str  # which ImagePreset this instance serves; a modal.parameter in app.py

    @modal.enter(snap=True)
    def load(self) -> None:
        """Load the pipeline onto the CPU: this state is what a Modal memory snapshot keeps."""
        self.spec: ImagePreset = get_preset("image", self.preset)
        refuse_missing(self.spec.name, all_weights(self.spec) + safety.needed_weights(self.spec))  # before anything slow
        from diffusers import AutoPipelineForText2Image

        quiet_loading()
        started = time.perf_counter()
        dtype = speed.load_dtype(self.spec.speed, self.spec.gpu_dtype)
        with LOAD_LOCK:
            folder = ensure_weights(self.spec.weights)
            # A fast decoder replaces the VAE at load: the full VAE is then never read.
            decoder = speed.load_fast_decoder(self.spec.speed, dtype)
            extra = {"vae": decoder} if decoder is not None else {}
            self.pipe = AutoPipelineForText2Image.from_pretrained(folder, dtype=dtype, **extra)
            # Every image passes the safety checker where it is on (models/image/safety.py).
            self.safety = safety.SafetyChecker(ensure_weights(safety.checker_weights(self.spec))) \
                if safety.safety_on() else None
        self.pipe.set_progress_bar_config(disable=True)
        self.load_seconds = round(time.perf_counter() - started, 3)
        if gpu_snapshots():  # the GPU is there while the snapshot is taken (models/common/device.py)
            self._place()

    @modal.enter(snap=False)
    def to_device(self) -> None:
        if not gpu_snapshots():  # else placed in load, before the snapshot
            self._place()

    def _place(self) -> None:
        """Onto the device, with the preset's speed options, the derived pipelines and the batcher."""
        self.device = target_device()
        self.pipe.to(self.device)
        if self.safety is not None:
            self.safety.to(self.device)
        denoiser = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)  # UNet or MMDiT
        speed.apply_runtime(self.spec.speed, denoiser, self.pipe.vae)
        speed.compile_pipeline(self.spec.speed, denoiser, self.pipe.vae)
        self.preview_factors = previews.factors_for(self.pipe)  # None: this pipeline's latents get no preview
        self.img2img, self.inpaint = input_pipelines(self.pipe)
        self.guides = Guides(self.pipe, self.spec.name, self.device)
        # Adapters need the denoiser's separate q/k/v projections: a fused one is unfused at the first.
        self.loras = LoraCache(self.pipe, self.spec.name, fused=[denoiser] if self.spec.speed.fuse_qkv else [])
        self.batcher: Batcher[ImageJob, ResultEvent] = Batcher(
            self._run_batch, key=batch_key, size=lambda job: job.num_images, max_size=self.spec.max_batch,
            window_s=batching.WINDOW_S, name=f"atelier-batcher-{self.spec.name}")
        if speed.uses_compile(self.spec.speed):
            self._warm_up()

    def _warm_up(self) -> None:
        """One image at the preset's default size and steps, so that the compile happens at start
        (and, with GPU snapshots, before the snapshot) rather than in a visitor's first request."""
        spec = self.spec
        self.pipe(prompt="warm-up", num_inference_steps=spec.steps, guidance_scale=spec.guidance,
                  width=spec.size, height=spec.size)

    @modal.method()
    def generate(self, job: ImageJob, call_id: str | None = None) -> Iterator[ModelEvent]:
        """Yield denoising progress events, then a result event with PNG files and a record.
        Once the call `call_id` is asked to stop (models/common/cancel.py), it leaves the line or
        its batch at once and the stream ends without a result."""
        checked = checked_again(ImageJob, job)  # direct callers get the same checks as the UI
        with STOPS.watch(call_id) as stop:
            try:
                yield from stream(lambda report: self.batcher.submit(checked, report, stop))
            except Cancelled:
                return

    @modal.method()
    def annotate(self, image: bytes, mode: str) -> bytes:
        """The control picture (PNG) that `mode`'s annotator makes from a picture (PNG, JPEG or WebP,
        checked as an upload), as a control with `preprocess: true` would use it. Cached per picture
        and mode. The annotator runs on the model thread, between batches (the batcher's `call`): the
        annotator models belong to this instance, which is not thread-safe."""
        from models.image.guides import check_mode

        check_mode(mode, self.spec.name, preprocess=True)
        picture = uploads.load(guide_request.checked_picture(image))
        return uploads.png(self.batcher.call(lambda: self.guides.annotate(picture, mode)))

    def _run_batch(self, batch: Batch[ImageJob]) -> list[ResultEvent]:
        """One pipeline call for every job in the batch (they share batch_key); a result each."""
        import torch

        started = time.perf_counter()
        first = batch.jobs[0]
        batch.report(0, first.steps, "denoising")
        picture, mask = self._pictures(first)  # the batch's input (batch_key: all its jobs share it)
        if first.strength == 0:  # strength 0 redraws nothing: the input image is the answer
            seconds = round(time.perf_counter() - started, 3)
            return [self._result(job, [picture] * job.num_images, batch, seconds) for job in batch.jobs]
        if first.upscale:
            return [self._upscaled(job, picture, batch, started) for job in batch.jobs]
        # No previews where images are checked: a picture of one forming would show it before the checker has.
        factors = self.preview_factors if self.safety is None else None
        throttle = previews.Throttle()
        starts = [sum(j.num_images for j in batch.jobs[:i]) for i in range(len(batch.jobs))]  # each job's first image

        def on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            batch.check()  # every request cancelled: the call ends here
            done = step + 1
            latents = callback_kwargs.get("latents")
            # A preview of each job's first image while it forms; none after the last step (the
            # image itself comes next), and only while previews stay within their time budget.
            if factors is None or latents is None or done >= first.steps or not throttle.due():
                batch.report(done, first.steps, "denoising")
                return callback_kwargs
            for report, start in zip(batch.reports, starts, strict=True):
                data = throttle.timed(lambda: previews.preview_bytes(latents[start], factors))
                report(done, first.steps, "denoising", preview={"mime": previews.MIME, "data": data})
            return callback_kwargs

        # One prompt and one generator per image. A job's images share its generator, drawn in
        # turn, so a job's noise is the same whatever else is in the batch.
        prompts, negatives, generators = [], [], []
        for job in batch.jobs:
            generator = torch.Generator(self.device).manual_seed(job.seed)
            prompts += [job.prompt] * job.num_images
            negatives += [job.negative_prompt] * job.num_images
            generators += [generator] * job.num_images
        extra = {"negative_prompt": negatives} if first.negative_prompt else {}
        pipe, inputs = self._inputs(first, picture, mask, len(prompts))
        # Controls and references (batch_key: all its jobs have the same): a ControlNet pipeline on
        # the same modules, and the arguments that carry the control pictures and references.
        guided, guide_inputs = self.guides.prepare(first, _input_kind(picture, mask), len(prompts))
        # The batch's adapters (batch_key: all its jobs name the same), in the modules every
        # pipeline here shares (the img2img and inpainting pipelines are made from this one).
        with self.loras.applied(first.loras), self.guides.applied(first):
            output = (guided or pipe)(
                prompt=prompts,
                guidance_scale=first.guidance,
                generator=generators,
                callback_on_step_end=on_step_end,
                **extra,
                **inputs,
                **guide_inputs,
            )
        seconds = round(time.perf_counter() - started, 3)
        images = iter(self._kept_outside_mask(output.images, picture, mask))
        return [self._result(job, [next(images) for _ in range(job.num_images)], batch, seconds) for job in batch.jobs]

    def _inputs(self, job: ImageJob, picture, mask, count: int, size: tuple[int, int] | None = None) -> tuple:
        """The pipeline for the job's inputs, and its size, schedule and input arguments. Image-to-image
        takes its size from the image (resized to the job's); text-to-image and inpainting take
        width and height. With an image, the schedule is lengthened so that `steps` steps run."""
        width, height = size or (job.width, job.height)
        if picture is None:
            return self.pipe, {"width": width, "height": height, "num_inference_steps": job.steps}
        pipe = self.img2img if mask is None else self.inpaint
        # Flow-matching transformer pipelines (SD3, FLUX) round the part of the schedule they run up.
        rounds_up = getattr(pipe, "transformer", None) is not None
        inputs = {"image": [picture] * count, "strength": job.strength,
                  "num_inference_steps": schedule_length(job.steps, job.strength, rounds_up)}
        if mask is None:
            return pipe, inputs
        return pipe, inputs | {"mask_image": [mask] * count, "width": width, "height": height}

    def _upscaled(self, job: ImageJob, picture, batch: Batch[ImageJob], started: float) -> dict:
        """The job's images: its picture (already resized to twice its size) redrawn in tiles of the
        preset's size, each by image-to-image (with the family's tile or blur control, if any)."""
        import torch

        generator = torch.Generator(self.device).manual_seed(job.seed)
        layout = tiles.layout(picture.size, self.spec.size)
        total = len(layout) * job.num_images

        def draw(tile, index: int, image: int):
            batch.report(image * len(layout) + index, total, "upscaling")
            pipe, inputs = self._inputs(job, tile, None, 1, size=tile.size)
            guided, guide_inputs = self.guides.prepare(job, "img2img", 1, size=tile.size, tile_picture=tile)
            with self.loras.applied(job.loras), self.guides.applied(job):
                return (guided or pipe)(prompt=[job.prompt], guidance_scale=job.guidance, generator=[generator],
                                        **({"negative_prompt": [job.negative_prompt]} if job.negative_prompt else {}),
                                        **inputs, **guide_inputs).images[0]

        images = [tiles.redraw(picture, self.spec.size, lambda tile, index: draw(tile, index, n))
                  for n in range(job.num_images)]
        batch.report(total, total, "upscaling")
        return self._result(job, images, batch, round(time.perf_counter() - started, 3))

    @staticmethod
    def _kept_outside_mask(images: list, picture, mask) -> list:
        """Inpainting's output with the input image pasted back where the mask is black: the
        pipeline blends latents, which the VAE round trip blurs a little even where nothing
        was to change; outside the mask the answer is the input, pixel for pixel."""
        if mask is None:
            return images
        from PIL import Image

        return [Image.composite(image, picture, mask) for image in images]

    @staticmethod
    def _pictures(job: ImageJob) -> tuple:
        """The job's input image and mask, decoded once and at the job's size (None for what it hasn't)."""
        from PIL import Image

        size = (job.width, job.height)
        picture = uploads.load(job.image).resize(size, Image.LANCZOS) if job.image is not None else None
        mask = uploads.load(job.mask).resize(size, Image.BILINEAR) if job.mask is not None else None
        return picture, mask

    def _result(self, job: ImageJob, images: list, batch: Batch[ImageJob], seconds: float) -> ResultEvent:
        # The uploads stay out of the recipe and the record (bytes would bloat the store): their
        # hashes say what the job started from. Controls and references likewise, by their pictures'
        # hashes; a vary's or upscale's lineage is the record's, not a setting to restore.
        parameters = job.model_dump(exclude={"kind", "image", "mask", "controls", "references", "vary", "upscale",
                                             "parent"} | ({"strength"} if job.image is None else set()))
        guides = {"controls": [c.summary() for c in job.controls], "references": [r.summary() for r in job.references]}
        images, verdict = safety.checked(self.safety, images)  # flagged ones blurred; None where it is off
        files = [
            {"name": f"image-{i}.png", "mime": "image/png",
             "data": recipes.png_bytes(image, parameters | guides)}
            for i, image in enumerate(images)
        ]
        record = {
            "kind": "image",
            "model": {"preset": self.spec.name, "weights": self.spec.weights.describe(), "device": self.device}
            | speed.record(self.spec.speed),
            "parameters": parameters,
            "seed": job.seed,
            "seconds": {"load": self.load_seconds, "generate": seconds},
            "batch": {"requests": len(batch.jobs), "images": sum(j.num_images for j in batch.jobs)},
        }
        if job.image is not None:
            record["input"] = {
                "mode": "inpainting" if job.mask is not None else "image-to-image",
                "image_sha256": hashlib.sha256(job.image).hexdigest(),
                "mask_sha256": hashlib.sha256(job.mask).hexdigest() if job.mask is not None else None,
            }
        if verdict is not None:
            record[safety.FLAGGED_KEY] = verdict
        if job.controls or job.references:
            record["guides"] = guides
        if (action := guide_request.action(job.vary, job.upscale)) or job.parent:
            record["lineage"] = {"parent": job.parent, "action": action}
        return result_event(files, record)


def batch_key(job: ImageJob) -> tuple:
    """What must be equal for two jobs to share one pipeline call: the shape of the work (size,
    steps) and the settings applied to the batch as a whole (guidance; whether a negative
    prompt is used at all, since "no negative prompt" and an empty one differ for some
    pipelines), and what a job starts from: jobs with an input image share a call only with
    jobs starting from the very same image, mask and strength (one input per call; different
    inputs could be batched as lists, but rarely arrive together). Prompts, negative prompts,
    seeds and image counts may differ. LoRA adapters are applied to the whole call, so the same
    ones at the same scales, in the same order; so are controls and references (the same pictures
    and settings, `guides_digest`)."""
    return (job.width, job.height, job.steps, job.guidance, bool(job.negative_prompt), job.input_digest,
            tuple((choice.id, choice.scale) for choice in job.loras), job.guides_digest)


def _input_kind(picture, mask) -> str:
    return "text" if picture is None else ("img2img" if mask is None else "inpaint")


def input_pipelines(pipe) -> tuple:
    """Image-to-image and inpainting pipelines on the loaded pipeline's own modules (from_pipe
    shares them: no second copy of the weights, and speed settings applied once apply to all)."""
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

    img2img = AutoPipelineForImage2Image.from_pipe(pipe)
    inpaint = AutoPipelineForInpainting.from_pipe(pipe)
    for derived in (img2img, inpaint):
        derived.set_progress_bar_config(disable=True)
    return img2img, inpaint
