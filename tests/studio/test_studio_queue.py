"""Gradio's queue in the studio polls less (ui/studio/page.py poll_less): the attributes it sets are
the ones Gradio's queue loops read, so a Gradio upgrade that renames them fails here, not silently."""

from __future__ import annotations

import inspect

import gradio as gr
from gradio import queueing

from tests.support.servers import FixedLatencyBackend
from ui.gate import Gate
from ui.settings import ApiSettings
from ui.store import ResultStore
from ui.studio.page import PROGRESS_POLL_S, QUEUE_POLL_S, build_studio


def test_the_queue_loops_read_the_attributes_poll_less_sets():
    starting = inspect.getsource(queueing.Queue.start_processing)
    progress = inspect.getsource(queueing.Queue.start_progress_updates)
    assert "asyncio.sleep(self.sleep_when_free)" in starting
    assert "asyncio.sleep(self.progress_update_sleep_when_free)" in progress
    with gr.Blocks() as plain:
        gr.Markdown("a page")
    plain.queue()
    assert plain._queue.sleep_when_free < QUEUE_POLL_S  # Gradio's own: what the studio changes


def test_the_studio_queue_polls_less(tmp_path):
    studio = build_studio(FixedLatencyBackend(), ResultStore(tmp_path / "store"), Gate(ApiSettings()))
    assert studio._queue.sleep_when_free == QUEUE_POLL_S
    assert studio._queue.progress_update_sleep_when_free == PROGRESS_POLL_S
