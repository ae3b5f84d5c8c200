"""Causal-LM generator running in-process with transformers, from a local model folder."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from workers.inference.base import Generator, ModelError, StopFilter, pick_device

if TYPE_CHECKING:
    import torch

__all__ = ["LocalGenerator", "choose_dtype"]

DType = Literal["float32", "bfloat16", "float16"]

# On 2 CPU cores bf16 matmuls beat fp32 once the weights no longer fit in cache: Qwen2.5-1.5B
# decodes faster in bf16 and needs half the memory. For tiny models fp32 is as fast and exact.
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


def choose_dtype(device: str, config: dict[str, Any]) -> DType:
    """Picks the compute dtype for a model on a device.

    Args:
        device: ``"cpu"``, ``"cuda"``...
        config: The model's config.json contents.

    Returns:
        ``"bfloat16"`` on CUDA and for large models on CPU, else ``"float32"``.
    """
    if device != "cpu":
        return "bfloat16"
    return "bfloat16" if _param_count(config) >= CPU_BF16_MIN_PARAMS else "float32"


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
    ) -> Iterator[str]:
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
            for step in range(max_new_tokens):
                token = int(output.logits[0, -1].argmax())
                if token in self._eos_ids:
                    break
                generated.append(token)
                # Decoding the whole reply each step keeps multi-token characters and spaces
                # right; at a few hundred tokens the cost is negligible next to the forward pass.
                if delta := stops.feed(self._decode(generated)):
                    yield delta
                if stops.stopped:
                    return
                if step + 1 < max_new_tokens:
                    output = self._model(
                        input_ids=torch.tensor([[token]], device=self.device),
                        use_cache=True,
                        **{self._cache_arg: _output_cache(output)},
                    )
        if delta := stops.feed(self._decode(generated), final=True):
            yield delta

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
            ).logits[0, -1]
            probs = torch.softmax(logits.float(), dim=-1)
            p_yes = float(probs[self._yes_ids].sum())
            p_no = float(probs[self._no_ids].sum())
        if p_yes + p_no <= 0.0:
            return 0.5
        return p_yes / (p_yes + p_no)
