"""Text to music with MusicGen through Hugging Face transformers.

`MusicGenerator` holds one preset's model. app.py turns it into a Modal GPU class
(`MusicModel`); locally the same class runs in-process through `.local()`. Clips longer
than the model's window are continued window by window (models/audio.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import modal
import numpy as np

from models.audio import MIME, encode, generate_long, plan_windows
from models.device import target_device, target_dtype
from models.presets import MusicPreset, get_preset
from models.progress import Report, result_event, stream
from models.requests import MusicJob
from models.weights import LOAD_LOCK, ensure_weights, quiet_loading

# MusicGen samples with torch's process-wide random generator (generate() takes no
# generator argument). One Modal container runs one input at a time, but in-process two
# music models could interleave draws and break "same seed, same clip"; this lock keeps
# each seeded generation whole.
_GLOBAL_RNG = threading.Lock()


class MusicGenerator:
    preset: str  # which MusicPreset this instance serves; a modal.parameter in app.py

    @modal.enter(snap=True)
    def load(self) -> None:
        """Load model and processor onto the CPU: this state is what a memory snapshot keeps."""
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        quiet_loading()
        started = time.perf_counter()
        self.spec: MusicPreset = get_preset("music", self.preset)
        with LOAD_LOCK:
            folder = ensure_weights(self.spec.weights)
            self.processor = AutoProcessor.from_pretrained(folder)
            self.model = MusicgenForConditionalGeneration.from_pretrained(folder, dtype=target_dtype())
        self.sample_rate: int = self.model.config.audio_encoder.sampling_rate
        self.frame_rate: int = self.model.config.audio_encoder.frame_rate
        self.load_seconds = round(time.perf_counter() - started, 3)

    @modal.enter(snap=False)
    def to_device(self) -> None:
        self.device = target_device()
        self.model.to(self.device)

    @modal.method()
    def generate(self, job: dict) -> Iterator[dict]:
        """Yield progress events (milliseconds of audio made), then a result event with the clip."""
        checked = MusicJob.model_validate(job)
        yield from stream(lambda report: self._generate(checked, report))

    def _generate(self, job: MusicJob, report: Report) -> dict:
        import torch

        started = time.perf_counter()
        with _GLOBAL_RNG:
            torch.manual_seed(job.seed)
            audio = generate_long(
                lambda prompt, seconds, rep: self._window(job, prompt, seconds, rep),
                duration=job.duration,
                window=job.window,
                overlap=job.overlap,
                sample_rate=self.sample_rate,
                report=report,
            )
        data = encode(audio, self.sample_rate, job.format)
        record = {
            "kind": "music",
            "model": {"preset": self.spec.name, "weights": self.spec.weights.describe(), "device": self.device},
            "parameters": job.model_dump(exclude={"kind"}),
            "seed": job.seed,
            "audio": {
                "seconds": round(len(audio) / self.sample_rate, 3),
                "sample_rate": self.sample_rate,
                "windows": len(plan_windows(job.duration, job.window, job.overlap)),
            },
            "seconds": {"load": self.load_seconds, "generate": round(time.perf_counter() - started, 3)},
        }
        return result_event([{"name": f"music.{job.format}", "mime": MIME[job.format], "data": data}], record)

    def _window(self, job: MusicJob, prompt: np.ndarray | None, seconds: float, report: Report) -> np.ndarray:
        """One pass of the model: `seconds` of new audio, continuing `prompt` if given."""
        import torch
        from transformers import LogitsProcessor, LogitsProcessorList

        frames = round(seconds * self.frame_rate)
        # MusicGen's codebooks are offset by one step each (the delay pattern), so N frames
        # of audio take N + codebooks - 1 decoding steps.
        steps = frames + self.model.decoder.num_codebooks - 1

        class CountSteps(LogitsProcessor):  # called once per decoding step: our progress signal
            done = 0

            def __call__(self, input_ids, scores):
                self.done += 1
                report(min(self.done, steps), steps, "composing")
                return scores

        if prompt is None:
            inputs = self.processor(text=[job.prompt], padding=True, return_tensors="pt")
        else:
            inputs = self.processor(
                audio=[prompt], text=[job.prompt], sampling_rate=self.sample_rate, padding=True, return_tensors="pt"
            )
        inputs = {k: (v.to(self.device, self.model.dtype) if v.is_floating_point() else v.to(self.device)) for k, v in inputs.items()}
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                do_sample=True,
                temperature=job.temperature,
                top_k=job.top_k,
                guidance_scale=job.guidance,
                max_new_tokens=steps,
                logits_processor=LogitsProcessorList([CountSteps()]),
            )
        audio = out[0, 0].float().cpu().numpy()
        # With a prompt the model returns the prompt's audio too; keep only what is new.
        return audio[len(prompt) :] if prompt is not None else audio
