"""The ONNX runtime for the local model: ~1.3x faster than torch and loads in a fraction.

The model is exported once with ``torch.onnx.export`` into the data dir, checked
against sentence-transformers with :func:`check_fidelity`, and the result recorded in a
marker file beside it. Later loads read the marker and never import torch.

The ``tokenizer.json`` shipped with the packaged model pads every input to 128 tokens
and truncates at 128; sentence-transformers truncates at 256 and pads to the longest.
We reset both, or vectors of long texts would differ and short texts cost ~2.7x.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import threading
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from heurist.embedding.base import Embedder
from heurist.embedding.fidelity import DEFAULT_MIN_COSINE, check_fidelity

logger = logging.getLogger(__name__)

#: Bump when the export changes, so cached files are exported again.
EXPORT_VERSION = 1
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxEmbedder(Embedder):
    """An exported transformer run by onnxruntime, tokenized by ``tokenizers``, mean-pooled.

    Calls are not serialized: ``InferenceSession.run`` is thread-safe and releases the
    GIL, so two workers with one intra-op thread each keep two cores busy, which beats
    one call at a time on two threads (bench/embedders.py, docs/benchmarks.md).
    """

    serialize_calls = False

    def __init__(
        self,
        onnx_path: Path,
        tokenizer_path: Path,
        *,
        model_id: str,
        dim: int,
        max_input_tokens: int = 256,
        threads: int | None = None,
        memory_arena: bool = True,
    ) -> None:
        super().__init__()
        self.onnx_path = onnx_path
        self.tokenizer_path = tokenizer_path
        self.model_id = model_id
        self.dim = dim
        self.max_input_tokens = max_input_tokens
        self.threads = threads
        self.memory_arena = memory_arena
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: tuple[str, ...] = ()

    def _load(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # The CPU arena keeps the largest activations it has seen (fast; the server's peak RSS
        # ~1.2 GB on a bulk ingest); without it, each call's buffers go back to the OS
        # (~0.84 GB, ~1.6x slower: docs/benchmarks.md, ingest speed).
        options.enable_cpu_mem_arena = self.memory_arena
        if not self.memory_arena:
            return_large_blocks_to_the_os()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(self.onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = tuple(i.name for i in self._session.get_inputs())
        self._tokenizer = load_tokenizer(self.tokenizer_path, self.max_input_tokens)

    def _embed(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self._session.run(None, {k: feeds[k] for k in self._input_names})[0]
        return mean_pool(hidden, feeds["attention_mask"])

    def _close(self) -> None:
        self._session = None
        self._tokenizer = None


def return_large_blocks_to_the_os() -> None:
    """Pin glibc's mmap threshold at its default 128 KiB, for the whole process.

    glibc raises the threshold each time a large block is freed; after the first model call
    the activations (tens of MB) then come from the heap, where two workers' interleaved
    calls fragment it and it never shrinks. Without onnxruntime's arena that took the server
    to 1.5 GB; pinned, each call's buffers are mapped and unmapped (peak 650 MB, 215 MB
    after, measured on 160 SciFact abstracts with two workers). No effect off glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_mmap_threshold = -3  # from malloc.h
    libc.mallopt(m_mmap_threshold, 128 * 1024)


def load_tokenizer(path: Path, max_tokens: int) -> Any:
    """The model's fast tokenizer, padding to the longest input and truncating at ``max_tokens``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    padding = tokenizer.padding or {}
    tokenizer.no_padding()
    tokenizer.enable_padding(
        pad_id=padding.get("pad_id", 0), pad_token=padding.get("pad_token", "[PAD]")
    )
    tokenizer.no_truncation()
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average the token vectors the attention mask keeps, as sentence-transformers does."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    return summed / np.clip(weights.sum(axis=1), 1e-9, None)


def export_onnx(model_dir: Path, dest: Path) -> Path:
    """Export the transformer (without pooling) with dynamic batch and sequence axes.

    Written under a unique temporary name then renamed, so a concurrent loader never
    sees half a file.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer

    transformer = SentenceTransformer(str(model_dir), device="cpu")[0].auto_model
    wrapper = _hidden_states_module(transformer).eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[1, 9:] = 0  # trace with padding so the mask path is general
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    axes = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "last_hidden_state")}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (ids, mask, torch.zeros_like(ids)),
                str(tmp),
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _hidden_states_module(transformer: Any) -> Any:
    """Wrap a Hugging Face model so ONNX sees positional inputs and one output.

    The class is defined here because torch is imported lazily.
    """
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    return HiddenStates()


def fingerprint(model_dir: Path) -> str:
    """Identify the source model cheaply (config, weight size and head) plus the export recipe."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"export-v{EXPORT_VERSION}".encode())
    for name in ("config.json", "tokenizer.json", "1_Pooling/config.json"):
        path = model_dir / name
        if path.exists():
            digest.update(path.read_bytes())
    weights = model_dir / "model.safetensors"
    if weights.exists():
        digest.update(str(weights.stat().st_size).encode())
        with weights.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()


def _check_pooling(model_dir: Path) -> None:
    """We pool by mean in numpy: refuse a model whose sentence-transformers pooling differs."""
    config_path = model_dir / "1_Pooling" / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    if not config.get("pooling_mode_mean_tokens", False):
        raise ValueError(f"{model_dir} does not use mean pooling; only torch can run it")


def _marker_ok(marker: Path, onnx_path: Path, min_cosine: float) -> bool:
    if not (marker.exists() and onnx_path.exists()):
        return False
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return bool(
        record.get("onnx_bytes") == onnx_path.stat().st_size
        and float(record.get("min_cosine", 0.0)) >= min_cosine
    )


# A process-wide guard for a process-wide resource (the export on disk), not a service.
_PREPARE_LOCK = threading.Lock()


def prepare_onnx(
    model_dir: Path,
    cache_dir: Path,
    *,
    model_id: str,
    dim: int,
    threads: int | None,
    reference: Callable[[], Embedder],
    memory_arena: bool = True,
    min_cosine: float = DEFAULT_MIN_COSINE,
) -> OnnxEmbedder:
    """A loaded, verified ONNX embedder: from the cache, or exported and checked now.

    ``reference`` builds the torch embedder; it is loaded only when an export must be
    verified, then released. Raises on any failure; the caller falls back to torch.
    """
    with _PREPARE_LOCK:  # two embedders of one process (workers, queries) export once
        _check_pooling(model_dir)
        stem = f"{model_id.replace('/', '--')}-{fingerprint(model_dir)}"
        onnx_path, marker = cache_dir / f"{stem}.onnx", cache_dir / f"{stem}.json"
        candidate = OnnxEmbedder(
            onnx_path,
            model_dir / "tokenizer.json",
            model_id=model_id,
            dim=dim,
            threads=threads,
            memory_arena=memory_arena,
        )
        if _marker_ok(marker, onnx_path, min_cosine):
            candidate.load()
            return candidate
        logger.info("exporting %s to ONNX at %s (once)", model_id, onnx_path)
        export_onnx(model_dir, onnx_path)
        ref = reference()
        try:
            worst = check_fidelity(candidate, ref, min_cosine=min_cosine)
        finally:
            ref.close()
        _write_marker(marker, onnx_path, model_id, worst)
        logger.info("ONNX export of %s verified: minimum cosine %.6f", model_id, worst)
        return candidate


def _write_marker(marker: Path, onnx_path: Path, model_id: str, worst: float) -> None:
    import torch

    record = {
        "model_id": model_id,
        "onnx_bytes": onnx_path.stat().st_size,
        "min_cosine": worst,
        "export_version": EXPORT_VERSION,
        "torch": torch.__version__,
    }
    tmp = marker.with_name(f".{marker.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, marker)
