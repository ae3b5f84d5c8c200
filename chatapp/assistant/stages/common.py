"""What the stages share: the worker's name and how passages are shown to the models."""

from __future__ import annotations

import socket

from workers.inference.base import Passage
from workers.messages import PassageRef

WORKER = socket.gethostname()


def model_passages(refs: list[PassageRef]) -> list[Passage]:
    """The passages as the answerer and the reviewer read them (excerpts where budgeted)."""
    return [Passage(ref=p.ref, title=p.title, text=p.model_text) for p in refs]
