"""The studio: the Gradio page at "/" where a visitor makes images, music and video.

    page.py        the page: header, the three tabs, the history strip; mounted at "/"
    image_tab.py   the Image tab          music_tab.py   the Music tab      video_tab.py   the Video tab
    controls.py    what the tabs share: schema-bounded sliders, the seed row, how Generate is wired
    run.py         one generation, as the browser sees it (progress, errors, copies of the media)
    session.py     a visitor's history and owner tokens      share.py   Share and the history strip

Gradio is imported by every module here: import this package only when the app is built.
"""

from ui.studio.controls import checked_fields
from ui.studio.page import build_studio, mount_studio

__all__ = ["build_studio", "checked_fields", "mount_studio"]
