"""Draw the seeded sample of handbook paragraphs for the handbook-chat question set.

Run from the repository root:  python3 bench/data/sets/handbook-chat/sample.py
Standard library only. Prints each sampled paragraph (id, title, text) for reading.
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
HANDBOOK = HERE.parent / "handbook"

paragraphs = [
    json.loads(line)
    for line in (HANDBOOK / "paragraphs.jsonl").open(encoding="utf-8")
    if line.strip()
]
used = {
    json.loads(line)["doc"]
    for line in (HANDBOOK / "retrieval.jsonl").open(encoding="utf-8")
    if line.strip()
}
candidates = sorted(p["id"] for p in paragraphs if p["id"] not in used)
sample = random.Random(2026).sample(candidates, 140)

by_id = {p["id"]: p for p in paragraphs}
for pid in sample:
    p = by_id[pid]
    print(f"=== {pid} | {p['title']}")
    print(p["text"])
    print()
