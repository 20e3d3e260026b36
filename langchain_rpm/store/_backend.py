"""The seam between :class:`~langchain_rpm.store.RPMStore` and where its records live (private).

A *backend* keeps three things per user: example records (each under a write's commit token), a head
(the exact ids of the current examples, switched together with the profile), and the profile. It offers
the handful of plans the store's parts need: reads, staging records, switching the head, deleting, and
the write lock (a :class:`~langchain_rpm.store._locks.Coordinator`). :mod:`~langchain_rpm.store._writes`
writes copy-on-write on any backend; :mod:`~langchain_rpm.store._chroma` (Chroma, the default) and
:mod:`~langchain_rpm.store._langgraph` (any LangGraph ``BaseStore``) implement it. Nothing here imports
the store's facade, so the parts depend on this module and never on ``RPMStore``.

Example:
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm._plans import run
    >>> embedder = Embedder(DeterministicFakeEmbedding(size=4))
    >>> len(run(embedder.embed(["a text"]))[0]), embedder.embedding_dimension
    (4, 4)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, TypeAdapter

from langchain_rpm._plans import Call, Plan
from langchain_rpm.store._locks import Coordinator
from langchain_rpm.store._records import declared_dimension, embedding_name, rank
from langchain_rpm.types import Factor, ReasoningExample, RetrievedExample, UserProfile

MakeProfile = Callable[[list[ReasoningExample], UserProfile | None], UserProfile]
Records = dict[str, tuple[ReasoningExample, int]]  # record id -> (example, profile_version), one per item


@dataclass(frozen=True)
class Staged:
    """New example records of one user, written by one commit (not yet current)."""

    ids: list[str]
    examples: Sequence[ReasoningExample]
    texts: list[str]
    vectors: list[list[float]]
    version: int
    commit: str
    exact: bool = False  # keep the vectors bit for bit (an import: see records.example_records)


@dataclass(frozen=True)
class Current:
    """What is stored for a user now, read once under the write lock."""

    records: Records
    exact: bool  # the head lists exactly the current ids (else: repaired from the records)
    profile: UserProfile | None
    every: list[str] | None = None  # every record id of the user (orphans too), when the read listed them


@dataclass(frozen=True)
class QueryContext:
    """What one query needs of the store, read at once: the profile and the user's current examples.

    ``stored`` is the profile, or its stored JSON: :attr:`profile` parses it at first use, :attr:`factors`
    alone at first use (what a query's steps read of a profile; the rest, such as the drift monitor's
    history of up to 50 records, is not parsed). Each context parses its own objects: a caller never shares
    one with another query. ``vectors`` are the current examples' embeddings and ``hit(row, score)`` turns a
    row into the retrieved example, so a search over them needs no further read; ``vectors`` is ``None`` when
    the backend did not read them (a user larger than the store ranks exactly, an indexed search): search as
    usual then.

    Example:
        >>> context = QueryContext('{"user_id": "ada", "task": "lamp2", "factors": [{"name": "Plot"}], '
        ...                        '"num_items": 1, "num_features": 1}')
        >>> [factor.name for factor in context.factors], context.profile.user_id
        (['Plot'], 'ada')
        >>> QueryContext(None).factors is None
        True
    """

    stored: UserProfile | str | None
    vectors: Any = None  # a list of vectors or a matrix (rows), or None
    hit: Callable[[int, float], list[RetrievedExample]] | None = None
    norms: Any = None  # the rows' norms, when kept with the vectors (a cached read)
    factors_json: str | None = None  # the stored profile's factors alone, as JSON, when known (a cached read)
    examples_key: Hashable = None  # what names the user's current examples (their manifest), when read

    @cached_property
    def profile(self) -> UserProfile | None:
        """The user's profile (``None``: no profile stored)."""
        return UserProfile.model_validate_json(self.stored) if isinstance(self.stored, str) else self.stored

    @cached_property
    def factors(self) -> list[Factor] | None:
        """The profile's factors (``None``: no profile); from a stored JSON without parsing the rest of it."""
        if self.factors_json is not None and self.stored is not None:
            return FACTOR_LIST.validate_json(self.factors_json)
        if isinstance(self.stored, str):
            return stored_factors(self.stored)
        return None if self.stored is None else list(self.stored.factors)

    @property
    def revision(self) -> Hashable:
        """A key of the stored profile and examples that changes whenever they do (``None``: no profile).

        A build, an update, a removal or a correction stores a new profile document (its version and update
        time move), so what a caller derived from a query context may be kept under (user, revision). The
        version alone would not do: a user forgotten and built again starts at version 1 again. A write of
        examples alone (``RPMStore.add_examples``, ``replace_user_examples``) keeps the profile but changes the
        user's manifest, which the revision covers when the backend read it (:attr:`examples_key`): such a write
        in another process shows here too. For a stored JSON it is the string's hash (computed once per
        string: a cached read hands out the same one); nothing is parsed.
        """
        if self.stored is None:
            return None
        profile = hash(self.stored) if isinstance(self.stored, str) else (self.stored.version, self.stored.updated_at)
        return profile if self.examples_key is None else (profile, self.examples_key)

    def nearest(self, user_id: str, vector: list[float], k: int) -> list[RetrievedExample]:
        """The ``k`` examples nearest (cosine) to ``vector``, best first, like a backend's ``search_plan``."""
        if self.vectors is None or self.hit is None or k <= 0 or len(self.vectors) == 0:
            return []
        return [found for row, score in rank(self.vectors, vector, k, self.norms) for found in self.hit(row, score)]


class _StoredFactors(BaseModel):
    """The factors of a stored profile's JSON, the other keys skipped unparsed."""

    factors: list[Factor]


FACTOR_LIST: TypeAdapter[list[Factor]] = TypeAdapter(list[Factor])
"""Factors to and from JSON (a query's :attr:`QueryContext.factors_json`)."""


def stored_factors(profile_json: str) -> list[Factor]:
    """The factors of a stored profile's JSON, its other keys skipped unparsed."""
    return _StoredFactors.model_validate_json(profile_json).factors


class Embedder:
    """Embeddings with their name and dimension (learned from the first vector when undeclared)."""

    def __init__(self, embeddings: Embeddings) -> None:
        """Wrap ``embeddings``."""
        self.embeddings = embeddings
        self.embedding_model = embedding_name(embeddings)
        self.embedding_dimension = declared_dimension(embeddings)

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


class Backend(Protocol):
    """The operations the store's reads, writes and forget need from where the records live."""

    kind: str
    is_async: bool
    embeddings: Embeddings
    embedding_model: str
    embedding_dimension: int | None
    coordinator: Coordinator

    def embed(self, texts: list[str], *, query: bool = False) -> Plan[list[list[float]]]:
        """Embed texts (see :class:`Embedder`)."""
        ...

    def search_plan(
        self, user_id: str, query: str | list[float], k: int, where: dict[str, Any] | None
    ) -> Plan[list[RetrievedExample]]:
        """The user's ``k`` current examples nearest (cosine) to ``query``, best first."""
        ...

    def records_plan(self, user_id: str) -> Plan[Records]:
        """The user's current example records."""
        ...

    def profile_plan(self, user_id: str) -> Plan[UserProfile | None]:
        """The user's stored profile, or ``None``."""
        ...

    def profile_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """The stored profile and what names the user's current examples, in one read (no vectors)."""
        ...

    def list_users_plan(self) -> Plan[list[str]]:
        """Ids of every user with a stored profile, sorted."""
        ...

    def current_plan(self, user_id: str) -> Plan[Current]:
        """Records, exactness and profile in as few reads as the backend allows (under the write lock)."""
        ...

    def query_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """The profile and the current examples' vectors for one query, in one read where the backend can."""
        ...

    def cached_query_context(self, user_id: str) -> QueryContext | None:
        """:meth:`query_context_plan`'s answer held by this process, valid now (no store read), or ``None``."""
        ...

    def vectors_plan(self, user_id: str, ids: list[str]) -> Plan[list[list[float]]]:
        """The stored vectors of the records ``ids``, in order."""
        ...

    def stage_plan(self, user_id: str, staged: Staged) -> Plan[None]:
        """Write new records (not yet current: no read returns them before the switch)."""
        ...

    def switch_plan(self, user_id: str, ids: list[str], profile: UserProfile | None) -> Plan[None]:
        """Make ``ids`` (and ``profile``, unless ``None``) the user's current version in one atomic write."""
        ...

    def stage_many_plan(self, items: list[tuple[str, Staged]]) -> Plan[None]:
        """Stage several users' records in as few max-size writes as the backend allows (group commit)."""
        ...

    def switch_many_plan(self, items: list[tuple[str, list[str], UserProfile | None]]) -> Plan[None]:
        """Switch several users; each user's ids and profile stay in one write (per-user atomicity)."""
        ...

    def delete_many_plan(self, items: list[tuple[str, list[str]]]) -> Plan[None]:
        """Delete several users' records in max-size writes."""
        ...

    def record_ids_plan(self, user_id: str) -> Plan[list[str]]:
        """Every example record id of the user: current, superseded and orphaned."""
        ...

    def delete_records_plan(self, user_id: str, ids: list[str]) -> Plan[None]:
        """Delete example records of the user."""
        ...

    def put_profile_plan(self, profile: UserProfile) -> Plan[None]:
        """Replace the user's profile, leaving the examples as they are (caller holds the lock)."""
        ...

    def erase_plan(self, user_id: str) -> Plan[int]:
        """Delete everything of the user (caller holds the lock); returns example records removed."""
        ...

    def compact_plan(self) -> Plan[list[str]]:
        """Make the backend drop deleted data from its files where it can; one line per fact."""
        ...


class HasBackend(Protocol):
    """The store's facade (anything holding a backend)."""

    @property
    def backend(self) -> Backend:
        """The backend it reads and writes through."""
        ...


def backend_of(store: Backend | HasBackend) -> Backend:
    """The backend of a store facade, or ``store`` itself when it is a backend."""
    backend: Any = getattr(store, "backend", store)
    return backend  # type: ignore[no-any-return]


class ChromaParts(Protocol):
    """What the Chroma parts (reads, handles, leases, compaction) use of the Chroma backend."""

    namespace: str
    layout: str
    exact_search_limit: int
    embedding_model: str
    embedding_dimension: int | None
    folder: Any
    handles: Any
    epoch: int
    coordinator: Coordinator
    query_cache: Any

    @property
    def client(self) -> Any:
        """The Chroma client."""
        ...

    def embed(self, texts: list[str], *, query: bool = False) -> Plan[list[list[float]]]:
        """Embed texts."""
        ...

    def collection(self, kind: str, user_id: str | None = None, *, create: bool = True) -> Plan[Any]:
        """A collection, as a plan."""
        ...

    def batch_size(self) -> Plan[int]:
        """The client's max batch size, as a plan."""
        ...
