"""The HTTP server of `atelier serve` (and the tests' and benchmarks' servers): uvicorn, with
the bound on request heads that uvicorn lacks.

uvicorn 0.54 parses HTTP/1.1 with httptools when it is installed, else with h11. h11 caps
what it buffers of an unfinished head (`h11_max_incomplete_event_size`, 16 KB by default)
and answers 400 past it; httptools caps nothing: its parser keeps appending a header's
bytes until the header ends (and each append copies the whole header so far), so four
connections sending 150 MB headers held a gigabyte and the event loop for seconds.
`BoundedHttpTools` keeps httptools (the faster parser) and counts what arrives while a
request's head is unfinished: past HEAD_LIMIT it answers 431 and closes the connection.
What it may hold meanwhile is HEAD_LIMIT plus a read or two (asyncio reads at most 256 KB at
a time), per connection. Heads under that limit reach the app, whose own check
(ui/gate/headers.py) answers 431 at the exact limits.
"""

from __future__ import annotations

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ui.gate.headers import MAX_HEAD_BYTES

HEAD_LIMIT = MAX_HEAD_BYTES + 8 * 1024  # the request line and framing besides what the app counts
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b'content-length: %d\r\n\r\n%s'
)
_MESSAGE = (b'{"error":{"code":"headers_too_large","message":"The request\'s headers are too large: together '
            b'they may have at most 64 KB."}}')


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request whose unfinished head outgrows HEAD_LIMIT."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True  # reading a request's line and headers
        self._head_bytes = 0
        self._in_message = False  # between a request's first byte and its body's last
        self._begun_in_read = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open, self._head_bytes, self._in_message = True, 0, True
        self._begun_in_read += 1

    def on_headers_complete(self) -> None:
        self._head_open = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        fresh, self._begun_in_read = not self._in_message, 0
        super().data_received(data)
        if not self._head_open or self.transport.is_closing():
            return
        # The read is all this head's if the head began before it, or at its first byte. If
        # another request ended inside it first (pipelining), where this head starts is
        # unknown: that one read goes uncounted.
        if self._begun_in_read == 0 or (self._begun_in_read == 1 and fresh):
            self._head_bytes += len(data)
        if self._head_bytes > HEAD_LIMIT:
            self.transport.write(_REFUSAL % (len(_MESSAGE), _MESSAGE))
            self.transport.close()


def config(app, host: str, port: int, **options) -> uvicorn.Config:
    """The uvicorn configuration every server of the app runs with."""
    return uvicorn.Config(app, host=host, port=port, http=BoundedHttpTools, **options)
