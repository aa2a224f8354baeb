"""Music engines: the libraries that can run a music preset, behind one interface.

`models/music/generator.py`'s MusicGenerator (the Modal class) holds one engine, chosen by the
preset's `engine` field:

- transformers_musicgen: MusicGen and MusicGen Melody through Hugging Face transformers,
  in the main environment (torch 2.13).
- audiocraft_engine: Meta's reference library (MusicGen, AudioGen, MultiBand Diffusion).
  It pins torch 2.1, so it lives in its own Modal image and, locally, in its own venv
  (`make audiocraft-env`). In a process without audiocraft (the main environment) the
  engine runs in a worker process in that venv (audiocraft_process), speaking the same events
  over a line protocol (audiocraft_protocol).

Nothing here imports torch, transformers or audiocraft at module level: an engine imports its
library when it loads, so the main environment never imports audiocraft at all.
"""

from __future__ import annotations

import importlib.util

from models.common.errors import EngineUnavailable

# The engine modules import their libraries inside their methods, so importing them here
# costs nothing and pulls in no torch; all of models/ is imported together, up front.
from models.music.engines.audiocraft_engine import AudiocraftEngine
from models.music.engines.audiocraft_process import AudiocraftProcess
from models.music.engines.base import Engine
from models.music.engines.transformers_musicgen import TransformersEngine
from models.presets import MusicPreset

__all__ = ["Engine", "EngineUnavailable", "open_engine"]


def open_engine(spec: MusicPreset) -> Engine:
    """The engine that runs `spec`, not yet loaded."""
    if spec.engine == "transformers":
        return TransformersEngine(spec)
    # find_spec looks audiocraft up without importing it.
    if importlib.util.find_spec("audiocraft") is not None:
        return AudiocraftEngine(spec)
    return AudiocraftProcess(spec)
