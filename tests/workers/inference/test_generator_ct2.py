"""Tests for workers.inference.generator_ct2, on SmolLM2-135M converted to CTranslate2 int8."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workers.inference.base import ModelError
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
    """The greedy continuation from CTranslate2's own batch API, end token excluded."""
    result = generator._ct2.generate_batch(
        [generator._prompt_tokens(CHAT)],
        max_length=max_new_tokens,
        sampling_topk=1,
        include_prompt_in_result=False,
        end_token=generator._eos_ids,
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

    # then
    assert len(ids) == 5
    assert reply == smollm2_ct2._decode(ids)


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

    # then
    assert len(ids) < 60
    assert not set(ids) & set(smollm2_ct2._eos_ids)
    assert "<|im_end|>" not in reply


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


@pytest.mark.slow
def test_the_cached_system_turn_changes_nothing_in_the_reply(
    smollm2_ct2: CT2Generator, monkeypatch: pytest.MonkeyPatch
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
    monkeypatch.setattr(smollm2_ct2, "_split_static", lambda m: ([], whole))
    uncached = "".join(smollm2_ct2.stream_chat(messages, max_new_tokens=20))

    # then
    assert static
    assert static + rest == whole
    assert cached == again == uncached


def test_no_system_turn_means_nothing_to_cache(smollm2_ct2: CT2Generator) -> None:
    static, rest = smollm2_ct2._split_static([{"role": "user", "content": "Hi"}])
    assert static == []
    assert rest
