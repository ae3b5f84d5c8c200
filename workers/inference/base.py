"""Interfaces and small value types shared by the inference backends."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator as _Gen
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "FINISH_LENGTH",
    "FINISH_STOP",
    "CitationRef",
    "Embedder",
    "FinishReason",
    "GenerationTiming",
    "Generator",
    "ModelError",
    "Passage",
    "ReplyStream",
    "StopFilter",
    "embedder_name",
    "pick_device",
]


FinishReason = Literal["stop", "length"]
FINISH_STOP: FinishReason = "stop"  # the model ended the reply, or a stop string did
FINISH_LENGTH: FinishReason = "length"  # max_new_tokens was reached: the reply may be cut off
# A reply's deltas; the generator's return value (StopIteration.value) says why it ended, so a
# caller can tell a finished last sentence from one cut off by the token limit. None: unknown.
ReplyStream = _Gen[str, None, FinishReason | None]


def pick_device() -> str:
    """Chooses where models run.

    Returns:
        ``"cuda"`` when torch sees a GPU, else ``"cpu"``.
    """
    import torch  # here, not at the top: importing this module must stay cheap

    return "cuda" if torch.cuda.is_available() else "cpu"


class ModelError(Exception):
    """A model cannot be used: files missing or corrupt, or its endpoint unreachable.

    The message is shown to operators as is, so it names the file or URL and the fix.
    """


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk shown to the LLM, numbered from 1 in the prompt.

    Attributes:
        ref: The number the prompt shows (``[ref]``); answers cite it as ``[ref]``.
        title: Title of the source document.
        text: The chunk text.
    """

    ref: int
    title: str
    text: str


@dataclass(frozen=True)
class CitationRef:
    """Which passage a sentence of an answer relies on, with a verbatim quote from it.

    Attributes:
        ref: The cited passage's ``Passage.ref``.
        quote: A sentence copied verbatim from the passage (at most 300 characters).
    """

    ref: int
    quote: str


@dataclass(frozen=True)
class GenerationTiming:
    """How long one greedy generation took, split into prefill and decode (engine choice).

    Attributes:
        prompt_tokens: Tokens in the prompt.
        prefill_s: Seconds from the call to the first generated token (prompt forward pass).
        decode_tokens: Tokens generated after the first one.
        decode_s: Seconds spent generating those.
    """

    prompt_tokens: int
    prefill_s: float
    decode_tokens: int
    decode_s: float


def embedder_name(folder: Path) -> str:
    """An embedder's short name: its folder's, or the package's for a ``model`` subfolder."""
    return folder.parent.name if folder.name == "model" else folder.name


class Embedder(ABC):
    """Turns texts into unit-length vectors for cosine similarity search.

    Attributes:
        name: A short human-readable model name, for logs and the dashboard.
        dim: Length of each vector.
        engine: The runtime that computes them (``torch``, ``ct2-float32``...).
        engine_reason: Why that runtime was chosen (set by the registry; logs, check_models).
    """

    name: str
    dim: int
    engine: str = "unknown"
    engine_reason: str = ""

    @abstractmethod
    def embed(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Embeds texts.

        Args:
            texts: The texts; an empty sequence gives an array of shape ``(0, dim)``.
            batch_size: How many texts go through the model at once; the backend's default
                when None.

        Returns:
            A float32 array of shape ``(len(texts), dim)`` whose rows have L2 norm 1.
        """

    def count_tokens(self, text: str) -> int:
        """How many model tokens ``text`` takes (chunk budgets); a word-based estimate here."""
        return max(1, round(len(text.split()) * 1.3))


class Generator(ABC):
    """A chat LLM: streams greedy completions and scores yes/no questions.

    Attributes:
        name: A short human-readable model name, for logs and the dashboard.
    """

    name: str

    @abstractmethod
    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        stop: Sequence[str] = (),
    ) -> ReplyStream:
        """Streams the assistant's reply to a chat, decoding greedily.

        Args:
            messages: Chat turns as ``{"role": ..., "content": ...}`` dicts.
            max_new_tokens: Upper bound on generated tokens.
            stop: Strings that end the reply; the stop string itself is not yielded.

        Yields:
            Text deltas whose concatenation is the reply.

        Returns:
            Why the reply ended (``FINISH_STOP`` or ``FINISH_LENGTH``), as the stream's
            ``StopIteration.value``; None where the backend cannot tell.

        Raises:
            ModelError: The backend failed (for HTTP backends: unreachable or an error status).
        """

    @abstractmethod
    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        """Scores a yes/no question put as the last user turn.

        Args:
            messages: Chat turns ending with a user question to be answered with Yes or No.

        Returns:
            ``P("Yes") / (P("Yes") + P("No"))`` for the first token of the reply, in [0, 1].

        Raises:
            ModelError: The backend failed.
        """

    def yes_probabilities(self, batch: Sequence[list[dict[str, str]]]) -> list[float]:
        """Scores several yes/no questions; backends that can batch override this.

        Args:
            batch: Chats, each ending with a user question to be answered with Yes or No.

        Returns:
            ``yes_probability`` of each chat, in order (an empty list for an empty batch).

        Raises:
            ModelError: The backend failed.
        """
        return [self.yes_probability(messages) for messages in batch]


class StopFilter:
    """Turns a growing reply into safe-to-show deltas, cutting it at the first stop string.

    Backends feed it the whole reply decoded so far after each token; it holds back a trailing
    half-decoded UTF-8 character (U+FFFD) and any tail that could still grow into a stop string.

    Args:
        stops: Stop strings; empty ones are ignored.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.emitted = 0
        self.stopped = False

    def holdback(self, text: str) -> int:
        """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def feed(self, text: str, *, final: bool = False) -> str:
        """Takes the reply so far and returns the part that can be shown now.

        Args:
            text: The whole reply decoded so far (it only grows between calls).
            final: True when no more text will come: release whatever was held back.

        Returns:
            The new delta, possibly empty. Once a stop string is seen, ``stopped`` is True and
            the text from the stop string on is never returned.
        """
        if self.stopped:
            return ""
        found = [index for stop in self.stops if (index := text.find(stop, self.emitted)) >= 0]
        if found:
            self.stopped = True
            end = min(found)
        elif final:
            end = len(text)
        else:
            end = min(len(text.rstrip("\ufffd")), len(text) - self.holdback(text))
        if end <= self.emitted:
            return ""
        delta, self.emitted = text[self.emitted : end], end
        return delta
