"""Tests for workers.inference.ct2_pacing: a decoding thread held to its reader's pace."""

from __future__ import annotations

import threading
import time

from workers.inference.ct2_pacing import ReadPacer

WAIT_S = 5.0  # generous: only reached when the behaviour under test is broken


def _decode(pacer: ReadPacer, steps: int, stopped: list[bool], done: threading.Event) -> None:
    """Plays CTranslate2's decoding thread: one callback per step until told to stop."""
    for _ in range(steps):
        if pacer.on_step(None):
            stopped.append(True)
            break
    done.set()


def test_decoding_runs_ahead_of_the_reader_by_at_most_ahead_steps() -> None:
    # given: a reader that takes nothing
    pacer = ReadPacer(ahead=2)
    stopped: list[bool] = []
    done = threading.Event()
    thread = threading.Thread(target=_decode, args=(pacer, 10, stopped, done), daemon=True)

    # when: decoding has handed over what it may, then had time to go further
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while pacer.decoded < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    done.wait(0.2)

    # then: two steps handed over, the third waits for the reader
    assert pacer.decoded == 2
    assert not done.is_set()
    pacer.close()
    thread.join(WAIT_S)


def test_each_step_taken_lets_decoding_go_one_step_further() -> None:
    # given
    pacer = ReadPacer(ahead=1)
    stopped: list[bool] = []
    done = threading.Event()
    thread = threading.Thread(target=_decode, args=(pacer, 3, stopped, done), daemon=True)
    thread.start()

    # when: the reader takes the three steps one by one
    for _ in range(3):
        pacer.taken()

    # then: decoding finished all three without being stopped
    assert done.wait(WAIT_S)
    assert pacer.decoded == 3
    assert stopped == []


def test_closing_stops_a_waiting_step() -> None:
    # given: decoding waits for room
    pacer = ReadPacer(ahead=1)
    stopped: list[bool] = []
    done = threading.Event()
    thread = threading.Thread(target=_decode, args=(pacer, 10, stopped, done), daemon=True)
    thread.start()

    # when
    pacer.close()

    # then: the waiting step returns True (stop) and decoding ends there
    assert done.wait(WAIT_S)
    assert stopped == [True]
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
    stopped: list[bool] = []
    done = threading.Event()
    thread = threading.Thread(target=_decode, args=(pacer, 3, stopped, done), daemon=True)

    # when
    thread.start()

    # then: decoding went on, unpaced, and says how often
    assert done.wait(WAIT_S)
    assert pacer.decoded == 3
    assert pacer.overrun == 2
