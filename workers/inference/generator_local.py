"""Causal-LM generator running in-process with transformers, from a local model folder."""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from workers.inference.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    GenerationTiming,
    Generator,
    ModelError,
    ReplyStream,
    StopFilter,
    pick_device,
)

if TYPE_CHECKING:
    import torch

__all__ = ["LocalGenerator", "choose_dtype", "explain_dtype"]

logger = logging.getLogger(__name__)

DType = Literal["float32", "bfloat16", "float16"]

# bf16 halves the memory of a 1.5B model and is faster where the CPU computes it natively; a
# tiny model gains nothing from it and fp32 keeps it exact (tests compare against fp32).
CPU_BF16_MIN_PARAMS = 500_000_000
YES_WORDS = ("Yes", "yes", "YES", " Yes", " yes")
NO_WORDS = ("No", "no", "NO", " No", " no")
ERR_NOT_A_MODEL = "{folder} is not a model folder (no config.json): rerun `make models`"
ERR_LOAD = "cannot load the language model from {folder}: {error}"
ERR_NO_YES_NO = "the tokenizer of {name} has no single-token Yes/No"


def _param_count(config: dict[str, Any]) -> int:
    """Rough parameter count of a decoder from its config.json, enough to pick a dtype."""
    hidden = int(config.get("hidden_size", 0))
    layers = int(config.get("num_hidden_layers", 0))
    inter = int(config.get("intermediate_size", 4 * hidden))
    vocab = int(config.get("vocab_size", 0))
    return layers * (4 * hidden * hidden + 3 * hidden * inter) + vocab * hidden


def explain_dtype(device: str, config: dict[str, Any]) -> tuple[DType, str]:
    """Picks the compute dtype for a model on a device and says why.

    On CPU, bf16 needs all of: a model large enough to gain from it, native bf16 in the CPU
    flags (AVX512-BF16/AMX), and a timed matmul probe where bf16 is not slower than fp32. On an
    AVX2-only CPU torch emulates bf16: Qwen2.5-1.5B took 180 s to a first token vs 34 s in fp32.

    Args:
        device: ``"cpu"``, ``"cuda"``...
        config: The model's config.json contents.

    Returns:
        The dtype and a one-line reason.
    """
    if device != "cpu":
        return "bfloat16", f"{device}: GPUs compute bf16 natively"
    params = _param_count(config)
    if params < CPU_BF16_MIN_PARAMS:
        return "float32", f"small model (~{params / 1e6:.0f}M parameters): fp32 is as fast, exact"
    from workers.inference.hardware import bf16_probe, cpu_info

    info = cpu_info()
    if not info.native_bf16:
        return "float32", (
            f"no native bf16 on this CPU (torch capability {info.torch_capability}, "
            f"flags {' '.join(info.flags) or '-'}): torch would emulate it, far slower than fp32"
        )
    probe = bf16_probe()
    timing = f"{probe.bf16_s * 1e3:.2f} ms bf16 vs {probe.fp32_s * 1e3:.2f} ms fp32 matmul probe"
    if not probe.bf16_not_slower:
        return "float32", f"native bf16 flags but bf16 measured slower ({timing})"
    return "bfloat16", f"native bf16 ({' '.join(info.flags)}) and not slower ({timing})"


def choose_dtype(device: str, config: dict[str, Any]) -> DType:
    """Picks the compute dtype for a model on a device, and logs the decision and its reason.

    Args:
        device: ``"cpu"``, ``"cuda"``...
        config: The model's config.json contents.

    Returns:
        ``"bfloat16"`` on CUDA, and on CPU for large models where the CPU has native bf16 that
        a probe confirms is not slower than fp32; else ``"float32"``. See ``explain_dtype``.
    """
    dtype, reason = explain_dtype(device, config)
    logger.info("dtype %s on %s: %s", dtype, device, reason)
    return dtype


def _output_cache(output: Any) -> Any:
    """The KV cache of a forward pass, under its old or new attribute name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


class LocalGenerator(Generator):
    """A transformers causal LM with a chat template, decoding greedily with a KV cache.

    Not thread-safe: one generation at a time per instance (workers run one task at a time).

    Args:
        folder: A folder with config.json, safetensors weights and a tokenizer with a chat
            template (as written by ``workers.inference.prepare``).
        device: ``"cpu"``, ``"cuda"``...; ``pick_device()`` when None.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``; ``choose_dtype()`` when None.

    Raises:
        ModelError: The folder is missing, incomplete or fails to load.
    """

    def __init__(
        self, folder: str | Path, *, device: str | None = None, dtype: str | None = None
    ) -> None:
        folder = Path(folder)
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise ModelError(ERR_NOT_A_MODEL.format(folder=folder))
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or pick_device()
        self.dtype = dtype or choose_dtype(self.device, json.loads(config_path.read_text()))
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                folder, dtype=getattr(torch, self.dtype), local_files_only=True
            )
        # Whatever breaks while loading (bad JSON, truncated safetensors, unknown
        # architecture) is a model-files problem for the operator, not a code bug.
        except Exception as error:
            raise ModelError(ERR_LOAD.format(folder=folder, error=error)) from error
        # The stubs lose `self` on PreTrainedModel.to's decorator, so mypy misreads the call.
        self._model = model.to(self.device).eval()  # type: ignore[arg-type]
        self.folder = folder
        self.name = folder.name
        # transformers 5.2x renamed the KV-cache argument `past_key_values` to `cache`.
        parameters = inspect.signature(self._model.forward).parameters
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"
        self._eos_ids = self._collect_eos_ids()
        self._yes_ids = self._single_token_ids(YES_WORDS)
        self._no_ids = self._single_token_ids(NO_WORDS)

    def _collect_eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        configured = self._model.generation_config.eos_token_id
        if isinstance(configured, int):
            ids.add(configured)
        elif configured is not None:
            ids.update(int(token) for token in configured)
        if self._tokenizer.eos_token_id is not None:
            ids.add(int(self._tokenizer.eos_token_id))
        return frozenset(ids)

    def _single_token_ids(self, words: Sequence[str]) -> list[int]:
        ids: set[int] = set()
        for word in words:
            encoded = self._tokenizer.encode(word, add_special_tokens=False)
            if len(encoded) == 1:
                ids.add(int(encoded[0]))
        if not ids:
            raise ModelError(ERR_NO_YES_NO.format(name=self.name))
        return sorted(ids)

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def _prompt_ids(self, messages: list[dict[str, str]]) -> torch.Tensor:
        # Typed as str | list | dict in the stubs; with return_dict=True it is a BatchEncoding.
        encoded: Any = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        input_ids: torch.Tensor = encoded["input_ids"]
        return input_ids.to(self.device)

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """Counts the prompt tokens of a chat, generation prompt included.

        Args:
            messages: Chat turns.

        Returns:
            The number of tokens the model would read.
        """
        return int(self._prompt_ids(messages).shape[1])

    @override
    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
    ) -> ReplyStream:
        """Streams the greedy reply; see ``Generator.stream_chat``.

        Stopping the iteration early (``close()``) stops the computation too.
        """
        import torch

        stops = StopFilter(stop)
        generated: list[int] = []
        with torch.inference_mode():
            # logits_to_keep=1: the vocabulary projection of every prompt position would
            # cost Qwen ~50 GFLOPs for a 200-token prompt, for logits nobody reads.
            output = self._model(
                input_ids=self._prompt_ids(messages), use_cache=True, logits_to_keep=1
            )
            finish = FINISH_LENGTH
            for step in range(max_new_tokens):
                token = int(output.logits[0, -1].argmax())
                if token in self._eos_ids:
                    finish = FINISH_STOP
                    break
                generated.append(token)
                # Decoding the whole reply each step keeps multi-token characters and spaces
                # right; at a few hundred tokens the cost is negligible next to the forward pass.
                if delta := stops.feed(self._decode(generated)):
                    yield delta
                if stops.stopped:
                    return FINISH_STOP
                if step + 1 < max_new_tokens:
                    output = self._model(
                        input_ids=torch.tensor([[token]], device=self.device),
                        use_cache=True,
                        **{self._cache_arg: _output_cache(output)},
                    )
        if delta := stops.feed(self._decode(generated), final=True):
            yield delta
        return finish

    def _yes_share(self, logits: torch.Tensor) -> list[float]:
        """``P(Yes) / (P(Yes) + P(No))`` per row of next-token logits (0.5 when both are 0)."""
        import torch

        probs = torch.softmax(logits.float(), dim=-1)
        p_yes = probs[:, self._yes_ids].sum(dim=-1).tolist()
        p_no = probs[:, self._no_ids].sum(dim=-1).tolist()
        return [y / (y + n) if y + n > 0.0 else 0.5 for y, n in zip(p_yes, p_no, strict=True)]

    @override
    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        """Scores a yes/no question in one forward pass; see ``Generator.yes_probability``.

        Sums the probabilities of the Yes and No spellings that are single tokens
        (``Yes``, ``yes``, `` Yes``...), then normalises between the two.
        """
        import torch

        with torch.inference_mode():
            logits = self._model(
                input_ids=self._prompt_ids(messages), use_cache=False, logits_to_keep=1
            ).logits[:, -1]
        return self._yes_share(logits)[0]

    @override
    def yes_probabilities(self, batch: Sequence[list[dict[str, str]]]) -> list[float]:
        """Scores several yes/no questions in one padded forward pass.

        Prompts are left-padded so every last position is a real token; the attention mask
        hides the padding and the position ids restart at each prompt's first real token, so
        each score equals ``yes_probability`` of that chat (up to float rounding).
        """
        import torch

        if not batch:
            return []
        rows = [self._prompt_ids(messages)[0] for messages in batch]
        width = max(len(row) for row in rows)
        pad_id = self._tokenizer.pad_token_id
        if pad_id is None:
            pad_id = min(self._eos_ids) if self._eos_ids else 0
        input_ids = torch.full((len(rows), width), int(pad_id), device=self.device)
        mask = torch.zeros((len(rows), width), dtype=torch.long, device=self.device)
        for index, row in enumerate(rows):
            input_ids[index, width - len(row) :] = row
            mask[index, width - len(row) :] = 1
        positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = self._model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=False,
                logits_to_keep=1,
            ).logits[:, -1]
        return self._yes_share(logits)

    def time_generation(
        self, messages: list[dict[str, str]], *, new_tokens: int
    ) -> GenerationTiming:
        """Times a greedy generation of exactly ``new_tokens`` tokens (end of text ignored).

        Used to compare engines: prefill and decode speed, not the reply, matter here.

        Args:
            messages: Chat turns.
            new_tokens: Tokens to generate (at least 2: one from the prefill, the rest decoded).

        Returns:
            The prompt length and the prefill and decode times.
        """
        import torch

        started = time.perf_counter()
        with torch.inference_mode():
            prompt = self._prompt_ids(messages)
            output = self._model(input_ids=prompt, use_cache=True, logits_to_keep=1)
            token = int(output.logits[0, -1].argmax())
            prefilled = time.perf_counter()
            for _ in range(new_tokens - 1):
                output = self._model(
                    input_ids=torch.tensor([[token]], device=self.device),
                    use_cache=True,
                    **{self._cache_arg: _output_cache(output)},
                )
                token = int(output.logits[0, -1].argmax())
        finished = time.perf_counter()
        return GenerationTiming(
            prompt_tokens=int(prompt.shape[1]),
            prefill_s=prefilled - started,
            decode_tokens=new_tokens - 1,
            decode_s=finished - prefilled,
        )
