"""One training, from checked job to adapter in the library, as a stream of events.

    prepare   the encodings, from the run's folder or computed (text encoders on the device
              only meanwhile); with prior preservation the class pictures are drawn first
    resume    the latest checkpoint's LoRA weights, optimizer and step, if the run has one
    train     step after step: progress (loss, learning rate, time left), a checkpoint and a
              sample picture every so many steps, the cancel flag and the call's Stop read before each step
    finish    the adapter written beside the library and renamed in (models/image/loras.py),
              the run's folder removed, and a result: the final sample picture, a few of the
              samples drawn as it trained (for the adapter's share page), and a record

Events are the ones every model streams (models/common/progress.py), with more in the
training's progress events; see `progress` below and the package's __init__.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import torch

from models.common import recipes
from models.common.cancel import Stop
from models.common.errors import Cancelled
from models.common.events import progress_event, result_event
from models.image import loras
from models.presets import ImagePreset
from models.training import cache as caching
from models.training import cancel, run
from models.training.families import TRAINERS
from models.training.loop import LoraTraining
from models.training.objectives import OBJECTIVES
from models.training.request import TrainingJob, check_adapter_id_free

PREVIEW_MIME = "image/webp"
TIMED_STEPS = 2  # the estimate: these steps timed, after one untimed warm-up step, extrapolated
RECENT_STEPS = 20  # time left is reckoned from the pace of the last this many steps
KEPT_SAMPLES = 4  # the samples drawn as it trained that the result keeps: enough to see the adapter form


class KeptSamples:
    """The samples drawn as it trained that its result keeps (its share page shows the adapter forming):
    at most `most`, spread evenly over the run. Every `stride`-th sample drawn is
    kept; when that makes too many, every other one goes and the stride doubles, so a long run holds a
    few pictures, never thousands. A resumed run has those drawn since it resumed."""

    def __init__(self, most: int = KEPT_SAMPLES):
        self.most, self.kept, self.drawn, self.stride = most, [], 0, 1

    def add(self, step: int, data: bytes) -> None:
        self.drawn += 1
        if self.drawn % self.stride:
            return
        self.kept.append((step, data))
        if len(self.kept) > self.most:
            self.kept, self.stride = self.kept[1::2], self.stride * 2


class Session:
    def __init__(self, pipe, spec: ImagePreset, job: TrainingJob, device: str, stop: Stop | None = None):
        self.pipe, self.spec, self.job, self.device = pipe, spec, job, device
        self.stop = stop or Stop()  # the call's (models/common/cancel.py), beside the run's cancel flag
        self.family = TRAINERS[spec.family]
        self.denoiser = getattr(pipe, self.family.denoiser)
        self.objective = OBJECTIVES[self.family.objective](pipe, job.resolution)
        self.run = run.RunFolder(job.run_id)
        self.seconds: dict[str, float] = {}
        self.resumed_from = 0
        self.losses: deque[float] = deque(maxlen=RECENT_STEPS)
        self.samples = KeptSamples()
        self._sampler = None

    def events(self) -> Iterator[dict]:
        job = self.job
        self.started = time.perf_counter()
        with run.claimed(job.run_id):
            try:
                check_adapter_id_free(job)  # before an hour of work, not after
                started = time.perf_counter()
                cache = yield from self._prepare()
                self.seconds["prepare"] = round(time.perf_counter() - started, 3)
                training = LoraTraining(self.denoiser, self.family, job, self.objective, cache, self.device)
                try:
                    self._resume(training)
                    started = time.perf_counter()
                    yield from self._train(training, cache)
                    self.seconds["train"] = round(time.perf_counter() - started, 3)
                    yield self._finish(training, cache)
                finally:
                    training.close()
            finally:
                cancel.clear(job.run_id)

    # --- prepare ------------------------------------------------------------------------------------

    def _prepare(self) -> Iterator[dict]:
        saved = self.run.load_cache()
        if saved is not None:
            return caching.Cache.from_tensors(*saved)
        job, pipe = self.job, self.pipe
        encoders = [m for name, m in pipe.components.items() if name.startswith("text_encoder") and m is not None]
        for encoder in encoders:
            encoder.to(self.device)
        try:
            prior = None
            if job.class_prompt:
                images = []
                for image in caching.draw_class_pictures(pipe, job.class_prompt, job.prior_images, job.seed,
                                                         self.spec, job.resolution):
                    images.append(image)
                    yield self._between(len(images), job.prior_images, "drawing class pictures")
                prior = yield from self._encode(images, [job.class_prompt] * len(images), "encoding class pictures")
            pictures = yield from self._encode(job.pictures, job.prompts, "encoding pictures")
            sample = caching.sample_condition(pipe, self.objective, job.trigger, self.spec.guidance, self.device)
        finally:
            for encoder in encoders:  # off the GPU: from here on only the denoiser and the VAE work
                encoder.to("cpu")
        if self.device == "cuda":
            torch.cuda.empty_cache()
        cache = caching.Cache(pictures, sample, prior)
        self.run.save_cache(cache.tensors(), cache.layout())
        return cache

    def _encode(self, images: list, prompts: list[str], stage: str) -> Iterator[dict]:
        prompt_of, conds = caching.encode_prompts(self.pipe, prompts, self.objective, self.device)
        means, stds = [], []
        for image in images:
            mean, std = caching.encode_picture(self.pipe.vae, image, self.device)
            means.append(mean)
            stds.append(std)
            yield self._between(len(means), len(images), stage)
        return caching.Encoded(torch.cat(means), torch.cat(stds), prompt_of, conds)

    def _between(self, done: int, total: int, stage: str) -> dict:
        """A progress event between two pieces of work, where a cancel takes effect."""
        self._stop_if_cancelled(f"while {stage}")
        return progress_event(done, total, stage)

    def _stop_if_cancelled(self, where: str) -> None:
        if cancel.requested(self.job.run_id) or self.stop.is_set():
            self.run.remove()
            raise Cancelled(f"The training was cancelled {where}; nothing was kept.")

    # --- resume and train -----------------------------------------------------------------------------

    def _resume(self, training: LoraTraining) -> None:
        latest = self.run.latest_checkpoint()
        if latest is None:
            return
        step, folder = latest
        lora, optimizer, state = self.run.load_checkpoint(folder, self.device)
        training.load(lora, optimizer)
        self.resumed_from = step
        self.seconds["before_resume"] = state.get("seconds", 0.0)

    def _train(self, training: LoraTraining, cache: caching.Cache) -> Iterator[dict]:
        job, pace = self.job, deque(maxlen=RECENT_STEPS)
        for number in range(self.resumed_from, job.steps):
            self._stop_if_cancelled(f"at step {number} of {job.steps}")
            started = time.perf_counter()
            loss = training.step(number)
            if number > self.resumed_from:  # the first step after a (re)start pays for warming up
                pace.append(time.perf_counter() - started)
            self.losses.append(loss)
            done = number + 1
            event = self.progress(done, loss, pace)
            if done == self.resumed_from + 1 + TIMED_STEPS and done < job.steps:
                event["estimate"] = self.estimate(pace, done)
            if done % job.checkpoint_every == 0 and done < job.steps:
                lora, optimizer = training.state()
                self.run.save_checkpoint(done, lora, optimizer, {"seconds": self._elapsed_training()})
                event["checkpoint"] = done
            if job.preview_every and done % job.preview_every == 0 and done < job.steps:
                event["preview"] = {"mime": PREVIEW_MIME, "data": self._webp(self.sample(training, cache))}
                self.samples.add(done, event["preview"]["data"])
            yield event

    def progress(self, done: int, loss: float, pace: deque) -> dict:
        """A training step's event: `loss` (this step's), `lr`, `eta_s` (steps left at the recent pace, or
        None until a step has been timed), `resumed_from` (the checkpoint's step, 0 for a fresh run)."""
        seconds_per_step = sum(pace) / len(pace) if pace else None
        eta = round(seconds_per_step * (self.job.steps - done), 1) if seconds_per_step else None
        return progress_event(done, self.job.steps, "training") | {
            "loss": round(loss, 6), "lr": self.job.learning_rate, "eta_s": eta, "resumed_from": self.resumed_from}

    def estimate(self, pace: deque, done: int) -> dict:
        """How long the rest will take, said once, early: an extrapolation, and labelled as one."""
        each = sum(pace) / len(pace)
        left = self.job.steps - done
        return {"seconds": round(each * left, 1), "basis": (
            f"extrapolated from {len(pace)} timed steps ({each:.2f} s each, after one warm-up step) to the "
            f"{left} step{'s' if left != 1 else ''} left on {self.device}; sample pictures and checkpoints take time on top")}

    def _elapsed_training(self) -> float:
        """Seconds this run has taken, over all its (re)starts: a checkpoint keeps it for the record."""
        return round(self.seconds.get("before_resume", 0.0) + time.perf_counter() - self.started, 3)

    # --- samples and the end ------------------------------------------------------------------------

    def sample(self, training: LoraTraining, cache: caching.Cache):
        """The sample prompt (the trigger) at the preset's settings and the job's seed, with the adapter as it is now."""
        if self._sampler is None:  # the loaded pipeline's own modules, without the text encoders it no longer needs
            drop = {name: None for name in self.pipe.components if name.startswith("text_encoder")}
            self._sampler = type(self.pipe).from_pipe(self.pipe, **drop)
            self._sampler.set_progress_bar_config(disable=True)
        job, spec = self.job, self.spec
        cond = {key: value.to(self.device) for key, value in cache.sample.items()}
        with training.autocast():
            return self._sampler(**cond, num_inference_steps=spec.steps, guidance_scale=spec.guidance,
                                 width=job.resolution, height=job.resolution,
                                 generator=torch.Generator("cpu").manual_seed(job.seed)).images[0]

    @staticmethod
    def _webp(image) -> bytes:
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", quality=80)
        return buffer.getvalue()

    def _finish(self, training: LoraTraining, cache: caching.Cache) -> dict:
        import diffusers

        job, spec = self.job, self.spec
        self._stop_if_cancelled(f"after its last step ({job.steps})")
        image = self.sample(training, cache)
        loss = round(sum(self.losses) / len(self.losses), 6) if self.losses else None
        training_record = {"run_id": job.run_id, "recipe": job.recipe, "pictures_sha256": job.picture_sha256,
                           "captions": sum(prompt != job.trigger for prompt in job.prompts),
                           "optimizer": training.optimizer_name, "precision": str(training.dtype).removeprefix("torch."),
                           "gradient_checkpointing": training.gradient_checkpointing, "final_loss": loss,
                           "device": self.device}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / loras.FILE_NAME
            saver = getattr(diffusers, loras.FAMILIES[spec.family].pipeline)
            saver.save_lora_weights(tmp, weight_name=path.name,
                                    **{f"{self.family.denoiser}_lora_layers": training.adapter_layers()})
            info = loras.add_trained(path, spec.family, job.adapter_id, job.trigger, training_record)
        run.after_write()
        self.run.remove()
        drawn = [{"name": f"sample-step-{step}.webp", "mime": PREVIEW_MIME, "data": data} for step, data in self.samples.kept]
        return result_event([self._sample_file(image, info), *drawn], {
            "kind": "training",
            "model": {"preset": spec.name, "weights": spec.weights.describe(), "device": self.device},
            "parameters": job.recipe | {"trigger": job.trigger, "adapter_id": job.adapter_id},
            "adapter": {"id": info.id, "family": info.family, "rank": info.rank, "size": info.size,
                        "trigger": info.trigger, "targets": info.targets},
            "training": training_record,
            "steps": {"done": job.steps, "resumed_from": self.resumed_from},
            "samples": [{"name": f["name"], "step": step} for f, (step, _) in zip(drawn, self.samples.kept)],
            "seconds": self.seconds,
        })

    def _sample_file(self, image, info: loras.LoraInfo) -> dict:
        """The final sample as a PNG whose recipe is the image request that draws it again with the adapter."""
        job, spec = self.job, self.spec
        parameters = {"prompt": job.trigger, "negative_prompt": "", "preset": spec.name, "width": job.resolution,
                      "height": job.resolution, "steps": spec.steps, "guidance": spec.guidance, "seed": job.seed,
                      "num_images": 1, "loras": [{"id": info.id, "scale": 1.0}]}
        return {"name": "sample.png", "mime": "image/png", "data": recipes.png_bytes(image, parameters)}
