"""One music test suite, run on both engines: transformers (`tiny`) and audiocraft
(`tiny-audiocraft`), through the calls the backends make: `MusicModel(preset=...).generate.local(job)`.

In the main environment the audiocraft engine runs in its worker process in .venv-audiocraft
(models/music/engines/audiocraft_process.py), so these tests also check that nothing here imports it.
"""

from __future__ import annotations

import io
import json
import sys
import time
import wave

import numpy as np
import pytest
import soundfile

from models.common.errors import RequestError
from models.common.events import progress_event, result_event
from models.music.engines.audiocraft_protocol import event_from_line, event_to_line
from models.requests import MusicRequest
from tests.support.music import require_audiocraft_venv, tone, wav_bytes

ENGINES = {"transformers": "tiny", "audiocraft": "tiny-audiocraft"}


@pytest.fixture(scope="module")
def instances(model_classes):
    """One model instance per preset for the module, as a backend keeps one per preset
    (an audiocraft worker takes seconds to start)."""
    made: dict = {}

    def get(preset: str):
        if preset not in made:
            made[preset] = model_classes["music"](preset=preset)
        return made[preset]

    yield get
    for instance in made.values():  # let audiocraft workers go
        engine = getattr(instance, "engine", None)
        if engine is not None and hasattr(engine, "close"):
            engine.close()


@pytest.fixture(params=list(ENGINES), ids=list(ENGINES))
def preset(request) -> str:
    if request.param == "audiocraft":
        require_audiocraft_venv()
    return ENGINES[request.param]


def run(instances, request: MusicRequest) -> tuple[list[dict], dict]:
    job = request.resolve("tiny")
    events = list(instances(job.preset).generate.local(job))
    assert events[-1]["type"] == "result"
    assert all(e["type"] == "progress" for e in events[:-1])
    return events[:-1], events[-1]


def decode(file: dict) -> tuple[np.ndarray, int]:
    return soundfile.read(io.BytesIO(file["data"]))


def test_wav_has_the_right_rate_and_duration(instances, preset):
    _, result = run(instances, MusicRequest(prompt="lofi beat", preset=preset, duration=2))
    (f,) = result["files"]
    assert f["mime"] == "audio/wav" and f["name"] == "music.wav"
    with wave.open(io.BytesIO(f["data"])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (32000, 1, 2)
        assert w.getnframes() == 2 * 32000
    assert np.abs(decode(f)[0]).max() > 0


def test_mp3_decodes_to_the_right_duration(instances, preset):
    _, result = run(instances, MusicRequest(prompt="lofi beat", preset=preset, duration=2, format="mp3"))
    (f,) = result["files"]
    assert f["mime"] == "audio/mpeg" and f["name"] == "music.mp3"
    audio, rate = decode(f)
    assert rate == 32000 and abs(len(audio) / rate - 2.0) < 0.1


def test_a_clip_longer_than_the_window_is_continued(instances, preset):
    # Both tiny presets have 4 s windows: 9 s with 1 s of overlap takes three passes.
    progress, result = run(instances, MusicRequest(prompt="lofi beat", preset=preset, duration=9, overlap=1))
    audio, rate = decode(result["files"][0])
    assert len(audio) == 9 * rate
    assert result["record"]["audio"] == {"seconds": 9.0, "sample_rate": 32000, "windows": 3}
    done = [e["done"] for e in progress]
    assert done == sorted(done) and done[-1] == 9000 and {e["total"] for e in progress} == {9000}
    assert any(4000 < d < 9000 for d in done)  # progress moved through the later windows too
    # Between windows, a picture of the clip so far (across the worker's pipe too, for audiocraft).
    previews = [e["preview"] for e in progress if "preview" in e]
    assert [p["mime"] for p in previews] == ["image/png"] * 2 and all(p["data"][:4] == b"\x89PNG" for p in previews)
    # Each window's seam is continuous audio, not silence padding.
    for seam in (4 * rate, 7 * rate):
        assert np.abs(audio[seam - 800 : seam + 800]).max() > 0


def test_seed_reproduces_and_differs(instances, preset):
    def samples(seed):
        _, result = run(instances, MusicRequest(prompt="lofi", preset=preset, duration=1, seed=seed))
        return decode(result["files"][0])[0]

    assert np.array_equal(samples(5), samples(5))
    assert not np.array_equal(samples(5), samples(6))


def test_record_names_the_engine_and_what_was_done(instances, preset):
    engine = "audiocraft" if preset == "tiny-audiocraft" else "transformers"
    _, result = run(instances, MusicRequest(prompt="lofi", preset=preset, duration=1, seed=9))
    record = result["record"]
    assert record["model"]["preset"] == preset and record["model"]["engine"] == engine
    assert record["model"]["device"] == "cpu" and record["model"]["decoder"] == "encodec"
    assert record["seed"] == 9 and record["parameters"]["prompt"] == "lofi"
    assert "melody" not in record["parameters"] and "melody" not in record


def test_the_worker_line_format_is_kept_and_reads_back():
    """audiocraft_protocol's line for an event: bytes as base64 under "data_base64", written as
    before the kinds were declared, and read back to the very event."""
    progress = progress_event(1, 2, "composing", {"mime": "image/png", "data": b"ab"})
    result = result_event([{"name": "music.wav", "mime": "audio/wav", "data": b"RIFF"}], {"seed": 3})
    lines = [json.dumps(event_to_line(7, event)) for event in (progress, result)]
    assert lines == [
        '{"n": 7, "type": "progress", "done": 1, "total": 2, "stage": "composing", '
        '"preview": {"mime": "image/png", "data_base64": "YWI="}}',
        '{"n": 7, "type": "result", "files": [{"name": "music.wav", "mime": "audio/wav", "data_base64": "UklGRg=="}], '
        '"record": {"seed": 3}}',
    ]
    read = [json.loads(line) for line in lines]
    assert [event_from_line({k: v for k, v in m.items() if k != "n"}) for m in read] == [progress, result]


def test_a_job_for_another_preset_is_refused(instances, preset):
    job = MusicRequest(prompt="x", duration=1).resolve("tiny-melody")
    with pytest.raises(RequestError, match=f"serves the {preset} preset"):
        list(instances(preset).generate.local(job))


# --- MultiBand Diffusion: audiocraft only -----------------------------------------------------


def test_diffusion_decoder_is_refused_for_transformers_presets():
    with pytest.raises(RequestError, match="tiny has no MultiBand Diffusion decoder .*transformers engine.*tiny-audiocraft"):
        MusicRequest(prompt="x", preset="tiny", diffusion_decoder=True).resolve("tiny")


def test_diffusion_decoder_in_a_direct_job_is_refused_by_the_transformers_engine(instances):
    """A direct caller (hybrid client, script) skipping `resolve` gets the same answer."""
    job = MusicRequest(prompt="x", duration=1).resolve("tiny").model_dump()
    job["diffusion_decoder"] = True
    with pytest.raises(RequestError, match="no MultiBand Diffusion decoder"):
        list(instances("tiny").generate.local(job))


def test_audiocraft_decodes_with_multiband_diffusion(instances):
    require_audiocraft_venv()
    request = dict(prompt="lofi", preset="tiny-audiocraft", duration=5, overlap=1, seed=3)
    progress, result = run(instances, MusicRequest(**request, diffusion_decoder=True))
    _, plain = run(instances, MusicRequest(**request))
    assert result["record"]["model"]["decoder"] == "multiband-diffusion"
    assert "diffusion decoding" in {e["stage"] for e in progress}
    audio, rate = decode(result["files"][0])
    assert rate == 32000 and len(audio) == 5 * rate and np.abs(audio).max() > 0
    assert not np.array_equal(audio, decode(plain["files"][0])[0])  # a different decoder, different audio


# --- sound effects: AudioGen ------------------------------------------------------------------


def test_audiogen_makes_a_sound_effect_at_16_khz_across_windows(instances):
    require_audiocraft_venv()
    progress, result = run(instances, MusicRequest(prompt="a dog barking in the rain", preset="tiny-audiogen",
                                                   duration=6, overlap=1, format="mp3"))
    audio, rate = decode(result["files"][0])
    assert rate == 16000 and abs(len(audio) / rate - 6) < 0.1 and np.abs(audio).max() > 0
    assert result["record"]["audio"]["windows"] == 2 and result["record"]["model"]["engine"] == "audiocraft"
    assert progress[-1]["done"] == 6000


# --- melody: transformers' MusicGen Melody ------------------------------------------------------


def test_melody_conditions_the_clip(instances):
    def clip(melody: bytes | None, duration: float = 2) -> tuple[np.ndarray, dict]:
        _, result = run(instances, MusicRequest(prompt="lofi", preset="tiny-melody", duration=duration, overlap=1,
                                                seed=4, melody=melody))
        return decode(result["files"][0])[0], result["record"]

    a440, record = clip(wav_bytes(tone(3, freq=440)))
    assert np.array_equal(a440, clip(wav_bytes(tone(3, freq=440)))[0])  # same melody, same seed: same clip
    assert not np.array_equal(a440, clip(wav_bytes(tone(3, freq=311)))[0])  # another tune changes it
    assert not np.array_equal(a440, clip(None)[0])  # and so does none
    assert record["melody"]["seconds"] == 3.0 and len(record["melody"]["sha256"]) == 64
    long, _ = clip(wav_bytes(tone(3, freq=440)), duration=9)  # three windows, the tune repeating under them
    assert len(long) == 9 * 32000


def test_melody_arrives_as_base64_in_json_and_is_recorded_not_kept(instances):
    import base64

    from models.requests import parse

    request = parse("music", {"prompt": "lofi", "preset": "tiny-melody", "duration": 1,
                              "melody": base64.b64encode(wav_bytes(tone(2))).decode()})
    _, result = run(instances, request)
    assert "melody" not in result["record"]["parameters"]
    assert result["record"]["melody"]["seconds"] == 2.0


def test_main_environment_never_imports_audiocraft():
    assert "audiocraft" not in sys.modules


def test_a_clip_asked_to_stop_ends_at_its_next_step_and_the_engine_serves_the_next(instances, preset):
    """Both engines stop at the next decoding step: transformers' generate and audiocraft's LM loop
    (in its worker process, told by a cancel line) each call a report that raises once stopped."""
    from models.common.cancel import STOPS

    instance = instances(preset)
    job = MusicRequest(prompt="long", duration=120, seed=5, preset=preset).resolve("tiny")
    call_id = f"stop-{preset}"
    events, asked = [], None
    for event in instance.generate.local(job, call_id):
        events.append(event)
        if asked is None and event["type"] == "progress" and event["done"] > 0:
            asked = time.monotonic()
            STOPS.request(call_id)
    assert asked is not None and time.monotonic() - asked < 3.0
    assert all(e["type"] == "progress" for e in events) and events[-1]["done"] < 120_000
    _, result = run(instances, MusicRequest(prompt="next", duration=1, preset=preset))
    assert result["record"]["audio"]["seconds"] == 1
