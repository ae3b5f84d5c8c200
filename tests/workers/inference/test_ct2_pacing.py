"""Tests for workers.inference.ct2_pacing: a decoding thread held to its reader's pace."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from workers.inference.ct2_pacing import ReadPacer

WAIT_S = 5.0  # generous: only reached when the behaviour under test is broken


@dataclass
class _Decoding:
    """Plays CTranslate2's decoding thread: one callback per step until told to stop."""

    pacer: ReadPacer
    steps: int
    stopped: list[bool] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> _Decoding:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        for _ in range(self.steps):
            if self.pacer.on_step(None):
                self.stopped.append(True)
                break
        self.done.set()

    def wait_decoded(self, count: int) -> None:
        """Waits until ``count`` steps were handed over (or WAIT_S passed)."""
        deadline = time.monotonic() + WAIT_S
        while self.pacer.decoded < count and time.monotonic() < deadline:
            time.sleep(0.01)


def test_decoding_runs_ahead_of_the_reader_by_at_most_ahead_steps() -> None:
    # given: a reader that takes nothing
    pacer = ReadPacer(ahead=2)

    # when: decoding has handed over what it may, then had time to go further
    decoding = _Decoding(pacer, 10).start()
    decoding.wait_decoded(2)
    decoding.done.wait(0.2)

    # then: two steps handed over, the third waits for the reader
    assert pacer.decoded == 2
    assert not decoding.done.is_set()
    pacer.close()
    assert decoding.done.wait(WAIT_S)


def test_each_step_taken_lets_decoding_go_one_step_further() -> None:
    # given
    pacer = ReadPacer(ahead=1)
    decoding = _Decoding(pacer, 3).start()

    # when: the reader takes the three steps one by one
    for _ in range(3):
        pacer.taken()

    # then: decoding finished all three without being stopped
    assert decoding.done.wait(WAIT_S)
    assert pacer.decoded == 3
    assert decoding.stopped == []


def test_closing_stops_a_waiting_step() -> None:
    # given: decoding handed over its one step and waits for room
    pacer = ReadPacer(ahead=1)
    decoding = _Decoding(pacer, 10).start()
    decoding.wait_decoded(1)

    # when
    pacer.close()

    # then: the waiting step returns True (stop) and decoding ends there
    assert decoding.done.wait(WAIT_S)
    assert decoding.stopped == [True]
    assert pacer.decoded == 1


def test_a_step_after_close_stops_decoding() -> None:
    # given
    pacer = ReadPacer(ahead=3)
    pacer.close()

    # when / then: room is left, but the reader has gone
    assert pacer.on_step(None) is True


def test_a_reader_that_takes_nothing_for_too_long_does_not_hold_decoding_forever() -> None:
    # given: a reader stuck (e.g. waiting for the replica this decoding holds)
    pacer = ReadPacer(ahead=1, max_wait_s=0.05)

    # when
    decoding = _Decoding(pacer, 3).start()

    # then: decoding went on, unpaced, and says how often
    assert decoding.done.wait(WAIT_S)
    assert pacer.decoded == 3
    assert pacer.overrun == 2
