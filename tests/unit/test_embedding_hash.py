"""The hash embedder and the validation every embedder shares; no model, milliseconds."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from heurist.embedding import (
    EMBEDDERS,
    Embedder,
    FidelityError,
    HashEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    PermanentEmbeddingError,
    build_embedder,
    check_fidelity,
    check_texts,
    check_vectors,
)
from heurist.errors import ConfigError
from heurist.settings import Settings


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


def test_hash_embedder_shape_dtype_and_unit_norm() -> None:
    vectors = HashEmbedder(dim=48).embed(["alpha beta", "gamma", "!!!", "a " * 500])
    assert vectors.shape == (4, 48)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_hash_embedder_is_deterministic_across_instances_and_processes() -> None:
    texts = ["Fix the flaky test", "deploy on Friday"]
    first = HashEmbedder().embed(texts)
    np.testing.assert_array_equal(first, HashEmbedder().embed(texts))
    code = (
        "from heurist.embedding import HashEmbedder;"
        f"print(HashEmbedder().embed({texts!r}).tobytes().hex())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == first.tobytes().hex()  # no dependence on PYTHONHASHSEED


def test_hash_embedder_case_insensitive_and_model_id() -> None:
    embedder = HashEmbedder(dim=16)
    assert embedder.model_id == "hash-16"
    upper, lower = embedder.embed(["Flaky TEST", "flaky test"])
    np.testing.assert_array_equal(upper, lower)


def test_similar_texts_are_closer_than_unrelated() -> None:
    base, near, far = HashEmbedder(dim=256).embed(
        [
            "the worker retries the flaky integration test",
            "retries of a flaky integration test in the worker",
            "bake sourdough bread at home",
        ]
    )
    assert cosine(base, near) > 0.6
    assert cosine(base, near) > cosine(base, far) + 0.3


def test_empty_input_list_gives_empty_matrix() -> None:
    assert HashEmbedder(dim=8).embed([]).shape == (0, 8)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_check_texts_names_the_empty_index(bad: str) -> None:
    with pytest.raises(PermanentEmbeddingError) as info:
        check_texts(["fine", "also fine", bad])
    assert "2" in info.value.message
    assert info.value.details == {"index": 2}


def test_check_texts_rejects_non_strings_and_a_bare_string() -> None:
    with pytest.raises(PermanentEmbeddingError):
        check_texts(["ok", None])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        check_texts("a string is not a batch")


def test_embed_rejects_empty_text_before_any_model_call() -> None:
    embedder = HashEmbedder()
    with pytest.raises(PermanentEmbeddingError):
        embedder.embed(["ok", ""])
    assert not embedder.loaded


def test_check_vectors_normalizes_to_float32() -> None:
    out = check_vectors([[3.0, 4.0], [0.0, -2.0]], n=2, dim=2)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, -1.0]], atol=1e-7)


@pytest.mark.parametrize(
    ("vectors", "n", "dim"),
    [
        ([[1.0, 0.0]], 2, 2),  # too few rows
        ([[1.0, 0.0, 0.0]], 1, 2),  # wrong dimension
        ([1.0, 0.0], 1, 2),  # not 2-d
        ([[1.0, float("nan")]], 1, 2),
        ([[float("inf"), 1.0]], 1, 2),
        ([[0.0, 0.0]], 1, 2),  # cannot be normalized
        ([[1.0, 0.0], [1.0]], 2, 2),  # ragged
        ([["a", "b"]], 1, 2),
    ],
)
def test_check_vectors_rejects(vectors: object, n: int, dim: int) -> None:
    with pytest.raises(PermanentEmbeddingError):
        check_vectors(vectors, n, dim)


class _SlowLoading(HashEmbedder):
    """Counts loads; a slow load widens the window for a double load."""

    def __init__(self) -> None:
        super().__init__(dim=8)
        self.loads = 0

    def _load(self) -> None:
        time.sleep(0.05)
        self.loads += 1


def test_load_is_lazy_idempotent_and_thread_safe() -> None:
    embedder = _SlowLoading()
    assert not embedder.loaded
    threads = [threading.Thread(target=embedder.embed, args=(["x y"],)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert embedder.loaded
    assert embedder.loads == 1
    embedder.close()
    assert not embedder.loaded


class _Noisy(Embedder):
    """The hash embedder with noise added: a stand-in for an unfaithful runtime."""

    def __init__(self, inner: HashEmbedder, scale: float) -> None:
        super().__init__()
        self.inner, self.scale = inner, scale
        self.model_id, self.dim, self.max_input_tokens = inner.model_id, inner.dim, 256
        self.rng = np.random.default_rng(0)

    def _load(self) -> None:
        """Nothing to load."""

    def _embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.inner.embed(texts)
        return vectors + self.rng.normal(0.0, self.scale, vectors.shape).astype(np.float32)


def test_check_fidelity_accepts_identical_and_rejects_noisy() -> None:
    reference = HashEmbedder(dim=64)
    assert check_fidelity(HashEmbedder(dim=64), reference) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(FidelityError) as info:
        check_fidelity(_Noisy(reference, scale=0.05), reference)
    assert info.value.details["min_cosine"] < 0.999
    with pytest.raises(FidelityError):
        check_fidelity(HashEmbedder(dim=32), reference)


def test_factory_registry_builds_each_provider_without_loading(tmp_path: Path) -> None:
    assert set(EMBEDDERS) == {"local", "openai", "hash"}
    hashed = build_embedder(Settings(embedding_provider="hash", embedding_dim=24))
    assert isinstance(hashed, HashEmbedder) and hashed.dim == 24
    local = build_embedder(Settings(embedding_provider="local", data_dir=tmp_path))
    assert isinstance(local, LocalEmbedder) and not local.loaded
    assert (local.dim, local.max_input_tokens) == (384, 256)
    remote = build_embedder(
        Settings(embedding_provider="openai", embedding_url="http://127.0.0.1:9/v1")
    )
    assert isinstance(remote, OpenAIEmbedder) and not remote.loaded


def test_factory_rejects_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        build_embedder(Settings(embedding_provider="openai"))  # no URL
    with pytest.raises(ConfigError):
        build_embedder(Settings(embedding_provider="local", embedding_model="org/not-shipped"))


def test_importing_and_building_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from heurist.embedding import build_embedder\n"
        "from heurist.settings import Settings\n"
        "build_embedder(Settings(embedding_provider='local', embedding_runtime='onnx'))\n"
        "heavy = {'torch', 'sentence_transformers', 'onnxruntime'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
