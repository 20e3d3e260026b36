"""The Chroma-backed example store: reasoning-enhanced examples and user profiles.

Embedded by default (a ``PersistentClient`` on a local folder). Pass ``client=`` to use any other
``chromadb`` client: a server (``HttpClient``, or :meth:`RPMStore.from_server`), Chroma Cloud, or an
``AsyncHttpClient`` (:meth:`RPMStore.afrom_server`) for real async I/O. Examples are embedded by the
concatenated text of their features, always with explicit embeddings (Chroma's own downloading
embedding function is never used). User ids live in metadata, and every read is filtered by exactly
one user (:func:`user_filter`).

Search is exact and reads by id. Each user has a *manifest* (a record in the profiles collection that
lists the ids of the user's examples); search fetches those vectors by id and ranks them by cosine in
numpy. On 100,000 records and 2 cores Chroma's filtered HNSW query takes ~110 ms for a 50-example user
(and is approximate), and any filtered ``get`` ~10 ms because Chroma scans, while a ``get`` by id takes
~0.2 ms (``benchmarks/results/retrieval.md``). Every write rewrites the manifest from the stored records
*before* writing new ones, so it may list ids that were never written (ignored) but never misses one;
a store without manifests is searched through the user filter. Users with more than
``exact_search_limit`` examples fall back to Chroma's filtered query. Writes for one user are meant to
come from one writer at a time (the user's profile build).

Every operation is written once, as a generator that yields the I/O it needs (a Chroma call or an
embedding) and receives the result. A sync driver and an async driver run the same generator, so the
sync and async methods cannot drift apart.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> store.list_users()
    []
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.embeddings import Embeddings

from langchain_rpm.errors import AsyncClientError, ConfigurationError, EmbeddingMismatchError
from langchain_rpm.plans import Call, Plan, arun, run
from langchain_rpm.store.records import (
    declared_dimension,
    default_client,
    embedding_name,
    example_records,
    features_text,
    hits,
    manifest_id,
    profile_id,
    query_text,
    rank,
    slices,
    user_filter,
)
from langchain_rpm.types import Feature, ReasoningExample, RetrievedExample, UserProfile

_PROFILE_VECTOR = [1.0]  # profiles are fetched by id only; Chroma still needs a vector per record.
_PROBE_TEXT = "embedding dimension probe"
_MANIFEST_KIND = "example_ids"  # metadata ``kind`` of the per-user list of example record ids

T = TypeVar("T")


def _call(target: Any, method: str, kwargs: dict[str, Any] | None = None) -> Call:
    """A Chroma client or collection call (awaited on an async client, in a worker thread on a sync one).

    On an async client the sync driver gets a coroutine it cannot run; :func:`_sync_only` refuses it.
    """
    function = getattr(target, method)
    if inspect.iscoroutinefunction(function):
        return Call(_sync_only(type(target).__name__, method), afn=function, kwargs=kwargs or {})
    return Call(function, kwargs=kwargs or {})


def _sync_only(owner: str, method: str) -> Any:
    def refuse(**kwargs: Any) -> Any:
        raise AsyncClientError(
            f"{owner}.{method} is async, but it was called from sync code: use the async methods "
            "(ainvoke, apersonalize, abuild_user, store.a...) with an AsyncHttpClient store, or a sync client"
        )

    return refuse


class RPMStore:
    """Stores reasoning examples and profiles per user in Chroma.

    Args:
        path: Folder of the embedded store (default ``~/.langchain_rpm/store`` or ``RPM_STORE_PATH``).
        client: A ready ``chromadb`` client (``HttpClient``, ``AsyncHttpClient``, ``CloudClient``, ...);
            overrides ``path``. With an async client only the ``a*`` methods work.
        embeddings: Embeds feature text; default: the local MiniLM model.
        namespace: Prefix of the two collections (``{namespace}_examples``, ``{namespace}_profiles``).
        exact_search_limit: Most examples of one user ranked exactly in numpy; above it, search falls back
            to Chroma's (approximate, slower) filtered HNSW query.

    The examples collection records the embedding model's name and dimension; opening it with other
    embeddings raises :class:`EmbeddingMismatchError`. The dimension comes from the embeddings'
    ``dimension``/``dimensions``/``size`` attribute, else from the first vector this store computes.

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
        exact_search_limit: int = 5000,
    ) -> None:
        if embeddings is None:
            from langchain_rpm.embeddings import default_embeddings

            embeddings = default_embeddings()
        self.embeddings = embeddings
        self.embedding_model = embedding_name(embeddings)
        self.embedding_dimension = declared_dimension(embeddings)
        self.client = client if client is not None else default_client(path)
        self.namespace = namespace
        if exact_search_limit < 0:
            raise ConfigurationError(f"exact_search_limit must be >= 0, got {exact_search_limit}")
        self.exact_search_limit = exact_search_limit
        self.is_async = inspect.iscoroutinefunction(getattr(self.client, "get_or_create_collection", None))
        self._collections: dict[str, Any] = {}
        self._batch: int | None = None

    @classmethod
    def from_server(cls, host: str = "localhost", port: int = 8000, *, ssl: bool = False, **kwargs: Any) -> RPMStore:
        """A store on a Chroma server (``chroma run``) through a sync ``chromadb.HttpClient``.

        ``kwargs`` go to the constructor (``embeddings``, ``namespace``, ...).

        Example:
            >>> store = RPMStore.from_server("127.0.0.1", 8000)  # doctest: +SKIP
        """
        import chromadb
        from chromadb.config import Settings

        client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=Settings(anonymized_telemetry=False))
        return cls(client=client, **kwargs)

    @classmethod
    async def afrom_server(
        cls, host: str = "localhost", port: int = 8000, *, ssl: bool = False, **kwargs: Any
    ) -> RPMStore:
        """A store on a Chroma server through ``chromadb.AsyncHttpClient`` (use the ``a*`` methods).

        Example:
            >>> store = await RPMStore.afrom_server("127.0.0.1", 8000)  # doctest: +SKIP
            >>> await store.alist_users()  # doctest: +SKIP
            []
        """
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        client = await chromadb.AsyncHttpClient(host=host, port=port, ssl=ssl, settings=settings)
        return cls(client=client, **kwargs)

    # -- driver --------------------------------------------------------------------------------------
    def _run(self, plan: Plan[T], name: str, *, method: bool = True) -> T:
        if self.is_async:
            plan.close()
            what, hint = (f"{name}()", f"a{name}") if method else (name, "asearch")
            raise AsyncClientError(
                f"RPMStore.{what} is sync, but this store's Chroma client ({type(self.client).__name__}) is "
                f"async: use the async methods (`await store.{hint}(...)`) instead, or create the store with a "
                "sync client (chromadb.HttpClient / RPMStore.from_server, or a PersistentClient)."
            )
        return run(plan)

    async def _arun(self, plan: Plan[T]) -> T:
        return await arun(plan)

    # -- collections -----------------------------------------------------------------------------------
    def _embed(self, texts: list[str], *, query: bool = False) -> Plan[list[list[float]]]:
        if query:
            vector = yield Call(self.embeddings.embed_query, self.embeddings.aembed_query, (texts[0],))
            vectors: list[list[float]] = [vector]
        else:
            vectors = yield Call(self.embeddings.embed_documents, self.embeddings.aembed_documents, (list(texts),))
        if self.embedding_dimension is None and vectors:
            self.embedding_dimension = len(vectors[0])
        return vectors

    def _collection(self, kind: str) -> Plan[Any]:
        cached = self._collections.get(kind)
        if cached is not None:
            return cached
        name = f"{self.namespace}_{kind}"
        metadata: dict[str, Any] = {"kind": kind}
        if kind == "examples":
            if self.embedding_dimension is None:
                yield from self._embed([_PROBE_TEXT], query=True)
            metadata = {"embedding_model": self.embedding_model, "embedding_dimension": self.embedding_dimension}
        options = {"embedding_function": None, "configuration": {"hnsw": {"space": "cosine"}}, "metadata": metadata}
        collection = yield _call(self.client, "get_or_create_collection", {"name": name, **options})
        if kind == "examples":
            self._check_embeddings(name, collection.metadata or {})
        self._collections[kind] = collection
        return collection

    def _check_embeddings(self, name: str, stored: dict[str, Any]) -> None:
        model, dim = stored.get("embedding_model"), stored.get("embedding_dimension")
        if (model is None or model == self.embedding_model) and (dim is None or dim == self.embedding_dimension):
            return
        raise EmbeddingMismatchError(
            f"collection {name!r} was built with embedding model {model!r} (dimension {dim}), but this store was "
            f"given {self.embedding_model!r} (dimension {self.embedding_dimension}); vectors of different models "
            "cannot be compared. Pass the embeddings the store was built with, or use another namespace=... for "
            f"the new model and rebuild the users there (or drop the old collections with "
            f"client.delete_collection({name!r}) and client.delete_collection('{self.namespace}_profiles'), "
            "then rebuild)."
        )

    def _batch_size(self) -> Plan[int]:
        if self._batch is None:
            self._batch = max(1, int((yield _call(self.client, "get_max_batch_size"))))
        return self._batch

    @property
    def examples(self) -> Any:
        """The examples collection (created on first use, checked against the embedding model)."""
        return self._run(self._collection("examples"), "examples", method=False)

    @property
    def profiles(self) -> Any:
        """The profiles collection."""
        return self._run(self._collection("profiles"), "profiles", method=False)

    # -- plans: each operation once, for both drivers ----------------------------------------------------
    def _stored_ids(self, user_id: str) -> Plan[list[str]]:
        """The user's example record ids, read with the user filter (authoritative, ~10 ms at 100k records)."""
        collection = yield from self._collection("examples")
        stored = yield _call(collection, "get", {"where": user_filter(user_id), "include": []})
        return list(stored.get("ids") or [])

    def _read_manifest(self, user_id: str) -> Plan[list[str] | None]:
        profiles = yield from self._collection("profiles")
        request = {"ids": [manifest_id(user_id)], "where": user_filter(user_id), "include": ["documents"]}
        documents = (yield _call(profiles, "get", request)).get("documents") or []
        return list(json.loads(documents[0])) if documents else None

    def _write_manifest(self, user_id: str, ids: set[str]) -> Plan[None]:
        profiles = yield from self._collection("profiles")
        record = {
            "ids": [manifest_id(user_id)],
            "embeddings": [_PROFILE_VECTOR],
            "documents": [json.dumps(sorted(ids))],
            "metadatas": [{"user_id": user_id, "kind": _MANIFEST_KIND}],
        }
        yield _call(profiles, "upsert", record)

    def _add_plan(self, user_id: str, examples: Sequence[ReasoningExample], version: int) -> Plan[list[str]]:
        user_filter(user_id)
        if not examples:
            return []
        texts = [features_text(ex.features) or ex.input for ex in examples]
        vectors = yield from self._embed(texts)
        records = example_records(user_id, examples, texts, vectors, version)
        # The manifest first, rebuilt from the stored records: after a crash it may list ids that were never
        # written (ignored by search), but it never misses a stored one.
        stored = yield from self._stored_ids(user_id)
        yield from self._write_manifest(user_id, {*stored, *records["ids"]})
        collection = yield from self._collection("examples")
        for batch in slices(records, (yield from self._batch_size())):
            yield _call(collection, "upsert", batch)
        return list(records["ids"])

    def _delete_examples_plan(self, user_id: str, keep: set[str]) -> Plan[int]:
        stale = [record_id for record_id in (yield from self._stored_ids(user_id)) if record_id not in keep]
        collection = yield from self._collection("examples")
        for batch in slices({"ids": stale}, (yield from self._batch_size())):
            yield _call(collection, "delete", batch)
        return len(stale)

    def _replace_plan(self, user_id: str, examples: Sequence[ReasoningExample], version: int) -> Plan[list[str]]:
        ids = yield from self._add_plan(user_id, examples, version)
        yield from self._delete_examples_plan(user_id, set(ids))
        yield from self._write_manifest(user_id, set(ids))
        return ids

    def search_plan(
        self, user_id: str, query: str | list[float], k: int, where: dict[str, Any] | None = None
    ) -> Plan[list[RetrievedExample]]:
        """Exact cosine top-``k`` of the user's examples for a text (embedded here) or a ready vector."""
        flt = user_filter(user_id, where)
        if k <= 0:
            return []
        vector = (yield from self._embed([query], query=True))[0] if isinstance(query, str) else query
        collection = yield from self._collection("examples")
        limit = self.exact_search_limit
        manifest = yield from self._read_manifest(user_id)
        # By id when the manifest is there (~0.2 ms), else with the user filter (Chroma scans: ~10 ms at 100k).
        request = {"ids": manifest[: limit + 1]} if manifest is not None else {"limit": limit + 1}
        found = yield _call(collection, "get", {**request, "where": flt, "include": ["embeddings"]})
        ids = found.get("ids") or []
        if not ids:
            return []
        if len(ids) > limit:  # a very large user: Chroma's filtered HNSW query (approximate)
            query_args = {"query_embeddings": [vector], "n_results": k, "where": flt}
            result = yield _call(collection, "query", {**query_args, "include": ["metadatas", "distances"]})
            distances = (result.get("distances") or [[]])[0]
            return hits(user_id, (result.get("metadatas") or [[]])[0], [1.0 - float(d) for d in distances])
        ranked = rank(found.get("embeddings"), vector, k)
        top_ids = [ids[row] for row, _ in ranked]
        got = yield _call(collection, "get", {"ids": top_ids, "where": flt, "include": ["metadatas"]})
        by_id = dict(zip(got.get("ids") or [], got.get("metadatas") or [], strict=True))
        kept = [(by_id[ids[row]], score) for row, score in ranked if ids[row] in by_id]
        return hits(user_id, [meta for meta, _ in kept], [score for _, score in kept])

    def examples_plan(self, user_id: str) -> Plan[list[ReasoningExample]]:
        """All stored examples of ``user_id``, ordered by item id, as a plan."""
        collection = yield from self._collection("examples")
        result = yield _call(collection, "get", {"where": user_filter(user_id), "include": ["metadatas"]})
        examples = [ReasoningExample.model_validate_json(m["example"]) for m in result.get("metadatas") or []]
        return sorted(examples, key=lambda ex: ex.item_id)

    def _save_profile_plan(self, profile: UserProfile) -> Plan[None]:
        user_filter(profile.user_id)
        collection = yield from self._collection("profiles")
        record = {
            "ids": [profile_id(profile.user_id)],
            "embeddings": [_PROFILE_VECTOR],
            "documents": [profile.model_dump_json()],
            "metadatas": [{"user_id": profile.user_id, "version": profile.version}],
        }
        yield _call(collection, "upsert", record)

    def profile_plan(self, user_id: str) -> Plan[UserProfile | None]:
        """The stored profile of ``user_id`` (or ``None``), as a plan."""
        flt = user_filter(user_id)
        collection = yield from self._collection("profiles")
        result = yield _call(collection, "get", {"ids": [profile_id(user_id)], "where": flt, "include": ["documents"]})
        documents = result.get("documents") or []
        return UserProfile.model_validate_json(documents[0]) if documents else None

    def commit_plan(
        self,
        user_id: str,
        examples: Sequence[ReasoningExample],
        *,
        replace: bool,
        make_profile: Callable[[list[ReasoningExample], UserProfile | None], UserProfile],
    ) -> Plan[UserProfile]:
        """Store a build's ``examples`` and the profile ``make_profile`` computes over what is then stored.

        ``replace`` makes ``examples`` the user's whole set (their other examples are deleted); else
        they are added to what is stored. ``make_profile(all_examples, previous_profile)`` sees the
        user's examples as they will be after the write, so the statistics describe exactly them.
        """
        user_filter(user_id)
        previous = yield from self.profile_plan(user_id)
        kept = {ex.item_id: ex for ex in ([] if replace else (yield from self.examples_plan(user_id)))}
        kept.update((ex.item_id, ex) for ex in examples)
        profile = make_profile(sorted(kept.values(), key=lambda ex: ex.item_id), previous)
        if replace:
            yield from self._replace_plan(user_id, examples, profile.version)
        else:
            yield from self._add_plan(user_id, examples, profile.version)
        yield from self._save_profile_plan(profile)
        return profile

    def _list_users_plan(self) -> Plan[list[str]]:
        collection = yield from self._collection("profiles")
        size = yield from self._batch_size()
        users: set[str] = set()
        offset = 0
        while True:
            page = yield _call(collection, "get", {"include": ["metadatas"], "limit": size, "offset": offset})
            metadatas = page.get("metadatas") or []
            users.update(m["user_id"] for m in metadatas if m.get("kind") != _MANIFEST_KIND)
            if len(metadatas) < size:
                return sorted(users)
            offset += size

    def _delete_user_plan(self, user_id: str) -> Plan[int]:
        removed = yield from self._delete_examples_plan(user_id, keep=set())
        profiles = yield from self._collection("profiles")
        yield _call(profiles, "delete", {"ids": [profile_id(user_id), manifest_id(user_id)]})
        return removed

    # -- examples --------------------------------------------------------------------------------------
    def add_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Embed and upsert ``examples`` for ``user_id`` in batches; returns their record ids (idempotent).

        Example:
            >>> import tempfile
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
            >>> ex = ReasoningExample(item_id="1", input="A space opera.", features=[Feature(name="space")],
            ...                       reasoning="I like space.", answer="sci-fi")
            >>> len(store.add_examples("ada", [ex]))
            1
        """
        return self._run(self._add_plan(user_id, examples, profile_version), "add_examples")

    async def aadd_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Async :meth:`add_examples`."""
        return await self._arun(self._add_plan(user_id, examples, profile_version))

    def replace_user_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Upsert ``examples`` and delete the user's other examples (items no longer in the history)."""
        return self._run(self._replace_plan(user_id, examples, profile_version), "replace_user_examples")

    async def areplace_user_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Async :meth:`replace_user_examples`."""
        return await self._arun(self._replace_plan(user_id, examples, profile_version))

    def search(
        self, user_id: str, features: Sequence[Feature] | str, k: int = 4, *, where: dict[str, Any] | None = None
    ) -> list[RetrievedExample]:
        """The user's ``k`` examples most similar (cosine) to ``features`` (or to a raw text), best first.

        ``where`` adds Chroma metadata conditions (``answer``, ``item_id``, ``profile_version``); it can
        narrow the user's examples but may not mention ``user_id``.

        Example:
            >>> import tempfile
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
            >>> store.search("ada", [Feature(name="space", factor="Setting")], k=2)
            []
        """
        return self._run(self.search_plan(user_id, query_text(features), k, where), "search")

    async def asearch(
        self, user_id: str, features: Sequence[Feature] | str, k: int = 4, *, where: dict[str, Any] | None = None
    ) -> list[RetrievedExample]:
        """Async :meth:`search`."""
        return await self._arun(self.search_plan(user_id, query_text(features), k, where))

    def search_by_vector(
        self, user_id: str, vector: Sequence[float], k: int = 4, *, where: dict[str, Any] | None = None
    ) -> list[RetrievedExample]:
        """Nearest examples of ``user_id`` to an already computed query vector."""
        return self._run(self.search_plan(user_id, [float(x) for x in vector], k, where), "search_by_vector")

    async def asearch_by_vector(
        self, user_id: str, vector: Sequence[float], k: int = 4, *, where: dict[str, Any] | None = None
    ) -> list[RetrievedExample]:
        """Async :meth:`search_by_vector`."""
        return await self._arun(self.search_plan(user_id, [float(x) for x in vector], k, where))

    def get_examples(self, user_id: str) -> list[ReasoningExample]:
        """All stored examples of ``user_id``, ordered by item id."""
        return self._run(self.examples_plan(user_id), "get_examples")

    async def aget_examples(self, user_id: str) -> list[ReasoningExample]:
        """Async :meth:`get_examples`."""
        return await self._arun(self.examples_plan(user_id))

    # -- profiles --------------------------------------------------------------------------------------
    def save_profile(self, profile: UserProfile) -> None:
        """Store (replace) a user's profile."""
        self._run(self._save_profile_plan(profile), "save_profile")

    async def asave_profile(self, profile: UserProfile) -> None:
        """Async :meth:`save_profile`."""
        await self._arun(self._save_profile_plan(profile))

    def get_profile(self, user_id: str) -> UserProfile | None:
        """The stored profile of ``user_id``, or ``None``."""
        return self._run(self.profile_plan(user_id), "get_profile")

    async def aget_profile(self, user_id: str) -> UserProfile | None:
        """Async :meth:`get_profile`."""
        return await self._arun(self.profile_plan(user_id))

    # -- users -----------------------------------------------------------------------------------------
    def list_users(self) -> list[str]:
        """Ids of all users with a stored profile, sorted."""
        return self._run(self._list_users_plan(), "list_users")

    async def alist_users(self) -> list[str]:
        """Async :meth:`list_users`."""
        return await self._arun(self._list_users_plan())

    def delete_user(self, user_id: str) -> int:
        """Delete one user's examples and profile, nothing else; returns the number of examples removed.

        Example:
            >>> import tempfile
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)).delete_user("ada")
            0
        """
        return self._run(self._delete_user_plan(user_id), "delete_user")

    async def adelete_user(self, user_id: str) -> int:
        """Async :meth:`delete_user`."""
        return await self._arun(self._delete_user_plan(user_id))
