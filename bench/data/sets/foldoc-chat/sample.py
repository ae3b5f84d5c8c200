#!/usr/bin/env python3
"""Draw the paragraphs the questions were written for (standard library only).

Run from the repository root:
    python3 bench/data/sets/foldoc-chat/sample.py

Draws random.Random(7).sample(sorted ids, 150) from paragraphs.jsonl and
prints id, title and text of each, in draw order.
"""

import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 7
K = 150


def main():
    paras = {}
    with open(os.path.join(HERE, "paragraphs.jsonl"), encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            paras[p["id"]] = p
    for pid in random.Random(SEED).sample(sorted(paras), K):
        p = paras[pid]
        print("{}\t{}\n{}\n".format(pid, p["title"], p["text"]))


if __name__ == "__main__":
    main()
