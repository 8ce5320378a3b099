"""chunk_text and manual_chunks: bounded, overlapping, heading-aware, lossless chunks."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from heurist.embedding.chunking import chunk_text, manual_chunks


def words(text: str) -> list[str]:
    return text.split()


def sentences(count: int, start: int = 0, length: int = 12) -> str:
    """Distinct numbered words, so every word can be traced to the chunk that holds it."""
    return " ".join(
        " ".join(f"w{s}x{i}" for i in range(length)) + "." for s in range(start, start + count)
    )


def long_document() -> str:
    """About 1,000 words: headings, short paragraphs and one paragraph longer than a chunk."""
    parts = ["# Guide", sentences(3, 0), sentences(4, 10)]
    parts += ["## Install", sentences(5, 100), sentences(6, 200)]
    parts += ["## Configure", sentences(30, 300)]  # 360 words: longer than a chunk
    parts += ["### Tuning", sentences(10, 400), sentences(8, 500), sentences(9, 600)]
    parts += ["## Troubleshooting", sentences(5, 700)]
    return "\n\n".join(parts)


def test_short_text_is_one_chunk_equal_to_the_stripped_text() -> None:
    text = "\n  # Title\n\nSome short text.\n\nAnother paragraph.  \n"
    assert chunk_text(text) == [text.strip()]


def test_empty_text_gives_no_chunk() -> None:
    assert chunk_text("  \n\n ") == []


def test_long_text_gives_several_bounded_chunks() -> None:
    text = long_document()
    assert 950 <= len(words(text)) <= 1100
    chunks = chunk_text(text, max_words=200, overlap_words=40)

    assert len(chunks) >= 5
    for chunk in chunks:
        heading_words = sum(len(words(line)) for line in chunk.splitlines() if line.startswith("#"))
        assert len(words(chunk)) <= 200 + heading_words
        assert chunk.strip() == chunk and chunk


def test_every_word_appears_in_some_chunk() -> None:
    text = long_document()
    chunked = set(words(" ".join(chunk_text(text, max_words=120, overlap_words=30))))
    assert set(words(text)) <= chunked


def test_pieces_of_a_long_paragraph_overlap() -> None:
    text = sentences(40)  # 480 words, one paragraph, no heading
    chunks = chunk_text(text, max_words=100, overlap_words=25)

    assert len(chunks) >= 5
    for previous, following in pairwise(chunks):
        assert words(previous)[-25:] == words(following)[:25]
        assert len(words(following)) <= 100


def test_long_paragraph_pieces_end_on_sentences_when_possible() -> None:
    chunks = chunk_text(sentences(40), max_words=100, overlap_words=25)
    assert all(chunk.endswith(".") for chunk in chunks)


def test_a_sentence_longer_than_a_chunk_is_cut_by_words() -> None:
    text = " ".join(f"t{i}" for i in range(500))  # no sentence boundary at all
    chunks = chunk_text(text, max_words=100, overlap_words=20)

    assert all(len(words(chunk)) <= 100 for chunk in chunks)
    assert set(words(text)) <= set(words(" ".join(chunks)))
    assert words(chunks[0])[-20:] == words(chunks[1])[:20]


def test_each_chunk_carries_its_nearest_heading() -> None:
    chunks = chunk_text(long_document(), max_words=200, overlap_words=40)

    for chunk in chunks:
        assert chunk.startswith("#"), chunk[:60]
    configure = [c for c in chunks if "w320x0" in c]
    assert configure and all(c.startswith("## Configure") for c in configure)
    tuning = [c for c in chunks if "w605x0" in c]
    assert tuning and tuning[0].startswith("### Tuning")


def test_a_chunk_never_ends_on_a_heading() -> None:
    chunks = chunk_text(long_document(), max_words=150, overlap_words=30)
    for chunk in chunks:
        assert not chunk.splitlines()[-1].startswith("#")


def test_small_sections_are_packed_together() -> None:
    text = "\n\n".join(f"## Part {n}\n\n{sentences(1, n, length=20)}" for n in range(12))
    chunks = chunk_text(text, max_words=100, overlap_words=10)
    assert 3 <= len(chunks) <= 4  # 12 sections of 23 words: four to a chunk


def test_code_fences_are_kept_whole() -> None:
    code = "```bash\n# install the tools\n\npip install heurist\n```"
    text = "\n\n".join(["## Setup", sentences(8), code, sentences(8, 50)])
    chunks = chunk_text(text, max_words=120, overlap_words=20)

    holding = [c for c in chunks if "pip install heurist" in c]
    assert len(holding) == 1 and code in holding[0]
    assert not any(c.startswith("# install") for c in chunks)


def test_chunking_is_deterministic() -> None:
    text = long_document()
    assert chunk_text(text, max_words=90) == chunk_text(text, max_words=90)


@pytest.mark.parametrize(("max_words", "overlap_words"), [(0, 0), (50, 50), (50, -1)])
def test_invalid_sizes_are_rejected(max_words: int, overlap_words: int) -> None:
    with pytest.raises(ValueError, match="overlap_words"):
        chunk_text("text", max_words=max_words, overlap_words=overlap_words)


def test_manual_chunks_carry_title_and_first_carries_summary() -> None:
    chunks = manual_chunks("Deploying", "How we ship.", long_document(), max_words=150)

    assert len(chunks) > 1
    assert chunks[0].startswith("Deploying\n\nHow we ship.\n\n# Guide")
    for chunk in chunks[1:]:
        assert chunk.startswith("Deploying\n\n")
        assert "How we ship." not in chunk
    for chunk in chunks:
        assert len(words(chunk)) <= 150 + 3 + 2 * 3  # title, summary, up to two heading lines


def test_manual_chunks_of_a_short_manual() -> None:
    assert manual_chunks("Title", None, " Body text. ") == ["Title\n\nBody text."]
    assert manual_chunks("Title", "Sum.", "") == ["Title\n\nSum."]


def test_no_empty_chunk_for_odd_input() -> None:
    text = "# A\n\n## B\n\n" + "\n\n\n".join(sentences(3, n) for n in range(30)) + "\n\n## C\n"
    chunks = chunk_text(text, max_words=50, overlap_words=10)
    assert chunks and all(chunk.strip() for chunk in chunks)
    assert all(re.search(r"\S", chunk) for chunk in chunks)
    assert chunks[-1].endswith("## C")
