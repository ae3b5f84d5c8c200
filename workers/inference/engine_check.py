"""The engine check: time each available engine on this machine, store the fastest.

``python -m workers.inference.engine_check --model <folder> [--force]``; ``make run`` calls it
before starting the workers and it returns at once when a choice for this machine kind is
stored. See ``workers.inference.engines`` for how the choice is used.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from workers.inference.base import GenerationTiming, ModelError, pick_device
from workers.inference.engines import (
    EngineChoice,
    EngineMeasurement,
    EngineSpec,
    build_engine,
    candidates,
    machine_facts,
    pick_fastest,
    save_choice,
    stored_choice,
)

__all__ = ["measure_and_choose", "measure_engine"]

logger = logging.getLogger(__name__)

# Long enough to reach steady speed, short enough for start-up (~1-2 min on 2 cores for
# Qwen-1.5B over the engines, most of it torch fp32).
CHECK_PROMPT_TOKENS = 200
CHECK_NEW_TOKENS = 16

ProgressFn = Callable[[str], None]


class Timeable(Protocol):
    """A generator that can time a fixed-length generation (both local backends can)."""

    def count_tokens(self, messages: list[dict[str, str]]) -> int: ...

    def time_generation(
        self, messages: list[dict[str, str]], *, new_tokens: int
    ) -> GenerationTiming: ...


def _check_chat(generator: Timeable, prompt_tokens: int) -> list[dict[str, str]]:
    """A support-style chat of about ``prompt_tokens`` tokens (grown until long enough)."""
    sentence = (
        "Orders placed before 2 pm ship the same business day; standard delivery takes three "
        "to five days and express delivery one to two days. "
    )
    passage = sentence
    chat: list[dict[str, str]] = []
    for _ in range(64):  # bounded: each round adds ~30 tokens
        chat = [
            {"role": "system", "content": "Answer from the passage. Cite it as [1]."},
            {"role": "user", "content": f"[1] {passage}\n\nQuestion: how long does delivery take?"},
        ]
        if generator.count_tokens(chat) >= prompt_tokens:
            break
        passage += sentence
    return chat


def measure_engine(
    spec: EngineSpec,
    device: str,
    *,
    prompt_tokens: int = CHECK_PROMPT_TOKENS,
    new_tokens: int = CHECK_NEW_TOKENS,
) -> EngineMeasurement:
    """Loads an engine, warms it up, then times one prefill and ``new_tokens`` decoded tokens.

    Args:
        spec: The engine.
        device: ``"cpu"`` or ``"cuda"``.
        prompt_tokens: Approximate prompt length.
        new_tokens: Tokens to generate.

    Returns:
        The figures.

    Raises:
        ModelError: The engine fails to load.
    """
    started = time.perf_counter()
    generator: Any = build_engine(spec, device)
    load_s = time.perf_counter() - started
    # Warm-up: the first call pays for kernel selection and memory allocation, not the engine.
    generator.time_generation([{"role": "user", "content": "Hi"}], new_tokens=2)
    timing = generator.time_generation(_check_chat(generator, prompt_tokens), new_tokens=new_tokens)
    del generator
    gc.collect()  # the next engine must not share memory with this one
    return EngineMeasurement(spec.name, load_s, **asdict(timing))


def measure_and_choose(
    folder: Path, device: str, *, progress: ProgressFn | None = None
) -> EngineChoice:
    """Measures every candidate engine for a model, stores and returns the fastest.

    Args:
        folder: The transformers model folder.
        device: ``"cpu"`` or ``"cuda"``.
        progress: Receives one line per step.

    Returns:
        The choice (also written to ``<models dir>/engine-choice.json``).

    Raises:
        ModelError: No engine could be loaded.
    """
    say: ProgressFn = progress or (lambda line: None)
    measured: list[EngineMeasurement] = []
    for spec in candidates(folder, device):
        say(f"checking {spec.name} on {folder.name}: load, {CHECK_PROMPT_TOKENS}-token prefill…")
        try:
            entry = measure_engine(spec, device)
        except ModelError as error:
            say(f"  {spec.name} skipped: {error}")
            continue
        measured.append(entry)
        say(
            f"  {spec.name}: load {entry.load_s:.1f} s, prefill {entry.prefill_tok_s:.0f} tok/s, "
            f"decode {entry.decode_tok_s:.1f} tok/s, typical turn ~{entry.turn_s():.1f} s"
        )
    if not measured:
        raise ModelError(f"no engine could load {folder}: run `make models`")
    engine, reason = pick_fastest(measured)
    choice = EngineChoice(
        model=folder.name,
        engine=engine,
        reason=reason,
        machine=machine_facts(device),
        measured=measured,
        when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    save_choice(folder, device, choice)
    logger.info("engine %s chosen for %s because %s", engine, folder.name, reason)
    return choice


def main(argv: list[str] | None = None) -> int:
    """``python -m workers.inference.engine_check --model <folder> [--force]``: check, store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, required=True, help="transformers model folder")
    parser.add_argument("--device", default="", help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--force", action="store_true", help="measure even if a choice is stored")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads, as the workers get them (0: default)"
    )
    args = parser.parse_args(argv)
    device = args.device or pick_device()
    if args.threads > 0:
        import torch

        # Measure as the workers will run: on a shared 2-core box torch bf16 on 2 threads
        # decoded 0.8 tok/s vs 2.5 on 1 thread while other work ran; CTranslate2 follows suit.
        torch.set_num_threads(args.threads)

    def say(line: str) -> None:
        print(f"[engines] {line}", file=sys.stderr, flush=True)

    from workers.inference.hardware import cpu_info

    say(f"cpu: {cpu_info().describe()}")
    choice = None if args.force else stored_choice(args.model, device)
    if choice is not None:
        say(f"stored choice for this machine kind ({choice.when}), not re-measured")
    else:
        try:
            choice = measure_and_choose(args.model, device, progress=say)
        except ModelError as error:
            say(f"error: {error}")
            return 1
    say(f"engine {choice.engine} chosen for {choice.model} because {choice.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
