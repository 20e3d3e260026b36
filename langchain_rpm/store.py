"""The Chroma-backed example store: reasoning-enhanced examples and user profiles.

Embedded by default (a ``PersistentClient`` on a local folder); pass ``client=`` to use a Chroma
server (``chromadb.HttpClient``) or Chroma Cloud with the same code. Examples are embedded by the
concatenated text of their features, always with explicit embeddings (Chroma's own downloading
embedding function is never used), in a cosine collection; user ids live in metadata and every
read is filtered by exactly one user.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> store.list_users()
    []
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from langchain_rpm.types import Feature, ReasoningExample, RetrievedExample, UserProfile

DEFAULT_STORE_PATH = Path(os.environ.get("RPM_STORE_PATH", Path.home() / ".langchain_rpm" / "store"))
"""Where the embedded store lives unless a path or client is given (override with ``RPM_STORE_PATH``)."""

_PROFILE_VECTOR = [1.0]  # profiles are fetched by id only; Chroma still needs a vector per record.


class EmbeddingMismatchError(RuntimeError):
    """The collection was built with a different embedding model than the one given."""


def features_text(features: Sequence[Feature]) -> str:
    """The text a feature list is embedded by: one ``factor: name`` line per feature.

    Example:
        >>> features_text([Feature(name="space battles", factor="Setting")])
        'Setting: space battles'
    """
    return "\n".join(f"{f.factor}: {f.name}" if f.factor else f.name for f in features)


def user_filter(user_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one place ``where`` filters are built: always scoped to ``user_id``.

    A caller's ``extra`` conditions are AND-ed with the user condition, so they can narrow a
    read but never widen it to another user.

    Example:
        >>> user_filter("u1", {"answer": "comedy"})
        {'$and': [{'user_id': {'$eq': 'u1'}}, {'answer': 'comedy'}]}
    """
    if not isinstance(user_id, str) or not user_id:
        raise ValueError("user_id must be a non-empty string")
    condition: dict[str, Any] = {"user_id": {"$eq": user_id}}
    if not extra:
        return condition
    return {"$and": [condition, *({k: v} for k, v in extra.items())]}


def example_id(user_id: str, item_id: str) -> str:
    """Stable record id of one user's history item (rebuilding upserts in place)."""
    return hashlib.sha256(f"{user_id}\x00{item_id}".encode()).hexdigest()[:32]


def _profile_id(user_id: str) -> str:
    return "profile-" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def _embedding_name(embeddings: Embeddings) -> str:
    for attr in ("model_name", "model"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(embeddings).__name__


def default_client(path: str | Path | None = None) -> Any:
    """An embedded Chroma ``PersistentClient`` with telemetry off."""
    import chromadb
    from chromadb.config import Settings

    folder = Path(path) if path is not None else DEFAULT_STORE_PATH
    folder.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(folder), settings=Settings(anonymized_telemetry=False))


class RPMStore:
    """Stores reasoning examples and profiles per user in Chroma.

    Args:
        path: Folder of the embedded store (default ``~/.langchain_rpm/store`` or ``RPM_STORE_PATH``).
        client: A ready ``chromadb`` client (``HttpClient``, ``CloudClient``, ...); overrides ``path``.
        embeddings: Embeds feature text; default: the local MiniLM model.
        namespace: Prefix of the two collections (``{namespace}_examples``, ``{namespace}_profiles``).

    Example:
        >>> import tempfile
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
        >>> store.get_profile("nobody") is None
        True
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        client: Any = None,
        embeddings: Embeddings | None = None,
        namespace: str = "rpm",
    ) -> None:
        if embeddings is None:
            from langchain_rpm.embeddings import default_embeddings

            embeddings = default_embeddings()
        self.embeddings = embeddings
        self.embedding_model = _embedding_name(embeddings)
        self.client = client if client is not None else default_client(path)
        self.namespace = namespace
        self._examples: Any = None
        self._profiles: Any = None

    # -- collections -----------------------------------------------------------------------------------
    @property
    def examples(self) -> Any:
        """The examples collection (created on first use, checked against the embedding model)."""
        if self._examples is None:
            self._examples = self._open(f"{self.namespace}_examples", check_embeddings=True)
        return self._examples

    @property
    def profiles(self) -> Any:
        """The profiles collection."""
        if self._profiles is None:
            self._profiles = self._open(f"{self.namespace}_profiles", check_embeddings=False)
        return self._profiles

    def _open(self, name: str, *, check_embeddings: bool) -> Any:
        metadata = {"embedding_model": self.embedding_model} if check_embeddings else {"kind": "profiles"}
        collection = self.client.get_or_create_collection(
            name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=metadata
        )
        stored = (collection.metadata or {}).get("embedding_model")
        if check_embeddings and stored and stored != self.embedding_model:
            raise EmbeddingMismatchError(
                f"collection {name!r} was built with embedding model {stored!r}, but this store was given "
                f"{self.embedding_model!r}. Pass the same embeddings, use another namespace=..., or delete the "
                f"users (`rpm forget`) and rebuild them with the new model."
            )
        return collection

    def _batches(self, size: int) -> Iterator[tuple[int, int]]:
        step = max(1, int(self.client.get_max_batch_size()))
        for start in range(0, size, step):
            yield start, min(size, start + step)

    # -- examples --------------------------------------------------------------------------------------
    def add_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Embed and upsert ``examples`` for ``user_id``; returns their record ids (idempotent)."""
        user_filter(user_id)
        if not examples:
            return []
        texts = [features_text(ex.features) or ex.input for ex in examples]
        vectors = self.embeddings.embed_documents(texts)
        return self._upsert_examples(user_id, examples, texts, vectors, profile_version)

    async def aadd_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Async twin of :meth:`add_examples` (the embedding model's async API, then a threaded write)."""
        user_filter(user_id)
        if not examples:
            return []
        texts = [features_text(ex.features) or ex.input for ex in examples]
        vectors = await self.embeddings.aembed_documents(texts)
        return await asyncio.to_thread(self._upsert_examples, user_id, examples, texts, vectors, profile_version)

    def _upsert_examples(
        self,
        user_id: str,
        examples: Sequence[ReasoningExample],
        texts: list[str],
        vectors: list[list[float]],
        profile_version: int,
    ) -> list[str]:
        ids = [example_id(user_id, ex.item_id) for ex in examples]
        metadatas = [
            {
                "user_id": user_id,
                "item_id": ex.item_id,
                "answer": ex.answer,
                "profile_version": profile_version,
                "example": ex.model_dump_json(),
            }
            for ex in examples
        ]
        for start, stop in self._batches(len(ids)):
            self.examples.upsert(
                ids=ids[start:stop],
                embeddings=vectors[start:stop],
                documents=texts[start:stop],
                metadatas=metadatas[start:stop],
            )
        return ids

    def replace_user_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Upsert ``examples`` and delete the user's other examples (items no longer in the history)."""
        ids = self.add_examples(user_id, examples, profile_version=profile_version)
        self._delete_other_examples(user_id, set(ids))
        return ids

    async def areplace_user_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Async twin of :meth:`replace_user_examples`."""
        ids = await self.aadd_examples(user_id, examples, profile_version=profile_version)
        await asyncio.to_thread(self._delete_other_examples, user_id, set(ids))
        return ids

    def _delete_other_examples(self, user_id: str, keep: set[str]) -> int:
        stored = self.examples.get(where=user_filter(user_id), include=[]).get("ids") or []
        stale = [record_id for record_id in stored if record_id not in keep]
        for start, stop in self._batches(len(stale)):
            self.examples.delete(ids=stale[start:stop])
        return len(stale)

    def search(
        self, user_id: str, features: Sequence[Feature] | str, k: int = 4, *, where: dict[str, Any] | None = None
    ) -> list[RetrievedExample]:
        """The user's ``k`` examples most similar (cosine) to ``features`` (or to a raw text)."""
        text = features if isinstance(features, str) else features_text(features)
        return self.search_by_vector(user_id, self.embeddings.embed_query(text), k, where=where)

    async def asearch(
        self, user_id: str, features: Sequence[Feature] | str, k: int = 4, *, where: dict[str, Any] | None = None
    ) -> list[RetrievedExample]:
        """Async twin of :meth:`search`."""
        text = features if isinstance(features, str) else features_text(features)
        vector = await self.embeddings.aembed_query(text)
        return await asyncio.to_thread(self.search_by_vector, user_id, vector, k, where=where)

    def search_by_vector(
        self, user_id: str, vector: Sequence[float], k: int = 4, *, where: dict[str, Any] | None = None
    ) -> list[RetrievedExample]:
        """Nearest examples of ``user_id`` to an already computed query vector."""
        if k <= 0:
            return []
        result = self.examples.query(
            query_embeddings=[list(vector)],
            n_results=k,
            where=user_filter(user_id, where),
            include=["metadatas", "distances"],
        )
        metadatas = (result.get("metadatas") or [[]])[0]
        distances = (result.get("distances") or [[]])[0]
        hits = []
        for meta, distance in zip(metadatas, distances, strict=True):
            if meta.get("user_id") != user_id:  # defence in depth: the filter already scopes the read
                continue
            example = ReasoningExample.model_validate_json(meta["example"])
            hits.append(RetrievedExample(example=example, score=1.0 - float(distance)))
        return hits

    def get_examples(self, user_id: str) -> list[ReasoningExample]:
        """All stored examples of ``user_id``, ordered by item id."""
        result = self.examples.get(where=user_filter(user_id), include=["metadatas"])
        examples = [ReasoningExample.model_validate_json(m["example"]) for m in result.get("metadatas") or []]
        return sorted(examples, key=lambda ex: ex.item_id)

    # -- profiles --------------------------------------------------------------------------------------
    def save_profile(self, profile: UserProfile) -> None:
        """Store (replace) a user's profile."""
        self.profiles.upsert(
            ids=[_profile_id(profile.user_id)],
            embeddings=[_PROFILE_VECTOR],
            documents=[profile.model_dump_json()],
            metadatas=[{"user_id": profile.user_id, "version": profile.version}],
        )

    def get_profile(self, user_id: str) -> UserProfile | None:
        """The stored profile of ``user_id``, or ``None``."""
        result = self.profiles.get(ids=[_profile_id(user_id)], where=user_filter(user_id), include=["documents"])
        documents = result.get("documents") or []
        return UserProfile.model_validate_json(documents[0]) if documents else None

    async def aget_profile(self, user_id: str) -> UserProfile | None:
        """Async twin of :meth:`get_profile`."""
        return await asyncio.to_thread(self.get_profile, user_id)

    async def asave_profile(self, profile: UserProfile) -> None:
        """Async twin of :meth:`save_profile`."""
        await asyncio.to_thread(self.save_profile, profile)

    # -- users -----------------------------------------------------------------------------------------
    def list_users(self) -> list[str]:
        """Ids of all users with a stored profile, sorted."""
        result = self.profiles.get(include=["metadatas"])
        return sorted({m["user_id"] for m in result.get("metadatas") or []})

    def delete_user(self, user_id: str) -> int:
        """Delete one user's examples and profile, nothing else; returns the number of examples removed."""
        removed = self._delete_other_examples(user_id, keep=set())
        self.profiles.delete(ids=[_profile_id(user_id)])
        return removed
