"""Deterministic checks of a draft sentence against its question and passages.

The judge (a 1.5B model's P(Yes)) separates supported from unsupported claims only weakly: on
the demo set right and wrong first sentences both scored 0.52-0.84. These checks catch what it
misses by construction, before it is asked: a range the passages never give ("3 to 5 business
days" when they say 5-10), a citation marker used in place of the fact ("go to [1]"), a figure
question answered without a figure, and a first sentence that only restates the question.

Measured and left out: asking the judge the question itself ("do the passages answer it with
yes?") to catch a contradicted "Yes". Its P(Yes) was 0.50-0.65 for right and 0.48-0.80 for wrong
drafts on 13 yes/no questions of three sets, also with the question asked the other way round to
cancel its bias toward "Yes" (docs/notes/issue-6.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from workers.inference.answerer import content_words, split_sentences, strip_markers
from workers.inference.base import Passage

__all__ = [
    "BARE_ANSWER",
    "LEAD_IN",
    "LINK_MARKER",
    "NO_FIGURE",
    "RANGE",
    "RESTATES_QUESTION",
    "asks_for_figure",
    "bare_answer",
    "has_figure",
    "is_lead_in",
    "is_yes_no_question",
    "lexical_support",
    "marker_as_link",
    "restates_question",
    "sentence_polarity",
    "unsupported_ranges",
]

# Codes stored with a refused sentence (``SentenceCheck.grounding``) and shown in the trace.
RANGE = "range_not_in_passages"
LINK_MARKER = "marker_as_link"
NO_FIGURE = "figure_missing"
RESTATES_QUESTION = "restates_question"
# Not refusals of one sentence but of what was held back until the answer went on
# (``workers.inference.gate``): a yes or no with no fact behind it, a lead-in with nothing after.
BARE_ANSWER = "yes_no_without_fact"
LEAD_IN = "lead_in_without_content"
# A restatement has at least this many content words, all from the question ("It works." is not).
RESTATE_MIN_WORDS = 3

_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2012": "-"})
_NUM = r"\d+(?:[.,]\d+)?"
# "3 to 5", "3-5", "3 - 5" (any dash), "between 3 and 5", "from 3 to 5"
_RANGE = re.compile(
    rf"(?:between\s+({_NUM})\s+and\s+({_NUM}))|(?:\b({_NUM})\s*(?:-|to)\s*({_NUM})\b)",
    re.IGNORECASE,
)
# A marker that stands where the thing itself belongs: "go to [1] and", "visit [2]", "email [3]."
# Weak prepositions ("in [1]") only mid-sentence: "as described in [1]." is a plain citation.
_MARKERS = r"\[\d+(?:\s*,\s*\d+)*\](?:\s*(?:or|and)\s+\[\d+(?:\s*,\s*\d+)*\])*"
_LINK = re.compile(
    rf"\b(?:go(?:ing)? to|visit|open|email|e-mail|call|contact|write to)\s+{_MARKERS}|"
    rf"\b(?:to|at|see|via|from|on|under|in|use|using)\s+{_MARKERS}\s*(?=[a-z,;:]|and\b|or\b)",
    re.IGNORECASE,
)
_FIGURE_QUESTION = re.compile(
    r"\bhow\s+(?:many|much|long|often|far|big|large|heavy|bright|fast|old|soon|tall|wide)\b|"
    r"\bwhat(?:'s| is| are| does)?\s+(?:the\s+)?(?:price|cost|fee|charge|limit|maximum|minimum)|"
    r"\bwhat\s+does\s+.{1,40}\bcost\b",
    re.IGNORECASE,
)
_YES_NO_START = re.compile(
    r"^\s*(?:(?:so|and|but|ok|okay|hi|hello|hey|please)[,!\s]+)*"
    r"(?:is|are|am|was|were|do|does|did|can|could|will|would|should|shall|may|might|must|has|"
    r"have|had|isn't|aren't|don't|doesn't|didn't|can't|won't)\b",
    re.IGNORECASE,
)
_YES = re.compile(r"^\W*(?:yes|yep|yeah|absolutely|of course|certainly)\b", re.IGNORECASE)
_NO = re.compile(r"^\W*(?:no|nope|unfortunately(?:,)? (?:no|not))\b", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_NEGATIONS = re.compile(
    r"\b(?:not|no|never|cannot|without|none|nothing|neither|nor)\b|n't\b", re.IGNORECASE
)
_NOT_AUXILIARY = re.compile(r"\b\w+n['\u2019]t\b", re.IGNORECASE)  # don't, won't, isn't
_ANSWER_OPENER = re.compile(r"^\W*(?:yes|no)\b[,.!:;]?\s*", re.IGNORECASE)
# Words that point at the passages instead of saying anything: "This is stated in passage [3]."
# after a bare yes is still a bare yes (docs/notes/issue-6.md, session 20).
_POINTER_WORDS = content_words(
    "passage passages stated mentioned according source sources document"
)
_NUMBER_WORDS = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|fifty|sixty|ninety|hundred|thousand|once|twice|free)\b",
    re.IGNORECASE,
)


def _ranges(text: str) -> set[tuple[float, float]]:
    found = set()
    for match in _RANGE.finditer(text.translate(_DASHES)):
        low, high = (g for g in match.groups() if g is not None)
        try:
            a, b = float(low.replace(",", "")), float(high.replace(",", ""))
        except ValueError:  # pragma: no cover - the pattern only matches numbers
            continue
        if a < b:  # "2024-01" or "10-3" are not ranges of amounts
            found.add((a, b))
    return found


def unsupported_ranges(claim: str, sources: Sequence[str]) -> tuple[str, ...]:
    """Ranges in a claim ("3 to 5 days") that no source states as a range.

    Each end may be in some passage while the range is not ("3 business days" to inspect, "5-10
    business days" to pay out): the claim then states a span the passages never give.

    Args:
        claim: A sentence of the draft (markers ignored).
        sources: The texts it may draw from (its passages and the question).

    Returns:
        The missing ranges as ``"low-high"``, sorted.
    """
    wanted = _ranges(strip_markers(claim))
    if not wanted:
        return ()
    known: set[tuple[float, float]] = set()
    for source in sources:
        known |= _ranges(source)
    return tuple(sorted(f"{_fmt(a)}-{_fmt(b)}" for a, b in wanted - known))


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def marker_as_link(sentence: str) -> bool:
    """Whether a citation marker stands in for the thing itself ("go to [1] and ...").

    The visitor cannot follow "[1]" as a link or an address; the sentence then hides the one
    fact it was meant to give (the page, the e-mail address).
    """
    return bool(_LINK.search(sentence))


def asks_for_figure(question: str) -> bool:
    """Whether a question asks for an amount, a duration or a count ("how long", "how much").

    A yes/no question ("is there a fee?") does not: "No, there is no fee" answers it.
    """
    return bool(_FIGURE_QUESTION.search(question)) and not is_yes_no_question(question)


def has_figure(text: str) -> bool:
    """Whether a text states an amount: a digit or a number word ("two", "free", "once")."""
    text = strip_markers(text)
    return bool(_DIGIT.search(text) or _NUMBER_WORDS.search(text))


def is_yes_no_question(question: str) -> bool:
    """Whether a question opens like a yes/no question ("can I ...", "does it ...")."""
    first = re.split(r"[?.!]\s", question.strip(), maxsplit=1)[0]
    return bool(_YES_NO_START.match(first))


def sentence_polarity(sentence: str) -> str:
    """``"yes"`` or ``"no"`` when a sentence opens by answering yes or no, else ``""``."""
    text = strip_markers(sentence)
    if _YES.match(text):
        return "yes"
    if _NO.match(text):
        return "no"
    return ""


def restates_question(sentence: str, question: str) -> bool:
    """Whether a sentence only says the question back ("The app says too many attempts.").

    A sentence that opens with "Yes" or "No" answers even when its other words are the
    question's, so it is not a restatement.
    """
    if sentence_polarity(sentence):
        return False
    words = content_words(strip_markers(sentence))
    return len(words) >= RESTATE_MIN_WORDS and words <= content_words(question)


def bare_answer(text: str, question: str) -> bool:
    """Whether an answer so far only says yes or no in the question's own words.

    "Yes, there will be a fee." to "will there be a fee?" gives the visitor nothing to check,
    and a small model says it whatever the passages hold (docs/notes/issue-6.md, session 17:
    such answers were the commonest wrong ones). An answer that goes on to a fact ("... The fee
    is 5 GBP.") is not bare.
    """
    text = strip_markers(text)
    if not sentence_polarity(text):
        return False
    # "won't", "not": the polarity again, not a fact ("No, there won't be a fee.")
    said = _NEGATIONS.sub(" ", _NOT_AUXILIARY.sub(" ", _ANSWER_OPENER.sub("", text)))
    return content_words(said) - _POINTER_WORDS <= content_words(question)


def is_lead_in(sentence: str) -> bool:
    """Whether a sentence announces what follows ("You need to consider the following:")."""
    return strip_markers(sentence).rstrip().endswith(":")


def lexical_support(sentence: str, passages: Sequence[Passage]) -> float:
    """How much of a claim a passage says in its own words.

    The best share of the claim's content words found in two neighbouring sentences of one
    passage, 0.0 where negation differs. A claim copied from the passage ("The delivery cost
    to Germany is 4.95 EUR.") scores near 1.0 even where the judge is unsure of it; a claim with
    a "not" the passage lacks (or the other way round) scores 0.0, since the same words then say
    the opposite. A leading "Yes,"/"No," is left out: the words cannot vouch for it.
    """
    claim = _ANSWER_OPENER.sub("", strip_markers(sentence))
    words = content_words(claim)
    if not words:
        return 0.0
    negated = bool(_NEGATIONS.search(claim))
    best = 0.0
    for passage in passages:
        sentences = split_sentences(passage.text) or [passage.text]
        for i in range(len(sentences)):
            window = " ".join(sentences[i : i + 2])
            if bool(_NEGATIONS.search(window)) != negated:
                continue
            best = max(best, len(words & content_words(f"{passage.title} {window}")) / len(words))
    return best
