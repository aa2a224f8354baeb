"""Melody uploads: recognised by content, bounded in size and length, never silent; each
refusal a clear sentence. And the chroma the transformers engine reads a melody by."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import soundfile

from models.common.errors import RequestError
from models.music import melody as melodies
from models.music.melody import MAX_MELODY_BYTES, MAX_MELODY_SECONDS
from models.requests import MusicRequest, parse
from tests.support.music import tone, wav_bytes


def request(melody, preset: str = "tiny-melody") -> MusicRequest:
    return parse("music", {"prompt": "a tune", "preset": preset, "melody": melody})


def refused(melody) -> str:
    with pytest.raises(RequestError) as e:
        request(melody)
    return str(e.value)


# --- refusals -------------------------------------------------------------------------------


def test_wrong_file_type_is_named():
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    assert refused(png) == "Melody must be a WAV, FLAC or MP3 file; this is a PNG image."
    assert refused(b"just some text, not audio") == (
        "Melody must be a WAV, FLAC or MP3 file; this is not an audio file we recognise."
    )


def test_a_name_or_claimed_type_does_not_matter_only_content():
    """A WAV header with nothing valid after it is refused by what it is, not by its name."""
    assert refused(b"RIFF\x00\x00\x00\x00WAVEjunkjunk").startswith("Melody is not a readable WAV file")


def test_too_long_is_refused_from_the_header():
    message = refused(wav_bytes(tone(MAX_MELODY_SECONDS + 5, rate=8000), rate=8000))
    assert message == f"Melody is {MAX_MELODY_SECONDS + 5:.1f} s long; the limit is {MAX_MELODY_SECONDS:g} s."


def test_too_short_is_refused():
    assert refused(wav_bytes(tone(0.4))) == "Melody is 0.40 s long; it must be at least 1 s."


def test_too_big_is_refused_before_decoding():
    big = wav_bytes(tone(1)) + bytes(MAX_MELODY_BYTES)
    assert refused(big) == f"Melody file is {len(big) / 2**20:.1f} MB; the limit is {MAX_MELODY_BYTES // 2**20} MB."
    # As base64 too, judged by the string's length before any decoding.
    assert "the limit is 10 MB" in refused("A" * (MAX_MELODY_BYTES * 4 // 3 + 100))


@pytest.mark.parametrize("level, heard", [(0.0, "completely silent"), (0.0003, "silent (-74 dBFS on average)")])
def test_silent_files_are_refused(level, heard):
    assert refused(wav_bytes(tone(2, level=level))) == (
        f"Melody is {heard}: record or choose a file where the tune can be heard."
    )


def test_bad_base64_is_refused():
    assert refused("not base64 at all!") == "Melody must be base64-encoded audio file bytes."


def test_a_melody_for_a_preset_that_cannot_follow_one_is_refused():
    with pytest.raises(RequestError, match="tiny can't follow a melody. Presets that can: .*tiny-melody"):
        request(wav_bytes(tone(2)), preset="tiny").resolve("tiny")


# --- what is accepted, and what a job carries ---------------------------------------------------


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_wav_of_any_width_and_stereo_is_accepted_and_normalised(width):
    data = wav_bytes(tone(2, rate=22050), rate=22050, width=width, channels=2)
    job = request(data).resolve("tiny")
    back = melodies.decode(job.melody)
    assert back.sample_rate == 22050 and abs(back.seconds - 2) < 1e-3
    assert np.allclose(back.samples, tone(2, rate=22050), atol=0.02)  # stereo averaged, scale kept
    assert melodies.read_info(job.melody) == melodies.Info("wav", 2.0, 22050, 1)  # mono 16-bit WAV


def test_normalising_twice_changes_nothing():
    """The model side re-checks a job's melody; an already-normal melody passes unchanged."""
    job = request(wav_bytes(tone(2))).resolve("tiny")
    assert request(job.melody).melody == job.melody


@pytest.mark.parametrize("fmt, magic", [("FLAC", b"fLaC"), ("MP3", b"ID3")])
def test_flac_and_mp3_are_accepted_where_soundfile_is_installed(fmt, magic):
    buf = io.BytesIO()
    soundfile.write(buf, tone(2, rate=44100), 44100, format=fmt)
    data = buf.getvalue()
    if fmt == "MP3" and not data.startswith(magic):  # libsndfile writes MP3 without an ID3 tag
        magic = data[:2]
    assert melodies.sniff(data) == fmt.lower()
    back = melodies.decode(request(data).resolve("tiny").melody)
    assert back.sample_rate == 44100 and abs(back.seconds - 2) < 0.1


def test_flac_is_refused_with_a_reason_where_soundfile_is_missing(monkeypatch):
    buf = io.BytesIO()
    soundfile.write(buf, tone(2), 16000, format="FLAC")
    monkeypatch.setattr(melodies, "_soundfile", lambda: None)  # as on a server without soundfile
    assert refused(buf.getvalue()) == "Melody is FLAC, which this server can't decode; upload a WAV file instead."


def test_json_carries_the_melody_as_base64():
    data = wav_bytes(tone(2))
    job = request(base64.b64encode(data).decode()).resolve("tiny")
    as_json = job.model_dump(mode="json")
    assert base64.b64decode(as_json["melody"]) == job.melody
    assert type(job).model_validate(as_json).melody == job.melody
    # A browser's data: URL is accepted as it is.
    assert request("data:audio/wav;base64," + base64.b64encode(data).decode()).melody == job.melody


# --- alignment and the transformers engine's chroma ---------------------------------------------


def test_window_of_lines_the_melody_up_with_the_clip_and_repeats_it():
    ramp = melodies.Melody(np.arange(100, dtype=np.float32), 10)  # 10 s, one value a sample
    assert list(melodies.window_of(ramp, 2.0, 1.0, 10)) == list(range(20, 30))
    assert list(melodies.window_of(ramp, 9.5, 1.0, 10)) == [95, 96, 97, 98, 99, 0, 1, 2, 3, 4]


def test_chroma_marks_the_pitch_class_of_a_tone(tmp_path):
    from models.common.weights import ensure_weights
    from models.music.engines.transformers_musicgen import MelodyChroma
    from models.presets import get_preset

    chroma = MelodyChroma(ensure_weights(get_preset("music", "tiny-melody").weights))
    for freq, pitch_class in [(440.0, 9), (261.63, 0)]:  # A4 and C4; bins run C, C#, ..., B
        features = chroma(tone(4, rate=32000, freq=freq))
        assert features.shape[-1] == 12 and features.sum(-1).eq(1).all()  # one-hot per frame
        assert features[0].argmax(-1).mode().values.item() == pitch_class


# --- through the REST API (which takes MusicRequest as its body) --------------------------------


def test_the_api_takes_a_base64_melody_and_explains_a_bad_one(backend, store):
    from fastapi.testclient import TestClient

    from ui.web import create_app

    with TestClient(create_app(backend, store)) as client:
        melody = base64.b64encode(wav_bytes(tone(2))).decode()
        made = client.post("/api/v1/music", json={"prompt": "a tune", "preset": "tiny-melody", "duration": 1,
                                                  "melody": melody})
        assert made.status_code == 201, made.text
        silent = base64.b64encode(wav_bytes(tone(2, level=0))).decode()
        refused = client.post("/api/v1/music", json={"prompt": "a tune", "preset": "tiny-melody", "melody": silent})
        assert refused.status_code == 422
        assert "Melody is completely silent" in refused.json()["error"]["message"]
