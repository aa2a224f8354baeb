"""The music request schema: what a person may ask of a music model, and the checked job it becomes."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from models.common.errors import RequestError
from models.common.fields import MAX_SEED, Prompt, Seed, Strict, seed_or_random
from models.music.melody import MelodyFile
from models.presets import MUSIC_PRESETS, MusicPreset, get_preset

MAX_MUSIC_SECONDS = 300.0
GREEDY_BELOW = 0.01  # a temperature under this takes the likeliest token (models/music/engines/base.py)


class MusicRequest(Strict):
    """Make music from a text prompt. Clips longer than the model's window are continued."""

    kind: ClassVar[str] = "music"

    prompt: Prompt
    preset: str | None = Field(None, description=f"One of: {', '.join(MUSIC_PRESETS)}.")
    duration: float = Field(10.0, ge=1, le=MAX_MUSIC_SECONDS, description="Seconds of audio.")
    format: Literal["wav", "mp3"] = Field("wav", description="Audio file format.")
    seed: Seed = None
    temperature: float | None = Field(
        None, gt=0, le=2, description=f"Sampling temperature; below {GREEDY_BELOW:g}, always the likeliest token."
    )
    top_k: int | None = Field(None, ge=1, le=2048, description="Sample from the k likeliest tokens.")
    guidance: float | None = Field(None, ge=0, le=15, description="Classifier-free guidance scale.")
    overlap: float | None = Field(
        None, ge=0.5, le=10, description="Seconds of context carried into each continuation window."
    )
    melody: MelodyFile | None = None
    diffusion_decoder: bool = Field(
        False, description="Decode with MultiBand Diffusion instead of EnCodec (audiocraft presets that have it): "
        "cleaner audio, several times slower."
    )

    def resolve(self, default_preset: str) -> MusicJob:
        preset = get_preset("music", self.preset or default_preset)
        check_music_features(self, preset)
        # A sixth of the window keeps most of each pass for new music (5 s of 30 s, as in audiocraft).
        overlap = self.overlap if self.overlap is not None else round(preset.window_s / 6, 2)
        if overlap > preset.window_s / 2:
            raise RequestError(
                f"An overlap of {overlap:g} s is too long for {preset.name}, whose window is "
                f"{preset.window_s:g} s: use at most {preset.window_s / 2:g} s."
            )
        return MusicJob(
            prompt=self.prompt,
            preset=preset.name,
            duration=self.duration,
            format=self.format,
            seed=seed_or_random(self.seed),
            temperature=preset.temperature if self.temperature is None else self.temperature,
            top_k=self.top_k or preset.top_k,
            guidance=preset.guidance if self.guidance is None else self.guidance,
            window=preset.window_s,
            overlap=overlap,
            melody=self.melody,
            diffusion_decoder=self.diffusion_decoder,
        )


def check_music_features(request: "MusicRequest | MusicJob", preset: MusicPreset) -> None:
    """A melody or a diffusion decoder only where the preset's model has one."""
    if request.melody is not None and not preset.takes_melody:
        takers = [p.name for p in MUSIC_PRESETS.values() if p.takes_melody]
        raise RequestError(f"{preset.name} can't follow a melody. Presets that can: {', '.join(takers)}.")
    if request.diffusion_decoder and preset.diffusion_decoder is None:
        havers = [p.name for p in MUSIC_PRESETS.values() if p.diffusion_decoder is not None]
        raise RequestError(
            f"{preset.name} has no MultiBand Diffusion decoder (it runs on the {preset.engine} engine). "
            f"Presets that have one: {', '.join(havers)}."
        )


class MusicJob(Strict):
    """A checked, complete music request."""

    kind: Literal["music"] = "music"
    prompt: Prompt
    preset: str
    duration: float = Field(ge=1, le=MAX_MUSIC_SECONDS)
    format: Literal["wav", "mp3"]
    seed: int = Field(ge=0, le=MAX_SEED)
    temperature: float = Field(gt=0, le=2)
    top_k: int = Field(ge=1, le=2048)
    guidance: float = Field(ge=0, le=15)
    window: float = Field(gt=0)
    overlap: float = Field(ge=0)
    melody: MelodyFile | None = None  # mono 16-bit WAV once checked
    diffusion_decoder: bool = False

