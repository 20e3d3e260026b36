"""The LangGraph backend (private): the store's records in any LangGraph ``BaseStore``.

``InMemoryStore`` (notebooks, tests), ``PostgresStore`` (production), or the store a LangGraph server
hands to the graph. Namespaces, under ``namespace`` (default ``"rpm"``):

- ``(namespace, "heads")``, key ``digest(user)``: the user's *head*: the exact ids of their current
  examples, the profile, and the embedding model's name and dimension. Switching a user to a new version
  is one ``put`` of this item, so examples and profile switch together (copy-on-write);
- ``(namespace, "examples", digest(user))``, key = record id: one example with its feature text and
  vector, written under the commit token of the write that made it.

``digest`` is 40 hex digits of SHA-256 of the user id: ids are hashed, never stripped, so no two ids
share a namespace, and every value also carries its ``user_id`` (checked on read). Search is exact cosine
top-k over the user's stored vectors (a few thousand at most: one ``batch`` of gets), unless
``search="index"`` asks the store's own semantic search. Writes of one user are serialised by
:func:`~langchain_rpm.store._postgres.coordinator_for_store`.

Example:
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langgraph.store.memory import InMemoryStore
    >>> from langchain_rpm._plans import run
    >>> backend = LangGraphBackend(InMemoryStore(), DeterministicFakeEmbedding(size=8))
    >>> run(backend.records_plan("ada")), backend.coordinator.kind
    ({}, 'local')
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, GetOp, Item, PutOp, SearchOp

from langchain_rpm._plans import Call, Plan
from langchain_rpm.errors import ConfigurationError, EmbeddingMismatchError, StoreError
from langchain_rpm.store._backend import Current, Embedder, QueryContext, Records, Staged
from langchain_rpm.store._postgres import compact_lines, coordinator_for_store
from langchain_rpm.store._records import rank, user_filter
from langchain_rpm.types import ReasoningExample, RetrievedExample, UserProfile

FORMAT = 1  # version of the head's layout
PAGE = 1000  # items per search page
_ATTEMPTS = 3  # reads retried when a concurrent switch removed records between the head and the gets


def user_key(user_id: str) -> str:
    """The label naming a user's data: 40 hex digits of SHA-256 (never a stripped id).

    Example:
        >>> user_key("ada") != user_key("Ada") and len(user_key("ada/../bob")) == 40
        True
    """
    return hashlib.sha256(user_id.encode()).hexdigest()[:40]


class LangGraphBackend(Embedder):
    """Heads and example records in a LangGraph ``BaseStore`` (see the module docstring)."""

    kind = "langgraph"
    is_async = False  # every call goes through the store's ``batch``/``abatch``

    def __init__(
        self,
        store: BaseStore,
        embeddings: Embeddings,
        *,
        namespace: str = "rpm",
        lock_timeout: float = 120.0,
        search: Literal["exact", "index"] = "exact",
    ) -> None:
        """Keep records of ``namespace`` in ``store``; ``search="index"`` uses the store's semantic index."""
        super().__init__(embeddings)
        if not isinstance(store, BaseStore):
            raise ConfigurationError(f"expected a LangGraph BaseStore, got {type(store).__name__}")
        if not namespace or "." in namespace or namespace == "langgraph":
            raise ConfigurationError(
                f"namespace must be a non-empty label without '.', not 'langgraph'; got {namespace!r}"
            )
        if search not in ("exact", "index") or (search == "index" and not getattr(store, "index_config", None)):
            raise ConfigurationError(
                f"search={search!r} needs 'exact', or 'index' on a store created with index={{...}} (its own "
                "semantic search, configured with these embeddings); use search='exact' otherwise"
            )
        if lock_timeout < 0:
            raise ConfigurationError(f"lock_timeout must be >= 0, got {lock_timeout}")
        self.store, self.namespace, self.search = store, namespace, search
        self.coordinator = coordinator_for_store(store, namespace, lock_timeout)

    # -- I/O -------------------------------------------------------------------------------------------
    def _batch(self, ops: list[Any]) -> Plan[list[Any]]:
        if not ops:
            return []
        return list((yield Call(self.store.batch, self.store.abatch, (ops,))))

    def _examples_ns(self, user_id: str) -> tuple[str, ...]:
        return (self.namespace, "examples", user_key(user_id))

    def _head(self, user_id: str) -> Plan[dict[str, Any] | None]:
        user_filter(user_id)
        item = (yield from self._batch([GetOp((self.namespace, "heads"), user_key(user_id))]))[0]
        head = item.value if item is not None else None
        if head is not None and head.get("user_id") != user_id:
            raise StoreError(f"user {user_id!r}: the head in namespace {self.namespace!r} belongs to another id")
        return head

    def _check(self, head: dict[str, Any] | None) -> None:
        if head is None or not head.get("ids"):
            return
        model, dim = head.get("embedding_model"), head.get("embedding_dimension")
        mine = self.embedding_dimension
        if model == self.embedding_model and (dim is None or mine is None or dim == mine):
            return
        raise EmbeddingMismatchError(
            f"user {head['user_id']!r} was built with embedding model {model!r} (dimension {dim}), but this store "
            f"was given {self.embedding_model!r} (dimension {mine}): pass the embeddings the user was built with, "
            "or rebuild the user (or use another namespace=...)"
        )

    def _values(self, user_id: str, ids: list[str]) -> Plan[list[dict[str, Any] | None]]:
        namespace = self._examples_ns(user_id)
        items = yield from self._batch([GetOp(namespace, record_id) for record_id in ids])
        values = [item.value if isinstance(item, Item) else None for item in items]
        return [value if value is not None and value.get("user_id") == user_id else None for value in values]

    def _keys(self, namespace: tuple[str, ...]) -> Plan[list[Any]]:
        found: list[Any] = []
        while True:
            page = (yield from self._batch([SearchOp(namespace, limit=PAGE, offset=len(found))]))[0]
            found += page
            if len(page) < PAGE:
                return found

    # -- reads -----------------------------------------------------------------------------------------
    def _current_values(self, user_id: str) -> Plan[tuple[dict[str, Any] | None, list[str], list[Any]]]:
        """The head and the values of its records, read again if a concurrent switch removed some."""
        for _ in range(_ATTEMPTS):
            head = yield from self._head(user_id)
            self._check(head)
            ids = list(head.get("ids") or []) if head else []
            values = yield from self._values(user_id, ids)
            if all(value is not None for value in values):
                break
        return head, ids, values

    def current_plan(self, user_id: str) -> Plan[Current]:
        """Records and profile from one head read (the head is always exact)."""
        head, ids, values = yield from self._current_values(user_id)
        records: Records = {}
        for record_id, value in zip(ids, values, strict=True):
            if value is not None:
                records[record_id] = (ReasoningExample.model_validate_json(value["example"]), value["version"])
        profile = head.get("profile") if head else None
        return Current(records, True, UserProfile.model_validate_json(profile) if profile else None)

    def query_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """Profile and current vectors from one head read and one read of its records (exact ranking)."""
        head, ids, values = yield from self._current_values(user_id)
        profile = head.get("profile") if head else None
        if not profile:
            return QueryContext(None)
        if self.search == "index":
            return QueryContext(profile, examples_key=tuple(ids))  # the store's own search serves
        rows = [value for value in values if value is not None]
        return QueryContext(
            profile,
            [row["vector"] for row in rows],
            lambda row, score: [_hit(rows[row], score)],
            examples_key=tuple(ids),
        )

    def cached_query_context(self, user_id: str) -> QueryContext | None:
        """Nothing is cached: a ``BaseStore`` offers no cheap way to see another client's write."""
        return None

    def records_plan(self, user_id: str) -> Plan[Records]:
        """The user's current records."""
        return (yield from self.current_plan(user_id)).records

    def profile_plan(self, user_id: str) -> Plan[UserProfile | None]:
        """The user's profile (one get)."""
        head = yield from self._head(user_id)
        profile = head.get("profile") if head else None
        return UserProfile.model_validate_json(profile) if profile else None

    def profile_context_plan(self, user_id: str) -> Plan[QueryContext]:
        """The profile and the current record ids, from the head (one get)."""
        head = yield from self._head(user_id)
        profile = head.get("profile") if head else None
        return QueryContext(profile or None, examples_key=tuple(head.get("ids") or []) if head else None)

    def list_users_plan(self) -> Plan[list[str]]:
        """Users whose head holds a profile, sorted."""
        heads = yield from self._keys((self.namespace, "heads"))
        return sorted(item.value["user_id"] for item in heads if item.value.get("profile"))

    def record_ids_plan(self, user_id: str) -> Plan[list[str]]:
        """Every record in the user's examples namespace (orphans of failed writes included)."""
        return [item.key for item in (yield from self._keys(self._examples_ns(user_id)))]

    def search_plan(
        self, user_id: str, query: str | list[float], k: int, where: dict[str, Any] | None
    ) -> Plan[list[RetrievedExample]]:
        """Exact cosine top-``k`` over the user's current vectors (or the store's index, if asked)."""
        user_filter(user_id, where)  # validates where like the Chroma backend does
        if k <= 0:
            return []
        if self.search == "index" and isinstance(query, str):
            found = yield from self._index_search(user_id, query, k, where)
            if found is not None:
                return found
        vector = (yield from self.embed([query], query=True))[0] if isinstance(query, str) else query
        _, _, values = yield from self._current_values(user_id)
        rows = [value for value in values if value is not None and _matches(where, value)]
        ranked = rank([row["vector"] for row in rows], vector, k) if rows else []
        return [_hit(rows[row], score) for row, score in ranked]

    def _index_search(
        self, user_id: str, text: str, k: int, where: dict[str, Any] | None
    ) -> Plan[list[RetrievedExample] | None]:
        """The store's semantic search, kept to the user's current records; ``None``: rank exactly instead."""
        head = yield from self._head(user_id)
        self._check(head)
        current = set(head.get("ids") or []) if head else set()
        if not current:
            return []
        op = SearchOp(self._examples_ns(user_id), query=text, limit=min(len(current), 4 * k + 8))
        hits = []
        for item in (yield from self._batch([op]))[0]:
            value = item.value
            if item.key in current and value.get("user_id") == user_id and _matches(where, value):
                hits.append(_hit(value, float(item.score or 0.0)))
        return hits[:k] if len(hits) >= min(k, len(current)) else None

    def vectors_plan(self, user_id: str, ids: list[str]) -> Plan[list[list[float]]]:
        """The stored vectors of ``ids``, in order."""
        values = yield from self._values(user_id, ids)
        return [list(value["vector"]) if value else [] for value in values]

    # -- writes ----------------------------------------------------------------------------------------
    def _stage_ops(self, user_id: str, staged: Staged) -> list[PutOp]:
        namespace = self._examples_ns(user_id)
        index: Literal[False] | list[str] = ["text"] if self.search == "index" else False
        rows = zip(staged.ids, staged.examples, staged.texts, staged.vectors, strict=True)
        return [
            PutOp(namespace, rid, _record(user_id, ex, text, vector, staged), index=index)
            for rid, ex, text, vector in rows
        ]

    def stage_plan(self, user_id: str, staged: Staged) -> Plan[None]:
        """Put the new records (one batch per page)."""
        return self.stage_many_plan([(user_id, staged)])

    def stage_many_plan(self, items: list[tuple[str, Staged]]) -> Plan[None]:
        """Every user's new records, in batches of ``PAGE`` puts."""
        ops = [op for user_id, staged in items for op in self._stage_ops(user_id, staged)]
        for start in range(0, len(ops), PAGE):
            yield from self._batch(ops[start : start + PAGE])

    def switch_many_plan(self, items: list[tuple[str, list[str], UserProfile | None]]) -> Plan[None]:
        """Every user's head in one batch (a head is one item: each user switches atomically)."""
        keep = [user_id for user_id, _, profile in items if profile is None]
        heads = yield from self._batch([GetOp((self.namespace, "heads"), user_key(user_id)) for user_id in keep])
        kept = {
            user_id: (item.value or {}).get("profile") if item else None
            for user_id, item in zip(keep, heads, strict=True)
        }
        ops = [
            self._head_op(user_id, ids, profile.model_dump_json() if profile is not None else kept[user_id])
            for user_id, ids, profile in items
        ]
        for start in range(0, len(ops), PAGE):
            yield from self._batch(ops[start : start + PAGE])

    def delete_many_plan(self, items: list[tuple[str, list[str]]]) -> Plan[None]:
        """Every user's obsolete records, in batches of ``PAGE`` deletes."""
        ops = [PutOp(self._examples_ns(user_id), rid, None) for user_id, ids in items for rid in ids]
        for start in range(0, len(ops), PAGE):
            yield from self._batch(ops[start : start + PAGE])

    def switch_plan(self, user_id: str, ids: list[str], profile: UserProfile | None) -> Plan[None]:
        """One put of the head: the exact ids and the profile (kept as stored when ``None``)."""
        head = yield from self._head(user_id)
        text = profile.model_dump_json() if profile is not None else (head or {}).get("profile")
        yield from self._put_head(user_id, ids, text)

    def _head_op(self, user_id: str, ids: list[str], profile: str | None) -> PutOp:
        value = {
            "format": FORMAT,
            "user_id": user_id,
            "ids": sorted(ids),
            "profile": profile,
            "embedding_model": self.embedding_model,
            "embedding_dimension": self.embedding_dimension,
        }
        return PutOp((self.namespace, "heads"), user_key(user_id), value, index=False)

    def _put_head(self, user_id: str, ids: list[str], profile: str | None) -> Plan[None]:
        yield from self._batch([self._head_op(user_id, ids, profile)])

    def delete_records_plan(self, user_id: str, ids: list[str]) -> Plan[None]:
        """Delete records (one batch per page)."""
        namespace = self._examples_ns(user_id)
        for start in range(0, len(ids), PAGE):
            yield from self._batch([PutOp(namespace, rid, None) for rid in ids[start : start + PAGE]])

    def put_profile_plan(self, profile: UserProfile) -> Plan[None]:
        """Replace the head's profile, keeping its ids."""
        head = yield from self._head(profile.user_id)
        yield from self._put_head(profile.user_id, list((head or {}).get("ids") or []), profile.model_dump_json())

    def erase_plan(self, user_id: str) -> Plan[int]:
        """Every record of the user, then the head."""
        ids = yield from self.record_ids_plan(user_id)
        yield from self.delete_records_plan(user_id, ids)
        yield from self._batch([PutOp((self.namespace, "heads"), user_key(user_id), None)])
        return len(ids)

    def compact_plan(self) -> Plan[list[str]]:
        """What the store keeps after deletes, and ``VACUUM`` on Postgres (see ``_postgres``)."""
        lines: list[str] = yield Call(compact_lines, args=(self.store, self.coordinator))
        return lines


def _record(user_id: str, example: ReasoningExample, text: str, vector: list[float], staged: Staged) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "item_id": example.item_id,
        "answer": example.answer,
        "version": staged.version,
        "commit": staged.commit,
        "text": text,
        "example": example.model_dump_json(),
        "vector": [float(x) for x in vector],
    }


_FIELDS = {"item_id": "item_id", "answer": "answer", "profile_version": "version"}  # where key -> value key


def _hit(value: dict[str, Any], score: float) -> RetrievedExample:
    return RetrievedExample(example=ReasoningExample.model_validate_json(value["example"]), score=score)


def _matches(where: dict[str, Any] | None, value: dict[str, Any]) -> bool:
    """Chroma-style metadata conditions (``answer``, ``item_id``, ``profile_version``) on one stored record."""
    if not where:
        return True
    for key, condition in where.items():
        if key in ("$and", "$or"):
            results = (_matches(part, value) for part in condition)
            if not (all(results) if key == "$and" else any(results)):
                return False
            continue
        if key not in _FIELDS:
            raise ConfigurationError(f"where may name item_id, answer or profile_version, not {key!r}")
        op, expected = next(iter(condition.items())) if isinstance(condition, dict) else ("$eq", condition)
        if not _compare(op, value.get(_FIELDS[key]), expected):
            return False
    return True


def _compare(op: str, value: Any, expected: Any) -> bool:
    checks: dict[str, Callable[[], Any]] = {
        "$eq": lambda: value == expected,
        "$ne": lambda: value != expected,
        "$in": lambda: value in expected,
        "$nin": lambda: value not in expected,
        "$gt": lambda: value > expected,
        "$gte": lambda: value >= expected,
        "$lt": lambda: value < expected,
        "$lte": lambda: value <= expected,
    }
    if op not in checks:
        raise ConfigurationError(f"where operator {op!r} is not supported here; use one of {', '.join(checks)}")
    return bool(checks[op]())
