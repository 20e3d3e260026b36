"""The Chroma-backed example store: reasoning-enhanced examples and user profiles.

Embedded by default (a ``PersistentClient`` on a local folder). Pass ``client=`` to use any other
``chromadb`` client: a server (``HttpClient``, or :meth:`RPMStore.from_server`), Chroma Cloud, or an
``AsyncHttpClient`` (:meth:`RPMStore.afrom_server`) for real async I/O. Examples are embedded by the
concatenated text of their features, always with explicit embeddings (Chroma's own downloading
embedding function is never used). User ids live in metadata, and every read is filtered by exactly
one user (:func:`~langchain_rpm.store.records.user_filter`).

Search is exact and reads by id: each user's *manifest* lists exactly the ids of their current examples
(:mod:`~langchain_rpm.store.reads`). Writes are copy-on-write and serialised per user, across threads,
asyncio tasks, processes on one embedded folder and clients of one server (:mod:`~langchain_rpm.store.writes`,
:mod:`~langchain_rpm.store.locks`); a waiting writer gives up after ``lock_timeout`` with
:class:`~langchain_rpm.errors.StoreLockTimeout`.

Every operation is written once, as a generator that yields the I/O it needs (a Chroma call or an
embedding) and receives the result. A sync driver and an async driver run the same generator, so the
sync and async methods cannot drift apart.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
    >>> store.list_users(), store.coordinator.kind
    ([], 'embedded')
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from langchain_core.embeddings import Embeddings

from langchain_rpm.errors import AsyncClientError, ConfigurationError
from langchain_rpm.plans import Call, Plan, arun, offloaded, run
from langchain_rpm.store import reads, writes
from langchain_rpm.store.folder import embedded_folder
from langchain_rpm.store.handles import open_collection
from langchain_rpm.store.io import call
from langchain_rpm.store.leases import coordinator_for
from langchain_rpm.store.records import declared_dimension, default_client, embedding_name, query_text
from langchain_rpm.types import Feature, ReasoningExample, RetrievedExample, UserProfile

T = TypeVar("T")


class RPMStore:
    """Stores reasoning examples and profiles per user in Chroma.

    Args:
        path: Folder of the embedded store (default ``~/.langchain_rpm/store`` or ``RPM_STORE_PATH``).
        client: A ready ``chromadb`` client (``HttpClient``, ``AsyncHttpClient``, ``CloudClient``, ...);
            overrides ``path``. With an async client only the ``a*`` methods work.
        embeddings: Embeds feature text; default: the local MiniLM model.
        namespace: Prefix of the collections (``{namespace}_examples``, ``_profiles``, ``_leases``).
        exact_search_limit: Most examples of one user ranked exactly in numpy; above it, search falls back
            to Chroma's (approximate, slower) filtered HNSW query.
        lock_timeout: Seconds a write waits for the user's write lock before :class:`StoreLockTimeout`.
        lease_ttl: Seconds a server write lease lasts (a crashed writer's lease expires after it).
        layout: ``"shared"`` (one examples collection for all users, the default) or ``"per_user"`` (one
            collection per user, named by a digest of the id: Chroma's advice for multi-tenant servers;
            see ``benchmarks/results/layouts.md``). Profiles and manifests stay in one collection.

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
        lock_timeout: float = 120.0,
        lease_ttl: float = 120.0,
        layout: Literal["shared", "per_user"] = "shared",
    ) -> None:
        if embeddings is None:
            from langchain_rpm.embeddings import default_embeddings

            embeddings = default_embeddings()
        self.embeddings = embeddings
        self.embedding_model = embedding_name(embeddings)
        self.embedding_dimension = declared_dimension(embeddings)
        if min(exact_search_limit, lock_timeout) < 0 or lease_ttl <= 0:
            got = f"{exact_search_limit=}, {lock_timeout=}, {lease_ttl=}"
            raise ConfigurationError(f"need exact_search_limit >= 0, lock_timeout >= 0 and lease_ttl > 0; got {got}")
        if layout not in ("shared", "per_user"):
            raise ConfigurationError(f"layout must be 'shared' or 'per_user', got {layout!r}")
        self.exact_search_limit = exact_search_limit
        self.namespace, self.layout = namespace, layout
        self._client = client if client is not None else default_client(path)
        self.folder = embedded_folder(self._client)
        self.is_async = inspect.iscoroutinefunction(getattr(self._client, "get_or_create_collection", None))
        self.coordinator = coordinator_for(self, lock_timeout, lease_ttl)
        self.handles: OrderedDict[Hashable, Any] = OrderedDict()  # open collections (see store.handles)
        self.epoch = self.folder.epoch if self.folder is not None else 0
        self._batch: int | None = None

    @property
    def client(self) -> Any:
        """The Chroma client in use (for an embedded folder: reopened when another process wrote)."""
        return self.folder.client if self.folder is not None else self._client

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
                f"RPMStore.{what} is sync, but this store's Chroma client ({type(self._client).__name__}) is "
                f"async: use the async methods (`await store.{hint}(...)`) instead, or create the store with a "
                "sync client (chromadb.HttpClient / RPMStore.from_server, or a PersistentClient)."
            )
        return run(plan)

    async def _arun(self, plan: Plan[T]) -> T:
        return await arun(plan)

    def _read(self, plan: Plan[T]) -> Plan[T]:  # a sync client's read: one worker-thread hand-off when awaited
        return plan if self.is_async else offloaded(plan)

    # -- building blocks of the plans ----------------------------------------------------------------------
    def embed(self, texts: list[str], *, query: bool = False) -> Plan[list[list[float]]]:
        """Embed ``texts`` (a query: the first text only) as a plan; learns the dimension on first use."""
        if query:
            vector = yield Call(self.embeddings.embed_query, self.embeddings.aembed_query, (texts[0],))
            vectors: list[list[float]] = [vector]
        else:
            vectors = yield Call(self.embeddings.embed_documents, self.embeddings.aembed_documents, (list(texts),))
        if self.embedding_dimension is None and vectors:
            self.embedding_dimension = len(vectors[0])
        return vectors

    def collection(self, kind: str, user_id: str | None = None, *, create: bool = True) -> Plan[Any]:
        """The ``examples``, ``profiles`` or ``leases`` collection, as a plan (created on first use).

        In the ``per_user`` layout ``examples`` is the user's own collection; with ``create=False`` the
        plan returns ``None`` for a user who has none yet (reads never create collections).
        """
        return open_collection(self, kind, user_id, create=create)

    def batch_size(self) -> Plan[int]:
        """The client's max batch size, as a plan (asked once)."""
        if self._batch is None:
            self._batch = max(1, int((yield call(self.client, "get_max_batch_size"))))
        return self._batch

    @property
    def examples(self) -> Any:
        """The examples collection (shared layout; per user: :meth:`examples_collection`)."""
        if self.layout == "per_user":
            raise ConfigurationError("this store keeps one collection per user: use store.examples_collection(user)")
        return self._run(self.collection("examples"), "examples", method=False)

    def examples_collection(self, user_id: str) -> Any:
        """The collection holding ``user_id``'s examples (in the shared layout: everyone's), or ``None``."""
        return self._run(self.collection("examples", user_id, create=False), "examples", method=False)

    @property
    def profiles(self) -> Any:
        """The profiles collection."""
        return self._run(self.collection("profiles"), "profiles", method=False)

    # -- plans (for graphs that run them with their own driver) -------------------------------------------
    def search_plan(
        self, user_id: str, query: str | list[float], k: int, where: dict[str, Any] | None = None
    ) -> Plan[list[RetrievedExample]]:
        """:meth:`search` as a plan (``query``: a text or a vector); one worker-thread hand-off on a sync client."""
        return self._read(reads.search_plan(self, user_id, query, k, where))

    def examples_plan(self, user_id: str) -> Plan[list[ReasoningExample]]:
        """All current examples of ``user_id``, ordered by item id, as a plan."""
        return reads.examples_plan(self, user_id)

    def profile_plan(self, user_id: str) -> Plan[UserProfile | None]:
        """The stored profile of ``user_id`` (or ``None``), as a plan."""
        return self._read(reads.profile_plan(self, user_id))

    def query_context_plan(self, user_id: str) -> Plan[reads.QueryContext]:
        """The profile and what a search needs (:class:`~langchain_rpm.store.reads.QueryContext`): one read."""
        return self._read(reads.query_context_plan(self, user_id))

    def commit_plan(
        self,
        user_id: str,
        examples: Sequence[ReasoningExample],
        *,
        replace: bool,
        make_profile: writes.MakeProfile,
        expected_version: int | None = None,
    ) -> Plan[UserProfile]:
        """Store a build's ``examples`` and the profile ``make_profile`` computes over what is then stored.

        ``replace``: ``examples`` become the user's whole set; else they are added. Under the user's write
        lock, ``make_profile(all_examples, previous_profile)`` sees the examples as they will be after the
        write (concurrent writers' included), and examples and profile switch together (copy-on-write,
        :mod:`~langchain_rpm.store.writes`). ``expected_version``: refuse (``ConcurrentWriteError``) unless
        the stored profile still has this version.
        """
        result = yield from writes.write_plan(
            self, user_id, examples, replace=replace, make_profile=make_profile, expected_version=expected_version
        )
        assert result.profile is not None
        return result.profile

    # -- examples --------------------------------------------------------------------------------------
    def add_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Embed and store ``examples`` for ``user_id`` (same item id: replaced); returns their record ids.

        Example:
            >>> import tempfile
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
            >>> ex = ReasoningExample(item_id="1", input="A space opera.", features=[Feature(name="space")],
            ...                       reasoning="I like space.", answer="sci-fi")
            >>> len(store.add_examples("ada", [ex]))
            1
        """
        plan = writes.write_plan(self, user_id, examples, replace=False, version=profile_version)
        return self._run(plan, "add_examples").ids

    async def aadd_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Async :meth:`add_examples`."""
        plan = writes.write_plan(self, user_id, examples, replace=False, version=profile_version)
        return (await self._arun(plan)).ids

    def replace_user_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Make ``examples`` the user's whole set (the previous set stays readable until the switch)."""
        plan = writes.write_plan(self, user_id, examples, replace=True, version=profile_version)
        return self._run(plan, "replace_user_examples").ids

    async def areplace_user_examples(
        self, user_id: str, examples: Sequence[ReasoningExample], *, profile_version: int = 1
    ) -> list[str]:
        """Async :meth:`replace_user_examples`."""
        plan = writes.write_plan(self, user_id, examples, replace=True, version=profile_version)
        return (await self._arun(plan)).ids

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
        self._run(writes.save_profile_plan(self, profile), "save_profile")

    async def asave_profile(self, profile: UserProfile) -> None:
        """Async :meth:`save_profile`."""
        await self._arun(writes.save_profile_plan(self, profile))

    def get_profile(self, user_id: str) -> UserProfile | None:
        """The stored profile of ``user_id``, or ``None``."""
        return self._run(self.profile_plan(user_id), "get_profile")

    async def aget_profile(self, user_id: str) -> UserProfile | None:
        """Async :meth:`get_profile`."""
        return await self._arun(self.profile_plan(user_id))

    # -- users -----------------------------------------------------------------------------------------
    def list_users(self) -> list[str]:
        """Ids of all users with a stored profile, sorted."""
        return self._run(reads.list_users_plan(self), "list_users")

    async def alist_users(self) -> list[str]:
        """Async :meth:`list_users`."""
        return await self._arun(reads.list_users_plan(self))

    def delete_user(self, user_id: str) -> int:
        """Delete one user's example records, profile and manifest; returns the number of records removed.

        Chroma keeps deleted text in its files until :meth:`compact`; :func:`~langchain_rpm.privacy.forget_user`
        does both and also removes checkpoints and cached LLM replies.

        Example:
            >>> import tempfile
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)).delete_user("ada")
            0
        """
        return self._run(writes.delete_user_plan(self, user_id), "delete_user")

    async def adelete_user(self, user_id: str) -> int:
        """Async :meth:`delete_user`."""
        return await self._arun(writes.delete_user_plan(self, user_id))

    def compact(self) -> list[str]:
        """Make Chroma drop deleted records from its own files; returns one line per fact (see ``compaction``).

        Example:
            >>> import tempfile
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
            >>> any("VACUUM" in line for line in store.compact())
            True
        """
        from langchain_rpm.store.compaction import compact_plan

        return self._run(compact_plan(self), "compact")

    async def acompact(self) -> list[str]:
        """Async :meth:`compact`."""
        from langchain_rpm.store.compaction import compact_plan

        return await self._arun(compact_plan(self))
