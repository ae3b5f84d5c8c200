"""A trial of onnxruntime-genai int4 against CTranslate2 int8 for the answering model (issue 6).

``python -m bench.ort_trial [--threads 2,1]`` runs each engine in its own child process (so its
peak memory is its own), on the same token ids: answer prompts of ~200/~400/~850 tokens built
from the demo pages with the app's chat template (``bench.engines.answer_messages``). Per
prompt: time to first token, then decode speed over 64 greedy tokens (end of text ignored), and
the first 40 tokens of the reply. Also P(Yes) of the review bench's four claims (same prompts for
both engines), and peak RSS. The load average is taken before and after each child.

Folders: ``var/models/qwen2.5-coder-1.5b-instruct`` (tokenizer), its ``-ct2-int8`` and
``-ort-int4`` siblings. onnxruntime-genai is not a dependency of the app: install it (with
``onnx``, ``onnx_ir``, ``onnxruntime``) into a separate venv that also sees the app's, then build
the folder with ``python -m onnxruntime_genai.models.builder -i <bf16 folder> -o <name>-ort-int4
-p int4 -e cpu --extra_options accuracy_level=4 prune_lm_head=true``.
ONNX Runtime picks its kernels by CPU flags and has no switch to emulate an AVX2-only CPU, so on
an AVX512 machine its figures are AVX512-VNNI figures (``CT2_FORCE_CPU_ISA`` can still restrict
CTranslate2, which would make the comparison unfair).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO_ROOT

MODELS_DIR = Path(os.environ.get("CHATAPP_MODELS_DIR", REPO_ROOT / "var" / "models"))
MODEL = os.environ.get("CHATAPP_TRIAL_MODEL", "qwen2.5-coder-1.5b-instruct")
ORT_SUFFIX = os.environ.get("CHATAPP_TRIAL_ORT_SUFFIX", "-ort-int4")
PROMPT_SIZES = (200, 400, 850)
DECODE_TOKENS = 64
SHOWN_TOKENS = 40
RESULTS_DIR = REPO_ROOT / "bench" / "results"


class _Counter:
    """What ``bench.engines.answer_messages`` needs: token counts from the HF chat template."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def ids(self, messages: list[dict[str, str]]) -> list[int]:
        encoded: Any = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True
        )
        return [int(token) for token in encoded["input_ids"]]

    def count_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(self.ids(messages))


def _prompts(counter: _Counter) -> dict[int, list[int]]:
    from bench.engines import answer_messages

    return {size: counter.ids(answer_messages(counter, size)) for size in PROMPT_SIZES}


def _judge_prompts(counter: _Counter) -> list[list[int]]:
    from bench.engines import judge_messages

    return [counter.ids(chat) for chat in judge_messages()]


def _yes_share(logits: Any, yes_ids: list[int], no_ids: list[int]) -> float:
    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    probs = np.exp(row - row.max())
    p_yes, p_no = float(probs[yes_ids].sum()), float(probs[no_ids].sum())
    return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else 0.5


def _single_ids(tokenizer: Any, words: tuple[str, ...]) -> list[int]:
    ids = [tokenizer.encode(word, add_special_tokens=False) for word in words]
    return sorted({int(found[0]) for found in ids if len(found) == 1})


class _Ct2:
    def __init__(self, folder: Path, threads: int) -> None:
        import ctranslate2

        self.model = ctranslate2.Generator(
            str(folder), device="cpu", compute_type="int8", intra_threads=threads
        )
        self.vocab: Any = None

    def timed(self, ids: list[int], tokens: list[str]) -> tuple[float, float, list[int]]:
        del ids
        started = time.perf_counter()
        first = started
        out: list[int] = []
        for step in self.model.generate_tokens(
            tokens, max_length=DECODE_TOKENS, min_length=DECODE_TOKENS, sampling_topk=1
        ):
            out.append(int(step.token_id))
            if len(out) == 1:
                first = time.perf_counter()
        return first - started, time.perf_counter() - first, out

    def logits(self, ids: list[int], tokens: list[str]) -> Any:
        del ids
        result = self.model.generate_batch(
            [tokens], max_length=1, include_prompt_in_result=False, return_logits_vocab=True
        )[0]
        return np.asarray(result.logits[0][0], dtype=np.float32)


class _Ort:
    def __init__(self, folder: Path, threads: int) -> None:
        import onnxruntime_genai as og

        self.og = og
        config = og.Config(str(folder))
        config.clear_providers()
        config.overlay(
            json.dumps(
                {
                    "model": {
                        "decoder": {
                            "session_options": {
                                "intra_op_num_threads": threads,
                                "inter_op_num_threads": 1,
                            }
                        }
                    }
                }
            )
        )
        self.model = og.Model(config)

    def _generator(self, total: int) -> Any:
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(do_sample=False, max_length=total, min_length=total)
        return self.og.Generator(self.model, params)

    def timed(self, ids: list[int], tokens: list[str]) -> tuple[float, float, list[int]]:
        del tokens
        started = time.perf_counter()
        generator = self._generator(len(ids) + DECODE_TOKENS)
        generator.append_tokens(np.asarray([ids], dtype=np.int32))
        out: list[int] = []
        first = started
        while not generator.is_done() and len(out) < DECODE_TOKENS:
            generator.generate_next_token()
            out.append(int(generator.get_next_tokens()[0]))
            if len(out) == 1:
                first = time.perf_counter()
        return first - started, time.perf_counter() - first, out

    def logits(self, ids: list[int], tokens: list[str]) -> Any:
        del tokens
        generator = self._generator(len(ids) + 1)
        generator.append_tokens(np.asarray([ids], dtype=np.int32))
        return np.asarray(generator.get_logits(), dtype=np.float32).reshape(-1)


def measure_one(engine: str, threads: int) -> dict[str, Any]:
    """Runs in the child: every figure for one engine at one thread count."""
    from transformers import AutoTokenizer

    source = MODELS_DIR / MODEL
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    counter = _Counter(tokenizer)
    prompts = _prompts(counter)
    judge = _judge_prompts(counter)
    started = time.perf_counter()
    runner: Any
    if engine == "ct2-int8":
        runner = _Ct2(MODELS_DIR / f"{MODEL}-ct2-int8", threads)
    else:
        runner = _Ort(MODELS_DIR / f"{MODEL}{ORT_SUFFIX}", threads)
    row: dict[str, Any] = {"engine": engine, "threads": threads}
    row["load_s"] = time.perf_counter() - started

    def as_tokens(ids: list[int]) -> list[str]:
        return list(tokenizer.convert_ids_to_tokens(ids))

    warm = counter.ids([{"role": "user", "content": "Hi"}])
    runner.timed(warm, as_tokens(warm))  # warm-up: kernel choice, allocations
    row["load1_before"] = os.getloadavg()[0]
    for size, ids in prompts.items():
        prefill_s, decode_s, out = runner.timed(ids, as_tokens(ids))
        eos = tokenizer.eos_token_id
        shown = out[:SHOWN_TOKENS]
        if eos in shown:
            shown = shown[: shown.index(eos)]
        row[f"p{size}"] = {
            "prompt_tokens": len(ids),
            "ttft_s": prefill_s,
            "prefill_tok_s": len(ids) / prefill_s,
            "decode_tok_s": (len(out) - 1) / decode_s,
            "decoded": len(out) - 1,
            "text": tokenizer.decode(shown, skip_special_tokens=True),
            "ids": out,
        }
        print(
            f"  [{engine} t{threads}] {len(ids)} tok: first token {prefill_s:.2f} s, decode "
            f"{(len(out) - 1) / decode_s:.2f} tok/s (load {os.getloadavg()[0]:.2f})",
            file=sys.stderr,
            flush=True,
        )
    row["load1_after"] = os.getloadavg()[0]
    yes_ids = _single_ids(tokenizer, ("Yes", "yes", "YES", " Yes", " yes"))
    no_ids = _single_ids(tokenizer, ("No", "no", "NO", " No", " no"))
    started = time.perf_counter()
    row["p_yes"] = [
        _yes_share(runner.logits(ids, as_tokens(ids)), yes_ids, no_ids) for ids in judge
    ]
    row["judge_s_per_claim"] = (time.perf_counter() - started) / len(judge)
    row["judge_tokens"] = [len(ids) for ids in judge]
    row["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    return row


def run(threads_list: list[int], engines: list[str]) -> None:
    """Every engine at every thread count, one child each; prints a table, writes JSON."""
    rows = []
    for threads in threads_list:
        for engine in engines:
            print(f"* {engine}, {threads} thread(s)", file=sys.stderr, flush=True)
            child = subprocess.run(
                [sys.executable, "-m", "bench.ort_trial", "--one", engine, str(threads)],
                stdout=subprocess.PIPE,
                text=True,
                check=False,
                cwd=REPO_ROOT,
            )
            if child.returncode != 0:
                print(f"  {engine} failed (exit {child.returncode})", file=sys.stderr)
                continue
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    flags = sorted(
        {
            flag
            for flag in Path("/proc/cpuinfo").read_text().split()
            if flag.startswith(("avx", "amx"))
        }
    )
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {ORT_SUFFIX.lstrip('-')}; "
        f"CPU flags: {' '.join(flags)}; {os.cpu_count()} logical CPUs",
        "",
        "| engine | threads | prompt tok | TTFT s | prefill tok/s | decode tok/s | peak RSS GB "
        "| load (1 min) before/after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for size in PROMPT_SIZES:
            cell = row[f"p{size}"]
            lines.append(
                f"| {row['engine']} | {row['threads']} | {cell['prompt_tokens']} "
                f"| {cell['ttft_s']:.2f} | {cell['prefill_tok_s']:.0f} "
                f"| {cell['decode_tok_s']:.2f} | {row['peak_rss_gb']:.2f} "
                f"| {row['load1_before']:.2f}/{row['load1_after']:.2f} |"
            )
    for row in rows:
        lines.append(
            f"\n{row['engine']} t{row['threads']}: load {row['load_s']:.1f} s, judge "
            f"{row['judge_s_per_claim']:.2f} s/claim, P(Yes) "
            + ", ".join(f"{p:.3f}" for p in row["p_yes"])
        )
        lines.extend(f"  ~{size}: {row[f'p{size}']['text']!r}" for size in PROMPT_SIZES)
    print("\n".join(lines))
    name = f"ort-trial{ORT_SUFFIX.removeprefix('-ort-int4')}"
    (RESULTS_DIR / f"{name}.md").write_text("\n".join(lines) + "\n")
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure_one(sys.argv[2], int(sys.argv[3]))), flush=True)
    else:
        args = dict(arg.split("=", 1) for arg in sys.argv[1:] if "=" in arg)
        run(
            [int(n) for n in args.get("--threads", "2,1").split(",")],
            args.get("--engines", "ct2-int8,ort-int4").split(","),
        )
