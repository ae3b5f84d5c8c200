"""Tests for workers.inference.generator_ct2, on SmolLM2-135M converted to CTranslate2 int8."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workers.inference import generator_ct2
from workers.inference.base import FINISH_LENGTH, FINISH_STOP, FinishReason, ModelError, ReplyStream
from workers.inference.ct2_pacing import ReadPacer
from workers.inference.generator_ct2 import (
    COMPUTE_TYPES,
    CT2Generator,
    choose_compute_type,
)

CHAT = [
    {"role": "system", "content": "You are a support assistant."},
    {"role": "user", "content": "Where is Paris? Answer in one sentence."},
]
JUDGE = [
    [{"role": "user", "content": f"Passage: {text}\nIs the passage about {topic}? Yes or No."}]
    for text, topic in [
        ("Orders ship the same day when placed before 2 pm.", "shipping"),
        ("Refunds reach your card within 5 to 10 business days of our check.", "cooking"),
        ("Hold the reset button for ten seconds until the light blinks.", "resetting"),
        ("Invoices show VAT.", "billing"),
        ("Invoices list VAT.", "billing"),  # same length as the one above: one batched call
    ]
]


def _greedy_ids(generator: CT2Generator, max_new_tokens: int) -> list[int]:
    """The greedy continuation from CTranslate2's own batch API, end token excluded.

    With the same static system prompt as ``stream_chat``: prefilling the system turn apart
    changes the arithmetic (matrix shapes), and on some CPUs (seen on an AMD EPYC, not on an
    Intel Xeon) a 135M model's greedy reply then differs from the one-piece prefill; both are
    the model's reply, so the streamed one is compared with the same computation in one call.
    """
    static, rest = generator._split_static(CHAT)
    result = generator._ct2.generate_batch(
        [rest],
        max_length=max_new_tokens,
        sampling_topk=1,
        include_prompt_in_result=False,
        end_token=generator._eos_ids,
        static_prompt=static or None,
    )
    return [int(token) for token in result[0].sequences_ids[0]]


def test_missing_folder_raises_model_error(tmp_path: Path) -> None:
    # given / when / then
    with pytest.raises(ModelError, match=r"absent is not a CTranslate2 model folder"):
        CT2Generator(tmp_path / "absent", device="cpu")


def test_cpu_compute_type_is_int8() -> None:
    # given / when / then
    assert choose_compute_type("cpu") == "int8"
    assert COMPUTE_TYPES["cuda"][0] == "int8_bfloat16"


@pytest.mark.slow
def test_stream_chat_joins_to_the_greedy_reply(smollm2_ct2: CT2Generator) -> None:
    # given
    expected = smollm2_ct2._decode(_greedy_ids(smollm2_ct2, 20))

    # when
    deltas = list(smollm2_ct2.stream_chat(CHAT, max_new_tokens=20))

    # then
    assert len(deltas) >= 2
    assert all(deltas)
    assert "".join(deltas) == expected


@pytest.mark.slow
def test_stream_chat_respects_max_new_tokens(smollm2_ct2: CT2Generator) -> None:
    # given
    ids = _greedy_ids(smollm2_ct2, 5)

    # when
    reply = "".join(smollm2_ct2.stream_chat(CHAT, max_new_tokens=5))
    finish = _finish_of(smollm2_ct2.stream_chat(CHAT, max_new_tokens=5))

    # then: the stream also says the limit, not the model, ended it
    assert len(ids) == 5
    assert reply == smollm2_ct2._decode(ids)
    assert finish == FINISH_LENGTH


@pytest.mark.slow
def test_stream_chat_stops_before_a_stop_string(smollm2_ct2: CT2Generator) -> None:
    # given
    full = "".join(smollm2_ct2.stream_chat(CHAT, max_new_tokens=20))
    stop = full[len(full) // 2 : len(full) // 2 + 3]

    # when
    reply = "".join(smollm2_ct2.stream_chat(CHAT, max_new_tokens=20, stop=[stop]))

    # then
    assert reply == full[: full.find(stop)]


@pytest.mark.slow
def test_stream_chat_ends_at_end_of_text(smollm2_ct2: CT2Generator) -> None:
    # given: room for far more tokens than the short reply needs
    chat = [{"role": "user", "content": "Say just the word hello."}]
    ids = _greedy_ids(smollm2_ct2, 60)

    # when
    reply = "".join(smollm2_ct2.stream_chat(chat, max_new_tokens=60))
    finish = _finish_of(smollm2_ct2.stream_chat(chat, max_new_tokens=60))

    # then
    assert finish == FINISH_STOP
    assert len(ids) < 60
    assert not set(ids) & set(smollm2_ct2._eos_ids)
    assert "<|im_end|>" not in reply


class _RecordingPacer(ReadPacer):
    """The pacer ``stream_chat`` uses, kept so the test can count the steps decoded."""

    made: list[ReadPacer] = []

    def __init__(self, ahead: int = 2) -> None:
        super().__init__(ahead)
        _RecordingPacer.made.append(self)


@pytest.mark.slow
def test_a_judge_mid_stream_does_not_wait_for_the_rest_of_the_reply(
    smollm2_ct2: CT2Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a reply that would run to 300 tokens, read 4 deltas at a time like the gate
    monkeypatch.setattr(generator_ct2, "ReadPacer", _RecordingPacer)
    _RecordingPacer.made.clear()
    chat = [{"role": "user", "content": "Write a long story about a cat, twenty sentences."}]
    alone = smollm2_ct2.yes_probability(JUDGE[0])
    stream = smollm2_ct2.stream_chat(chat, max_new_tokens=300)
    for _ in range(4):
        next(stream)

    # when: the gate judges a sentence with the same model while the stream is open
    judged = smollm2_ct2.yes_probability(JUDGE[0])
    stream.close()

    # then: the judge ran on the second replica (same answer), and decoding had waited for the
    # reader instead of writing the reply to its end (4 read + at most 2 ahead + 1 in flight)
    (pacer,) = _RecordingPacer.made
    assert judged == pytest.approx(alone, abs=1e-6)
    assert pacer.decoded <= 4 + 2 + 1


@pytest.mark.slow
def test_yes_probability_is_a_deterministic_probability(smollm2_ct2: CT2Generator) -> None:
    # given / when
    first = [smollm2_ct2.yes_probability(chat) for chat in JUDGE]
    second = [smollm2_ct2.yes_probability(chat) for chat in JUDGE]

    # then
    assert all(0.0 < p < 1.0 for p in first)
    assert first == second


@pytest.mark.slow
def test_yes_probabilities_of_a_batch_equal_one_by_one(smollm2_ct2: CT2Generator) -> None:
    # given
    lengths = [smollm2_ct2.count_tokens(chat) for chat in JUDGE]

    # when
    batched = smollm2_ct2.yes_probabilities(JUDGE)
    single = [smollm2_ct2.yes_probability(chat) for chat in JUDGE]

    # then
    assert lengths[3] == lengths[4]
    assert batched == pytest.approx(single, abs=1e-3)
    assert smollm2_ct2.yes_probabilities([]) == []


@pytest.mark.slow
def test_yes_probability_is_close_to_the_torch_backend(
    smollm2_ct2: CT2Generator, smollm2: Any
) -> None:
    # given / when
    ct2 = [smollm2_ct2.yes_probability(chat) for chat in JUDGE]
    torch = [smollm2.yes_probability(chat) for chat in JUDGE]

    # then: int8 moves this 135M model's scores noticeably (measured: 0.03-0.18, mean 0.11,
    # on these five); Qwen-1.5B's moved by at most 0.05 (bench/results/engines.json). The bound
    # catches a broken backend (wrong token ids, logits of the wrong step), not int8 noise.
    differences = [abs(a - b) for a, b in zip(ct2, torch, strict=True)]
    assert max(differences) < 0.25


@pytest.mark.slow
def test_time_generation_ignores_end_of_text(smollm2_ct2: CT2Generator) -> None:
    # given
    chat = [{"role": "user", "content": "Say just the word hello."}]

    # when
    timing = smollm2_ct2.time_generation(chat, new_tokens=40)

    # then
    assert timing.prompt_tokens == smollm2_ct2.count_tokens(chat)
    assert timing.decode_tokens == 39
    assert timing.prefill_s > 0


def _first_step(generator: CT2Generator, tokens: list[str], static: list[str]) -> Any:
    steps = generator._ct2.generate_tokens(
        tokens,
        max_length=1,
        sampling_topk=1,
        end_token=generator._eos_ids,
        static_prompt=static or None,
        cache_static_prompt=bool(static),
        return_log_prob=True,
    )
    [first] = list(steps)  # drained, so the decoding thread ends here
    return first


@pytest.mark.slow
def test_the_cached_system_turn_is_the_same_computation_up_to_int8_rounding(
    smollm2_ct2: CT2Generator,
) -> None:
    # given: a chat whose system turn renders as a prefix of the whole prompt
    messages = [
        {"role": "system", "content": "You answer customers of a furniture shop."},
        {"role": "user", "content": "Refunds take 5 days. How long do refunds take?"},
    ]
    static, rest = smollm2_ct2._split_static(messages)
    whole = smollm2_ct2._prompt_tokens(messages)

    # when
    cached = "".join(smollm2_ct2.stream_chat(messages, max_new_tokens=20))
    again = "".join(smollm2_ct2.stream_chat(messages, max_new_tokens=20))
    split_step = _first_step(smollm2_ct2, rest, static)
    whole_step = _first_step(smollm2_ct2, whole, [])

    # then: the cache is reused and the reply is stable; prefilling in two pieces quantises the
    # activations in two pieces, so on some CPUs (an AMD EPYC here) the log-probabilities move
    # by a few tenths and a 135M model's greedy reply can part later on; the first token holds.
    assert static
    assert static + rest == whole
    assert cached == again
    assert cached
    assert split_step.token_id == whole_step.token_id
    assert split_step.log_prob == pytest.approx(whole_step.log_prob, abs=0.5)


def test_no_system_turn_means_nothing_to_cache(smollm2_ct2: CT2Generator) -> None:
    static, rest = smollm2_ct2._split_static([{"role": "user", "content": "Hi"}])
    assert static == []
    assert rest


def _finish_of(stream: ReplyStream) -> FinishReason | None:
    """Runs a stream to its end and returns why it ended (the generator's return value)."""
    while True:
        try:
            next(stream)
        except StopIteration as end:
            return end.value
