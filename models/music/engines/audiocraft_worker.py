"""The worker process of models/music/engines/audiocraft_process.py, run in the audiocraft venv:

    python -m models.music.engines.audiocraft_worker PRESET

It loads the preset with the in-process AudiocraftEngine, says it is ready, then runs one
job per line of stdin, writing events as lines of JSON; files travel as base64.
"""

from __future__ import annotations

import base64
import json
import os
import sys

from models.music.request import MusicJob


def main(preset: str) -> int:
    # The protocol owns the real stdout; anything a library prints goes to stderr instead.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")

    def failed(n: int, e: Exception) -> None:
        send({"n": n, "type": "error", "error": type(e).__name__, "message": str(e)})

    from models.common.device import target_device
    from models.music.engines.audiocraft_engine import AudiocraftEngine
    from models.presets import get_preset

    try:
        engine = AudiocraftEngine(get_preset("music", preset))
        engine.load()
        engine.to_device(target_device())
    except Exception as e:
        failed(0, e)
        return 1
    send({
        "n": 0, "type": "ready", "sample_rate": engine.sample_rate, "device": engine.device,
        "load_seconds": engine.load_seconds, "diffusion_decoder": engine.has_diffusion_decoder,
    })
    for line in sys.stdin:
        request = json.loads(line)
        n = request["n"]
        try:
            for event in engine.events(MusicJob.model_validate(request["job"])):
                for file in event["files"] if event["type"] == "result" else [event.get("preview", {})]:
                    if "data" in file:
                        file["data_base64"] = base64.b64encode(file.pop("data")).decode("ascii")
                send({"n": n, **event})
        except Exception as e:
            failed(n, e)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
