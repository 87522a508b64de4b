"""Chunking: exact offsets, the 256 word-piece limit of the real tokenizer, stable ids."""

from __future__ import annotations

from rag.chunk import chunk_document, sentence_spans
from rag.embed import token_offsets
from rag.load import load_document
from rag.types import Document

from conftest import SEED, token_count


def test_sentence_spans_split_sentences_not_abbreviations():
    text = "Talks in Miami. U.S. officials met Mr. Smith.\n\nNext line?  \"Quoted.\" Done"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Talks in Miami.", "U.S. officials met Mr. Smith.", "Next line?", "\"Quoted.\"", "Done",
    ]


def _check(doc: Document, max_tokens: int, overlap: int):
    chunks = chunk_document(doc, token_offsets, max_tokens, overlap)
    assert chunks, "no chunks"
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.text == c.text.strip()
        assert token_count(c.text) <= 256
        assert token_count(c.text) <= max_tokens + 2
    # every word of the document lands in some chunk
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())
    return chunks


def test_every_chunk_is_its_exact_source_span_within_the_token_limit():
    doc = load_document(SEED, "seed.txt", 10**9)
    for max_tokens, overlap in [(254, 0), (160, 32), (64, 16), (16, 0)]:
        _check(doc, max_tokens, overlap)


def test_overlong_sentences_and_odd_text_are_cut_inside_the_limit():
    long_sentence = " ".join(f"word{i} antidisestablishmentarianism" for i in range(400)) + "."
    text = "Intro line.\n\n" + long_sentence + "\n\n" + "x" * 3000 + "\n\nÜnïcödé — text… 日本語の文。 End."
    doc = Document(source="odd.md", text=text, sha256="x")
    chunks = _check(doc, 254, 32)
    assert len(chunks) > 5


def test_overlap_repeats_whole_sentences():
    doc = load_document(SEED, "seed.txt", 10**9)
    chunks = chunk_document(doc, token_offsets, 64, 30)
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:])), "expected some overlap"


def test_chunk_ids_depend_on_content_and_source():
    doc = load_document(SEED, "seed.txt", 10**9)
    a = chunk_document(doc, token_offsets, 160, 32)
    b = chunk_document(doc, token_offsets, 160, 32)
    assert [c.id for c in a] == [c.id for c in b]
    other = chunk_document(Document("other.txt", doc.text, "y"), token_offsets, 160, 32)
    assert not {c.id for c in a} & {c.id for c in other}
    assert len({c.id for c in a}) == len(a)
