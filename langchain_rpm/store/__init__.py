"""The example store (:class:`RPMStore`): reasoning examples and profiles per user, on Chroma or a LangGraph store.

Example:
    >>> from langchain_rpm.store import features_text
    >>> from langchain_rpm.types import Feature
    >>> features_text([Feature(name="space battles", context="fleets clash in orbit", factor="Setting")])
    'space battles: fleets clash in orbit'
"""

from typing import Any

from langchain_rpm.store._backend import QueryContext
from langchain_rpm.store._records import DEFAULT_STORE_PATH, default_client, example_id, features_text, user_filter
from langchain_rpm.store.core import RPMStore

__all__ = [
    "DEFAULT_STORE_PATH",
    "QueryContext",
    "RPMStore",
    "as_rpm_store",
    "default_client",
    "example_id",
    "features_text",
    "user_filter",
]


def as_rpm_store(store: Any) -> RPMStore:
    """``store`` as an :class:`RPMStore`: a LangGraph ``BaseStore`` is wrapped; ``None``: the graph's or the default.

    Example:
        >>> from langgraph.store.memory import InMemoryStore
        >>> as_rpm_store(InMemoryStore()).backend.kind, as_rpm_store(None).backend.kind
        ('langgraph', 'graph')
    """
    from langgraph.store.base import BaseStore

    if store is None:
        return RPMStore.from_graph()
    if isinstance(store, BaseStore):
        return RPMStore.from_langgraph(store)
    if not isinstance(store, RPMStore):
        raise TypeError(f"store must be an RPMStore or a LangGraph BaseStore, got {type(store).__name__}")
    return store
