"""The worker process of models/music/engines/audiocraft_process.py, run in the audiocraft venv:

    python -m models.music.engines.audiocraft_worker PRESET

It loads the preset with the in-process AudiocraftEngine, says it is ready, then runs one
job per line of stdin, writing events as lines of JSON; files travel as base64 (the messages
are declared in audiocraft_protocol.py).
"""

from __future__ import annotations

import json
import os
import sys

from models.music.engines import audiocraft_protocol as protocol
from models.music.request import MusicJob


def main(preset: str) -> int:
    # The protocol owns the real stdout; anything a library prints goes to stderr instead.
    lines = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(message: protocol.WorkerMessage | dict) -> None:
        lines.write(json.dumps(message) + "\n")

    from models.common.device import target_device
    from models.music.engines.audiocraft_engine import AudiocraftEngine
    from models.presets import get_preset

    try:
        engine = AudiocraftEngine(get_preset("music", preset))
        engine.load()
        engine.to_device(target_device())
    except Exception as e:
        send(protocol.failed(0, e))
        return 1
    send(protocol.ready(engine.sample_rate, engine.device, engine.load_seconds, engine.has_diffusion_decoder))
    for line in sys.stdin:
        request = json.loads(line)
        n = request["n"]
        try:
            for event in engine.events(MusicJob.model_validate(request["job"])):
                send(protocol.event_to_line(n, event))
        except Exception as e:
            send(protocol.failed(n, e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
