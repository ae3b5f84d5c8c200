"""Queue lengths read from the real broker (the sweeper acts only when turn queues are empty)."""

from __future__ import annotations

import uuid

from kombu import Queue

from chatapp.config.celery import app
from chatapp.core.tasks import TURN_WATCHDOG, queue_lengths, task_signature


def test_queue_lengths_count_waiting_messages_and_an_unknown_queue_is_empty():
    # given: two messages in a queue of this test's own
    name, unknown = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    for _ in range(2):
        task_signature(TURN_WATCHDOG, 1).apply_async(queue=name)
    try:
        # when
        lengths = queue_lengths([name, unknown])
    finally:
        with app.connection_for_write() as conn, conn.channel() as channel:
            Queue(name, channel=channel).delete()
    # then
    assert lengths == {name: 2, unknown: 0}
