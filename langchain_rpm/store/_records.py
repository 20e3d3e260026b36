"""The store's records: ids, the user filter, record building and exact cosine ranking (pure functions).

Example:
    >>> user_filter("u1")
    {'user_id': {'$eq': 'u1'}}
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_rpm.errors import ConfigurationError, EmbeddingMismatchError
from langchain_rpm.types import Feature, ReasoningExample, RetrievedExample, UserProfile

DEFAULT_STORE_PATH = Path(os.environ.get("RPM_STORE_PATH", Path.home() / ".langchain_rpm" / "store"))
"""Where the embedded store lives unless a path or client is given (override with ``RPM_STORE_PATH``)."""


def features_text(features: Sequence[Feature]) -> str:
    """The text a feature list is embedded by: one ``name: context`` line per feature (DESIGN §2 step 5).

    Factors are not part of it: the paper keys retrieval on the features' own text, on both sides.

    Example:
        >>> features_text([Feature(name="space battles", context="fleets clash in orbit", factor="Setting")])
        'space battles: fleets clash in orbit'
    """
    return "\n".join(f"{f.name}: {f.context}" if f.context else f.name for f in features)


def _mentions_user_id(where: Any) -> bool:
    if isinstance(where, dict):
        return any(key == "user_id" or _mentions_user_id(value) for key, value in where.items())
    if isinstance(where, list | tuple):
        return any(_mentions_user_id(value) for value in where)
    return False


def user_filter(user_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one place ``where`` filters are built: always scoped to ``user_id``.

    A caller's ``extra`` conditions are AND-ed with the user condition, so they can narrow a read
    but never widen it. ``extra`` may not mention ``user_id`` at all (not even inside ``$or``): the
    user is chosen by the ``user_id`` argument only.

    Example:
        >>> user_filter("u1")
        {'user_id': {'$eq': 'u1'}}
        >>> user_filter("u1", {"answer": "comedy"})
        {'$and': [{'user_id': {'$eq': 'u1'}}, {'answer': 'comedy'}]}
    """
    if not isinstance(user_id, str) or not user_id:
        raise ConfigurationError(f"user_id must be a non-empty string, got {user_id!r}")
    condition: dict[str, Any] = {"user_id": {"$eq": user_id}}
    if not extra:
        return condition
    if not isinstance(extra, dict):
        raise ConfigurationError(f"where must be a dict of Chroma metadata conditions, got {type(extra).__name__}")
    if _mentions_user_id(extra):
        raise ConfigurationError(
            "where must not mention 'user_id': reads are always scoped to the user_id argument, "
            "so pass the user as user_id=... and keep only the other conditions in where"
        )
    return {"$and": [condition, *({key: value} for key, value in extra.items())]}


def example_id(user_id: str, item_id: str, commit: str = "") -> str:
    """Record id of one user's history item as written by one ``commit`` (a write's random token).

    Each write stores new records under its own token and switches the user's manifest to them, so the
    previous version stays whole until the switch (copy-on-write). Without a token: the id older
    versions used.

    Example:
        >>> example_id("u1", "7") == example_id("u1", "7") != example_id("u17", "")
        True
        >>> example_id("u1", "7", "c1") != example_id("u1", "7", "c2")
        True
    """
    parts = [user_id, item_id, commit] if commit else [user_id, item_id]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def profile_id(user_id: str) -> str:
    """Record id of the user's profile (a digest: no user id is ever part of an id)."""
    return "profile-" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def manifest_id(user_id: str) -> str:
    """Record id of the user's manifest (the list of their example record ids)."""
    return "example-ids-" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def collection_name(namespace: str, kind: str, user_id: str | None = None) -> str:
    """A collection's name; a user's own collection (``per_user`` layout) is named by a digest of the id.

    Never derived by stripping characters: two user ids must never share a collection.

    Example:
        >>> collection_name("rpm", "profiles")
        'rpm_profiles'
        >>> collection_name("rpm", "examples", "ada") != collection_name("rpm", "examples", "Ada")
        True
    """
    if user_id is None:
        return f"{namespace}_{kind}"
    return f"{namespace}_{kind}_{hashlib.sha256(user_id.encode()).hexdigest()[:40]}"


MANIFEST_KIND = "example_ids"  # metadata ``kind`` of the per-user list of example record ids
KEEPER_KIND = "index_keeper"  # metadata ``kind`` of the one record without user data a compaction keeps
MANIFEST_KEY, PROFILE_KEY = "ids", "profile"  # the metadata key holding a manifest's / a profile's JSON
METADATA_TEXT_BYTES = 4096
"""The longest JSON kept in metadata: Chroma Cloud refuses a metadata value over 4,096 bytes (its quotas)."""


def switch_record(user_id: str, ids: Sequence[str] | None, profile: UserProfile | None) -> dict[str, list[Any]]:
    """The profiles-collection records (no vectors) storing ``ids`` as the manifest and ``profile``.

    Each JSON text is kept in its record's metadata and the document is ``""``: Chroma full-text indexes
    documents, so a manifest or profile costs about three times as much to upsert as a document (50 users'
    manifests and profiles: 82 -> 28 ms of CPU). A text up to :data:`METADATA_TEXT_BYTES` is one value
    (``ids`` / ``profile``); a longer one (a manifest of more than about 115 examples, most profiles of
    real models) is cut into pieces (``ids_1``, ``ids_2``, ... and their count ``ids_parts``) with ``ids``
    left ``""``, since Chroma Cloud refuses a longer value. The empty values are written, not omitted:
    Chroma's upsert keeps an omitted document and merges metadata, so a piece a longer text left behind
    is only read when its count says so. :func:`stored_texts` reads every format.

    Example:
        >>> record = switch_record("ada", ["r2", "r1"], None)
        >>> record["documents"], record["metadatas"][0]["ids"]
        ([''], '{"ids": ["r1", "r2"]}')
        >>> long = switch_record("ada", [f"{n:032}" for n in range(200)], None)["metadatas"][0]
        >>> long["ids"], long["ids_parts"], long["ids_1"][:9]
        ('', 2, '{"ids": [')
    """
    record: dict[str, list[Any]] = {"ids": [], "documents": [], "metadatas": []}
    texts: list[tuple[str, str, dict[str, Any]]] = []
    if ids is not None:
        record["ids"].append(manifest_id(user_id))
        texts.append((MANIFEST_KEY, encode_manifest(ids), {"user_id": user_id, "kind": MANIFEST_KIND}))
    if profile is not None:
        record["ids"].append(profile_id(user_id))
        texts.append((PROFILE_KEY, profile.model_dump_json(), {"user_id": user_id, "version": profile.version}))
    for key, text, meta in texts:
        record["documents"].append("")
        if len(text.encode()) <= METADATA_TEXT_BYTES:
            record["metadatas"].append({**meta, key: text})
            continue
        pieces = list(text_parts(key, text).values())
        numbered = {f"{key}_{n}": piece for n, piece in enumerate(pieces, start=1)}
        record["metadatas"].append({**meta, key: "", f"{key}_parts": len(pieces), **numbered})
    return record


def stored_texts(got: Mapping[str, Any]) -> dict[str, str]:
    """``{record id: JSON}`` of a ``get`` of manifest and profile records (``include``: documents, metadatas).

    A non-empty document is the JSON as a version before :func:`switch_record` stored it (up to 9991821
    every text; up to round 7 of issue 21 a text over :data:`METADATA_TEXT_BYTES`), and wins: an older
    version rewriting a record leaves this format's metadata keys behind (Chroma merges metadata). Then
    the one value, then the counted pieces.

    Example:
        >>> stored_texts({"ids": ["a", "b"], "documents": ["[1]", ""], "metadatas": [{}, {"profile": "{}"}]})
        {'a': '[1]', 'b': '{}'}
        >>> stored_texts({"ids": ["c"], "documents": [""], "metadatas": [{"profile": "", "profile_parts": 2,
        ...     "profile_1": "[1,", "profile_2": "2]", "profile_3": "stale"}]})
        {'c': '[1,2]'}
    """
    texts: dict[str, str] = {}
    rows = zip(got.get("ids") or [], got.get("documents") or [], got.get("metadatas") or [], strict=True)
    for record_id, document, meta in rows:
        meta = meta or {}
        key = MANIFEST_KEY if meta.get("kind") == MANIFEST_KIND else PROFILE_KEY
        parts = meta.get(f"{key}_parts")
        text = document or meta.get(key) or "".join(str(meta[f"{key}_{n}"]) for n in range(1, int(parts or 0) + 1))
        if isinstance(text, str) and text:
            texts[record_id] = text
    return texts


def encode_manifest(ids: Sequence[str]) -> str:
    """The manifest's JSON: the exact record ids of the user's current examples.

    Example:
        >>> decode_manifest(encode_manifest(["b", "a"]))
        (['a', 'b'], True)
    """
    return json.dumps({"ids": sorted(ids)})


def decode_manifest(document: str) -> tuple[list[str], bool]:
    """``(ids, exact)``: a manifest of this shape is exact; an older one (a bare list) may miss ids."""
    value = json.loads(document)
    if isinstance(value, dict):
        return [str(i) for i in value.get("ids") or []], True
    return [str(i) for i in value], False


def embedding_name(embeddings: Embeddings) -> str:
    """A readable name of an embeddings object (its ``model_name``/``model``, else its class)."""
    for attr in ("model_name", "model"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(embeddings).__name__


def declared_dimension(embeddings: Embeddings) -> int | None:
    """The vector dimension an embeddings object declares, if any."""
    for attr in ("dimension", "dimensions", "size"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def default_client(path: str | Path | None = None) -> Any:
    """An embedded Chroma ``PersistentClient`` with telemetry off.

    Example:
        >>> import tempfile
        >>> default_client(tempfile.mkdtemp()).heartbeat() > 0
        True
    """
    import chromadb
    from chromadb.config import Settings

    folder = Path(path) if path is not None else DEFAULT_STORE_PATH
    folder.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))


# -- pure helpers shared by the sync and async paths ------------------------------------------------------
def example_records(
    user_id: str,
    examples: Sequence[ReasoningExample],
    vectors: list[list[float]],
    version: int,
    commit: str = "",
    *,
    exact_vectors: bool = False,
    ids: list[str] | None = None,
) -> dict[str, list[Any]]:
    """Chroma records (ids, vectors, metadata; no document) of a user's examples written by ``commit``.

    The feature text that was embedded is not kept as the record's document: nothing reads it back (the
    example's JSON holds its features), and Chroma full-text indexes every document, which measured about 40 %
    of an embedded ``add``'s CPU (0.35-0.45 ms a record; ``docs/store.md``).

    ``ids``: the records' :func:`example_id` values when the caller computed them already.

    ``exact_vectors`` keeps each vector's float64 bytes in the metadata too (``vector``): Chroma returns
    stored vectors within about 1e-7 of what it was given, so an imported user would not export the
    same bytes again without it.
    """
    metadatas = [
        {
            "user_id": user_id,
            "item_id": ex.item_id,
            "answer": ex.answer,
            "profile_version": version,
            "commit": commit,
            **text_parts("example", ex.model_dump_json()),
        }
        for ex in examples
    ]
    if exact_vectors:
        for meta, vector in zip(metadatas, vectors, strict=True):
            meta.update(text_parts("vector", base64.b64encode(np.asarray(vector, dtype="<f8").tobytes()).decode()))
    if ids is None:
        ids = [example_id(user_id, ex.item_id, commit) for ex in examples]
    return {"ids": ids, "embeddings": vectors, "metadatas": metadatas}


def text_parts(key: str, text: str) -> dict[str, str]:
    """``text`` as metadata under ``key``, ``key_2``, ...: pieces of at most :data:`METADATA_TEXT_BYTES` bytes.

    Chroma Cloud refuses a longer metadata value; an example's JSON passes it with a long input (a LaMP-4
    article) and an exact 768-dimension vector always does. :func:`joined_text` puts the pieces together.

    Example:
        >>> parts = text_parts("example", "é" * 3000)
        >>> sorted(parts), [len(part.encode()) for part in parts.values()]
        (['example', 'example_2'], [4096, 1904])
        >>> joined_text(parts, "example") == "é" * 3000
        True
    """
    data, start = text.encode(), 0
    parts: dict[str, str] = {}
    while start < len(data) or not parts:
        end = min(start + METADATA_TEXT_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character's UTF-8 bytes
            end -= 1
        parts[key if not parts else f"{key}_{len(parts) + 1}"] = data[start:end].decode()
        start = end
    return parts


def joined_text(meta: Mapping[str, Any], key: str) -> str:
    """The text :func:`text_parts` stored under ``key`` (a record of an earlier version: ``key`` alone)."""
    text, n = meta[key], 2
    while f"{key}_{n}" in meta:
        text, n = text + meta[f"{key}_{n}"], n + 1
    return str(text)


def slices(records: dict[str, list[Any]], size: int) -> list[dict[str, list[Any]]]:
    """``records`` cut into batches of at most ``size`` records."""
    total = len(records["ids"])
    return [{key: values[i : i + size] for key, values in records.items()} for i in range(0, total, size)]


def rank(vectors: Any, query: Sequence[float], k: int, norms: Any = None) -> list[tuple[int, float]]:
    """Exact cosine top-``k``: ``(row, similarity)`` pairs, best first (ties keep row order).

    ``norms``: the rows' Euclidean norms when the caller keeps them (computed here otherwise).
    """
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.size == 0:
        return []
    q = np.asarray(query, dtype=np.float64)
    if matrix.shape[1] != q.shape[0]:
        raise ConfigurationError(
            f"query vector has dimension {q.shape[0]}, but the stored examples have {matrix.shape[1]}: "
            "embed the query with the store's embeddings (RPMStore.search does that for you)"
        )
    norms = (np.linalg.norm(matrix, axis=1) if norms is None else norms) * max(float(np.linalg.norm(q)), 1e-12)
    scores = matrix @ q / np.maximum(norms, 1e-12)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order]


def query_text(features: Sequence[Feature] | str) -> str:
    """The text a query is embedded by: the features' text, or a raw query string."""
    return features if isinstance(features, str) else features_text(features)


def hits(user_id: str, metadatas: Sequence[dict[str, Any] | None], scores: Sequence[float]) -> list[RetrievedExample]:
    """Retrieved examples from Chroma metadata, keeping only records of ``user_id``."""
    hits = []
    for meta, score in zip(metadatas, scores, strict=True):
        if not meta or meta.get("user_id") != user_id:  # defence in depth: the filter already scopes the read
            continue
        example = ReasoningExample.model_validate_json(joined_text(meta, "example"))
        hits.append(RetrievedExample(example=example, score=score))
    return hits


def check_embeddings(store: Any, name: str, stored: dict[str, Any]) -> None:
    """Refuse a collection built with other embeddings than ``store``'s (name or dimension)."""
    model, dim = stored.get("embedding_model"), stored.get("embedding_dimension")
    if (model is None or model == store.embedding_model) and (dim is None or dim == store.embedding_dimension):
        return
    raise EmbeddingMismatchError(
        f"collection {name!r} was built with embedding model {model!r} (dimension {dim}), but this store was "
        f"given {store.embedding_model!r} (dimension {store.embedding_dimension}); vectors of different models "
        "cannot be compared. Pass the embeddings the store was built with, or use another namespace=... for "
        f"the new model and rebuild the users there (or drop the old collections with "
        f"client.delete_collection({name!r}) and client.delete_collection('{store.namespace}_profiles'), "
        "then rebuild)."
    )


def stored_vector(meta: dict[str, Any] | None, embedding: Any) -> list[float]:
    """A record's vector: the exact one its metadata keeps (an import), else Chroma's stored embedding."""
    if meta and isinstance(meta.get("vector"), str):
        return [float(x) for x in np.frombuffer(base64.b64decode(joined_text(meta, "vector")), dtype="<f8")]
    return [float(x) for x in embedding]
