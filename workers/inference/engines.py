"""Which engine runs a local LLM (torch fp32, torch bf16, CTranslate2 int8), chosen by measurement.

``CHATAPP_LLM_ENGINE`` = ``auto`` (default) | ``torch`` | ``ct2``. With ``auto`` the engine is
the one measured fastest on this machine kind, stored in ``var/models/engine-choice.json`` by
``workers.inference.engine_check`` (``make run`` runs it); else a cheap rule: CTranslate2 on CPU
when its folder exists, torch (bf16) on CUDA. A stored choice is keyed by model, device and
machine signature, so a copy of var/ on another CPU kind is re-measured, not trusted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from workers.inference.base import Generator, ModelError
from workers.inference.convert_ct2 import ct2_folder_for

__all__ = [
    "CHOICE_FILE",
    "ENGINE_ENV",
    "EngineChoice",
    "EngineMeasurement",
    "EngineSpec",
    "build_engine",
    "candidates",
    "machine_facts",
    "machine_key",
    "pick_fastest",
    "resolve_engine",
    "save_choice",
    "stored_choice",
]

logger = logging.getLogger(__name__)

ENGINE_ENV = "CHATAPP_LLM_ENGINE"
ENGINE_SETTINGS = ("auto", "torch", "ct2")
CHOICE_FILE = "engine-choice.json"
# A typical support turn: ~600 prompt tokens (4 passages + question) and an ~80-token answer.
TYPICAL_PROMPT_TOKENS = 600
TYPICAL_NEW_TOKENS = 80

ERR_SETTING = ENGINE_ENV + "={value!r} is not one of auto, torch, ct2"
ERR_NO_CT2_FOLDER = (
    "{engine} asked for {model}, but its CTranslate2 folder {folder} is missing: run `make models`"
)

Backend = Literal["torch", "ct2"]


@dataclass(frozen=True)
class EngineSpec:
    """One way to run a model.

    Attributes:
        name: ``torch-fp32``, ``torch-bf16``, ``torch`` (dtype chosen at load) or ``ct2-int8``.
        backend: Which generator class runs it.
        folder: The folder that backend loads.
        dtype: torch dtype or CTranslate2 compute type; None lets the backend choose.
    """

    name: str
    backend: Backend
    folder: Path
    dtype: str | None = None


@dataclass(frozen=True)
class EngineMeasurement:
    """What the capability check measured for one engine.

    Attributes:
        engine: ``EngineSpec.name``.
        load_s: Seconds to load the model.
        prompt_tokens: Prompt length of the timed run.
        prefill_s: Seconds to the first token.
        decode_tokens: Tokens decoded after the first.
        decode_s: Seconds spent decoding them.
    """

    engine: str
    load_s: float
    prompt_tokens: int
    prefill_s: float
    decode_tokens: int
    decode_s: float

    @property
    def prefill_tok_s(self) -> float:
        """Prompt tokens read per second."""
        return self.prompt_tokens / max(self.prefill_s, 1e-9)

    @property
    def decode_tok_s(self) -> float:
        """Tokens generated per second after the first."""
        return self.decode_tokens / max(self.decode_s, 1e-9)

    def turn_s(
        self, prompt_tokens: int = TYPICAL_PROMPT_TOKENS, new_tokens: int = TYPICAL_NEW_TOKENS
    ) -> float:
        """Estimated seconds for a turn: prefill at the measured rate, then decoding."""
        return prompt_tokens / self.prefill_tok_s + new_tokens / self.decode_tok_s


@dataclass(frozen=True)
class EngineChoice:
    """A stored decision for one model on one machine kind.

    Attributes:
        model: The model folder's name.
        engine: The chosen ``EngineSpec.name``.
        reason: One line: why, with the figures.
        machine: CPU (and GPU) facts the measurement depends on.
        measured: One entry per engine checked.
        when: UTC time of the measurement.
    """

    model: str
    engine: str
    reason: str
    machine: dict[str, Any]
    measured: list[EngineMeasurement] = field(default_factory=list)
    when: str = ""


def machine_facts(device: str) -> dict[str, Any]:
    """The CPU facts (with their signature) and, on CUDA, the GPU name: what figures depend on."""
    import torch

    from workers.inference.hardware import cpu_info

    # Not part of the key (the CPU kind is), but the figures depend on it: see engine_check.
    facts = {**cpu_info().as_dict(), "threads": torch.get_num_threads()}
    # The GPU decides CUDA figures, so its name is part of the key.
    if device.startswith("cuda") and torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
    return facts


def machine_key(model: str, device: str, machine: dict[str, Any]) -> str:
    """Where a choice is stored: the model, the device and the machine's signature.

    Args:
        model: The model folder's name.
        device: ``"cpu"`` or ``"cuda"``.
        machine: ``machine_facts(device)``: CPU facts with their ``signature``, maybe a GPU name.

    Returns:
        ``"<model>@<device>:<cpu signature>[:<gpu>]"``.
    """
    key = f"{model}@{device}:{machine['signature']}"
    return f"{key}:{machine['gpu']}" if "gpu" in machine else key


def candidates(folder: Path, device: str, *, force_bf16: bool = False) -> list[EngineSpec]:
    """The engines worth measuring for a model here; those whose files are missing are left out.

    Args:
        folder: The transformers model folder.
        device: ``"cpu"`` or ``"cuda"``.
        force_bf16: Also list torch bf16 on a CPU without native bf16 (benchmarks only).

    Returns:
        torch fp32 (CPU), torch bf16 (CUDA, or a CPU with native bf16), CTranslate2 int8.
    """
    from workers.inference.hardware import cpu_info

    found: list[EngineSpec] = []
    if (folder / "config.json").is_file():
        if device == "cpu":
            found.append(EngineSpec("torch-fp32", "torch", folder, "float32"))
        if device != "cpu" or cpu_info().native_bf16 or force_bf16:
            found.append(EngineSpec("torch-bf16", "torch", folder, "bfloat16"))
    ct2 = ct2_folder_for(folder)
    if (ct2 / "model.bin").is_file():
        found.append(EngineSpec("ct2-int8", "ct2", ct2))
    return found


def pick_fastest(measured: Sequence[EngineMeasurement]) -> tuple[str, str]:
    """Chooses the engine with the shortest estimated typical turn.

    Args:
        measured: At least one measurement.

    Returns:
        The engine name and a reason quoting every engine's estimate and rates.
    """
    ranked = sorted(measured, key=lambda entry: entry.turn_s())
    best = ranked[0]

    def figures(entry: EngineMeasurement) -> str:
        return (
            f"{entry.engine} {entry.turn_s():.1f} s (prefill {entry.prefill_tok_s:.0f} tok/s, "
            f"decode {entry.decode_tok_s:.1f} tok/s)"
        )

    reason = (
        f"fastest estimated turn ({TYPICAL_PROMPT_TOKENS}-token prompt + {TYPICAL_NEW_TOKENS} "
        f"tokens): " + "; ".join(figures(entry) for entry in ranked)
    )
    return best.engine, reason


def _load_choices(models_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((models_dir / CHOICE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stored_choice(folder: Path, device: str) -> EngineChoice | None:
    """The stored choice for this model on this machine kind, if one was measured.

    Args:
        folder: The transformers model folder (the choice file sits in its parent).
        device: ``"cpu"`` or ``"cuda"``.

    Returns:
        The choice, or None when none matches this model, device and machine signature.
    """
    key = machine_key(folder.name, device, machine_facts(device))
    entry = _load_choices(folder.parent).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        measured = [EngineMeasurement(**item) for item in entry.get("measured", [])]
        return EngineChoice(**{**entry, "measured": measured})
    except TypeError:  # written by another version of this module: measure again
        return None


def save_choice(folder: Path, device: str, choice: EngineChoice) -> None:
    path = folder.parent / CHOICE_FILE
    choices = _load_choices(folder.parent)
    choices[machine_key(folder.name, device, choice.machine)] = asdict(choice)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(choices, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)  # atomic: a worker reading it never sees half a file


def build_engine(spec: EngineSpec, device: str) -> Generator:
    """Loads the generator for an engine.

    Args:
        spec: The engine.
        device: ``"cpu"`` or ``"cuda"``.

    Returns:
        A ``LocalGenerator`` or a ``CT2Generator``.

    Raises:
        ModelError: The files are missing or fail to load.
    """
    if spec.backend == "ct2":
        from workers.inference.generator_ct2 import CT2Generator

        return CT2Generator(spec.folder, device=device, compute_type=spec.dtype)
    from workers.inference.generator_local import LocalGenerator

    return LocalGenerator(spec.folder, device=device, dtype=spec.dtype)


def _named(name: str, folder: Path) -> EngineSpec:
    """The spec for an engine name, for this model."""
    if name.startswith("ct2"):
        ct2 = ct2_folder_for(folder)
        if not (ct2 / "model.bin").is_file():
            raise ModelError(ERR_NO_CT2_FOLDER.format(engine=name, model=folder.name, folder=ct2))
        return EngineSpec("ct2-int8", "ct2", ct2)
    dtype = {"torch-fp32": "float32", "torch-bf16": "bfloat16"}.get(name)
    return EngineSpec(name, "torch", folder, dtype)


def resolve_engine(folder: Path, device: str, setting: str = "auto") -> tuple[EngineSpec, str]:
    """Decides how to run a local model, without loading or measuring anything.

    Args:
        folder: The transformers model folder.
        device: ``"cpu"`` or ``"cuda"``.
        setting: ``auto``, ``torch`` or ``ct2`` (``CHATAPP_LLM_ENGINE``).

    Returns:
        The engine and why it was picked.

    Raises:
        ModelError: Unknown setting, or ``ct2`` without a CTranslate2 folder.
    """
    if setting not in ENGINE_SETTINGS:
        raise ModelError(ERR_SETTING.format(value=setting))
    if setting != "auto":
        return _named(setting, folder), f"{ENGINE_ENV}={setting}"
    choice = stored_choice(folder, device)
    if choice is not None:
        try:
            return _named(choice.engine, folder), f"measured {choice.when}: {choice.reason}"
        except ModelError:
            pass  # the chosen engine's files went away since: fall back to the rule below
    if device == "cpu" and (ct2_folder_for(folder) / "model.bin").is_file():
        return _named("ct2", folder), "not measured here yet; CTranslate2 on CPU"
    return _named("torch", folder), "not measured here yet; torch (dtype by device)"
