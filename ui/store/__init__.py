"""The result store: every generation's media and record, and the pictures drawn from them.

    results.py   ResultStore: save, look up, list, publish, delete (ids checked, writes atomic)
    covers.py    share cards and gallery thumbnails drawn from a result's image or waveform
"""

from ui.store import covers
from ui.store.results import ID_PATTERN, MEDIA_TYPES, ResultStore, Saved, public

__all__ = ["ID_PATTERN", "MEDIA_TYPES", "ResultStore", "Saved", "covers", "public"]
