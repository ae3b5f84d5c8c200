"""Check the helpdesk-chat retrieval questions.

Checks that every line of retrieval.jsonl is a JSON object with the expected fields, that every
gold page exists in its help centre, and that no question copies its gold page's wording:

- share: of a question's content words (function words, fillers and self-correction words
  left out), at most half may also appear on the gold page (compared on a light stem);
- run: no 4 content words in a row may also appear in a row (among content words) on the page.

Standard library only. Run from anywhere: ``python3 check.py [-v]``; exits 1 on any problem.
"""

import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
PAGE_DIRS = {
    "northwind": HERE.parent / "northwind" / "pages",
    "ledgerly": HERE.parent / "ledgerly" / "pages",
    "demo": ROOT / "chatapp" / "knowledge" / "demo" / "pages",
}
FIELDS = {"set", "question", "page", "style", "split"}
STYLES = {"plain", "fillers", "self-correction"}
MAX_SHARE = 0.5
RUN = 4
MIN_WORDS, MAX_WORDS = 5, 45

FUNCTION_WORDS = [
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
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
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
    "ourselves",
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
    "themselves",
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
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "im",
    "ive",
    "id",
    "ill",
    "youre",
    "youve",
    "dont",
    "doesnt",
    "didnt",
    "isnt",
    "arent",
    "wasnt",
    "werent",
    "cant",
    "couldnt",
    "wont",
    "wouldnt",
    "shouldnt",
    "hasnt",
    "havent",
    "hadnt",
    "thats",
    "theres",
    "whats",
    "heres",
    "lets",
    "also",
    "anything",
    "something",
    "every",
    "much",
    "many",
    "one",
    "get",
    "got",
    "gets",
    "getting",
    "go",
    "going",
    "goes",
    "went",
    "make",
    "made",
    "makes",
    "done",
    "ya",
    "u",
    "r",
    "ur",
    "pls",
    "plz",
    "thx",
    "ty",
    "tho",
    "though",
    "yet",
    "still",
    "even",
    "ever",
    "else",
    "gonna",
    "wanna",
    "gotta",
    "kinda",
    "sorta",
]

FILLER_AND_CORRECTION_WORDS = [
    "um",
    "umm",
    "uh",
    "uhh",
    "er",
    "erm",
    "hmm",
    "hm",
    "like",
    "know",
    "basically",
    "so",
    "well",
    "okay",
    "ok",
    "oh",
    "ah",
    "hi",
    "hello",
    "hey",
    "hiya",
    "thanks",
    "thank",
    "cheers",
    "please",
    "sorry",
    "actually",
    "wait",
    "mean",
    "meant",
    "scratch",
    "rather",
    "ugh",
    "hang",
    "rephrase",
    "lol",
    "yeah",
    "yes",
    "nope",
    "nah",
    "anyway",
    "anyways",
    "honestly",
    "literally",
    "guess",
    "think",
    "quick",
    "question",
    "guys",
    "folks",
    "sec",
    "correction",
    "oops",
    "whoops",
    "nevermind",
    "mind",
    "let",
    "opposite",
    "btw",
]

STOP = set(FUNCTION_WORDS) | set(FILLER_AND_CORRECTION_WORDS)
WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def stem(word):
    """A light stem, so that 'charges', 'charged' and 'charge' count as the same word."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text):
    """Lower-case word tokens, apostrophes removed ("don't" -> "dont")."""
    return [tok.replace("'", "") for tok in WORD_RE.findall(text.lower())]


def content_stems(text):
    return [stem(tok) for tok in words(text) if tok not in STOP and len(tok) > 1]


def page_profile(path):
    stems = content_stems(path.read_text(encoding="utf-8"))
    runs = {tuple(stems[i : i + RUN]) for i in range(len(stems) - RUN + 1)}
    return set(stems), runs


def overlap(question, profile):
    vocab, runs = profile
    stems = content_stems(question)
    shared = [s for s in stems if s in vocab]
    share = len(shared) / len(stems) if stems else 1.0
    copied = [
        " ".join(stems[i : i + RUN])
        for i in range(len(stems) - RUN + 1)
        if tuple(stems[i : i + RUN]) in runs
    ]
    return share, shared, stems, copied


def main(argv):
    verbose = "-v" in argv
    path = HERE / "retrieval.jsonl"
    problems = []
    profiles = {}
    by_set, by_style, by_page = Counter(), Counter(), Counter()
    seen = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON ({exc})")
            continue
        if not isinstance(row, dict) or set(row) != FIELDS:
            problems.append(f"{where}: expected exactly the fields {sorted(FIELDS)}")
            continue
        if row["set"] not in PAGE_DIRS:
            problems.append(f"{where}: unknown set {row['set']!r}")
            continue
        if row["style"] not in STYLES:
            problems.append(f"{where}: unknown style {row['style']!r}")
        if row["split"] != "held-out":
            problems.append(f"{where}: split must be 'held-out'")
        question = row["question"]
        if not isinstance(question, str) or not question.strip():
            problems.append(f"{where}: empty question")
            continue
        if question.lower() in seen:
            problems.append(f"{where}: duplicate question")
        seen.add(question.lower())
        count = len(question.split())
        if not MIN_WORDS <= count <= MAX_WORDS:
            problems.append(f"{where}: {count} words, expected {MIN_WORDS}-{MAX_WORDS}")
        page_path = PAGE_DIRS[row["set"]] / row["page"]
        if not page_path.is_file():
            problems.append(f"{where}: page {row['page']!r} not found in {row['set']}")
            continue
        if page_path not in profiles:
            profiles[page_path] = page_profile(page_path)
        share, shared, stems, copied = overlap(question, profiles[page_path])
        if share > MAX_SHARE:
            problems.append(
                f"{where}: share {share:.2f} ({len(shared)}/{len(stems)}: {' '.join(shared)})"
                f" -> {question}"
            )
        if copied:
            problems.append(f"{where}: {RUN} content words in a row from page: {copied}")
        if verbose:
            print(f"{lineno:3d} {share:.2f} [{' '.join(shared)}] {question}")
        by_set[row["set"]] += 1
        by_style[row["style"]] += 1
        by_page[(row["set"], row["page"])] += 1

    for name, folder in PAGE_DIRS.items():
        pages = sorted(p.name for p in folder.glob("*.md") if p.name != "README.md")
        used = sum(1 for page in pages if by_page[(name, page)])
        print(f"{name}: {by_set[name]} questions, {used}/{len(pages)} pages used")
    print("styles:", ", ".join(f"{style} {by_style[style]}" for style in sorted(STYLES)))
    print("total:", sum(by_set.values()))
    for problem in problems:
        print("FLAG", problem)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
