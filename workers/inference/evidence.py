"""Evidence first: pick the passage sentences that answer a question, then answer from them only.

A small answerer copies better than it paraphrases: with a whole excerpt in view it picks the
neighbouring row of a table or answers "Yes" where the page says no. Here the answer is written in
two steps. First the sentences that answer the question are picked: the passages' sentences are
ranked by the question's words they hold, and the model says, for the best few in one batched
call, whether each answers the question (P(Yes), a prompt of a few dozen tokens each). Then the
answer is written from the picked sentences only, each under its passage's number, so citations
still point at the right passage; the reviewer's gate still checks every sentence against the
whole passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from workers.inference.answerer import content_words, split_sentences
from workers.inference.base import Generator, Passage
from workers.inference.context import GAP

__all__ = [
    "EVIDENCE_CANDIDATES",
    "EVIDENCE_MAX",
    "EVIDENCE_MIN_YES",
    "Evidence",
    "evidence_candidates",
    "evidence_messages",
    "evidence_passages",
    "pick_evidence",
]

# Sentences the model is asked about: each is one short prompt (~60-90 tokens). On 2 shared
# cores one such call took about 1 s for Qwen2.5-1.5B on ct2 int8 (a batch is no faster there:
# prompts of unequal length run one by one), so 4 keep the step near 4 s; the answer's own
# prompt is shorter by about the same.
EVIDENCE_CANDIDATES = 4
# A candidate is evidence when the model says, more likely than not, that it answers the question.
EVIDENCE_MIN_YES = 0.5
# At most this many sentences are shown to the answerer: the best, and one more that also answers
# (a condition or an exception next to the rule).
EVIDENCE_MAX = 2

EVIDENCE_SYSTEM = "You check if a help page sentence answers a question. Reply Yes or No."
EVIDENCE_QUESTION = "Does this sentence answer the question? Yes or No."


@dataclass(frozen=True)
class Evidence:
    """One passage sentence considered as the answer's evidence.

    Attributes:
        ref: The number of the passage it comes from.
        index: Its position among that passage's candidate sentences (questions left out).
        sentence: The sentence, verbatim.
        overlap: The share of the question's content words it holds (how it was ranked).
        support: The model's P(Yes) that it answers the question (0.0 when not asked).
    """

    ref: int
    index: int
    sentence: str
    overlap: float
    support: float = 0.0


def _sentences(text: str) -> list[str]:
    """A passage's (or excerpt's) sentences that could answer, without the budget's gap marks.

    Questions are left out: a help page's headings are often the very question asked ("How do
    I reset my password?"), share every word with it, and answer nothing. So is the ``>`` that
    joins a chunk's heading path.
    """
    gap = GAP.strip()
    out = []
    for sentence in split_sentences(text):
        cleaned = sentence.strip().strip(gap).strip().removeprefix(">").strip()
        if cleaned and not cleaned.endswith("?"):
            out.append(cleaned)
    return out


def evidence_candidates(
    question: str, passages: Sequence[Passage], *, limit: int = EVIDENCE_CANDIDATES
) -> list[Evidence]:
    """The passage sentences most likely to answer the question, by the words they share.

    Ties go to the better-ranked passage, then to the earlier sentence. A sentence found in
    several passages is a candidate once, under the first.

    Args:
        question: The visitor's question.
        passages: The passages as the answerer reads them, in rank order.
        limit: At most this many candidates.

    Returns:
        Candidates, best first; sentences sharing no word with the question come last.
    """
    asked = content_words(question)
    found: list[tuple[float, int, int, Evidence]] = []
    seen: set[str] = set()
    for rank, passage in enumerate(passages):
        for index, sentence in enumerate(_sentences(passage.text)):
            if sentence in seen:  # overlapping chunks repeat sentences: ask once
                continue
            seen.add(sentence)
            shared = len(asked & content_words(sentence)) / len(asked) if asked else 0.0
            found.append(
                (-shared, rank, index, Evidence(passage.ref, index, sentence, round(shared, 4)))
            )
    found.sort(key=lambda item: item[:3])
    return [item[3] for item in found[:limit]]


def evidence_messages(
    question: str, candidate: Evidence, passages: Sequence[Passage]
) -> list[dict[str, str]]:
    """The yes/no chat asking whether one candidate sentence answers the question."""
    title = next((p.title.strip() for p in passages if p.ref == candidate.ref), "")
    page = f"Page: {title}\n" if title else ""
    return [
        {"role": "system", "content": EVIDENCE_SYSTEM},
        {
            "role": "user",
            "content": f"{page}Sentence: {candidate.sentence}\n\nQuestion: {question.strip()}"
            f"\n\n{EVIDENCE_QUESTION}",
        },
    ]


def pick_evidence(
    generator: Generator,
    question: str,
    passages: Sequence[Passage],
    *,
    candidates: int = EVIDENCE_CANDIDATES,
    min_yes: float = EVIDENCE_MIN_YES,
    keep: int = EVIDENCE_MAX,
) -> tuple[list[Evidence], list[Evidence]]:
    """Picks the sentences that answer the question: one batched yes/no call over candidates.

    Args:
        generator: The model asked (``yes_probabilities``, one batch).
        question: The visitor's question.
        passages: The passages as the answerer reads them.
        candidates: How many sentences to ask about.
        min_yes: A sentence is evidence when its P(Yes) reaches this.
        keep: At most this many sentences are evidence (the highest P(Yes)).

    Returns:
        ``(evidence, scored)``: the chosen sentences in passage order (empty when none
        reached ``min_yes``), and every candidate with its P(Yes), best-ranked first.

    Raises:
        ModelError: The model failed.
    """
    found = evidence_candidates(question, passages, limit=candidates)
    if not found:
        return [], []
    scores = generator.yes_probabilities([evidence_messages(question, c, passages) for c in found])
    scored = [
        Evidence(c.ref, c.index, c.sentence, c.overlap, round(float(p), 4))
        for c, p in zip(found, scores, strict=True)
    ]
    ranked = sorted(
        (c for c in scored if c.support >= min_yes), key=lambda c: -c.support
    )  # stable: equal scores keep the candidates' order
    order = {p.ref: n for n, p in enumerate(passages)}
    chosen = sorted(ranked[:keep], key=lambda c: (order.get(c.ref, 0), c.index))
    return chosen, scored


def evidence_passages(evidence: Sequence[Evidence], passages: Sequence[Passage]) -> list[Passage]:
    """The passages cut to their evidence sentences, keeping their numbers and titles.

    Args:
        evidence: The chosen sentences (``pick_evidence``).
        passages: The passages they come from.

    Returns:
        One passage per cited number that holds evidence, in the passages' order; its text is
        its evidence sentences in order, ``GAP`` between sentences that were not neighbours.
    """
    out = []
    for passage in passages:
        mine = sorted((e for e in evidence if e.ref == passage.ref), key=lambda e: e.index)
        if not mine:
            continue
        text = mine[0].sentence
        for before, sentence in pairwise(mine):
            text += (" " if sentence.index == before.index + 1 else GAP) + sentence.sentence
        out.append(Passage(ref=passage.ref, title=passage.title, text=text))
    return out
