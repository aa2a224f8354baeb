"""The prompt blocklist (ATELIER_PROMPT_BLOCKLIST): words or phrases a prompt may not contain.

Matched as whole words, after folding case, accents and look-alike letters (Unicode NFKC, then
each letter without its accents): "Ｆｏｏ", "föo" and "FOO" all read as "foo", and "foo bar"
matches "foo  bar" and "foo, bar" but not "foobar". A refused request is a RequestError, so every
way in answers it the same: a 422 from the API, a message in the studio, exit 2 from the CLI.
Backend.resolve, the one door every request passes (ui/generation/backend.py), applies it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from models.common.errors import RequestError


def folded(text: str) -> str:
    """Text as the blocklist reads it: NFKC, case-folded, accents dropped."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=64)
def _pattern(term: str) -> re.Pattern | None:
    words = re.findall(r"\w+", folded(term))
    return re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)") if words else None


def blocked_term(text: str, terms: tuple[str, ...]) -> str | None:
    """The first listed term `text` contains, as it is listed; None if it has none."""
    if not terms:
        return None
    reading = folded(text)
    return next((term for term in terms if (pattern := _pattern(term)) and pattern.search(reading)), None)


def refuse_blocked(prompt: str, terms: tuple[str, ...]) -> None:
    if (term := blocked_term(prompt, terms)) is not None:
        raise RequestError(f"The prompt contains “{term}”, which this studio doesn't allow: change it and try again.")
