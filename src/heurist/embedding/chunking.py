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

Sizes count *units*: words by default, or the model's own tokens when a
:class:`TokenWindow` is given (``heurist.embedding.window`` builds one from the
model's tokenizer). In tokens, a manual's chunk is sized so that title, body and the
model's special tokens fit its window exactly, with no overlap: a 200-word chunk plus a
title often passes 256 wordpieces, and the model would drop its tail unread, while an
overlap only embeds the same words twice (docs/benchmarks.md, ingest speed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["TokenWindow", "chunk_text", "manual_chunks"]

#: Units of each whitespace-separated word (1 each for words; wordpieces for tokens).
Weigh = Callable[[Sequence[str]], list[int]]
_WORD = re.compile(r"\S+")


def _one_each(words: Sequence[str]) -> list[int]:
    return [1] * len(words)


@dataclass(frozen=True, slots=True)
class TokenWindow:
    """What a model can read at once, in its own tokens.

    ``weigh`` gives the tokens of each whitespace-separated word (a BERT tokenizer never
    lets a token span whitespace, so a text's tokens are the sum over its words);
    ``max_tokens`` is the window minus the ``special`` tokens the model adds to every text.
    """

    weigh: Weigh
    max_tokens: int
    special: int = 0  # tokens the model adds to every text ([CLS] and [SEP] for BERT)

    def count(self, text: str) -> int:
        """Tokens of ``text`` without the special tokens."""
        return sum(self.weigh(text.split()))


_HEADING = re.compile(r"^ {0,3}#{1,6}\s+\S")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class _Block:
    """A heading line or a paragraph, with its word count."""

    text: str
    heading: bool
    words: int


def chunk_text(
    text: str, *, max_words: int = 200, overlap_words: int = 40, weigh: Weigh = _one_each
) -> list[str]:
    """Chunks of at most `max_words` units (plus a heading prefix), in reading order.

    A unit is a word unless ``weigh`` says otherwise (tokens, for a TokenWindow). A text
    of at most `max_words` units gives one chunk equal to the stripped text; an empty
    text gives none. The result is deterministic.
    """
    if max_words < 1 or not 0 <= overlap_words < max_words:
        raise ValueError(
            f"need max_words >= 1 and 0 <= overlap_words < max_words, "
            f"got max_words={max_words}, overlap_words={overlap_words}"
        )
    stripped = text.strip()
    if not stripped:
        return []
    if _count(stripped, weigh) <= max_words:
        return [stripped]
    packer = _Packer(max_words, overlap_words, weigh)
    for block in _blocks(stripped, weigh):
        packer.add(block)
    return packer.finish()


def manual_chunks(
    title: str,
    summary: str | None,
    content: str,
    *,
    max_words: int = 200,
    overlap_words: int = 40,
    window: TokenWindow | None = None,
) -> list[str]:
    """Chunks of a manual, each prefixed with its title and the first also with its summary.

    The model sees one chunk at a time, so each chunk carries the title that
    says what it is about. A manual without content still gives one chunk
    (title and summary), so it can be found by meaning. With a ``window``, sizes are
    in the model's tokens and every chunk, prefix included, fits the window
    (``max_words`` and ``overlap_words`` are then ignored).
    """
    head = title.strip()
    lead = _join(head, (summary or "").strip())
    if window is None:
        chunks = chunk_text(content, max_words=max_words, overlap_words=overlap_words) or [""]
    else:
        # The longest prefix, capped at half the window (a longer one is cut by _fit).
        reserve = min(window.count(lead), window.max_tokens // 2)
        body = window.max_tokens - reserve
        chunks = chunk_text(content, max_words=body, overlap_words=0, weigh=window.weigh) or [""]
    prefixes = [lead] + [head] * (len(chunks) - 1)
    joined = [_join(prefix, chunk) for prefix, chunk in zip(prefixes, chunks, strict=True)]
    if window is None:
        return joined
    return [piece for chunk in joined for piece in _fit(chunk, head, window)]


def _fit(text: str, head: str, window: TokenWindow) -> list[str]:
    """``text`` as pieces that each fit the window; a continuation is prefixed with ``head``.

    The packer already sizes bodies to the window; this is the guarantee for what it
    cannot see (a heading prefix, a title longer than half the window, a huge "word").
    """
    pieces: list[str] = []
    carry = head if _count(head, window.weigh) < window.max_tokens // 2 else ""
    body_start = 0  # where the text after a carried prefix begins
    while True:
        spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        weights = window.weigh([text[a:b] for a, b in spans])
        if sum(weights) <= window.max_tokens:
            pieces.append(text)
            return pieces
        used, cut = 0, 0
        while cut < len(spans) and used + weights[cut] <= window.max_tokens:
            used += weights[cut]
            cut += 1
        if cut == 0 or spans[cut - 1][1] <= body_start:
            # Not one word of the body fits: a huge "word", cut by characters.
            first = next(span for span in spans if span[0] >= body_start)
            end = _longest_prefix(text, first, window)
        else:
            end = spans[cut - 1][1]
        pieces.append(text[:end].strip())
        rest = text[end:].strip()
        text = _join(carry, rest)
        body_start = len(text) - len(rest)


def _longest_prefix(text: str, span: tuple[int, int], window: TokenWindow) -> int:
    """The end of the longest start of ``text``, cut inside the word at ``span``, that fits."""
    low, high = span[0] + 1, span[1]
    while low < high:
        middle = (low + high + 1) // 2
        if window.count(text[:middle]) <= window.max_tokens:
            low = middle
        else:
            high = middle - 1
    return low


def _count(text: str, weigh: Weigh = _one_each) -> int:
    return sum(weigh(text.split()))


def _join(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


def _blocks(text: str, weigh: Weigh) -> list[_Block]:
    """Headings and paragraphs; blank lines separate paragraphs except inside code fences."""
    blocks: list[_Block] = []
    lines: list[str] = []
    fence: str | None = None

    def flush() -> None:
        paragraph = "\n".join(lines).strip()
        lines.clear()
        if paragraph:
            blocks.append(_Block(paragraph, False, _count(paragraph, weigh)))

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
            blocks.append(_Block(line.strip(), True, _count(line, weigh)))
        else:
            lines.append(line)
    flush()
    return blocks


def _split_long(text: str, max_units: int, overlap: int, weigh: Weigh) -> list[str]:
    """Pieces of at most `max_units` units; consecutive pieces share about `overlap` units.

    Pieces end on sentence boundaries where sentences allow it; a sentence too
    long to follow the overlap in one piece is cut into word runs.
    """
    step = max_units - overlap
    units: list[list[tuple[str, int]]] = []
    for sentence in _SENTENCE_END.split(text):
        words = sentence.split()
        units.extend(_runs(list(zip(words, weigh(words), strict=True)), step))
    pieces: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    fresh = False  # does `current` hold words not yet in an emitted piece?
    for unit in units:
        if fresh and _weight(current) + _weight(unit) > max_units:
            pieces.append(current)
            current = _tail(current, overlap)
        current = current + unit
        fresh = True
    if fresh:
        pieces.append(current)
    return [" ".join(word for word, _ in piece) for piece in pieces]


def _runs(words: list[tuple[str, int]], step: int) -> list[list[tuple[str, int]]]:
    """Consecutive runs of at most `step` units (a heavier single word is a run alone)."""
    runs: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    for word in words:
        if current and _weight(current) + word[1] > step:
            runs.append(current)
            current = []
        current.append(word)
    if current:
        runs.append(current)
    return runs


def _tail(words: list[tuple[str, int]], overlap: int) -> list[tuple[str, int]]:
    """The longest end of `words` of at most `overlap` units."""
    used, start = 0, len(words)
    while start > 0 and used + words[start - 1][1] <= overlap:
        start -= 1
        used += words[start][1]
    return words[start:]


def _weight(words: Sequence[tuple[str, int]]) -> int:
    return sum(w for _, w in words)


@dataclass
class _Packer:
    """Packs blocks into chunks; the state of one pass over a text."""

    max_words: int
    overlap_words: int
    weigh: Weigh = _one_each
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
        pieces = _split_long(block.text, self.max_words, self.overlap_words, self.weigh)
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
