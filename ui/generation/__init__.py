"""Where and how generation runs, and what follows it: one path from a checked job to a saved result.

    backend.py    the Backend interface every caller uses
    local.py      LocalBackend: the app's model classes in this process
    remote.py     ModalBackend: Modal's GPU classes (inside the app, or hybrid from a local UI)
    flow.py       generate(): backend → result store → caller, the one path every result takes
    events.py     the kinds of event the web side adds (queued, saved, a job's stream), and their makers
    line.py       the line of callers waiting for a model, each told its place as it moves
    blocklist.py  the prompt blocklist every request is checked against (in Backend.resolve)
    inputs.py     pictures named by a result id (an input, a guide's, a training's), swapped for that
                  result's image; a result's follow-ups (vary, upscale) and an adapter's use as requests
    pictures.py   the guide pictures this server sent lately, by hash (`shelf`): records keep only hashes
    jobs.py       async jobs: run in the background, polled, streamed, announced by webhook
    webhooks.py   signed webhook deliveries with retries
    terminal.py   a generation from a terminal: progress bar, files copied to a folder
"""

from ui.generation.backend import Backend
from ui.generation.flow import generate
from ui.generation.inputs import (
    FOLLOW_UPS,
    FollowUp,
    adapter_use,
    checked_job,
    checked_training,
    follow_up,
    result_image,
    with_input_image,
)
from ui.generation.jobs import Busy, JobManager, JobState
from ui.generation.local import LocalBackend
from ui.generation.pictures import shelf
from ui.generation.remote import ModalBackend
from ui.generation.terminal import generate_and_save
from ui.generation.webhooks import Delivery, WebhookSender

__all__ = ["FOLLOW_UPS", "Backend", "Busy", "Delivery", "FollowUp", "JobManager", "JobState", "LocalBackend", "ModalBackend",
           "WebhookSender", "adapter_use", "checked_job", "checked_training", "follow_up", "generate", "generate_and_save", "result_image", "shelf",
           "with_input_image"]
