"""The real MiniLM model: torch, the ONNX export, and the fidelity gate between them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from heurist.embedding import (
    FIXED_TEXTS,
    FidelityError,
    LocalEmbedder,
    PermanentEmbeddingError,
    SentenceTransformerEmbedder,
    check_fidelity,
)
from heurist.embedding.fidelity import cosines
from heurist.embedding.local import resolve_model_dir
from heurist.embedding.onnx_runtime import OnnxEmbedder
from heurist.settings import DEFAULT_MODEL

pytestmark = pytest.mark.model

MODEL_DIR = resolve_model_dir(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def reference() -> Iterator[SentenceTransformerEmbedder]:
    embedder = SentenceTransformerEmbedder(MODEL_DIR, threads=2)
    yield embedder
    embedder.close()


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def onnx_local(onnx_cache: Path) -> Iterator[LocalEmbedder]:
    embedder = LocalEmbedder(runtime="onnx", threads=2, cache_dir=onnx_cache)
    embedder.load()
    yield embedder
    embedder.close()


def _assert_semantics(embedder: LocalEmbedder) -> None:
    query, near, far = embedder.embed(
        ["how to fix a flaky test", "flaky tests retry", "bake bread"]
    )
    assert float(query @ near) > float(query @ far) + 0.2


def test_torch_loads_lazily_and_embeds() -> None:
    embedder = LocalEmbedder(runtime="torch", threads=2)
    assert not embedder.loaded and embedder.runtime is None
    assert embedder.model_id == DEFAULT_MODEL
    vectors = embedder.embed(["one short text", "another", "a third, somewhat longer text"])
    assert embedder.loaded and embedder.runtime == "torch"
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    _assert_semantics(embedder)
    with pytest.raises(PermanentEmbeddingError):
        embedder.embed(["fine", ""])
    embedder.close()


def test_onnx_runtime_is_used_and_faithful(
    onnx_local: LocalEmbedder, reference: SentenceTransformerEmbedder
) -> None:
    assert onnx_local.runtime == "onnx"
    assert len(FIXED_TEXTS) >= 30
    assert max(len(t.split()) for t in FIXED_TEXTS) >= 250
    worst = check_fidelity(onnx_local, reference, FIXED_TEXTS, min_cosine=0.999)
    assert worst >= 0.999
    _assert_semantics(onnx_local)


def test_onnx_truncates_at_256_tokens_like_sentence_transformers(
    onnx_local: LocalEmbedder, reference: SentenceTransformerEmbedder
) -> None:
    # Tokens past 128 must count (the shipped tokenizer.json stops at 128) and
    # tokens past 256 must not.
    head = " ".join(f"w{i}" for i in range(90))  # ~180+ word pieces
    texts = [head, head + " tail words change the vector", head * 4]
    values = cosines(onnx_local, reference, texts)
    assert values.min() >= 0.999
    a, b, _ = onnx_local.embed(texts)
    assert float(a @ b) < 0.99999  # the tail after token 128 was seen


def test_onnx_export_is_cached_with_a_verified_marker(onnx_cache: Path) -> None:
    onnx_files = list(onnx_cache.glob("*.onnx"))
    assert len(onnx_files) == 1 and onnx_files[0].with_suffix(".json").exists()
    mtime = onnx_files[0].stat().st_mtime_ns
    again = LocalEmbedder(runtime="onnx", threads=2, cache_dir=onnx_cache)
    again.load()
    assert again.runtime == "onnx"
    # Not exported twice: the file is untouched (a 5 s bound on the load used to say it
    # too, and depended on the machine's load).
    assert onnx_files[0].stat().st_mtime_ns == mtime
    assert list(onnx_cache.glob("*.onnx")) == onnx_files
    again.close()


def test_quantized_model_is_rejected_by_the_fidelity_gate(
    onnx_cache: Path, reference: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = next(onnx_cache.glob("*.onnx"))
    quantized = tmp_path / "int8.onnx"
    quantize_dynamic(source, quantized, weight_type=QuantType.QInt8, per_channel=False)
    degraded = OnnxEmbedder(
        quantized, MODEL_DIR / "tokenizer.json", model_id=DEFAULT_MODEL, dim=384, threads=2
    )
    with pytest.raises(FidelityError) as info:
        check_fidelity(degraded, reference)
    assert info.value.details["min_cosine"] < 0.999


def test_onnx_failure_falls_back_to_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the cache dir cannot be created here")
    embedder = LocalEmbedder(runtime="onnx", threads=2, cache_dir=blocker / "models")
    with caplog.at_level(logging.WARNING, logger="heurist.embedding.local"):
        vectors = embedder.embed(["still embedded"])
    assert embedder.runtime == "torch"
    assert vectors.shape == (1, 384)
    assert any("falling back to torch" in r.getMessage() for r in caplog.records)
    embedder.close()
