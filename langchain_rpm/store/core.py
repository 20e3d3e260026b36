"""The example store: reasoning-enhanced examples and user profiles, on Chroma or a LangGraph ``BaseStore``.

Embedded Chroma by default (a ``PersistentClient`` on a local folder). Pass ``client=`` to use any other
``chromadb`` client: a server (``HttpClient``, or :meth:`RPMStore.from_server`), Chroma Cloud, or an
``AsyncHttpClient`` (:meth:`RPMStore.afrom_server`) for real async I/O. Examples are embedded by the
concatenated text of their features, always with explicit embeddings (Chroma's own downloading
embedding function is never used). User ids live in metadata, and every read is filtered by exactly
one user (:func:`~langchain_rpm.store._records.user_filter`).

Search is exact and reads by id: each user's *manifest* lists exactly the ids of their current examples
(:mod:`~langchain_rpm.store._reads`). Writes are copy-on-write and serialised per user, across threads,
asyncio tasks, processes on one embedded folder and clients of one server (:mod:`~langchain_rpm.store._writes`,
:mod:`~langchain_rpm.store._locks`); a waiting writer gives up after ``lock_timeout`` with
:class:`~langchain_rpm.errors.StoreLockTimeout`.

:meth:`RPMStore.from_langgraph` keeps the same records in any LangGraph ``BaseStore`` instead
(``InMemoryStore``, ``PostgresStore``, the store a LangGraph server injects; :meth:`RPMStore.from_postgres`
opens one from a URL), with the same guarantees (``docs/store.md``). The store's parts talk to a private
backend (:mod:`~langchain_rpm.store._backend`); this class is the public face over it.

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

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from langchain_core.embeddings import Embeddings

from langchain_rpm._plans import Plan, arun, offloaded, run, value
from langchain_rpm.errors import AsyncClientError
from langchain_rpm.store import _writes as writes
from langchain_rpm.store import portable
from langchain_rpm.store._ahead import Embedded
from langchain_rpm.store._backend import Backend, QueryContext
from langchain_rpm.store._chroma import ChromaBackend
from langchain_rpm.store._commit_queue import queue_for
from langchain_rpm.store._records import query_text
from langchain_rpm.store._views import ChromaView, LangGraphConstructors
from langchain_rpm.store._writes import UserWrite
from langchain_rpm.types import Feature, ReasoningExample, RetrievedExample, UserProfile

T = TypeVar("T")


class RPMStore(ChromaView, LangGraphConstructors):
    """Stores reasoning examples and profiles per user in Chroma (or a LangGraph ``BaseStore``).

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
        backend: Where the records live, instead of Chroma (use :meth:`from_langgraph`).

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
        backend: Backend | None = None,
    ) -> None:
        if backend is not None:
            self.backend: Backend = backend
            return
        if embeddings is None:
            from langchain_rpm.embeddings import default_embeddings

            embeddings = default_embeddings()
        self.backend = ChromaBackend(
            path,
            client=client,
            embeddings=embeddings,
            namespace=namespace,
            layout=layout,
            exact_search_limit=exact_search_limit,
            lock_timeout=lock_timeout,
            lease_ttl=lease_ttl,
        )

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

    def _read(self, plan: Plan[T]) -> Plan[T]:  # a sync client's read: one worker-thread hand-off when awaited
        return plan if self.is_async else offloaded(plan)

    # -- what every backend has ----------------------------------------------------------------------
    @property
    def embeddings(self) -> Embeddings:
        """The embeddings feature texts are embedded with."""
        return self.backend.embeddings

    @property
    def embedding_model(self) -> str:
        """The embedding model's name (recorded with the data; another one is refused)."""
        return self.backend.embedding_model

    @property
    def embedding_dimension(self) -> int | None:
        """The embeddings' dimension (``None`` until declared or first computed)."""
        return self.backend.embedding_dimension

    @property
    def coordinator(self) -> Any:
        """How writes of one user are serialised (:mod:`~langchain_rpm.store._locks`)."""
        return self.backend.coordinator

    @property
    def is_async(self) -> bool:
        """Whether only the ``a*`` methods work (an async Chroma client)."""
        return self.backend.is_async

    def embed(self, texts: list[str], *, query: bool = False) -> Plan[list[list[float]]]:
        """Embed ``texts`` (a query: the first text only) as a plan; learns the dimension on first use."""
        return self.backend.embed(texts, query=query)

    # -- plans (for graphs that run them with their own driver) -------------------------------------------
    def search_plan(
        self, user_id: str, query: str | list[float], k: int, where: dict[str, Any] | None = None
    ) -> Plan[list[RetrievedExample]]:
        """:meth:`search` as a plan (``query``: a text or a vector); one worker-thread hand-off on a sync client."""
        return self._read(self.backend.search_plan(user_id, query, k, where))

    def examples_plan(self, user_id: str) -> Plan[list[ReasoningExample]]:
        """All current examples of ``user_id``, ordered by item id, as a plan."""
        records = yield from self.backend.records_plan(user_id)
        return sorted((example for example, _ in records.values()), key=lambda ex: ex.item_id)

    def open_plan(self) -> Plan[None]:
        """Open what a first read needs (Chroma: the profiles collection), as a plan."""
        if self.backend.kind == "chroma":
            yield from self.collection("profiles")

    def profile_plan(self, user_id: str) -> Plan[UserProfile | None]:
        """The stored profile of ``user_id`` (or ``None``), as a plan."""
        return self._read(self.backend.profile_plan(user_id))

    @property
    def caches_queries(self) -> bool:
        """Whether this process keeps what queries read (an embedded folder, whose write generation says when stale)."""
        return getattr(self.backend, "folder", None) is not None

    def profile_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """:meth:`query_context_plan` where reads are kept, else the profile and the examples' manifest (one read)."""
        if self.caches_queries:
            context = yield from self.query_context_plan(user_id)
            return context
        return (yield from self._read(self.backend.profile_context_plan(user_id)))

    def query_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """The profile and what a search needs (:class:`~langchain_rpm.store._backend.QueryContext`): one read.

        No read at all when this process holds it under the store's current write generation (no thread hand-off).
        """
        cached = self.backend.cached_query_context(user_id)
        return value(cached) if cached is not None else self._read(self.backend.query_context_plan(user_id))

    def commit_plan(
        self,
        user_id: str,
        examples: Sequence[ReasoningExample],
        *,
        replace: bool,
        make_profile: writes.MakeProfile,
        expected_version: int | None = None,
        ahead: Mapping[str, Embedded] | None = None,
    ) -> Plan[UserProfile]:
        """Store a build's ``examples`` and the profile ``make_profile`` computes over what is then stored.

        ``replace``: ``examples`` become the user's whole set; else they are added. Under the user's write
        lock, ``make_profile(all_examples, previous_profile)`` sees the examples as they will be after the
        write (concurrent writers' included), and examples and profile switch together (copy-on-write,
        :mod:`~langchain_rpm.store._writes`). ``expected_version``: refuse (``ConcurrentWriteError``) unless
        the stored profile still has this version. Inside :func:`~langchain_rpm.store._commit_queue.group_commits`
        (bulk builds) the write joins the store's queue and goes in a group commit. ``ahead``: the examples
        embedded ahead of the commit, by item id (:mod:`~langchain_rpm.store._ahead`).
        """
        write = UserWrite(user_id, examples, make_profile, replace, expected_version=expected_version, ahead=ahead)
        queue = queue_for(self)
        result = yield from (queue.commit_plan(write) if queue is not None else writes.write_one_plan(self, write))
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

    # -- portable profiles (see :mod:`~langchain_rpm.store.portable`) ----------------------------------------
    def export_user(self, user_id: str) -> dict[str, Any]:
        """One user (profile, examples with their vectors, provenance) as a versioned JSON-ready document.

        Example:
            >>> from langchain_rpm.testing import demo_rpm
            >>> document = demo_rpm().store.export_user("ada")
            >>> document["format"], document["version"], len(document["examples"])
            ('langchain-rpm/user', 1, 3)
        """
        return self._run(portable.export_plan(self, user_id), "export_user")

    async def aexport_user(self, user_id: str) -> dict[str, Any]:
        """Async :meth:`export_user`."""
        return await self._arun(portable.export_plan(self, user_id))

    def import_user(self, document: dict[str, Any], *, replace: bool = False) -> UserProfile:
        """Store an exported user as it is (no LLM or embedding call); refused if stored, unless ``replace``."""
        return self._run(portable.import_plan(self, document, replace=replace), "import_user")

    async def aimport_user(self, document: dict[str, Any], *, replace: bool = False) -> UserProfile:
        """Async :meth:`import_user`."""
        return await self._arun(portable.import_plan(self, document, replace=replace))

    # -- users -----------------------------------------------------------------------------------------
    def list_users(self) -> list[str]:
        """Ids of all users with a stored profile, sorted."""
        return self._run(self.backend.list_users_plan(), "list_users")

    async def alist_users(self) -> list[str]:
        """Async :meth:`list_users`."""
        return await self._arun(self.backend.list_users_plan())

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
        return self._run(self.backend.compact_plan(), "compact")

    async def acompact(self) -> list[str]:
        """Async :meth:`compact`."""
        return await self._arun(self.backend.compact_plan())
