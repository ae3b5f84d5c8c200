"""Worker side of the three stages: run the model, record the step, hand on a message.

Called by the thin Celery tasks in ``workers.tasks``; models are passed in (loaded once).
"""

from __future__ import annotations

from chatapp.assistant.stages.answering import answer_run
from chatapp.assistant.stages.retrieval import contextual_query, model_excerpts, retrieval_run
from chatapp.assistant.stages.review import review_run

__all__ = ["answer_run", "contextual_query", "model_excerpts", "retrieval_run", "review_run"]
