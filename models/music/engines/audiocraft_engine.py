"""MusicGen, MusicGen Melody and AudioGen through Meta's audiocraft, with MultiBand Diffusion.

Runs where audiocraft is installed: the `AudiocraftMusicModel` image on Modal, or the
`.venv-audiocraft` venv locally (then models/music/engines/audiocraft_process.py runs it there).
audiocraft pins torch 2.1, so nothing in the main environment imports this module.

Long clips, seeds, melodies and encoding are shared (models/music/engines/base.py); here is one
window: `generate`, `generate_continuation` or `generate_with_chroma`, as audiocraft offers them.
"""

from __future__ import annotations

import time

import numpy as np

from models.common.progress import Report
from models.common.weights import LOAD_LOCK, ensure_weights
from models.music.audio import Pass
from models.music.engines.base import Engine, sampling
from models.music.request import MusicJob

MBD_FILE = "mbd_musicgen_32khz.th"  # in facebook/multiband-diffusion: the bands trained on MusicGen's tokens


class AudiocraftEngine(Engine):
    def load(self) -> None:
        """Fetch the weights and import what audiocraft stands on: the GPU-free part a snapshot keeps.

        audiocraft itself is imported in `to_device`, after the snapshot: importing it asks CUDA
        how many devices there are (xformers' Triton checks, and spaCy's thinc through audiocraft's
        conditioners; xformers 0.0.22 has no variable that skips its check), and CUDA asked while
        a CPU snapshot is taken answers zero, an answer torch keeps after the restore. torch,
        torchaudio and transformers ask nothing at import (tests/models/test_audiocraft_snapshot.py).
        The models themselves are built in `to_device` too, on their device: audiocraft keeps its
        T5 text encoder and Demucs outside the module tree, where `.to(device)` doesn't reach
        them, so a model loaded on the CPU can't be moved to a GPU afterwards.
        """
        import torch  # noqa: F401  (seconds of work: this is what the snapshot saves)
        import torchaudio  # noqa: F401
        import transformers  # noqa: F401

        started = time.perf_counter()
        with LOAD_LOCK:
            self.folder = ensure_weights(self.spec.weights)
            self.mbd_folder = ensure_weights(self.spec.diffusion_decoder) if self.spec.diffusion_decoder else None
        self.has_diffusion_decoder = self.mbd_folder is not None
        self.load_seconds = round(time.perf_counter() - started, 3)

    def to_device(self, device: str) -> None:
        started = time.perf_counter()  # audiocraft's import (seconds) counts as loading
        from audiocraft.models import AudioGen, MultiBandDiffusion, MusicGen
        from audiocraft.models.loaders import load_diffusion_models
        from audiocraft.models.multibanddiffusion import DiffusionProcess
        from audiocraft.modules.diffusion_schedule import NoiseSchedule

        model_class = AudioGen if self.spec.sound_effects else MusicGen
        with LOAD_LOCK:
            self.model = model_class.get_pretrained(str(self.folder), device=device)
            self.mbd = None
            if self.mbd_folder is not None:
                # MultiBandDiffusion.get_mbd_musicgen(), reading our pinned folder instead of the hub.
                models, processors, cfgs = load_diffusion_models(str(self.mbd_folder), filename=MBD_FILE, device=device)
                processes = [
                    DiffusionProcess(model=m, noise_schedule=NoiseSchedule(**c.schedule, sample_processor=p, device=device))
                    for m, p, c in zip(models, processors, cfgs)
                ]
                self.mbd = MultiBandDiffusion(processes, codec_model=self.model.compression_model)
        self.device = device
        self.sample_rate = self.model.sample_rate
        self.load_seconds = round(self.load_seconds + time.perf_counter() - started, 3)

    def window(self, job: MusicJob, step: Pass, melody: np.ndarray | None, report: Report) -> np.ndarray:
        import torch

        model = self.model
        context_s = 0.0 if step.prompt is None else len(step.prompt) / self.sample_rate
        # audiocraft's duration counts the prompt: the pass makes context + new seconds in all.
        temperature, top_k = sampling(job)
        # audiocraft's top-k is torch.topk over the codebook, which fails for k above its size
        # (400 in the tiny presets; the schema allows 2048). All tokens is what such a k means.
        top_k = min(top_k, model.lm.card)
        model.set_generation_params(
            use_sampling=True, top_k=top_k, top_p=0.0, temperature=temperature,
            duration=context_s + step.new_s, cfg_coef=job.guidance,
        )
        # With a custom callback set, progress=True reports each decoding step to it (and prints nothing).
        model.set_custom_progress_callback(lambda done, total: report(min(done, total), total, "composing"))
        texts = [job.prompt]
        prompt = None if step.prompt is None else torch.from_numpy(np.ascontiguousarray(step.prompt))[None, None].to(self.device)
        decode_with_mbd = job.diffusion_decoder
        with torch.inference_mode():
            if melody is not None and prompt is not None:
                # audiocraft has no public call for "continue, following a melody"; this is
                # generate_with_chroma's body with generate_continuation's prompt.
                tune = torch.from_numpy(np.ascontiguousarray(melody))[None].to(self.device)
                attributes, prompt_tokens = model._prepare_tokens_and_attributes(texts, prompt, melody_wavs=[tune])
                tokens = model._generate_tokens(attributes, prompt_tokens, progress=True)
                out = (model.generate_audio(tokens), tokens) if not decode_with_mbd else (None, tokens)
            elif melody is not None:
                tune = torch.from_numpy(np.ascontiguousarray(melody))[None].to(self.device)
                out = model.generate_with_chroma(texts, [tune], self.sample_rate, progress=True, return_tokens=True)
            elif prompt is None:
                out = model.generate(texts, progress=True, return_tokens=True)
            else:
                out = model.generate_continuation(prompt, self.sample_rate, texts, progress=True, return_tokens=True)
            wav, tokens = out
            if decode_with_mbd:
                report(0, 1, "diffusion decoding")
                wav = self.mbd.tokens_to_wav(tokens)
                report(1, 1, "diffusion decoding")
        audio = wav[0].float().mean(dim=0).cpu().numpy()
        # The tokens, and so the audio, include the prompt's; keep only what is new.
        return audio[len(step.prompt) :] if step.prompt is not None else audio

