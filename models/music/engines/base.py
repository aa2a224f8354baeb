"""What every music engine shares: one job, start to finish, around an engine's one window.

An engine subclass only loads its model and makes one window of audio (`window`). Seeding,
long clips (models/music/audio.py generate_long), melody alignment, encoding and the record are
done here, once, so every engine behaves the same to a caller.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import numpy as np

from models.common import recipes, speed
from models.common.cancel import Stop, stopping
from models.common.errors import RequestError
from models.common.events import ModelEvent, ResultEvent, result_event
from models.common.progress import ModelThread, Report, stream
from models.music import melody as melodies
from models.music.audio import MIME, Pass, encode, generate_long, plan_windows
from models.music.request import GREEDY_BELOW, MusicJob, check_music_features
from models.presets import MusicPreset

# MusicGen samples with torch's process-wide random generator (generate() takes no
# generator argument). One Modal container runs one input at a time, but in-process two
# music models could interleave draws and break "same seed, same clip"; this lock keeps
# each seeded generation whole.
_GLOBAL_RNG = threading.Lock()


# Sampling divides the logits by the temperature. Near 0 that overflows — logits of 10 over
# 1e-38 are inf in float32, and audiocraft on a GPU samples float16 logits, which overflow far
# sooner — and softmax over inf is NaN, which torch.multinomial refuses: the schema's
# temperature > 0 allows 1e-38, so that was a 502. As the temperature goes to 0, sampling
# becomes taking the likeliest token; below GREEDY_BELOW (where sampling already nearly always
# does) the engines take exactly that: top-k 1 at temperature 1, with no division that can overflow.
# The schema's description says so (models/music/request.py).
def sampling(job: MusicJob) -> tuple[float, int]:
    """The (temperature, top_k) an engine samples with for `job`."""
    if job.temperature < GREEDY_BELOW:
        return 1.0, 1
    return job.temperature, job.top_k


class Engine:
    sample_rate: int  # of the audio the model makes
    device: str = "cpu"
    load_seconds: float = 0.0
    has_diffusion_decoder: bool = False

    def __init__(self, spec: MusicPreset):
        self.spec = spec
        self._thread = ModelThread(f"atelier-{spec.name}")  # runs every clip, as the image batcher's does

    # --- what an engine implements ----------------------------------------------------------

    def load(self) -> None:
        """Weights onto the CPU (Modal's snapshot phase): no GPU is attached yet."""
        raise NotImplementedError

    def to_device(self, device: str) -> None:
        raise NotImplementedError

    def window(self, job: MusicJob, step: Pass, melody: np.ndarray | None, report: Report) -> np.ndarray:
        """One pass of the model: `step.new_s` seconds of new audio (float32 mono at
        `sample_rate`), continuing `step.prompt` if given and following `melody` (the stretch
        of the melody under this pass, prompt included) if given."""
        raise NotImplementedError

    # --- shared --------------------------------------------------------------------------------

    def events(self, job: MusicJob, stop: Stop | None = None) -> Iterator[ModelEvent]:
        """Progress events, then the result event. A job this engine can't make is refused here,
        at once, rather than after the clips queued before it. Once `stop` is set, Cancelled is
        raised at the next decoding step (`run`)."""
        self.check(job)
        yield from stream(lambda report: self.run(job, report, stop or Stop()), on=self._thread)

    def check(self, job: MusicJob) -> None:
        if job.preset != self.spec.name:
            raise RequestError(f"This model serves the {self.spec.name} preset, not {job.preset}.")
        check_music_features(job, self.spec)
        if job.diffusion_decoder and not self.has_diffusion_decoder:  # the preset says yes, the engine can't
            raise RequestError(f"The {type(self).__name__} has no MultiBand Diffusion decoder.")

    def run(self, job: MusicJob, report: Report, stop: Stop | None = None) -> ResultEvent:
        """The clip, window by window. Cancelled once `stop` is set: before a window, or at the
        next decoding step inside one (every engine reports each step, and that report checks)."""
        import torch

        self.check(job)  # again: direct callers of run() get the same refusals
        stop = stop or Stop()
        stop.check()  # cancelled while it waited for the model thread
        melody = melodies.decode(job.melody) if job.melody is not None else None

        def one_window(step: Pass, rep: Report) -> np.ndarray:
            stop.check()
            tune = None
            if melody is not None:
                context_s = 0.0 if step.prompt is None else len(step.prompt) / self.sample_rate
                tune = melodies.window_of(melody, step.start_s, context_s + step.new_s, self.sample_rate)
            return self.window(job, step, tune, stopping(rep, stop))

        started = time.perf_counter()
        with _GLOBAL_RNG:
            torch.manual_seed(job.seed)
            audio = generate_long(
                one_window,
                duration=job.duration,
                window=job.window,
                overlap=job.overlap,
                sample_rate=self.sample_rate,
                report=report,
            )
        parameters = job.model_dump(exclude={"kind", "melody"})
        data = recipes.audio_with_recipe(encode(audio, self.sample_rate, job.format), job.format, parameters)
        record = {
            "kind": "music",
            "model": {
                "preset": self.spec.name,
                "engine": self.spec.engine,
                "weights": self.spec.weights.describe(),
                "device": self.device,
                "decoder": "multiband-diffusion" if job.diffusion_decoder else "encodec",
            }
            | speed.record(self.spec.speed),
            "parameters": parameters,
            "seed": job.seed,
            "audio": {
                "seconds": round(len(audio) / self.sample_rate, 3),
                "sample_rate": self.sample_rate,
                "windows": len(plan_windows(job.duration, job.window, job.overlap)),
            },
            "seconds": {"load": self.load_seconds, "generate": round(time.perf_counter() - started, 3)},
        }
        if melody is not None:  # what was followed, without the upload itself
            record["melody"] = {
                "seconds": round(melody.seconds, 3),
                "sha256": hashlib.sha256(job.melody).hexdigest(),
            }
        return result_event([{"name": f"music.{job.format}", "mime": MIME[job.format], "data": data}], record)
