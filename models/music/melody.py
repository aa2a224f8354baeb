"""Melody files: recognising, decoding and normalising the audio a melody preset follows.

A person uploads a melody (a hummed tune, a riff); MusicGen Melody makes music that follows
its chroma (which notes sound when). This module holds the mechanics, and at its end the
request field (`MelodyFile`) with the limits and the messages a person sees:

- `sniff` tells the file type from its first bytes, never from a name or a claimed MIME type;
- `read_info` reads a file's length without decoding it, so an hour-long upload is refused cheaply;
- `decode` turns a file into mono float samples;
- `to_wav` writes the one form jobs carry: mono 16-bit PCM WAV, readable with the stdlib alone,
  so the GPU side needs no audio library to read it back.

WAV is read with the standard library. FLAC and MP3 need `soundfile` (libsndfile 1.1+ reads
MP3); where it is not installed they are refused with a message saying so.

Web side too: numpy at most, no torch here.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from models.common import signatures
from models.common.errors import MelodyError
from models.common.fields import base64_json, from_base64, too_many_bytes

FORMATS = ("wav", "flac", "mp3")


@dataclass(frozen=True)
class Info:
    format: str  # one of FORMATS
    seconds: float
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class Melody:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate

    def rms_dbfs(self) -> float:
        rms = float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64)))) if self.samples.size else 0.0
        return 20 * np.log10(rms) if rms > 0 else float("-inf")


def sniff(data: bytes) -> str | None:
    """The audio format of a file from its magic bytes, or None if it is not one we read."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:3] == b"ID3":  # an ID3v2 tag in front of MPEG audio frames
        return "mp3"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE6 in (0xE2, 0xE4, 0xE6):  # MPEG frame sync, layer I–III
        return "mp3"
    return None


def describe_unknown(data: bytes) -> str:
    """A few common non-audio files, named, so the message helps ("this is a PNG image")."""
    return signatures.describe(data, unknown="not an audio file we recognise")


def read_info(data: bytes) -> Info:
    """Format, length and rate from the file's header. Raises MelodyError."""
    fmt = sniff(data)
    if fmt is None:
        raise MelodyError(f"must be a WAV, FLAC or MP3 file; this is {describe_unknown(data)}.")
    if fmt == "wav":
        try:
            with wave.open(io.BytesIO(data)) as w:
                return Info("wav", w.getnframes() / w.getframerate(), w.getframerate(), w.getnchannels())
        except (wave.Error, EOFError, ZeroDivisionError) as e:
            if _soundfile() is None:  # e.g. 32-bit float WAV, which the stdlib doesn't read
                raise MelodyError(f"is a WAV file this server can't read ({e}); save it as 16-bit PCM WAV.") from None
    sf = _soundfile()
    if sf is None:
        raise MelodyError(f"is {fmt.upper()}, which this server can't decode; upload a WAV file instead.")
    try:
        info = sf.info(io.BytesIO(data))
    except Exception as e:  # libsndfile's errors are plain RuntimeErrors with its own text
        raise MelodyError(f"is not a readable {fmt.upper()} file ({_first_line(e)}).") from None
    return Info(fmt, info.frames / info.samplerate, int(info.samplerate), int(info.channels))


def decode(data: bytes) -> Melody:
    """The whole file as mono float32 samples. Raises MelodyError."""
    info = read_info(data)
    if info.format == "wav" and (samples := _decode_wav_stdlib(data)) is not None:
        return Melody(samples, info.sample_rate)
    sf = _soundfile()
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:
        raise MelodyError(f"is not a readable {info.format.upper()} file ({_first_line(e)}).") from None
    return Melody(np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32), int(rate))


def to_wav(melody: Melody) -> bytes:
    pcm = (np.clip(melody.samples, -1.0, 1.0) * 32767).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(melody.sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear-interpolation resampling. Enough for a melody, which models read as chroma
    (which pitch classes sound), not as a waveform to reproduce."""
    if rate == target or not samples.size:
        return samples.astype(np.float32)
    n = int(round(len(samples) * target / rate))
    return np.interp(np.arange(n) * (rate / target), np.arange(len(samples)), samples).astype(np.float32)


def window_of(melody: Melody, start_s: float, seconds: float, sample_rate: int) -> np.ndarray:
    """The stretch of the melody that sounds under clip time [start_s, start_s + seconds),
    at `sample_rate`. A melody shorter than the clip repeats, as audiocraft does for long clips."""
    samples = resample(melody.samples, melody.sample_rate, sample_rate)
    start, n = int(round(start_s * sample_rate)), int(round(seconds * sample_rate))
    return samples[(start + np.arange(n)) % len(samples)]


def _decode_wav_stdlib(data: bytes) -> np.ndarray | None:
    try:
        with wave.open(io.BytesIO(data)) as w:
            width, channels, frames = w.getsampwidth(), w.getnchannels(), w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        return None
    if width == 1:  # 8-bit WAV is unsigned
        audio = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128) / 128
    elif width == 3:  # 24-bit: widen each little-endian triple to int32
        raw = np.frombuffer(frames, np.uint8).reshape(-1, 3)
        audio = (raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int8).astype(np.int32) << 16) / 2**23
    elif width in (2, 4):
        audio = np.frombuffer(frames, f"<i{width}").astype(np.float32) / 2 ** (8 * width - 1)
    else:
        return None
    audio = np.asarray(audio, dtype=np.float32)
    return audio[: len(audio) // channels * channels].reshape(-1, channels).mean(axis=1)


def _soundfile():
    try:
        import soundfile

        return soundfile
    except (ImportError, OSError):  # OSError: the package is there but libsndfile is not
        return None


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


# --- as a request field: the limits a person meets, checked by the request schema ---------------

# A melody upload: refused if it is too big to read, too long to follow, silent or not audio.
MAX_MELODY_BYTES = 10 * 1024 * 1024
MAX_MELODY_SECONDS = 30.0  # MusicGen Melody reads up to one 30 s window of chroma
MIN_MELODY_SECONDS = 1.0
SILENT_BELOW_DBFS = -60.0  # quieter than this on average is silence (or a near-empty recording)
MELODY_RATES = (8000, 192000)


def _melody_from_base64(value: object) -> object:
    return from_base64(value, MAX_MELODY_BYTES, "melody", "must be base64-encoded audio file bytes.")


def _checked_melody(data: bytes) -> bytes:
    """Check an uploaded melody against the limits above; return it as mono 16-bit WAV."""
    if len(data) > MAX_MELODY_BYTES:
        raise PydanticCustomError("melody", too_many_bytes(len(data), MAX_MELODY_BYTES))
    try:
        info = read_info(data)
        if info.seconds > MAX_MELODY_SECONDS:
            raise MelodyError(f"is {info.seconds:.1f} s long; the limit is {MAX_MELODY_SECONDS:g} s.")
        if not MELODY_RATES[0] <= info.sample_rate <= MELODY_RATES[1]:
            raise MelodyError(
                f"has a sample rate of {info.sample_rate} Hz; use {MELODY_RATES[0]}–{MELODY_RATES[1]} Hz."
            )
        decoded = decode(data)
    except MelodyError as e:
        raise PydanticCustomError("melody", str(e)) from None
    if decoded.seconds < MIN_MELODY_SECONDS:
        raise PydanticCustomError(
            "melody", f"is {decoded.seconds:.2f} s long; it must be at least {MIN_MELODY_SECONDS:g} s."
        )
    if (level := decoded.rms_dbfs()) < SILENT_BELOW_DBFS:
        heard = "completely silent" if level == float("-inf") else f"silent ({level:.0f} dBFS on average)"
        raise PydanticCustomError("melody", f"is {heard}: record or choose a file where the tune can be heard.")
    return to_wav(decoded)


MelodyFile = Annotated[
    bytes,
    BeforeValidator(_melody_from_base64),
    AfterValidator(_checked_melody),
    PlainSerializer(base64_json, return_type=str, when_used="json"),
    Field(description=f"A tune to follow (WAV; FLAC or MP3 where the server can decode them), "
          f"{MIN_MELODY_SECONDS:g}–{MAX_MELODY_SECONDS:g} s, at most {MAX_MELODY_BYTES // 2**20} MB: "
          "bytes, or base64 in JSON. Melody presets only."),
]
