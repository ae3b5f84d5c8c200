"""Sanity and overlap checks for handbook-chat/retrieval.jsonl (standard library only).

Run from the repository root:  python3 bench/data/sets/handbook-chat/check.py
Checks: every line is valid JSON with the expected fields; every `doc` exists in
handbook/paragraphs.jsonl; none is used by the older handbook set; no doc twice.
Overlap rule: content words = lower-cased alphanumeric tokens of 2+ characters minus a
stop list (function words, chat fillers and correction phrases). A question is flagged
when more than 50 % of its distinct content words occur in its paragraph, or when it
shares 4 consecutive content words with the paragraph.
"""

import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
HANDBOOK = HERE.parent / "handbook"

STOP = {
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "couldn",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "even",
    "few",
    "for",
    "from",
    "further",
    "get",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "like",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "s",
    "t",
    "ll",
    "ve",
    "re",
    "m",
    "d",
    "um",
    "uh",
    "hmm",
    "hi",
    "hey",
    "hello",
    "thanks",
    "thank",
    "advance",
    "sorry",
    "wait",
    "actually",
    "mean",
    "er",
    "ugh",
    "oh",
    "ok",
    "okay",
    "well",
    "guess",
    "rather",
    "scratch",
    "rephrase",
    "basically",
    "know",
    "anyone",
    "stuff",
    "thing",
    "something",
    "q",
}


def tokens(text):
    return [t for t in re.findall(r"[a-z0-9]+", text.lower()) if len(t) > 1 and t not in STOP]


def main():
    paras = {}
    for line in (HANDBOOK / "paragraphs.jsonl").open(encoding="utf-8"):
        p = json.loads(line)
        paras[p["id"]] = p
    old = {
        json.loads(line)["doc"]
        for line in (HANDBOOK / "retrieval.jsonl").open(encoding="utf-8")
        if line.strip()
    }

    errors, flagged, shares, rows = [], [], [], []
    for n, line in enumerate((HERE / "retrieval.jsonl").open(encoding="utf-8"), 1):
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: invalid JSON ({e})")
            continue
        if set(r) != {"question", "doc", "style", "split"}:
            errors.append(f"line {n}: fields {sorted(r)}")
        if r.get("style") not in {"plain", "fillers", "self-correction"}:
            errors.append(f"line {n}: style {r.get('style')!r}")
        if r.get("split") != "held-out":
            errors.append(f"line {n}: split {r.get('split')!r}")
        if r["doc"] not in paras:
            errors.append(f"line {n}: unknown doc {r['doc']}")
            continue
        if r["doc"] in old:
            errors.append(f"line {n}: doc {r['doc']} is used by the older handbook set")
        rows.append(r)
        q = tokens(r["question"])
        ptoks = tokens(paras[r["doc"]]["text"])
        pset = set(ptoks)
        distinct = set(q)
        share = len(distinct & pset) / len(distinct) if distinct else 0.0
        shares.append(share)
        pgrams = {tuple(ptoks[i : i + 4]) for i in range(len(ptoks) - 3)}
        run4 = any(tuple(q[i : i + 4]) in pgrams for i in range(len(q) - 3))
        if share > 0.5 or run4:
            flagged.append((r["doc"], round(share, 2), run4, r["question"]))

    dup = [d for d, c in Counter(r["doc"] for r in rows).items() if c > 1]
    if dup:
        errors.append(f"docs used twice: {dup}")

    print(f"questions: {len(rows)}  distinct docs: {len({r['doc'] for r in rows})}")
    print("styles:", dict(Counter(r["style"] for r in rows)))
    words = [len(r["question"].split()) for r in rows]
    print(
        f"length in words: min {min(words)}  max {max(words)}  mean {sum(words) / len(words):.1f}"
    )
    s = sorted(shares)
    print(
        f"content-word share found in paragraph: mean {sum(s) / len(s):.2f}  "
        f"median {s[len(s) // 2]:.2f}  max {s[-1]:.2f}"
    )
    print(f"flagged (share > 0.5 or 4 content words in a row): {len(flagged)}")
    for f in flagged:
        print("  ", f)
    for e in errors:
        print("ERROR", e)
    return 1 if errors or flagged else 0


if __name__ == "__main__":
    sys.exit(main())
