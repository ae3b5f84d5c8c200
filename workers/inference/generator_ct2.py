"""Causal-LM generator on CTranslate2 (int8 weights), from a folder made by ``convert_ct2``.

On CPUs without native bf16 this is the fast path: int8 matmuls with AVX2/AVX512-VNNI, where
torch must run fp32 (see MODELS.md and ``workers.inference.engines``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
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
from workers.inference.convert_ct2 import TOKENIZER_DIR
from workers.inference.ct2_pacing import ReadPacer

__all__ = ["CT2Generator", "choose_compute_type"]

YES_WORDS = ("Yes", "yes", "YES", " Yes", " yes")
NO_WORDS = ("No", "no", "NO", " No", " no")
# Preferred CTranslate2 compute types per device, best first; the first one the build and the
# device support wins. int8 weights with bf16/fp16 activations on GPUs; int8 (fp32 activations)
# on CPUs, which is what ran 2-3x faster than torch fp32 on the AVX2 target.
COMPUTE_TYPES = {
    "cuda": ("int8_bfloat16", "int8_float16", "bfloat16", "float16", "int8"),
    "cpu": ("int8", "int8_float32", "float32"),
}
# Two replicas share the weights (CTranslate2 shares them on one device): one streams the
# answer while the other judges its sentences, which would otherwise wait for the whole reply.
REPLICAS = 2
ERR_NOT_A_CT2_MODEL = (
    "{folder} is not a CTranslate2 model folder (no model.bin): rerun `make models`"
)
ERR_LOAD = "cannot load the CTranslate2 model from {folder}: {error}"
ERR_NO_YES_NO = "the tokenizer of {name} has no single-token Yes/No"
ERR_NO_CT2 = "ctranslate2 is not installed: pip install ctranslate2==4.8.5"


def choose_compute_type(device: str) -> str:
    """The CTranslate2 compute type for a device: int8 weights, the best activations it runs.

    Args:
        device: ``"cpu"`` or ``"cuda"``.

    Returns:
        The first of ``COMPUTE_TYPES[device]`` that ``ctranslate2`` supports there.
    """
    import ctranslate2

    supported = set(ctranslate2.get_supported_compute_types(device))
    for compute_type in COMPUTE_TYPES.get(device, COMPUTE_TYPES["cpu"]):
        if compute_type in supported:
            return compute_type
    return "default"


def _default_threads() -> int:
    """Physical cores, but no more than torch was told to use (``CHATAPP_TORCH_THREADS``).

    The worker sets torch's thread count before loading models; on a shared 2-core box the
    same cap must hold for CTranslate2, whose OpenMP threads compete for the same cores.
    """
    import torch

    from workers.inference.hardware import physical_cores

    return max(1, min(physical_cores(), torch.get_num_threads()))


class CT2Generator(Generator):
    """A CTranslate2 causal LM with the chat template of its saved tokenizer; greedy decoding.

    Not thread-safe for streaming: one generation at a time per instance.

    Args:
        folder: A folder written by ``workers.inference.convert_ct2`` (model.bin, vocabulary,
            and the tokenizer and generation_config.json under ``tokenizer/``).
        device: ``"cpu"`` or ``"cuda"``; ``pick_device()`` when None.
        compute_type: A CTranslate2 compute type; ``choose_compute_type(device)`` when None.
        threads: Intra-op threads; physical cores (capped by torch's setting) when None.

    Raises:
        ModelError: The folder is missing, incomplete or fails to load.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        device: str | None = None,
        compute_type: str | None = None,
        threads: int | None = None,
    ) -> None:
        folder = Path(folder)
        if not (folder / "model.bin").is_file():
            raise ModelError(ERR_NOT_A_CT2_MODEL.format(folder=folder))
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import ctranslate2
        except ImportError as error:
            raise ModelError(ERR_NO_CT2) from error
        from transformers import AutoTokenizer

        self.device = device or pick_device()
        self.compute_type = compute_type or choose_compute_type(self.device)
        self.threads = threads or _default_threads()
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(
                folder / TOKENIZER_DIR, local_files_only=True
            )
            self._ct2 = ctranslate2.Generator(
                str(folder),
                device=self.device,
                compute_type=self.compute_type,
                inter_threads=REPLICAS,
                intra_threads=self.threads,
            )
        # As for the transformers backend: any failure here is a model-files problem.
        except Exception as error:
            raise ModelError(ERR_LOAD.format(folder=folder, error=error)) from error
        self.folder = folder
        self.name = folder.name
        self._eos_ids = self._collect_eos_ids(folder)
        self._yes_ids = self._single_token_ids(YES_WORDS)
        self._no_ids = self._single_token_ids(NO_WORDS)

    def _collect_eos_ids(self, folder: Path) -> list[int]:
        ids: set[int] = set()
        generation = folder / TOKENIZER_DIR / "generation_config.json"
        if generation.is_file():
            configured = json.loads(generation.read_text()).get("eos_token_id")
            if isinstance(configured, int):
                ids.add(configured)
            elif isinstance(configured, list):
                ids.update(int(token) for token in configured)
        if self._tokenizer.eos_token_id is not None:
            ids.add(int(self._tokenizer.eos_token_id))
        return sorted(ids)

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

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> list[str]:
        """The prompt as CTranslate2 wants it: token strings of its (= the HF) vocabulary."""
        # Typed as str | list | dict in the stubs; with return_dict=True it is a BatchEncoding.
        encoded: Any = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True
        )
        # Typed str | list[str]: a list of ids gives a list of tokens.
        tokens: Any = self._tokenizer.convert_ids_to_tokens(list(encoded["input_ids"]))
        return list(tokens)

    def _split_static(self, messages: list[dict[str, str]]) -> tuple[list[str], list[str]]:
        """The prompt cut into its system turn (cacheable: the same every turn) and the rest.

        Returns ``([], whole prompt)`` when there is no system turn or the template does not
        render it as a prefix of the whole.
        """
        tokens = self._prompt_tokens(messages)
        if not messages or messages[0]["role"] != "system" or len(messages) < 2:
            return [], tokens
        encoded: Any = self._tokenizer.apply_chat_template(
            messages[:1], add_generation_prompt=False, return_dict=True
        )
        prefix: Any = self._tokenizer.convert_ids_to_tokens(list(encoded["input_ids"]))
        prefix = list(prefix)
        if not prefix or tokens[: len(prefix)] != prefix or len(prefix) == len(tokens):
            return [], tokens
        return prefix, tokens[len(prefix) :]

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        """Counts the prompt tokens of a chat, generation prompt included.

        Args:
            messages: Chat turns.

        Returns:
            The number of tokens the model would read.
        """
        return len(self._prompt_tokens(messages))

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
        stops = StopFilter(stop)
        generated: list[int] = []
        static, rest = self._split_static(messages)
        # Decoding waits for this reader (see ct2_pacing): while the gate judges a sentence on
        # the other replica, the cores are the judge's, and a refused sentence stops decoding.
        pacer = ReadPacer()
        # The system turn is the same every turn: CTranslate2 keeps its computed state and
        # prefills only the rest (passages, question), which is the cost of a turn on a CPU.
        steps = self._ct2.generate_tokens(
            rest,
            max_length=max_new_tokens,
            sampling_topk=1,
            end_token=self._eos_ids,
            static_prompt=static or None,
            cache_static_prompt=True,
            callback=pacer.on_step,
        )
        finish = FINISH_LENGTH
        try:
            for step in steps:
                if step.token_id in self._eos_ids:
                    finish = FINISH_STOP
                    break
                generated.append(int(step.token_id))
                # Whole-reply decoding, as in the transformers backend: keeps multi-token
                # characters and leading spaces right.
                if delta := stops.feed(self._decode(generated)):
                    yield delta
                if stops.stopped:
                    return FINISH_STOP
                pacer.taken()
        finally:
            pacer.close()  # first: a decoding step waiting for room must see the reader gone
            steps.close()  # tells CTranslate2's decoding thread to stop at its next step
        if delta := stops.feed(self._decode(generated), final=True):
            yield delta
        # The steps also end without an end token when max_length is reached.
        return finish if len(generated) >= max_new_tokens else FINISH_STOP

    def _first_step_logits(self, prompts: list[list[str]]) -> list[npt.NDArray[np.float32]]:
        """The next-token logits after each prompt, from one batched first decoding step."""
        results = self._ct2.generate_batch(
            prompts,
            max_length=1,
            beam_size=1,
            include_prompt_in_result=False,
            return_logits_vocab=True,
        )
        # logits: one list per hypothesis, one [1, vocab] array per decoding step.
        return [np.asarray(result.logits[0][0], dtype=np.float32).reshape(-1) for result in results]

    def _yes_share(self, logits: npt.NDArray[np.float32]) -> float:
        """``P(Yes) / (P(Yes) + P(No))`` from one row of next-token logits."""
        row = logits.astype(np.float64)
        probs = np.exp(row - row.max())
        p_yes = float(probs[self._yes_ids].sum())
        p_no = float(probs[self._no_ids].sum())
        # The softmax denominator cancels in the ratio, so it is never computed.
        if p_yes + p_no <= 0.0:
            return 0.5
        return p_yes / (p_yes + p_no)

    @override
    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        """Scores a yes/no question from the first decoding step; see ``Generator``."""
        return self._yes_share(self._first_step_logits([self._prompt_tokens(messages)])[0])

    @override
    def yes_probabilities(self, batch: Sequence[list[dict[str, str]]]) -> list[float]:
        """Scores several yes/no questions, one batched call per prompt length.

        CTranslate2 prefills a batch at once only up to its shortest prompt and feeds the rest
        token by token (a decoding step per token), and ``forward_batch`` computes the whole
        vocabulary at every position (~0.5 GB of logits per 850-token Qwen prompt), so only
        prompts of equal length share a call. On 2 CPU cores even that measured no gain (4
        equal-length ~350-token prompts: 12.3 s batched vs 7.4 s one by one); on GPUs it pays.
        """
        prompts = [self._prompt_tokens(messages) for messages in batch]
        groups: dict[int, list[int]] = {}
        for index, prompt in enumerate(prompts):
            groups.setdefault(len(prompt), []).append(index)
        scores = [0.5] * len(prompts)
        for indices in groups.values():
            rows = self._first_step_logits([prompts[index] for index in indices])
            for index, row in zip(indices, rows, strict=True):
                scores[index] = self._yes_share(row)
        return scores

    def time_generation(
        self, messages: list[dict[str, str]], *, new_tokens: int
    ) -> GenerationTiming:
        """Times a greedy generation of exactly ``new_tokens`` tokens (end of text ignored).

        Args:
            messages: Chat turns.
            new_tokens: Tokens to generate (at least 2).

        Returns:
            The prompt length and the prefill and decode times.
        """
        prompt = self._prompt_tokens(messages)
        started = time.perf_counter()
        prefilled = started
        count = 0
        for count, _step in enumerate(
            self._ct2.generate_tokens(
                prompt, max_length=new_tokens, min_length=new_tokens, sampling_topk=1
            ),
            start=1,
        ):
            if count == 1:
                prefilled = time.perf_counter()
        finished = time.perf_counter()
        return GenerationTiming(
            prompt_tokens=len(prompt),
            prefill_s=prefilled - started,
            decode_tokens=max(0, count - 1),
            decode_s=finished - prefilled,
        )
