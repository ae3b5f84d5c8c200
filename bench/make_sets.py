"""Build the generated retrieval sets under bench/data/sets (run once; the outputs are committed).

``python -m bench.make_sets handbook``: 1,200 paragraphs of the Debian Administrator's Handbook
(Debian's ``debian-handbook``, English HTML) as one-paragraph documents, and questions the local
LLM (Qwen2.5-Coder-1.5B, CTranslate2 int8) wrote for a seeded sample of them, minus the ones
that copy the paragraph's words.

``python -m bench.make_sets conversational``: every question of the demo, Northwind, Ledgerly
and handbook sets rewritten as a visitor might type it (fillers, false starts corrected
mid-sentence), by a seeded template: the same input always gives the same rewrite.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import random
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SETS_DIR = Path(__file__).resolve().parent / "data" / "sets"
HANDBOOK_HTML = Path("/usr/share/doc/debian-handbook/html/en-US")
HANDBOOK_URL = "https://debian-handbook.info/browse/stable/"
PARAGRAPHS = 1200  # the outside set had 1,204 paragraphs
QUESTIONS_ASKED = 120  # paragraphs the LLM writes a question for; the filter keeps fewer
MIN_WORDS, MAX_WORDS = 40, 220  # a paragraph of prose, not a caption or a code listing
SEED = 7
# A question copies its passage when most of its content words, or any four words in a row,
# are the passage's: a keyword search would find it by construction.
MAX_CONTENT_OVERLAP = 0.7
COPY_NGRAM = 4
_TAG = re.compile(r"<[^>]+>")
_PARA = re.compile(r'<div class="para">(.*?)</div>', re.S)
_HEADING = re.compile(r"<h([1-4])[^>]*>(.*?)</h\1>", re.S)
_WORD = re.compile(r"[a-z0-9]+")
STOP = frozenset(
    (
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "is",
        "are",
        "be",
        "can",
        "do",
        "does",
        "how",
        "what",
        "which",
        "who",
        "why",
        "when",
        "where",
        "i",
        "my",
        "me",
        "you",
        "your",
        "it",
        "its",
        "this",
        "that",
        "with",
        "by",
        "from",
        "as",
        "at",
        "if",
        "not",
        "no",
        "so",
        "there",
        "their",
        "they",
        "we",
        "will",
        "would",
        "should",
        "could",
        "has",
        "have",
        "had",
        "was",
        "were",
        "been",
        "being",
        "into",
        "about",
        "than",
        "then",
    )
)


def split(key: str, held_out_share: int = 2) -> str:
    """Tune or held-out by a hash of the key: 1 in ``held_out_share`` is held out."""
    return "held-out" if hashlib.sha256(key.encode()).digest()[0] % held_out_share == 0 else "tune"


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def handbook_paragraphs(root: Path = HANDBOOK_HTML) -> list[dict[str, str]]:
    """Every prose paragraph of the handbook, with the heading above it, in page order."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()  # a chapter's page repeats some of its sections' paragraphs
    for page in sorted(root.glob("*.html")):
        text = page.read_text(errors="replace")
        marks = [(m.start(), "h", _text(m.group(2))) for m in _HEADING.finditer(text)]
        marks += [(m.start(), "p", _text(m.group(1))) for m in _PARA.finditer(text)]
        heading = ""
        for _, kind, body in sorted(marks):
            if kind == "h":
                heading = re.sub(r"^[\d.]+\s*", "", body)  # "6.2.1. Installing" -> "Installing"
            elif MIN_WORDS <= len(body.split()) <= MAX_WORDS and heading and body not in seen:
                seen.add(body)
                out.append({"page": page.name, "title": heading, "text": body})
    return out


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOP]


def copies_passage(question: str, passage: str) -> bool:
    """Whether a question reuses its passage's words too much to test retrieval by meaning."""
    q, p = content_words(question), content_words(passage)
    if not q:
        return True
    pset = set(p)
    if sum(w in pset for w in q) / len(q) > MAX_CONTENT_OVERLAP:
        return True
    grams = {tuple(p[i : i + COPY_NGRAM]) for i in range(len(p) - COPY_NGRAM + 1)}
    return any(tuple(q[i : i + COPY_NGRAM]) in grams for i in range(len(q) - COPY_NGRAM + 1))


PROMPT = (
    "Here is a paragraph from a handbook for Debian users and administrators.\n\n{text}\n\n"
    "Write one short question that someone who has NOT read this paragraph might type into a "
    "help-centre search box, and that this paragraph answers. Use everyday words of your own: "
    "do not copy phrases or rare terms from the paragraph. Reply with the question only."
)


def _generate(prompts: Sequence[str], model_dir: Path) -> list[str]:
    import ctranslate2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir / "tokenizer"))
    generator = ctranslate2.Generator(str(model_dir), device="cpu", compute_type="int8")
    out: list[str] = []
    started = time.perf_counter()
    for i in range(0, len(prompts), 8):
        batch = []
        for prompt in prompts[i : i + 8]:
            encoded: Any = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=True
            )
            batch.append(tokenizer.convert_ids_to_tokens(list(encoded["input_ids"])))
        results = generator.generate_batch(
            batch, max_length=48, sampling_topk=1, include_prompt_in_result=False
        )
        for r in results:
            line = str(tokenizer.decode(r.sequences_ids[0], skip_special_tokens=True)).strip()
            out.append(line.splitlines()[0].strip().strip('"') if line else "")
        done = len(out)
        rate = done / (time.perf_counter() - started)
        print(f"  [questions] {done}/{len(prompts)} {rate:.2f}/s", file=sys.stderr, flush=True)
    return out


def make_handbook(model_dir: Path) -> None:
    paragraphs = handbook_paragraphs()
    rng = random.Random(SEED)
    chosen = sorted(rng.sample(range(len(paragraphs)), PARAGRAPHS))
    docs = []
    for n, i in enumerate(chosen):
        p = paragraphs[i]
        docs.append({"id": f"p{n:04d}", "title": p["title"], "text": p["text"],
                     "source_url": f"{HANDBOOK_URL}en-US/{p['page']}#p{n:04d}"})  # fmt: skip
    folder = SETS_DIR / "handbook"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "paragraphs.jsonl").open("w") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    asked = rng.sample(docs, QUESTIONS_ASKED)
    answers = _generate([PROMPT.format(text=d["text"]) for d in asked], model_dir)
    kept, dropped = [], 0
    for doc, question in zip(asked, answers, strict=True):
        if not question.endswith("?") or copies_passage(question, doc["text"]):
            dropped += 1
            continue
        kept.append({"question": question, "doc": doc["id"], "split": split(doc["id"])})
    with (folder / "retrieval.jsonl").open("w") as f:
        f.writelines(json.dumps(q) + "\n" for q in kept)
    print(f"handbook: {len(docs)} paragraphs, {len(kept)} questions kept, {dropped} dropped")


# --- Conversational rewrites ------------------------------------------------------------------

# Written as people type in chat; the query normaliser (chatapp/knowledge/selectors/
# normalise.py) was written from general conversational English, and the overlap between the
# two word lists is reported in the README so the gain it shows is read as optimistic.
OPENERS = ("", "", "uh, ", "um ", "hmm so ", "ok so ", "hi, quick question: ", "hey there, ",
           "so, like, ", "hello! ", "erm, ", "right so ")  # fmt: skip
CORRECTIONS = (" — sorry, ", "... no wait, ", ", I mean ", " — actually, ", " — hold on, ",
               "... let me rephrase: ", " er, scratch that, ", ", or rather ")  # fmt: skip
FILLERS = ("uh", "um", "like", "you know", "basically", "kind of")
CLOSERS = ("", "", "", " thanks", " thx!", " please", " thanks in advance", " cheers", " :)")


def rewrite(question: str, others: Sequence[str]) -> str:
    """A conversational version of ``question``; deterministic in its arguments.

    Args:
        question: The question as written.
        others: Other questions of the same set: a false start is the opening of one of them.
    """
    rng = random.Random(hashlib.sha256(question.encode()).hexdigest())
    words = question.rstrip("?").split()
    if len(words) > 4 and rng.random() < 0.5:  # a filler in the middle
        at = rng.randrange(2, len(words) - 1)
        words.insert(at, rng.choice(FILLERS) + ",")
    body = " ".join(words) + ("?" if rng.random() < 0.6 else "")
    if others and rng.random() < 0.6:  # a false start, then the real question
        start = rng.choice(others).rstrip("?").split()
        body = " ".join(start[: rng.randint(2, 5)]) + rng.choice(CORRECTIONS) + body
    text = rng.choice(OPENERS) + body + rng.choice(CLOSERS)
    return text.lower() if rng.random() < 0.5 else text


def make_conversational() -> None:
    from bench.corpus import eval_sets

    rows: list[dict[str, Any]] = []
    sources: list[tuple[str, list[dict[str, Any]]]] = []
    for s in eval_sets():
        answerable = [q for q in s.questions if q.get("page")]
        sources.append((s.name, [{**q, "gold": q["page"]} for q in answerable]))
    handbook = SETS_DIR / "handbook" / "retrieval.jsonl"
    if handbook.is_file():
        hq = [json.loads(line) for line in handbook.read_text().splitlines() if line.strip()]
        sources.append(("handbook", [{**q, "gold": q["doc"]} for q in hq]))
    for name, questions in sources:
        texts = [q["question"] for q in questions]
        for q in questions:
            others = [t for t in texts if t != q["question"]]
            rows.append(
                {"set": name, "question": rewrite(q["question"], others),
                 "original": q["question"], "gold": q["gold"], "split": q["split"]}
            )  # fmt: skip
    folder = SETS_DIR / "conversational"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "retrieval.jsonl").open("w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"conversational: {len(rows)} rewrites")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.make_sets", description=__doc__)
    parser.add_argument("which", choices=("handbook", "conversational"))
    parser.add_argument(
        "--model", type=Path, help="CTranslate2 folder of the LLM (handbook questions)"
    )
    args = parser.parse_args(argv)
    if args.which == "handbook":
        model = args.model or Path("var/models/qwen2.5-coder-1.5b-instruct-ct2-int8")
        make_handbook(model)
    else:
        make_conversational()
    return 0


if __name__ == "__main__":
    sys.exit(main())
