"""The audiocraft class's snapshot phase asks CUDA nothing.

`AudiocraftMusicModel` takes CPU memory snapshots: its `load` (snap=True) runs with no GPU
attached and is frozen into the snapshot. CUDA asked for its devices then answers zero, and
torch keeps that answer (c10 counts devices once per process), so every container restored
from the snapshot would find no GPU (Modal's memory-snapshot guide). Importing audiocraft asks
(xformers' Triton checks, spaCy's thinc), so it must wait for `to_device` (snap=False).

Run in the audiocraft venv (torch 2.1, a CUDA build, no GPU here) with the image's settings:
every call from Python into torch's device-count and CUDA-init entry points is recorded with
`sys.setprofile` while the snapshot phase runs; then audiocraft itself is imported under the
same recorder, which must see its queries (the recorder is shown to work)."""

from __future__ import annotations

import json
import os
import subprocess

import app
from models.music.engines.audiocraft_process import ROOT, interpreter
from tests.support.music import require_audiocraft_venv

SNAPSHOT_PHASE = """
import json, sys, threading

PROBES = {"_cuda_getDeviceCount", "_cuda_init", "_cuda_isDriverSufficient", "_cuda_getArchFlags"}
asked = []

def record(frame, event, arg):
    if event == "c_call" and getattr(arg, "__name__", "") in PROBES:
        while frame.f_back and "/torch/" in frame.f_code.co_filename:  # name who asked torch, not torch
            frame = frame.f_back
        asked.append(f"{arg.__name__} from {frame.f_code.co_filename}:{frame.f_lineno}")

from models.music.engines.audiocraft_engine import AudiocraftEngine
from models.presets import get_preset

engine = AudiocraftEngine(get_preset("music", sys.argv[1]))
if sys.argv[2] == "build":  # the tiny weights are built beforehand, as download_weights would
    engine.load()
    sys.exit()
sys.setprofile(record)
threading.setprofile(record)
engine.load()  # what MusicGenerator.load (snap=True) runs for this engine
in_snapshot = list(asked)
import audiocraft.models  # what to_device imports after the restore
sys.setprofile(None)
import torch

print(json.dumps({"in_snapshot": in_snapshot, "after": asked[len(in_snapshot):],
                  "initialized": torch.cuda.is_initialized()}))
"""


def run(preset: str, step: str) -> subprocess.CompletedProcess:
    # The image's own settings (ATELIER_DEVICE=cuda, ...); its Volume paths stay this test's.
    image = {k: v for k, v in app.AUDIOCRAFT_ENV.items() if not v.startswith("/")}
    return subprocess.run([str(interpreter()), "-c", SNAPSHOT_PHASE, preset, step], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env={**os.environ, **image, "PYTHONPATH": str(ROOT)})


def test_loading_the_audiocraft_engine_for_a_snapshot_never_asks_cuda_anything():
    require_audiocraft_venv()
    built = run("tiny-audiocraft", "build")
    assert built.returncode == 0, built.stderr[-3000:]
    out = run("tiny-audiocraft", "snapshot")
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["in_snapshot"] == []
    assert seen["after"], "the recorder saw nothing even where audiocraft's import asks CUDA"
    assert any("xformers" in call for call in seen["after"])
    assert seen["initialized"] is False
