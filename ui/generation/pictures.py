"""Guide pictures at hand: the control and reference pictures this server sent to a model lately, by
their sha256 (as records and PNG recipes name them: `image_sha256`, or its first 16 hex digits).

Results never keep their guides' pictures (a record keeps the hashes), so a dropped PNG or a remix
link can put a picture back in the studio's Guide panel only while the server still has it: here, in
memory, the most recent up to MAX_BYTES, filled by every generation (flow.py). A restart forgets them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_BYTES = 64 * 2**20
MIN_PREFIX = 16  # hex digits: what a PNG recipe's "Image hash" carries


class PictureShelf:
    def __init__(self, max_bytes: int = MAX_BYTES):
        self.max_bytes = max_bytes
        self._pictures: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, job) -> None:
        """A job's control and reference pictures (a music job has none)."""
        for guide in [*getattr(job, "controls", []), *getattr(job, "references", [])]:
            self.put(guide.sha256, guide.image)

    def put(self, sha256: str, picture: bytes) -> None:
        with self._lock:
            self._pictures[sha256] = picture
            self._pictures.move_to_end(sha256)
            while sum(map(len, self._pictures.values())) > self.max_bytes and len(self._pictures) > 1:
                self._pictures.popitem(last=False)

    def find(self, sha256: str) -> bytes | None:
        """The picture whose hash is, or starts with, `sha256` (at least MIN_PREFIX digits); None if not at hand."""
        if len(sha256) < MIN_PREFIX:
            return None
        with self._lock:
            return next((picture for key, picture in self._pictures.items() if key.startswith(sha256.lower())), None)


shelf = PictureShelf()  # this server's: the studio and the API share it
