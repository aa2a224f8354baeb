"""The result store: every generation's media and record, jobs' state, and the pictures drawn from results.

    results.py   ResultStore: save, look up, list and search, publish, delete (ids checked, files written once)
    database.py  the index: one SQLite file (records, jobs, prompt search), and why it fits Modal's Volumes
    jobs.py      JobTable: async jobs' state in the index, so it outlives a restart (ResultStore.jobs)
    migrate.py   the old folder-per-result layout moved into the index on first open
    covers.py    share cards and gallery thumbnails drawn from a result's image or waveform
    moderation.py  reports, and the deployment owner's decisions: hidden, pending review, approved
"""

from ui.store import covers, moderation
from ui.store.jobs import JobTable
from ui.store.results import ID_PATTERN, MEDIA_TYPES, ResultStore, Saved, public

__all__ = ["ID_PATTERN", "MEDIA_TYPES", "JobTable", "ResultStore", "Saved", "covers", "moderation", "public"]
