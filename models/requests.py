"""The kinds of work, and the request and job schema of each: the table every entry point uses.

The studio, the REST API and the CLI parse what a person sent with `parse(kind, data)`; the
result is a request of that kind, whose `resolve` gives the checked job a model accepts.
Each kind's schema lives with its kind (models/image/request.py, models/music/request.py,
models/video/request.py, models/training/request.py);
what they share is in models/common/fields.py, and the sentences a person reads for bad input
in models/common/messages.py.

Web side too: no torch here.
"""

from __future__ import annotations

from pydantic import ValidationError

from models.common.errors import RequestError
from models.common.messages import explain
from models.image.request import ImageJob, ImageRequest
from models.music.request import MusicJob, MusicRequest
from models.training.request import TrainingJob, TrainingRequest
from models.video.request import VideoJob, VideoRequest

Request = ImageRequest | MusicRequest | VideoRequest | TrainingRequest
Job = ImageJob | MusicJob | VideoJob | TrainingJob
REQUESTS: dict[str, type[Request]] = {"image": ImageRequest, "music": MusicRequest, "video": VideoRequest,
                                      "training": TrainingRequest}
JOBS: dict[str, type[Job]] = {"image": ImageJob, "music": MusicJob, "video": VideoJob, "training": TrainingJob}


def parse(kind: str, data: dict) -> Request:
    """Validate raw input (a form, JSON, CLI flags) into a request, or raise RequestError."""
    try:
        return REQUESTS[kind].model_validate(data)
    except ValidationError as e:
        raise RequestError(explain(e)) from None
