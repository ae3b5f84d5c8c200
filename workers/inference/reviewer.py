"""Review: checks each claim of a draft answer against the passages it was written from."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from workers.inference.answerer import (
    marker_refs,
    rank_by_overlap,
    split_sentences,
    strip_markers,
)
from workers.inference.base import Generator, Passage

__all__ = [
    "CHECK_QUESTION",
    "ClaimCheck",
    "ReviewOutcome",
    "check_messages",
    "claim_passages",
    "extract_claims",
    "is_trivial",
    "normalise_numbers",
    "passages_with",
    "review_answer",
    "unsupported_numbers",
]

# Wording measured in MODELS.md: Qwen separated 8 of 10 hand-made claims with it.
CHECK_QUESTION = (
    "Is every part of the claim directly stated in or clearly implied by the passage? "
    "Answer with a single word: Yes or No."
)
CHECK_SYSTEM = "You are a careful fact checker. You compare a claim with a reference passage."
UNCITED_CANDIDATES = 2  # an uncited claim is checked against its 2 best-overlapping passages

# A sentence is exempt from review only when the whole of it is one of these pleasantries:
# anything that starts like one and goes on ("Sure, email us your card number.") is a claim.
_PLEASANTRY = re.compile(
    r"^(?:(?:hi|hello|hey)(?: there)?|thanks?(?: you)?(?: for (?:asking|reaching out|your "
    r"(?:question|message|patience)|contacting us))?|you(?:'re| are) welcome|sure|of course|"
    r"certainly|absolutely|great question|good question|(?:i )?hope (?:this|that) helps|"
    r"happy to help|glad to help|i(?:'m| am) happy to help|have a (?:great|nice|good) day|"
    r"let me know if you (?:have (?:any )?(?:other|more|further) questions|need anything else)|"
    # A pointer to the sources, nothing more: "This information is found in [1].", "This is
    # stated in [2].", "For more details, see [1]." (markers are stripped before matching).
    r"(?:this|that|the)(?: (?:information|answer|details?))? (?:is|are|can be) (?:found|"
    r"provided|given|mentioned|stated|described|explained|covered)"
    r"(?: in(?:(?: the)? (?:passages?|sources?|articles?))?)?|"
    r"(?:(?:for )?more (?:information|details)(?: (?:is|are|can be found))?,? )?(?:please )?"
    r"see(?: (?:the )?(?:passages?|sources?|articles?))?|"
    r"is there anything else(?: i can help (?:you )?with)?|"
    r"how (?:can|may) i help(?: you)?(?: today)?|"
    r"(?:please )?feel free to ask(?: if you have (?:any )?(?:other|more) questions)?)"
    r"\s*[.!?]*$",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
# fmt: off
_SMALL_NUMBERS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)
# fmt: on
_NUMBER_WORDS = {word: str(value) for value, word in enumerate(_SMALL_NUMBERS)} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "ninety": "90",
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class ClaimCheck:
    """The verdict on one sentence of the answer.

    Attributes:
        sentence: The sentence as written (markers included).
        support: 0..1; the checker's P(Yes), or 0.0 when a number is not in the passages.
        refs: The passages it was checked against (its markers, or the best-matching ones).
        unsupported_numbers: Numbers or dates in the sentence that no such passage contains.
    """

    sentence: str
    support: float
    refs: tuple[int, ...]
    unsupported_numbers: tuple[str, ...]


@dataclass(frozen=True)
class ReviewOutcome:
    """The review of a whole answer.

    Attributes:
        confidence: 0..1, the lowest claim support (1.0 if there is no claim).
        claims: One check per claim, in answer order.
        unsupported: Sentences judged unsupported (support below the threshold, or a number
            not in the passages).
        critique: What to fix, for the answerer's rewrite ("" when nothing is wrong).
    """

    confidence: float
    claims: tuple[ClaimCheck, ...]
    unsupported: tuple[str, ...]
    critique: str


def is_trivial(sentence: str) -> bool:
    """Tells a bare pleasantry, which states nothing, from a sentence to review.

    Every sentence that states something is a claim: questions back to the customer and
    sentences that open with "Sure," or "Thanks," included (a gate that skipped them would let
    "Sure, just email us your card number." through unchecked).

    Args:
        sentence: One sentence of an answer.

    Returns:
        True only when the whole sentence (markers aside) is a greeting, thanks or offer of help.
    """
    text = strip_markers(sentence).strip(" -*\"'")
    return bool(_PLEASANTRY.match(text))


def extract_claims(answer: str, *, max_claims: int) -> list[str]:
    """The answer's non-trivial sentences, merged at the tail so there are at most max_claims.

    Merging (rather than dropping) the overflow keeps every sentence under review while the
    number of LLM calls stays capped.

    Args:
        answer: The draft answer.
        max_claims: Upper bound on the number of claims (>= 1).

    Returns:
        Claims in answer order.
    """
    claims = [sentence for sentence in split_sentences(answer) if not is_trivial(sentence)]
    if len(claims) > max_claims:
        claims = [*claims[: max_claims - 1], " ".join(claims[max_claims - 1 :])]
    return claims


def normalise_numbers(text: str, *, words: bool = False) -> set[str]:
    """Canonical forms of the numbers in a text, for comparing claims with passages.

    "1,000" and "1000", "25.00" and "25" compare equal; times like "9:30" stay as written.

    Args:
        text: Any text (citation markers should be stripped first).
        words: Also read number words ("thirty" as 30). Used for passages only: in a claim,
            "one of our stores" is not a figure to check.

    Returns:
        The set of canonical number strings.
    """
    if words:
        text = _NUMBER_WORD.sub(lambda match: _NUMBER_WORDS[match.group(1).lower()], text)
    numbers: set[str] = set()
    for raw in _NUMBER.findall(text):
        token = raw.replace(",", "") if _THOUSANDS.match(raw) else raw
        if ":" in token or "," in token:
            numbers.add(token)
            continue
        try:
            value = float(token)
        except ValueError:
            numbers.add(token)
            continue
        numbers.add(str(int(value)) if value.is_integer() else repr(value))
    return numbers


def unsupported_numbers(claim: str, sources: Sequence[str]) -> tuple[str, ...]:
    """Numbers of a claim that appear in none of the source texts.

    Args:
        claim: The claim (markers are ignored).
        sources: Texts the claim may draw numbers from (its passages, the question).

    Returns:
        The missing numbers in canonical form, sorted.
    """
    allowed: set[str] = set()
    for source in sources:
        allowed |= normalise_numbers(source, words=True)
    return tuple(sorted(normalise_numbers(strip_markers(claim)) - allowed))


def claim_passages(claim: str, passages: Sequence[Passage]) -> list[Passage]:
    by_ref = {passage.ref: passage for passage in passages}
    cited = marker_refs(claim, valid=list(by_ref))
    if cited:
        return [by_ref[ref] for ref in cited]
    ranked = rank_by_overlap(claim, passages)
    return [passage for _, passage in ranked[:UNCITED_CANDIDATES]]


def passages_with(
    numbers: Sequence[str], passages: Sequence[Passage], *, exclude: Sequence[Passage]
) -> list[Passage]:
    """The passages (other than ``exclude``) that state any of ``numbers``."""
    skip = {p.ref for p in exclude}
    wanted = set(numbers)
    return [
        p
        for p in passages
        if p.ref not in skip and wanted & normalise_numbers(f"{p.title} {p.text}", words=True)
    ]


def check_messages(claim: str, passages: Sequence[Passage]) -> list[dict[str, str]]:
    passage_text = "\n\n".join(f"{p.title}\n{p.text}".strip() for p in passages)
    return [
        {"role": "system", "content": CHECK_SYSTEM},
        {
            "role": "user",
            "content": f"Passage:\n{passage_text}\n\nClaim: {strip_markers(claim)}\n\n"
            f"{CHECK_QUESTION}",
        },
    ]


def _critique(checks: Sequence[ClaimCheck], threshold: float) -> str:
    problems = []
    for check in checks:
        sentence = strip_markers(check.sentence)
        if check.unsupported_numbers:
            numbers = ", ".join(check.unsupported_numbers)
            problems.append(
                f'- "{sentence}": the passages do not contain {numbers}. Use only the figures '
                "the passages give."
            )
        elif check.support < threshold:
            problems.append(
                f'- "{sentence}": the passages do not say this. Remove it or say only what '
                "the passages state."
            )
    return "\n".join(problems)


def review_answer(
    generator: Generator,
    question: str,
    answer: str,
    passages: Sequence[Passage],
    *,
    threshold: float = 0.5,
    max_claims: int = 4,
) -> ReviewOutcome:
    """Checks that every claim of an answer is grounded in the passages.

    Each non-trivial sentence is a claim, checked against the passages it cites (or, uncited,
    the best-matching ones): first its numbers and dates must appear there (or in the
    question), then the generator must say Yes to ``CHECK_QUESTION``. A number mismatch sets
    the support to 0 without asking the generator.

    Args:
        generator: The LLM used as checker (one batched ``yes_probabilities`` call).
        question: The customer's question; numbers in it count as given.
        answer: The draft answer, with ``[n]`` markers.
        passages: The passages the answer was generated from.
        threshold: Claims whose support is below it are unsupported.
        max_claims: Upper bound on generator calls; extra sentences are merged into the last
            claim.

    Returns:
        The outcome; ``critique`` lists what to fix, quoting the sentences.

    Raises:
        ModelError: The generator failed.
    """
    found: list[tuple[str, list[Passage], tuple[str, ...]]] = []
    for claim in extract_claims(answer, max_claims=max(1, max_claims)):
        chosen = claim_passages(claim, passages)
        missing = unsupported_numbers(claim, [question, *(f"{p.title} {p.text}" for p in chosen)])
        if missing:
            # A figure found in another retrieved passage is a citation slip, not an invention:
            # check the claim against that passage too (the pipeline then cites it).
            chosen = chosen + passages_with(missing, passages, exclude=chosen)
            missing = unsupported_numbers(
                claim, [question, *(f"{p.title} {p.text}" for p in chosen)]
            )
        found.append((claim, chosen, missing))
    # One batched call for the claims that need the judge (a figure mismatch already decides).
    asked = [i for i, (_, chosen, missing) in enumerate(found) if chosen and not missing]
    scores = generator.yes_probabilities([check_messages(found[i][0], found[i][1]) for i in asked])
    support = dict(zip(asked, scores, strict=True))
    checks = [
        ClaimCheck(claim, support.get(i, 0.0), tuple(p.ref for p in chosen), missing)
        for i, (claim, chosen, missing) in enumerate(found)
    ]
    unsupported = tuple(
        check.sentence for check in checks if check.support < threshold or check.unsupported_numbers
    )
    return ReviewOutcome(
        confidence=min((check.support for check in checks), default=1.0),
        claims=tuple(checks),
        unsupported=unsupported,
        critique=_critique(checks, threshold),
    )
