"""Tests for workers.inference.generator_local, on a tiny random Llama."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from workers.inference import hardware
from workers.inference.base import FINISH_LENGTH, FINISH_STOP, FinishReason, ModelError, ReplyStream
from workers.inference.generator_local import LocalGenerator, choose_dtype, explain_dtype
from workers.inference.hardware import Bf16Probe, CpuInfo

CHAT = [
    {"role": "system", "content": "You are a support assistant."},
    {"role": "user", "content": "Where is my order?"},
]


def _reference_ids(folder: Path, max_new_tokens: int) -> list[int]:
    """Greedy continuation computed by transformers' own generate()."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    prompt: Any = tokenizer.apply_chat_template(
        CHAT, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = model.generate(**prompt, max_new_tokens=max_new_tokens, do_sample=False)
    return [int(token) for token in output[0, prompt["input_ids"].shape[1] :]]


@pytest.fixture(scope="module")
def reference(tiny_llm_dir: Path) -> tuple[list[int], Any]:
    from transformers import AutoTokenizer

    return _reference_ids(tiny_llm_dir, 12), AutoTokenizer.from_pretrained(tiny_llm_dir)


def test_stream_chat_yields_deltas_that_join_to_the_greedy_reply(
    tiny_generator: LocalGenerator, reference: tuple[list[int], Any]
) -> None:
    # given
    ids, tokenizer = reference

    # when
    deltas = list(tiny_generator.stream_chat(CHAT, max_new_tokens=12))

    # then
    assert len(ids) == 12
    assert len(deltas) >= 2
    assert all(deltas)
    assert "".join(deltas) == tokenizer.decode(ids, skip_special_tokens=True)


def test_stream_chat_respects_max_new_tokens(
    tiny_generator: LocalGenerator, reference: tuple[list[int], Any]
) -> None:
    # given
    ids, tokenizer = reference

    # when
    replies = {n: "".join(tiny_generator.stream_chat(CHAT, max_new_tokens=n)) for n in (1, 5)}

    # then
    assert replies == {n: tokenizer.decode(ids[:n], skip_special_tokens=True) for n in (1, 5)}


def test_stream_chat_stops_before_a_stop_string(
    tiny_generator: LocalGenerator, reference: tuple[list[int], Any]
) -> None:
    # given
    ids, tokenizer = reference
    full = tokenizer.decode(ids, skip_special_tokens=True)
    stop = full[len(full) // 2 : len(full) // 2 + 3]

    # when
    reply = "".join(tiny_generator.stream_chat(CHAT, max_new_tokens=12, stop=[stop]))

    # then
    assert reply == full[: full.find(stop)]


def test_stream_chat_ends_at_the_configured_eos_token(
    tiny_llm_copy: Path, reference: tuple[list[int], Any]
) -> None:
    # given
    ids, tokenizer = reference
    eos = ids[3]
    config_path = tiny_llm_copy / "generation_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "eos_token_id": [config["eos_token_id"], eos]}))
    generator = LocalGenerator(tiny_llm_copy, device="cpu")

    # when
    reply = "".join(generator.stream_chat(CHAT, max_new_tokens=12))
    finish = _finish_of(generator.stream_chat(CHAT, max_new_tokens=12))

    # then
    assert reply == tokenizer.decode(ids[: ids.index(eos)], skip_special_tokens=True)
    assert finish == FINISH_STOP


def test_stream_chat_says_when_the_token_limit_ended_the_reply(
    tiny_generator: LocalGenerator, reference: tuple[list[int], Any]
) -> None:
    # given: the tiny model never ends this reply on its own within 12 tokens
    ids, _ = reference

    # when
    finish = _finish_of(tiny_generator.stream_chat(CHAT, max_new_tokens=5))

    # then
    assert len(ids) == 12
    assert finish == FINISH_LENGTH


def _finish_of(stream: ReplyStream) -> FinishReason | None:
    """Runs a stream to its end and returns why it ended (the generator's return value)."""
    while True:
        try:
            next(stream)
        except StopIteration as end:
            return end.value


def test_yes_probability_is_a_deterministic_probability(tiny_generator: LocalGenerator) -> None:
    # given
    question = [
        {"role": "user", "content": "Is the sky blue? Answer with a single word: Yes or No."}
    ]

    # when
    first = tiny_generator.yes_probability(question)
    second = tiny_generator.yes_probability(question)

    # then
    assert 0.0 <= first <= 1.0
    assert first == second


def test_count_tokens_matches_the_chat_template(tiny_generator: LocalGenerator) -> None:
    # given
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_generator.folder)
    encoded: Any = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True)

    # when
    count = tiny_generator.count_tokens(CHAT)

    # then
    assert count == len(encoded["input_ids"])


def test_tiny_model_loads_in_float32_on_cpu(tiny_generator: LocalGenerator) -> None:
    # given / when / then
    assert (tiny_generator.device, tiny_generator.dtype, tiny_generator.name) == (
        "cpu",
        "float32",
        tiny_generator.folder.name,
    )


QWEN = {
    "hidden_size": 1536,
    "num_hidden_layers": 28,
    "intermediate_size": 8960,
    "vocab_size": 151936,
}
SMOL = {"hidden_size": 576, "num_hidden_layers": 30, "intermediate_size": 1536, "vocab_size": 49152}


def _cpu(*, native_bf16: bool, flags: tuple[str, ...] = ("avx2",)) -> CpuInfo:
    return CpuInfo("Test CPU", "AVX2", flags, native_bf16, 2)


@pytest.fixture
def fake_cpu(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Replaces the CPU facts and the bf16 probe with given ones; fails if the probe is unneeded
    yet called (it must not run for small models or CPUs without native bf16)."""

    def install(*, native_bf16: bool, probe: Bf16Probe | None = None) -> None:
        flags = ("avx2", "avx512_bf16", "amx_bf16") if native_bf16 else ("avx2",)
        monkeypatch.setattr(
            hardware, "cpu_info", lambda: _cpu(native_bf16=native_bf16, flags=flags)
        )

        def fake_probe() -> Bf16Probe:
            assert probe is not None, "the bf16 probe ran where the flags already decide"
            return probe

        monkeypatch.setattr(hardware, "bf16_probe", fake_probe)

    return install


def test_choose_dtype_is_bf16_on_gpu(fake_cpu: Callable[..., None]) -> None:
    # given
    fake_cpu(native_bf16=False)

    # when / then
    assert choose_dtype("cuda", SMOL) == "bfloat16"


def test_choose_dtype_keeps_small_models_in_fp32_even_with_native_bf16(
    fake_cpu: Callable[..., None],
) -> None:
    # given
    fake_cpu(native_bf16=True)

    # when
    dtype, reason = explain_dtype("cpu", SMOL)

    # then
    assert dtype == "float32"
    assert reason.startswith("small model (~")


def test_choose_dtype_is_fp32_on_a_cpu_without_native_bf16(
    fake_cpu: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    # given
    fake_cpu(native_bf16=False)

    # when
    with caplog.at_level(logging.INFO, logger="workers.inference.generator_local"):
        dtype = choose_dtype("cpu", QWEN)

    # then
    assert dtype == "float32"
    assert caplog.messages == [
        "dtype float32 on cpu: no native bf16 on this CPU (torch capability AVX2, flags avx2): "
        "torch would emulate it, far slower than fp32"
    ]


def test_choose_dtype_is_fp32_when_native_bf16_measures_slower(
    fake_cpu: Callable[..., None],
) -> None:
    # given
    fake_cpu(native_bf16=True, probe=Bf16Probe(fp32_s=0.001, bf16_s=0.002))

    # when
    dtype, reason = explain_dtype("cpu", QWEN)

    # then
    assert dtype == "float32"
    assert (
        reason
        == "native bf16 flags but bf16 measured slower (2.00 ms bf16 vs 1.00 ms fp32 matmul probe)"
    )


def test_choose_dtype_is_bf16_on_native_bf16_that_measures_not_slower(
    fake_cpu: Callable[..., None],
) -> None:
    # given
    fake_cpu(native_bf16=True, probe=Bf16Probe(fp32_s=0.002, bf16_s=0.0021))

    # when
    dtype, reason = explain_dtype("cpu", QWEN)

    # then
    assert dtype == "bfloat16"
    assert reason.startswith("native bf16 (avx2 avx512_bf16 amx_bf16) and not slower")


def test_yes_probabilities_of_a_batch_equal_one_by_one(tiny_generator: LocalGenerator) -> None:
    # given: prompts of different lengths, so the batch is padded
    batch = [
        [{"role": "user", "content": "Is the sky blue? Answer Yes or No."}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Cats bark?"}],
        [{"role": "user", "content": "Is water wet? " * 12 + "Answer with a single word."}],
    ]

    # when
    batched = tiny_generator.yes_probabilities(batch)
    single = [tiny_generator.yes_probability(chat) for chat in batch]

    # then
    assert len(batched) == 3
    assert batched == pytest.approx(single, abs=1e-3)
    assert tiny_generator.yes_probabilities([]) == []


@pytest.mark.slow
def test_smollm2_yes_probabilities_of_a_batch_equal_one_by_one(smollm2: LocalGenerator) -> None:
    # given
    batch = [
        [{"role": "user", "content": f"Passage: {text}\nIs the passage about {topic}? Yes or No."}]
        for text, topic in [
            ("Orders ship the same day when placed before 2 pm.", "shipping"),
            ("Refunds reach your card within 5 to 10 business days of our check.", "cooking"),
            ("Hold the reset button for ten seconds until the light blinks.", "resetting"),
            ("Invoices show VAT.", "billing"),
        ]
    ]

    # when
    batched = smollm2.yes_probabilities(batch)
    single = [smollm2.yes_probability(chat) for chat in batch]

    # then
    assert batched == pytest.approx(single, abs=1e-3)


def test_time_generation_counts_prompt_and_decoded_tokens(tiny_generator: LocalGenerator) -> None:
    # given / when
    timing = tiny_generator.time_generation(CHAT, new_tokens=5)

    # then
    assert timing.prompt_tokens == tiny_generator.count_tokens(CHAT)
    assert timing.decode_tokens == 4
    assert timing.prefill_s > 0
    assert timing.decode_s > 0


def test_missing_folder_raises_model_error(tmp_path: Path) -> None:
    # given
    folder = tmp_path / "absent"

    # when / then
    with pytest.raises(ModelError, match=r"absent is not a model folder \(no config.json\)"):
        LocalGenerator(folder, device="cpu")


def test_truncated_weights_raise_model_error(tiny_llm_copy: Path) -> None:
    # given
    weights = tiny_llm_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])

    # when / then
    with pytest.raises(ModelError, match="cannot load the language model from"):
        LocalGenerator(tiny_llm_copy, device="cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_generator_defaults_to_bf16_and_streams(tiny_llm_dir: Path) -> None:
    # given
    generator = LocalGenerator(tiny_llm_dir, device="cuda")

    # when
    deltas = list(generator.stream_chat(CHAT, max_new_tokens=8))
    probability = generator.yes_probability(CHAT)

    # then
    assert generator.dtype == "bfloat16"
    assert "".join(deltas) != ""
    assert 0.0 <= probability <= 1.0
