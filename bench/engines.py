"""LLM engines on this machine: time to first token, decode speed, judge time, memory.

``python -m bench engines`` measures, per engine (torch fp32, torch bf16 — forced even where the
CPU has no native bf16, so the table shows what it costs — and CTranslate2 int8), one run each:
time to first token for realistic ~200/~400/~850-token answer prompts built from the demo
knowledge base, decode tokens/s, yes/no judge time per claim (a batch of 4 vs one by one) and
resident memory. Each engine runs in its own child process, so its memory is its own.
``--quick`` uses SmolLM2-135M instead of the default Qwen2.5-Coder-1.5B.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, Table, write_results

PAGES_DIR = REPO_ROOT / "chatapp" / "knowledge" / "demo" / "pages"
MODELS_DIR = Path(os.environ.get("CHATAPP_MODELS_DIR", REPO_ROOT / "var" / "models"))
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"
QUICK_MODEL = "smollm2-135m-instruct"
# CHATAPP_TORCH_THREADS=1 measures as a worker on a shared box runs (results: engines-threads1).
THREADS = int(os.environ.get("CHATAPP_TORCH_THREADS") or 0)
# ATEN_CPU_CAPABILITY=avx2 (with ONEDNN_MAX_CPU_ISA=AVX2, CT2_FORCE_CPU_ISA=AVX2) makes this
# machine compute like an AVX2-only CPU: no native bf16, no AVX512/AMX kernels.
ISA = os.environ.get("ATEN_CPU_CAPABILITY", "")
PROMPT_SIZES = (200, 400, 850)
DECODE_TOKENS = 32
QUESTION = "How do I track my order, and how long does delivery take?"
CLAIMS = (  # two supported by the shipping page, two not: a realistic review batch
    "You can track your order in your account under Orders.",
    "Your order number starts with LO- followed by 6 digits.",
    "Tracking links are sent by text message only.",
    "Orders can be tracked without an order number by calling support.",
)


def _pages() -> list[tuple[str, str]]:
    """(title, body) of each demo page, front matter removed, shipping pages first."""
    pages = []
    for path in sorted(PAGES_DIR.glob("*.md"), key=lambda p: (not p.name.startswith("ship"), p)):
        text = path.read_text()
        match = re.match(r"---\n(.*?)\n---\n", text, re.S)
        title = path.stem
        if match:
            title = next(
                (
                    ln.split(":", 1)[1].strip()
                    for ln in match[1].splitlines()
                    if ln.startswith("title:")
                ),
                title,
            )
            text = text[match.end() :]
        pages.append((title, text.strip()))
    return pages


def answer_messages(generator: Any, tokens: int) -> list[dict[str, str]]:
    """An answer prompt of about ``tokens`` tokens: demo paragraphs added until long enough."""
    from workers.inference.answerer import build_answer_messages
    from workers.inference.base import Passage

    paragraphs = [(t, p) for t, body in _pages() for p in body.split("\n\n") if p.strip()]
    passages: list[Passage] = []
    messages = build_answer_messages(QUESTION, passages)
    for title, paragraph in paragraphs:
        if generator.count_tokens(messages) >= tokens:
            break
        if passages and passages[-1].title == title and len(passages[-1].text) < 1500:
            last = passages.pop()
            passages.append(Passage(last.ref, title, f"{last.text}\n\n{paragraph}"))
        else:
            passages.append(Passage(len(passages) + 1, title, paragraph))
        messages = build_answer_messages(QUESTION, passages)
    return messages


def judge_messages() -> list[list[dict[str, str]]]:
    """The reviewer's yes/no question for each claim against the shipping page."""
    from workers.inference.reviewer import CHECK_QUESTION, CHECK_SYSTEM

    title, body = _pages()[0]
    passage = f"{title}\n{body[:1500]}"
    return [
        [
            {"role": "system", "content": CHECK_SYSTEM},
            {
                "role": "user",
                "content": f"Passage:\n{passage}\n\nClaim: {claim}\n\n{CHECK_QUESTION}",
            },
        ]
        for claim in CLAIMS
    ]


def measure_one(engine: str, folder: Path) -> dict[str, Any]:
    """Runs in the child process: every figure for one engine."""
    import torch

    from workers.inference.engines import build_engine, candidates

    if THREADS > 0:  # as the workers run with CHATAPP_TORCH_THREADS; CTranslate2 follows it
        torch.set_num_threads(THREADS)

    spec = next(s for s in candidates(folder, "cpu", force_bf16=True) if s.name == engine)
    started = time.perf_counter()
    generator: Any = build_engine(spec, "cpu")
    row: dict[str, Any] = {"engine": engine, "load_s": time.perf_counter() - started}
    row["dtype"] = getattr(generator, "dtype", None) or getattr(generator, "compute_type", "")
    generator.time_generation([{"role": "user", "content": "Hi"}], new_tokens=2)  # warm-up
    for size in PROMPT_SIZES:
        timing = generator.time_generation(answer_messages(generator, size), new_tokens=2)
        row[f"ttft_{size}"] = timing.prefill_s
        row[f"tokens_{size}"] = timing.prompt_tokens
        print(
            f"  [{engine}] ~{size}-token prompt ({timing.prompt_tokens}): "
            f"first token {timing.prefill_s:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    timing = generator.time_generation(answer_messages(generator, 200), new_tokens=DECODE_TOKENS)
    row["decode_tok_s"] = timing.decode_tokens / timing.decode_s
    chats = judge_messages()
    row["judge_tokens"] = [generator.count_tokens(chat) for chat in chats]
    started = time.perf_counter()
    single = [generator.yes_probability(chat) for chat in chats]
    row["judge_single_s"] = (time.perf_counter() - started) / len(chats)
    started = time.perf_counter()
    batched = generator.yes_probabilities(chats)
    row["judge_batched_s"] = (time.perf_counter() - started) / len(chats)
    row["p_yes"] = single
    row["batched_max_diff"] = max(abs(a - b) for a, b in zip(single, batched, strict=True))
    import psutil

    row["rss_gb"] = psutil.Process().memory_info().rss / 1e9
    row["peak_rss_gb"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    )  # KiB on Linux
    return row


def _cpu_header() -> dict[str, Any]:
    from workers.inference.hardware import bf16_probe, cpu_info

    info = cpu_info()
    probe = bf16_probe()
    print(f"CPU: {info.describe()}", flush=True)
    print(
        f"bf16 probe: 256x256 matmul fp32 {probe.fp32_s * 1e3:.2f} ms, bf16 "
        f"{probe.bf16_s * 1e3:.2f} ms (bf16 {'not ' if probe.bf16_not_slower else ''}slower)",
        flush=True,
    )
    return {**info.as_dict(), "probe_fp32_s": probe.fp32_s, "probe_bf16_s": probe.bf16_s}


def run(quick: bool = False) -> None:
    """Measures every engine of the model, one child process each; prints and writes results."""
    from workers.inference.engines import candidates

    folder = MODELS_DIR / (QUICK_MODEL if quick else DEFAULT_MODEL)
    cpu = _cpu_header()
    load_before = os.getloadavg()[0]
    rows = []
    for spec in candidates(folder, "cpu", force_bf16=True):
        print(f"* {spec.name} on {folder.name}", file=sys.stderr, flush=True)
        child = subprocess.run(
            [sys.executable, "-m", "bench.engines", "--one", spec.name, str(folder)],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
            cwd=REPO_ROOT,
        )
        if child.returncode != 0:
            print(f"  {spec.name} failed (exit {child.returncode})", file=sys.stderr)
            continue
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    sizes = " / ".join(f"~{size}" for size in PROMPT_SIZES)
    table = Table(
        title=f"LLM engines: {folder.name} on CPU ({cpu['torch_capability']}, "
        f"native bf16 {'yes' if cpu['native_bf16'] else 'no'})",
        columns=[
            "engine",
            "dtype",
            "load s",
            f"first token s ({sizes} tok)",
            "decode tok/s",
            "judge s/claim 1-by-1",
            "judge s/claim batch 4",
            "RSS GB",
        ],
        rows=[
            [
                row["engine"],
                row["dtype"],
                row["load_s"],
                " / ".join(f"{row[f'ttft_{size}']:.2f}" for size in PROMPT_SIZES),
                row["decode_tok_s"],
                row["judge_single_s"],
                row["judge_batched_s"],
                row["peak_rss_gb"],
            ]
            for row in rows
        ],
        note=f"CPU: {cpu['model']}; flags {' '.join(cpu['flags'])}; "
        f"{cpu['physical_cores']} physical cores. Prompt sizes measured: "
        + "; ".join(
            f"{r['engine']} " + "/".join(str(r[f"tokens_{s}"]) for s in PROMPT_SIZES) for r in rows
        )
        + ". Judge prompts: "
        + ", ".join(str(t) for t in (rows[0]["judge_tokens"] if rows else []))
        + f" tokens. torch threads: {THREADS or 'default (one per core)'}; load average "
        f"(1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the "
        "machine). One run each; timings vary about ±25% on shared machines.",
    )
    name = ("engines-quick" if quick else "engines") + (f"-threads{THREADS}" if THREADS else "")
    if ISA:  # emulating a smaller CPU (see ISA): results kept apart from the native run
        name += f"-isa-{ISA.lower()}"
    write_results(name, {"cpu": cpu, "model": folder.name, "engines": rows}, [table])


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure_one(sys.argv[2], Path(sys.argv[3]))), flush=True)
    else:
        run(quick="--quick" in sys.argv)
