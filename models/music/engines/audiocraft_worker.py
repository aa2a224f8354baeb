"""The worker process of models/music/engines/audiocraft_process.py, run in the audiocraft venv:

    python -m models.music.engines.audiocraft_worker PRESET

It loads the preset with the in-process AudiocraftEngine, says it is ready, then runs one
job per line of stdin, writing events as lines of JSON; files travel as base64 (the messages
are declared in audiocraft_protocol.py). A thread reads stdin while a job runs, so a cancel line
stops that job at its next decoding step.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading

from models.common.cancel import Stops
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
    stops, jobs = Stops(), queue.Queue()  # the jobs the parent sent, in order; None: its stdin closed
    threading.Thread(target=read_lines, args=(stops, jobs), name="atelier-worker-stdin", daemon=True).start()
    while (request := jobs.get()) is not None:
        n = request["n"]
        with stops.watch(str(n)) as stop:
            try:
                for event in engine.events(MusicJob.model_validate(request["job"]), stop):
                    send(protocol.event_to_line(n, event))
            except Exception as e:  # Cancelled included: the parent turns it back into one
                send(protocol.failed(n, e))
    return 0


def read_lines(stops: Stops, jobs: queue.Queue) -> None:
    """Stdin, read while jobs run: a cancel stops its job at once, a job waits its turn."""
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("cancel"):
            stops.request(str(request["n"]))
        else:
            jobs.put(request)
    jobs.put(None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
