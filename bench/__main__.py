"""``python -m bench [NAME|all] [--quick]``: run benchmarks, print tables (names: BENCHMARKS)."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

BENCHMARKS = (
    "retrieval",
    "embedders",
    "rerank",
    "latency",
    "search_http",
    "routing",
    "indexing",
    "engines",
    "review",
    "answers",
    "turns",
    "gate_pacing",
    "adversarial",
    "load",
    "serve",
    "widget",
    "assignment",
    "webhooks",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="?", default="all", choices=(*BENCHMARKS, "all"))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller samples, no tuning sweep, 10k scale only, SmolLM2 for adversarial",
    )
    args = parser.parse_args(argv)
    names = BENCHMARKS if args.which == "all" else (args.which,)
    for name in names:
        started = time.perf_counter()
        print(f"== bench {name}{' (quick)' if args.quick else ''} ==", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.run(quick=args.quick)
        print(f"== bench {name}: {time.perf_counter() - started:.0f}s ==", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
