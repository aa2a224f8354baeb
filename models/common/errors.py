"""Every exception the model side raises on purpose, in one place (as ui/errors.py is for the web side).

Each carries a message written for the person who sent the request or runs the server. No
heavy imports: the web side catches these too.

    RequestError         a request that can't be run (the web side answers 422)
      LoraError          an adapter that can't be added or used
    UploadError          an input image that can't be used (wrapped into a RequestError's message)
    MelodyError          a melody file that can't be used (likewise)
    WeightsUnavailable   weights that can't be had here (503)
      EngineUnavailable  a music engine's library that isn't installed here
    WorkerError          the audiocraft worker process failed (the model failed: 502)
    Cancelled            a call stopped partway because its caller asked (models/common/cancel.py;
                         a training's flag: models/training/cancel.py)
"""


class RequestError(ValueError):
    """A request that can't be run, with a message meant for the person who sent it."""


class LoraError(RequestError):
    """An adapter that can't be added or used, with a message for the person who chose it."""


class UploadError(ValueError):
    """An image that can't be used; the message says why, for the person who sent it."""


class MelodyError(ValueError):
    """A melody file that can't be used; the message says why, for the person who sent it."""


class WeightsUnavailable(RuntimeError):
    """The weights can't be had; the message says what failed and what to do."""


class EngineUnavailable(WeightsUnavailable):
    """The engine's library can't be had here. A subclass of WeightsUnavailable so that the
    backends report it the same way (503, the message as it is)."""


class WorkerError(RuntimeError):
    """The worker failed; the message names the worker's own exception."""


class Cancelled(Exception):
    """A call stopped partway because its caller asked it to (models/common/cancel.py, or a
    training's flag). Not a failure: the message says where it stopped."""
