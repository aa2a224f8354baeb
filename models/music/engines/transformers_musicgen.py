"""MusicGen and MusicGen Melody through Hugging Face transformers (the main environment)."""

from __future__ import annotations

import time

import numpy as np

from models.common import speed
from models.common.progress import Report
from models.common.weights import LOAD_LOCK, ensure_weights, quiet_loading
from models.music.audio import Pass
from models.music.engines.base import Engine, sampling
from models.music.engines.musicgen_cache import single_prefill, static_cache
from models.music.request import MusicJob


class TransformersEngine(Engine):
    def load(self) -> None:
        from transformers import (
            AutoProcessor,
            AutoTokenizer,
            MusicgenForConditionalGeneration,
            MusicgenMelodyForConditionalGeneration,
        )

        quiet_loading()
        started = time.perf_counter()
        dtype = speed.load_dtype(self.spec.speed)
        with LOAD_LOCK:
            folder = ensure_weights(self.spec.weights)
            if self.spec.takes_melody:
                self.tokenizer = AutoTokenizer.from_pretrained(folder)
                self.chroma = MelodyChroma(folder)
                self.model = MusicgenMelodyForConditionalGeneration.from_pretrained(folder, dtype=dtype)
            else:
                self.processor = AutoProcessor.from_pretrained(folder)
                self.model = single_prefill(MusicgenForConditionalGeneration).from_pretrained(folder, dtype=dtype)
        self.sample_rate = self.model.config.audio_encoder.sampling_rate
        self.frame_rate: int = self.model.config.audio_encoder.frame_rate
        self.load_seconds = round(time.perf_counter() - started, 3)

    def to_device(self, device: str) -> None:
        self.device = device
        self.model.to(device)
        speed.apply_runtime(self.spec.speed)
        # The per-token work: its layers' weights are what every token reads.
        speed.quantize_decoder_layers(self.spec.speed, self.model.decoder.model.decoder.layers)
        if speed.uses_compile(self.spec.speed):
            speed.use_compile_cache()
            self.model.decoder.compile(fullgraph=False)  # the per-token step: where a clip's time goes

    def window(self, job: MusicJob, step: Pass, melody: np.ndarray | None, report: Report) -> np.ndarray:
        import torch
        from transformers import LogitsProcessor, LogitsProcessorList

        frames = round(step.new_s * self.frame_rate)
        # MusicGen's codebooks are offset by one step each (the delay pattern), so N frames
        # of audio take N + codebooks - 1 decoding steps.
        steps = frames + self.model.decoder.num_codebooks - 1

        class CountSteps(LogitsProcessor):  # called once per decoding step: our progress signal
            done = 0

            def __call__(self, input_ids, scores):
                self.done += 1
                report(min(self.done, steps), steps, "composing")
                return scores

        inputs, extra = self._inputs(job, step, melody)
        processors = LogitsProcessorList([CountSteps()])
        guidance_scale = self._guidance(job, processors)
        temperature, top_k = sampling(job)
        if self.spec.speed.static_cache:  # one key/value cache for the whole window, allocated once
            extra.update(self._static_cache(step, steps))
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                **extra,
                do_sample=True,
                temperature=temperature,
                top_k=top_k,
                guidance_scale=guidance_scale,
                max_new_tokens=steps,
                logits_processor=processors,
            )
        audio = out[0, 0].float().cpu().numpy()
        # With a prompt the model returns the prompt's audio too; keep only what is new.
        return audio[len(step.prompt) :] if step.prompt is not None else audio

    def _inputs(self, job: MusicJob, step: Pass, melody: np.ndarray | None) -> tuple[dict, dict]:
        """The model's inputs for one window (the prompt's tokens, and the audio to continue from
        or the melody's chroma), on its device, and the extra arguments to generate()."""
        extra: dict = {}
        if self.spec.takes_melody:
            # The melody model reads the tune as chroma features; it takes an audio prompt as
            # the codes to continue from (what MusicGen does inside generate() with `input_values`).
            inputs = dict(self.tokenizer([job.prompt], padding=True, return_tensors="pt"))
            if melody is not None:
                inputs["input_features"] = self.chroma(melody)
            if step.prompt is not None:
                extra["decoder_input_ids"] = self._codes(step.prompt)
        elif step.prompt is None:
            inputs = self.processor(text=[job.prompt], padding=True, return_tensors="pt")
        else:
            inputs = self.processor(
                audio=[step.prompt], text=[job.prompt], sampling_rate=self.sample_rate, padding=True, return_tensors="pt"
            )
        placed = {k: (v.to(self.device, self.model.dtype) if v.is_floating_point() else v.to(self.device))
                  for k, v in inputs.items()}
        return placed, extra

    def _static_cache(self, step: Pass, steps: int) -> dict:
        """generate()'s arguments for a static key/value cache (models/music/engines/musicgen_cache.py),
        sized for the start token, the audio prompt's EnCodec frames and the new steps. MusicGen's
        only: MusicPreset refuses the option for the melody model."""
        samples_per_frame = self.sample_rate // self.frame_rate
        prompt_frames = 0 if step.prompt is None else -(-len(step.prompt) // samples_per_frame)
        return {"past_key_values": static_cache(self.model, 1 + prompt_frames, steps)}

    @staticmethod
    def _guidance(job: MusicJob, processors) -> float:
        """The guidance scale to hand generate(), adding to `processors` what a scale below 1 needs.

        transformers' MusicGen runs the unconditional pass only for a scale above 1; a scale below 1
        it hands to the generic, decoder-only CFG processor, which feeds the audio codes to the text
        encoder and fails (IndexError). So run it with a carrier scale above 1 and shrink the
        conditional logits first: transformers' processor (appended to this list, so it runs after
        ours) then yields u + (c - u) * guidance, audiocraft's formula, down to 0 (unconditional:
        the prompt is ignored)."""
        if job.guidance >= 1:
            return job.guidance
        processors.append(WeakGuidance(job.guidance / _CARRIER_SCALE))
        return _CARRIER_SCALE

    def _codes(self, prompt: np.ndarray):
        """EnCodec codes of `prompt`, shaped as the decoder's input ids (batch × codebooks, frames)."""
        import torch

        values = torch.from_numpy(np.ascontiguousarray(prompt))[None, None].to(self.device, self.model.dtype)
        with torch.inference_mode():
            codes = self.model.audio_encoder.encode(values).audio_codes  # (chunks=1, batch, codebooks, frames)
        return codes[0].reshape(-1, codes.shape[-1])


# Any scale above 1 switches on transformers' batched classifier-free guidance; 2 keeps the
# arithmetic in WeakGuidance well inside float32.
_CARRIER_SCALE = 2.0


def WeakGuidance(ratio: float):
    """A logits processor for guidance below 1 (see TransformersEngine.window): of the batched
    (conditional, unconditional) logits it moves the conditional ones `ratio` of the way from
    the unconditional ones, so that transformers' guidance at _CARRIER_SCALE lands on the scale asked for."""
    import torch
    from transformers import LogitsProcessor

    class _WeakGuidance(LogitsProcessor):
        def __call__(self, input_ids, scores):
            cond, uncond = scores.split(scores.shape[0] // 2, dim=0)
            return torch.cat([uncond + (cond - uncond) * ratio, uncond], dim=0)

    return _WeakGuidance()


class MelodyChroma:
    """The chroma features MusicGen Melody reads a tune by, as transformers'
    MusicgenMelodyFeatureExtractor computes them, from the folder's preprocessor config.

    That extractor needs torchaudio, which has no build for the main environment's torch;
    the one thing it takes from it is a Spectrogram (power 2, window-normalised), which is
    torch.stft. The chroma filter bank is transformers' own (numpy).
    """

    def __init__(self, folder):
        import torch
        from transformers.audio_utils import chroma_filter_bank
        from transformers.feature_extraction_utils import FeatureExtractionMixin

        config, _ = FeatureExtractionMixin.get_feature_extractor_dict(str(folder))
        self.n_fft, self.hop = config["n_fft"], config["hop_length"]
        self.max_samples = config["chunk_length"] * config["sampling_rate"]
        self.filters = torch.from_numpy(
            chroma_filter_bank(
                sampling_rate=config["sampling_rate"], num_frequency_bins=self.n_fft, tuning=0,
                num_chroma=config["num_chroma"],
            )
        ).float()
        self.window = torch.hann_window(self.n_fft)

    def __call__(self, audio: np.ndarray):
        """(1, frames, chroma): one-hot, the loudest pitch class of each frame."""
        import torch

        wav = torch.from_numpy(np.ascontiguousarray(audio[: self.max_samples], dtype=np.float32))[None]
        if wav.shape[-1] < self.n_fft:  # too short for one frame: centre it in silence
            pad = self.n_fft - wav.shape[-1]
            wav = torch.nn.functional.pad(wav, (pad // 2, pad - pad // 2))
        spec = torch.stft(
            wav, self.n_fft, hop_length=self.hop, win_length=self.n_fft, window=self.window,
            center=True, pad_mode="reflect", return_complex=True,
        )
        spec = spec.abs().pow(2) / self.window.pow(2).sum()
        raw = torch.einsum("cf,...ft->...ct", self.filters, spec)
        chroma = torch.nn.functional.normalize(raw, p=float("inf"), dim=-2, eps=1e-6).transpose(1, 2)
        return torch.zeros_like(chroma).scatter_(-1, chroma.argmax(-1, keepdim=True), 1.0)
