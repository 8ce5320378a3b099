"""Split long manuals into chunks the embedding model can see whole.

MiniLM stops reading at 256 tokens, and a ~250-word manual embeds at a sixth
of the speed of a short text (DESIGN §10), so a manual is embedded as chunks
of about 200 words, each with its own vector; search returns the manual once,
with its best chunk as the snippet.

How a text is cut, from the coarsest boundary to the finest:

1. markdown headings and blank-line paragraphs (a fenced code block is one
   paragraph, and a `#` line inside it is not a heading);
2. consecutive paragraphs are packed into chunks of at most `max_words` words;
3. a paragraph longer than that is cut into sentences, a sentence longer than
   that into words, and the pieces of one long run overlap by
   `overlap_words` words so no idea is cut in half without context.

Each chunk that does not begin with its own heading is prefixed with the
nearest preceding heading, because the model sees one chunk at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["chunk_text", "manual_chunks"]

_HEADING = re.compile(r"^ {0,3}#{1,6}\s+\S")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class _Block:
    """A heading line or a paragraph, with its word count."""

    text: str
    heading: bool
    words: int


def chunk_text(text: str, *, max_words: int = 200, overlap_words: int = 40) -> list[str]:
    """Chunks of at most `max_words` words (plus a heading prefix), in reading order.

    A text of at most `max_words` words gives one chunk equal to the stripped
    text; an empty text gives none. The result is deterministic.
    """
    if max_words < 1 or not 0 <= overlap_words < max_words:
        raise ValueError(
            f"need max_words >= 1 and 0 <= overlap_words < max_words, "
            f"got max_words={max_words}, overlap_words={overlap_words}"
        )
    stripped = text.strip()
    if not stripped:
        return []
    if _count(stripped) <= max_words:
        return [stripped]
    packer = _Packer(max_words, overlap_words)
    for block in _blocks(stripped):
        packer.add(block)
    return packer.finish()


def manual_chunks(
    title: str,
    summary: str | None,
    content: str,
    *,
    max_words: int = 200,
    overlap_words: int = 40,
) -> list[str]:
    """Chunks of a manual, each prefixed with its title and the first also with its summary.

    The model sees one chunk at a time, so each chunk carries the title that
    says what it is about. A manual without content still gives one chunk
    (title and summary), so it can be found by meaning.
    """
    head = title.strip()
    lead = _join(head, (summary or "").strip())
    chunks = chunk_text(content, max_words=max_words, overlap_words=overlap_words) or [""]
    prefixes = [lead] + [head] * (len(chunks) - 1)
    return [_join(prefix, chunk) for prefix, chunk in zip(prefixes, chunks, strict=True)]


def _count(text: str) -> int:
    return len(text.split())


def _join(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


def _blocks(text: str) -> list[_Block]:
    """Headings and paragraphs; blank lines separate paragraphs except inside code fences."""
    blocks: list[_Block] = []
    lines: list[str] = []
    fence: str | None = None

    def flush() -> None:
        paragraph = "\n".join(lines).strip()
        lines.clear()
        if paragraph:
            blocks.append(_Block(paragraph, False, _count(paragraph)))

    for line in text.splitlines():
        opening = _FENCE.match(line)
        if fence is not None:
            lines.append(line)
            if opening and opening.group(1).startswith(fence):
                fence = None
        elif opening:
            lines.append(line)
            fence = opening.group(1)
        elif not line.strip():
            flush()
        elif _HEADING.match(line):
            flush()
            blocks.append(_Block(line.strip(), True, _count(line)))
        else:
            lines.append(line)
    flush()
    return blocks


def _split_long(text: str, max_words: int, overlap_words: int) -> list[str]:
    """Pieces of at most `max_words` words; consecutive pieces share `overlap_words` words.

    Pieces end on sentence boundaries where sentences allow it; a sentence too
    long to follow the overlap in one piece is cut into word runs.
    """
    step = max_words - overlap_words
    units: list[list[str]] = []
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        units.extend(words[i : i + step] for i in range(0, len(words), step))
    pieces: list[list[str]] = []
    current: list[str] = []
    fresh = False  # does `current` hold words not yet in an emitted piece?
    for unit in units:
        if fresh and len(current) + len(unit) > max_words:
            pieces.append(current)
            current = current[len(current) - overlap_words :]
        current = current + unit
        fresh = True
    if fresh:
        pieces.append(current)
    return [" ".join(piece) for piece in pieces]


@dataclass
class _Packer:
    """Packs blocks into chunks; the state of one pass over a text."""

    max_words: int
    overlap_words: int
    chunks: list[str] = field(default_factory=list)
    blocks: list[_Block] = field(default_factory=list)
    words: int = 0
    heading: str = ""  # the nearest heading seen so far
    prefix: str = ""  # the heading that prefixes the chunk being built

    def add(self, block: _Block) -> None:
        if block.words > self.max_words:
            self._add_long(block)
            return
        if self.blocks and self.words + block.words > self.max_words:
            self._flush(carry_headings=True)
        if not self.blocks:
            self.prefix = "" if block.heading else self.heading
        self.blocks.append(block)
        self.words += block.words
        if block.heading:
            self.heading = block.text

    def finish(self) -> list[str]:
        self._flush(carry_headings=False)
        return self.chunks

    def _add_long(self, block: _Block) -> None:
        """A block too long for one chunk: its pieces become chunks of their own."""
        carried = self._flush(carry_headings=True)
        self.blocks, self.words = [], 0
        first_prefix = "\n\n".join(b.text for b in carried) or self.heading
        pieces = _split_long(block.text, self.max_words, self.overlap_words)
        for n, piece in enumerate(pieces):
            self.chunks.append(_join(first_prefix if n == 0 else self.heading, piece))
        if block.heading:
            self.heading = block.text

    def _flush(self, *, carry_headings: bool) -> list[_Block]:
        """Emit the chunk being built; trailing headings move to the next chunk if asked.

        A heading belongs with the text under it, so a chunk never ends on one
        unless the text ends there. Returns the carried headings.
        """
        carried: list[_Block] = []
        while carry_headings and self.blocks and self.blocks[-1].heading:
            carried.insert(0, self.blocks.pop())
        if self.blocks:
            body = "\n\n".join(b.text for b in self.blocks)
            self.chunks.append(_join(self.prefix, body))
        self.blocks = list(carried)
        self.words = sum(b.words for b in carried)
        self.prefix = ""
        return carried
