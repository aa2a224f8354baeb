"""The share pages (FastHTML): a permalink for every result, and the gallery of published ones."""

from ui.pages.permalink import remix_link
from ui.pages.site import add_pages

__all__ = ["add_pages", "remix_link"]
