"""Sharing from the studio, and the history strip that lists a visitor's results.

Share publishes the result on show (store.set_published with the owner token from the
visitor's session), shows its absolute /r/{id} link with a copy button, and lets the
owner's browser remember the token in localStorage under "atelier.owner.<id>", where the
permalink page looks for it to offer unpublish and delete.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import gradio as gr

from ui.store import ResultStore
from ui.studio.run import public_base_url
from ui.studio.session import History, owner_key, publish
from ui.urls import permalink_path

# Runs in the owner's browser after a share: keep the token for the permalink page, and
# copy the link (best effort: the clipboard needs a secure page and a recent click).
REMEMBER_OWNER_JS = """
(key, link) => {
  if (key && key.id && key.token) localStorage.setItem(`atelier.owner.${key.id}`, key.token);
  if (link && navigator.clipboard) navigator.clipboard.writeText(link).catch(() => {});
}
"""


@dataclass
class ShareRow:
    button: gr.Button
    link: gr.Textbox
    key: gr.JSON  # the owner key, on its way to the owner's localStorage; never shown

    @classmethod
    def build(cls, kind: str) -> ShareRow:
        with gr.Row(equal_height=True, elem_classes="share-row"):
            button = gr.Button("Share", size="md", interactive=False, scale=0, min_width=110,
                               elem_id=f"{kind}-share", elem_classes="share-button")
            link = gr.Textbox(show_label=False, container=False, interactive=False, buttons=["copy"],
                              visible=False, scale=4, elem_id=f"{kind}-share-link")
        key = gr.JSON(visible=False)
        return cls(button, link, key)

    @property
    def outputs(self) -> list:
        return [self.button, self.link]

    def after_result(self, history: History) -> tuple:
        """A new result is on show: the strip lists it, and it can be shared (not yet shared)."""
        return history_html(history), gr.update(interactive=True), gr.update(value="", visible=False)

    def showing(self, published: bool, link: str) -> dict:
        """A history entry is on show: Share is available, and its link is shown if already shared."""
        return {self.button: gr.update(interactive=True), self.link: gr.update(value=link, visible=published)}

    def wire(self, store: ResultStore, history: gr.State, current: gr.State, strip: gr.HTML) -> None:
        async def share(result_id: str | None, session: History, request: gr.Request):
            entry = await publish(store, session, result_id)
            return gr.update(value=permalink(request, entry.id), visible=True), owner_key(entry), history_html(session)

        self.button.click(
            share, [current, history], [self.link, self.key, strip], api_visibility="private", show_progress="hidden"
        ).success(None, [self.key, self.link], None, js=REMEMBER_OWNER_JS)


def permalink(request: gr.Request, result_id: str) -> str:
    return public_base_url(request) + permalink_path(result_id)


# --- the history strip ------------------------------------------------------------------

# Clicking a card sends its id to the server ("pick"); the strip never holds an owner token.
HISTORY_JS = """
element.addEventListener('click', (event) => {
  const card = event.target.closest('[data-id]');
  if (card) trigger('pick', {id: card.dataset.id});
});
"""


def history_strip() -> gr.HTML:
    """The visitor's recent results, newest first (rendered below the tabs)."""
    return gr.HTML(
        value=history_html(History()), js_on_load=HISTORY_JS, label="Your session", show_label=True,
        container=True, padding=True, elem_id="history", elem_classes="history", render=False,
    )


def history_html(history: History) -> str:
    """The strip's markup, made here with every visitor-written text escaped.

    Not with gr.HTML's `{{handlebars}}` template: Gradio pastes the handlebars output into a
    JavaScript template literal, so a prompt containing `${...}` would run as code. The
    default "${value}" template inserts this string as data.
    """
    cards = [
        f"""<button type="button" class="history-card history-{escape(e['kind'])}" data-id="{escape(e['id'])}" title="Open this result and its settings">
  {f'<img src="{escape(e["thumb"])}" alt="" loading="lazy">' if e["thumb"] else '<span class="history-wave" aria-hidden="true"></span>'}
  <span class="history-text">
    <span class="history-prompt" dir="auto">{escape(e['prompt'])}</span>
    <span class="history-meta">{escape(e['preset'])} · seed {e['seed']}{f" · {e['seconds']:g} s" if e['seconds'] else ''}{' · <em>shared</em>' if e['published'] else ''}</span>
  </span>
</button>"""
        for e in history.view()
    ]
    if not cards:
        return '<p class="history-empty">Your images and clips from this visit collect here. Click one to bring back its settings.</p>'
    return f'<div class="history-grid">{"".join(cards)}</div>'
