"""What the machine a benchmark ran on can do: CPU flags that decide which engine is fast."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# The flags that matter to LLM inference on a CPU: bf16 is 300x slower without native support.
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni")


def cpu_features() -> dict[str, Any]:
    """The CPU model, core count, the relevant flags and torch's own capability reading."""
    flags: set[str] = set()
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    try:
        import torch

        capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:
        capability = "unknown"
    return {
        "model": model,
        "cores": os.cpu_count(),
        "flags": [flag for flag in FLAGS if flag in flags],
        "torch_cpu_capability": capability,
    }
