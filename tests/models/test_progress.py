"""Progress reporting (models/common/progress.py): MusicGen's per-token steps, thinned to what a bar shows."""

from __future__ import annotations

from models.common.progress import throttled
from models.requests import MusicRequest


def test_throttled_passes_the_first_the_last_and_previews_and_thins_the_rest(monkeypatch):
    import models.common.progress as progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    seen = []
    report = throttled(lambda done, total, stage, **extra: seen.append((done, bool(extra))), every_s=0.25)
    for done in range(1, 11):  # ten steps 1/16 s apart
        report(done, 10, "composing", **({"preview": {"data": b"x"}} if done == 6 else {}))
        clock[0] += 0.0625
    assert seen == [(1, False), (5, False), (6, True), (10, False)]


def test_a_clip_reports_a_few_times_a_second_not_every_token(model_classes):
    job = MusicRequest(prompt="beat", duration=5, seed=3, preset="tiny").resolve("tiny")
    events = list(model_classes["music"](preset="tiny").generate.local(job))
    progress = [e for e in events if e["type"] == "progress"]
    # 5 s at 50 tokens a second is 250+ steps; the tiny model makes them in about a second
    assert 2 <= len(progress) < 40, len(progress)
    assert progress[-1]["done"] == 5000 and [e["done"] for e in progress] == sorted(e["done"] for e in progress)
    assert sum("preview" in e for e in progress) == 1  # the waveform between the two windows
