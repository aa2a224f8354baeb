"""Vary (subtle), Vary (strong) and Upscale 2× under the image on show, and the share page's links to
them (`/?kind=image&follow=vary-subtle&result=<id>`), which open the studio and run them at once.

Each is one request made from the result (ui/generation/inputs.py `follow_up`: its prompt and
settings, its image, a new seed, and its id as the parent the new record's lineage names), run as
any generation is (ui/studio/run.py), its result shown and added to the visitor's history.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import gradio as gr

from models.common.errors import RequestError
from ui.errors import NotFound
from ui.generation import FOLLOW_UPS, FollowUp, follow_up
from ui.store import ResultStore
from ui.studio.session import History


@dataclass
class FollowUpRow:
    buttons: dict[str, gr.Button]

    @classmethod
    def build(cls) -> FollowUpRow:
        """The buttons, in the row the caller has open."""
        return cls({action: gr.Button(label, size="sm", elem_id=f"image-{action}") for action, label in FOLLOW_UPS.items()})

    def wire(self, tab, store: ResultStore, history: gr.State, strip: gr.HTML) -> None:
        """Each button runs its follow-up of the result on show (`tab.current`)."""
        for action, button in self.buttons.items():
            button.click(_runner(tab, store, strip, action), [tab.current, history], [*tab.show_outputs, strip,
                         *tab.share.outputs], api_visibility="private", concurrency_limit=None,
                         show_progress_on=[tab.details])

    @staticmethod
    def run_from_link(loaded, tab, store: ResultStore, history: gr.State, strip: gr.HTML) -> None:
        """After the page has loaded (`loaded`, its load event): the follow-up its link asks for, if any,
        with the form filled from the new result."""
        loaded.then(_runner(tab, store, strip, None), [tab.current, history],
                    [*tab.show_outputs, strip, *tab.share.outputs, *tab.fill_outputs], api_visibility="private",
                    concurrency_limit=None, show_progress_on=[tab.details])


def _runner(tab, store: ResultStore, strip: gr.HTML, action: FollowUp | None):
    """The handler of one follow-up (None: the one the page's link names)."""

    async def run_follow_up(result_id: str | None, session: History, request: gr.Request,
                            progress: gr.Progress = gr.Progress()):
        chosen, source = action, result_id
        if action is None:  # from a link: ?follow=<action>&result=<id>, or nothing to do
            query = dict(request.query_params)
            chosen, source = query.get("follow"), query.get("result")
            if chosen not in FOLLOW_UPS or not source:
                yield {tab.current: gr.skip()}
                return
        if not source:
            raise gr.Error("Make or pick an image first: Vary and Upscale start from it.", print_exception=False)
        try:
            fields = (await asyncio.to_thread(follow_up, store, source, chosen)).model_dump(exclude_unset=True)
        except (RequestError, NotFound) as e:
            raise gr.Error(str(e), title="That result can't be followed up", print_exception=False) from None
        shown: dict = {}
        async for shown in tab.results(fields, session, progress):
            yield shown
        listed, button, link = tab.share.after_result(session)  # a new result: listed, and it can be shared
        finished = {strip: listed, tab.share.button: button, tab.share.link: link}
        if action is None:  # the form shows how the new result was made
            finished |= tab.fill(store.get(shown[tab.current])["parameters"])
        yield finished

    return run_follow_up
