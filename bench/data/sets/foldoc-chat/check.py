#!/usr/bin/env python3
"""Validate retrieval.jsonl against paragraphs.jsonl (standard library only).

Run from the repository root:
    python3 bench/data/sets/foldoc-chat/check.py

Checks: every doc id exists, styles and splits are valid, no duplicate
questions, paragraph ids unique.  Prints per-style counts and two
lexical-overlap figures between each question and its gold paragraph:
  * share: of the question's distinct content words (lower-case alphanumeric
    words of >= 3 characters, minus a small English stop list), the fraction
    that also occur in the gold paragraph; mean over questions;
  * run: the longest run of consecutive question words (all words, stop
    words included) that also appears as consecutive words in the gold
    paragraph; max and mean over questions.
Exits non-zero on any validation error.
"""

import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STYLES = ("plain", "fillers", "self-correction")
SPLITS = ("held-out",)
STOP = frozenset(
    " ".join(
        [
            "a about above after again all also am an and any are as at be because been before",
            "being below between both but by can could did do does doing done down during each",
            "even ever few for from get got had has have having he her here him his how i if in",
            "into is it its just know let like may me might more most much must my need no nor",
            "not now of off on once one only or other our out over own really same she should so",
            "some such than that the their them then there these they this those through to too",
            "under until up very was way we were what when where which while who whom why will",
            "with would yet you your thanks thank hey hi hello um uh hmm lol ok okay yeah sorry",
            "wait actually mean meant quick question anyone someone something thing stuff",
        ]
    ).split()
)
WORD = re.compile(r"[a-z0-9]+")


def words(text):
    return WORD.findall(text.lower())


def content(text):
    return {w for w in words(text) if len(w) >= 3 and w not in STOP}


def longest_run(q, p):
    """Longest common contiguous word sequence (dynamic programming)."""
    best = 0
    prev = [0] * (len(p) + 1)
    for i in range(1, len(q) + 1):
        cur = [0] * (len(p) + 1)
        qi = q[i - 1]
        for j in range(1, len(p) + 1):
            if qi == p[j - 1]:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best


def main():
    errors = []
    paras = {}
    with open(os.path.join(HERE, "paragraphs.jsonl"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            p = json.loads(line)
            if set(p) != {"id", "title", "text"}:
                errors.append(f"paragraphs.jsonl:{n}: keys {sorted(p)}")
            if p["id"] in paras:
                errors.append(f"paragraphs.jsonl:{n}: duplicate id {p['id']}")
            paras[p["id"]] = p
    rows = []
    with open(os.path.join(HERE, "retrieval.jsonl"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            rows.append(r)
            if set(r) != {"question", "doc", "style", "split"}:
                errors.append(f"retrieval.jsonl:{n}: keys {sorted(r)}")
            if r.get("doc") not in paras:
                errors.append(f"retrieval.jsonl:{n}: unknown doc {r.get('doc')!r}")
            if r.get("style") not in STYLES:
                errors.append(f"retrieval.jsonl:{n}: bad style {r.get('style')!r}")
            if r.get("split") not in SPLITS:
                errors.append(f"retrieval.jsonl:{n}: bad split {r.get('split')!r}")
            if not str(r.get("question", "")).strip():
                errors.append(f"retrieval.jsonl:{n}: empty question")
    seen = collections.Counter(" ".join(words(r["question"])) for r in rows)
    for q, c in seen.items():
        if c > 1:
            errors.append(f"duplicate question (x{c}): {q}")

    gold = len({r["doc"] for r in rows})
    print(f"paragraphs: {len(paras)}  questions: {len(rows)}  distinct gold docs: {gold}")
    by_style = collections.defaultdict(list)
    for r in rows:
        if r.get("doc") not in paras:
            continue
        p = paras[r["doc"]]
        qc = content(r["question"])
        pc = set(words(p["text"]))
        share = len(qc & pc) / len(qc) if qc else 0.0
        run = longest_run(words(r["question"]), words(p["text"]))
        by_style[r["style"]].append((share, run))
    allv = [v for s in STYLES for v in by_style.get(s, [])]
    print(f"{'style':<16} {'n':>5} {'mean share':>11} {'mean run':>9} {'max run':>8}")
    for s in (*STYLES, "all"):
        v = allv if s == "all" else by_style.get(s, [])
        if not v:
            continue
        share = sum(x[0] for x in v) / len(v)
        mean_run = sum(x[1] for x in v) / len(v)
        print(f"{s:<16} {len(v):>5} {share:>11.3f} {mean_run:>9.2f} {max(x[1] for x in v):>8}")
    runs = collections.Counter(min(x[1], 5) for x in allv)
    print(
        "longest-run distribution: "
        + ", ".join(f"{k}{'+' if k == 5 else ''}: {runs[k]}" for k in sorted(runs))
    )
    if errors:
        for e in errors:
            print("ERROR:", e)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
