"""Keeps CTranslate2's decoding thread in step with the reader of a streamed reply.

``ctranslate2.Generator.generate_tokens`` decodes on CTranslate2's own thread as fast as it can
and queues the steps; it never waits for the reader. The gate reads a sentence, then asks the
same model to judge it before reading on, and that cost twice on a CPU:

- the judge's call waited for a free model replica, and the only one was busy until the whole
  reply was written, so the first sentence was shown only after the last one was decoded
  (measured with SmolLM2: a judge call of 0.2 s alone took 26 s mid-stream, the rest of a
  400-token reply);
- whatever the model wrote after a refused sentence was computed, then thrown away.

``ReadPacer`` is the ``callback`` of ``generate_tokens``: it lets decoding run at most ``ahead``
steps past what the reader has taken. While the reader judges, decoding waits and its cores are
free for the judge (on a second replica); closing the stream stops decoding at its next step.
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["MAX_WAIT_S", "POLL_S", "ReadPacer"]

POLL_S = 0.01  # how often a waiting decoding step looks whether the reader has gone
# A reader that takes nothing for this long is not judging but stuck (e.g. waiting for a replica
# this decoding holds): decoding then goes on unpaced rather than deadlock.
MAX_WAIT_S = 60.0


class ReadPacer:
    """Lets a decoding thread run at most ``ahead`` steps past its reader.

    Args:
        ahead: Steps decoding may be ahead (at least 1; 2 keeps a GPU busy while Python reads).
        max_wait_s: Longest wait for the reader before a step goes on anyway.
    """

    def __init__(self, ahead: int = 2, *, max_wait_s: float = MAX_WAIT_S) -> None:
        self._credits = threading.Semaphore(max(1, ahead))
        self._closed = threading.Event()
        self._max_wait_s = max_wait_s
        self.decoded = 0  # steps decoding has handed over (for tests and logs)
        self.overrun = 0  # steps that went on without room, after max_wait_s

    def on_step(self, _step: Any) -> bool:
        """CTranslate2's callback, on its decoding thread: waits for room; True stops decoding."""
        give_up = time.monotonic() + self._max_wait_s
        while not self._credits.acquire(timeout=POLL_S):
            if self._closed.is_set():
                return True
            if time.monotonic() >= give_up:
                self.overrun += 1
                break
        self.decoded += 1
        return self._closed.is_set()

    def taken(self) -> None:
        """The reader has dealt with one step: decoding may go one step further."""
        self._credits.release()

    def close(self) -> None:
        """The reader has stopped: a waiting or the next step ends the decoding."""
        self._closed.set()
