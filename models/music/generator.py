"""Text to music (and sound effects): the Modal class, and the engine it dispatches to.

`MusicGenerator` holds one preset's model. app.py turns it into Modal GPU classes
(`MusicModel` on the main image, `AudiocraftMusicModel` on audiocraft's); locally the same
class runs in-process through `.local()`. Which library does the work is the preset's
`engine` (models/music/engines/); everything around one window of audio — seeds, long clips,
melodies, encoding, the record — is shared (models/music/engines/base.py, models/music/audio.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import modal

from models.common.cancel import STOPS
from models.common.device import gpu_snapshots, target_device
from models.common.errors import Cancelled
from models.common.events import ModelEvent
from models.common.fields import checked_again
from models.common.weights import refuse_missing
from models.music.engines import Engine, open_engine
from models.music.request import MusicJob
from models.presets import MusicPreset, all_weights, get_preset


class MusicGenerator:
    preset: str  # which MusicPreset this instance serves; a modal.parameter in app.py

    @modal.enter(snap=True)
    def load(self) -> None:
        """Load the model onto the CPU: this state is what a memory snapshot keeps."""
        self.spec: MusicPreset = get_preset("music", self.preset)
        refuse_missing(self.spec.name, all_weights(self.spec))  # on Modal: before anything slow
        self.engine: Engine = open_engine(self.spec)
        self.engine.load()
        if gpu_snapshots():  # the GPU is there while the snapshot is taken (models/common/device.py)
            self.engine.to_device(target_device())

    @modal.enter(snap=False)
    def to_device(self) -> None:
        if not gpu_snapshots():  # else placed in load, before the snapshot
            self.engine.to_device(target_device())

    @modal.method()
    def generate(self, job: MusicJob, call_id: str | None = None) -> Iterator[ModelEvent]:
        """Yield progress events (milliseconds of audio made), then a result event with the clip.
        Once the call `call_id` is asked to stop (models/common/cancel.py), the model stops at its
        next decoding step and the stream ends without a result."""
        checked = checked_again(MusicJob, job)  # direct callers get the same checks as the UI
        with STOPS.watch(call_id) as stop:
            try:
                yield from self.engine.events(checked, stop)
            except Cancelled:
                return
