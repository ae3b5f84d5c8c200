"""What this machine's CPU can do fast: feature flags, physical cores and a bf16 matmul probe.

Engines and dtypes are chosen from these facts at start-up, never assumed: the target machines
(AVX2 only) run bf16 matmuls ~300x slower than fp32, while a CPU with AMX/AVX512-BF16 runs
them faster than fp32.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Bf16Probe", "CpuInfo", "bf16_probe", "cpu_info", "physical_cores"]

logger = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
# Flags that mean the CPU computes bf16 natively (x86 AVX512-BF16 / AMX, Arm's BF16 extension).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
# Flags worth reporting next to a measurement: they explain the figures.
REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
# 256x256: ~34 MFLOPs, ~0.1 s in bf16 even on an AVX2-only CPU (0.3 GFLOPS), yet big enough
# that a native kernel shows its advantage over fp32.
PROBE_SIZE = 256
PROBE_REPEATS = 5
# bf16 must not be slower than fp32; 10% allowance for timer noise on shared cores.
PROBE_TOLERANCE = 1.1


@dataclass(frozen=True)
class CpuInfo:
    """The CPU facts that decide dtype and engine.

    Attributes:
        model: The CPU model name from /proc/cpuinfo (or ``platform.processor()``).
        torch_capability: ``torch.backends.cpu.get_cpu_capability()``, e.g. ``"AVX2"``.
        flags: The reported subset of ``REPORTED_FLAGS`` the CPU has.
        native_bf16: Whether the flags show native bf16 arithmetic.
        physical_cores: Physical cores (hyper-threads not counted).
    """

    model: str
    torch_capability: str
    flags: tuple[str, ...]
    native_bf16: bool
    physical_cores: int

    def signature(self) -> str:
        """A short hash of the facts a measurement depends on; differs on another machine kind."""
        text = "|".join(
            [
                self.model,
                self.torch_capability,
                ",".join(self.flags),
                str(self.physical_cores),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One line for logs: model, torch capability, flags, cores."""
        bf16 = "yes" if self.native_bf16 else "no"
        return (
            f"{self.model}; torch capability {self.torch_capability}; "
            f"flags {' '.join(self.flags) or '-'}; native bf16 {bf16}; "
            f"{self.physical_cores} physical cores"
        )

    def as_dict(self) -> dict[str, object]:
        """The fields as a JSON-ready dict (flags as a list, as JSON reads back) + signature."""
        return {**asdict(self), "flags": list(self.flags), "signature": self.signature()}


def _cpuinfo_fields(text: str) -> tuple[str, set[str]]:
    """The model name and the union of the flags (x86 "flags", Arm "Features") in cpuinfo."""
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in {"model name", "cpu model"} and not model:
            model = value.strip()
        elif key in {"flags", "features"}:
            flags.update(value.split())
    return model, flags


def physical_cores() -> int:
    """Physical cores available to this process (at least 1)."""
    import psutil

    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    physical = psutil.cpu_count(logical=False) or logical or 1
    return max(1, min(physical, logical or physical))


@functools.cache
def cpu_info() -> CpuInfo:
    """The CPU facts of this machine, read once per process."""
    import torch

    text = CPUINFO.read_text() if CPUINFO.is_file() else ""
    model, flags = _cpuinfo_fields(text)
    return CpuInfo(
        model=model or platform.processor() or platform.machine(),
        torch_capability=str(torch.backends.cpu.get_cpu_capability()),
        flags=tuple(flag for flag in REPORTED_FLAGS if flag in flags),
        native_bf16=bool(flags & NATIVE_BF16_FLAGS),
        physical_cores=physical_cores(),
    )


@dataclass(frozen=True)
class Bf16Probe:
    """A timed ``PROBE_SIZE`` square matmul in both dtypes (best of ``PROBE_REPEATS``).

    Attributes:
        fp32_s: Seconds for one fp32 matmul.
        bf16_s: Seconds for one bf16 matmul.
    """

    fp32_s: float
    bf16_s: float

    @property
    def bf16_not_slower(self) -> bool:
        """bf16 is at least as fast as fp32, within ``PROBE_TOLERANCE``."""
        return self.bf16_s <= self.fp32_s * PROBE_TOLERANCE


def _best_matmul_s(dtype_name: str) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(PROBE_SIZE, PROBE_SIZE, generator=generator).to(dtype)
    b = torch.randn(PROBE_SIZE, PROBE_SIZE, generator=generator).to(dtype)
    best = float("inf")
    with torch.inference_mode():
        torch.mm(a, b)  # warm-up: kernel selection and first-touch allocation
        for _ in range(PROBE_REPEATS):
            started = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - started)
    return best


@functools.cache
def bf16_probe() -> Bf16Probe:
    """Times bf16 against fp32 on this CPU, once per process (~0.05 s native, ~0.6 s AVX2)."""
    probe = Bf16Probe(fp32_s=_best_matmul_s("float32"), bf16_s=_best_matmul_s("bfloat16"))
    logger.info(
        "bf16 probe: %dx%d matmul fp32 %.2f ms, bf16 %.2f ms",
        PROBE_SIZE,
        PROBE_SIZE,
        probe.fp32_s * 1e3,
        probe.bf16_s * 1e3,
    )
    return probe
