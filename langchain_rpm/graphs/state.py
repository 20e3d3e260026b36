"""The graphs' state and context: the state schemas, the run's user, progress events, host-state checks.

Values in graph state are JSON-like (``model_dump()`` dicts), so every checkpointer serializes them.
The user a run is for comes from LangGraph 1.x run context (``context=RPMContext(user_id=...)``),
falling back to ``config["configurable"]["user_id"]``.

Example:
    >>> resolve_user_id(RPMContext(user_id="ada"), {})
    'ada'
    >>> resolve_user_id(None, {"configurable": {"user_id": "bob"}})
    'bob'
"""

from __future__ import annotations

import hashlib
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, Required

from langchain_core.runnables import RunnableConfig
from langgraph.graph import StateGraph
from typing_extensions import TypedDict

from langchain_rpm._history import check_user_id, item_digest, validate_history
from langchain_rpm.errors import ConfigurationError, MissingStateKeysError, MissingUserIdError
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.store._ahead import EmbedAhead
from langchain_rpm.tasks import TaskSpec
from langchain_rpm.types import HistoryItem, Usage

REQUEST_KEY = "rpm_build_request"
"""``configurable`` key of the :class:`BuildRequest` the facade validated (the build's first step reuses it)."""


def build_key(user_id: str, mode: str, keys: dict[str, str]) -> str:
    """The identity of a build request: its user, mode and every item's content digest."""
    payload = json.dumps([user_id, mode, sorted(keys.items()), PROMPT_VERSION])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BuildRequest:
    """A build request validated once: its user, mode, items, their digests and its key.

    Example:
        >>> from langchain_rpm.tasks import LAMP3
        >>> request = BuildRequest.validate(LAMP3, "ada", "build", [{"input": "Late.", "response": 2}])
        >>> [item.response for item in request.items], len(request.key)
        (['2'], 32)
    """

    user_id: str
    mode: str
    items: list[HistoryItem]
    digests: dict[str, str]
    key: str
    embedded_ahead: EmbedAhead | None = field(default=None, compare=False)
    """The examples this run embedded ahead of its commit (:mod:`~langchain_rpm.store._ahead`), in memory only."""

    @classmethod
    def validate(cls, task: TaskSpec, user_id: str, mode: str, history: Any) -> BuildRequest:
        """Check the user id and the history; compute the digests and the key (the only place that does)."""
        user_id = check_user_id(user_id)
        items = validate_history(task, history)
        digests = {item.id: item_digest(user_id, item) for item in items}
        return cls(user_id, mode, items, digests, build_key(user_id, mode, digests), EmbedAhead(len(items)))


@dataclass
class RPMContext:
    """Run context of RPM graphs: the user the run personalizes for."""

    user_id: str


def resolve_user_id(context: Any, config: RunnableConfig | Mapping[str, Any] | None) -> str:
    """The user id of a run: ``context.user_id`` (object or dict), else ``configurable.user_id``."""
    candidate = context.get("user_id") if isinstance(context, Mapping) else getattr(context, "user_id", None)
    if not candidate and config:
        candidate = (config.get("configurable") or {}).get("user_id")
    if not isinstance(candidate, str) or not candidate:
        raise MissingUserIdError(
            "RPM needs a user id: pass `context=RPMContext(user_id=...)` (or a context object/dict with a "
            "`user_id`) to invoke/stream, or `config={'configurable': {'user_id': ...}}`."
        )
    return candidate


def progress_event(stage: str, user_id: str, done: int, total: int, **extra: Any) -> dict[str, Any]:
    """The payload of one custom-stream progress event.

    Example:
        >>> progress_event("extract", "ada", 1, 4)["stage"]
        'extract'
    """
    return {"type": "rpm_progress", "stage": stage, "user_id": user_id, "done": done, "total": total, **extra}


# -- the inference state (mix it into your own) ------------------------------------------------------------
class RPMState(TypedDict, total=False):
    """State keys the RPM inference nodes read and write; mix into a host graph's state.

    Read: ``rpm_query``, ``rpm_options``, ``messages`` (fallback for the query). Written:
    ``rpm_features``, ``rpm_factors``, ``rpm_examples``, ``rpm_prediction``.
    """

    rpm_query: str
    rpm_options: list[str] | None
    rpm_features: list[dict[str, Any]]
    rpm_factors: list[dict[str, Any]]
    rpm_examples: list[dict[str, Any]]
    rpm_prediction: dict[str, Any]


RPM_WRITTEN_KEYS = ("rpm_features", "rpm_factors", "rpm_examples", "rpm_prediction")
QUERY_KEYS = ("rpm_query", "messages")
"""Where the RPM nodes look for the query (a host state must declare at least one)."""


# -- the build state ---------------------------------------------------------------------------------------
def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: keys of ``right`` replace those of ``left``."""
    return {**(left or {}), **(right or {})}


def add_usage(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: the sum of two :class:`~langchain_rpm.types.Usage` dicts (totals and ``by_stage``).

    Example:
        >>> add_usage({"llm_calls": 1, "by_stage": {"extract": {"llm_calls": 1}}},
        ...           {"llm_calls": 2, "by_stage": {"assign": {"llm_calls": 2}}})["llm_calls"]
        3
    """
    return (Usage.model_validate(left or {}) + Usage.model_validate(right or {})).model_dump()


class BuildState(TypedDict, total=False):
    """State of the profile-build graph; every value is JSON-like.

    ``mode`` is ``"build"`` (``history`` is the user's whole history) or ``"update"`` (``history``
    holds only new items, added to the stored profile). ``build_key`` identifies the request (user,
    mode, items and their content): results in ``features``/``examples``/``failed`` belong to it, and
    a new request on the same thread starts from empty results. ``item_keys`` holds, per item id, the
    digest the stored results were computed for (the input overwrites ``history`` and ``user_id``, so
    the previous request's identity must be kept apart from them).
    ``usage`` sums what the nodes spent on LLM calls (by stage) and not yet committed to the profile's
    ``cost``.
    """

    user_id: str
    mode: Literal["build", "update"]
    history: list[dict[str, Any]]
    build_key: str
    item_keys: dict[str, str]
    stored: dict[str, dict[str, Any]]
    base_profile: dict[str, Any] | None
    features: Annotated[dict[str, list[dict[str, Any]]], merge_dicts]
    factors: list[dict[str, Any]]
    reclustered: bool
    examples: Annotated[dict[str, dict[str, Any]], merge_dicts]
    failed: Annotated[dict[str, dict[str, Any]], merge_dicts]
    usage: Annotated[dict[str, Any], add_usage]
    profile: dict[str, Any]


# -- checks of a host graph's state ------------------------------------------------------------------------
def declared_state_keys(builder_or_schema: StateGraph[Any, Any, Any, Any] | type[Any]) -> set[str]:
    """Keys a graph accepts writes to: the builder's channels, or a schema class's type hints.

    Example:
        >>> sorted(declared_state_keys(RPMState))[:2]
        ['rpm_examples', 'rpm_factors']
    """
    if isinstance(builder_or_schema, StateGraph):
        return set(builder_or_schema.channels) | set(builder_or_schema.managed)
    if isinstance(builder_or_schema, type) and hasattr(builder_or_schema, "model_fields"):  # pydantic state
        return set(builder_or_schema.model_fields)
    try:
        return set(typing.get_type_hints(builder_or_schema))
    except TypeError:  # not a class with annotations
        return set()


def check_host_state(builder_or_schema: StateGraph[Any, Any, Any, Any] | type[Any]) -> None:
    """Raise :class:`MissingStateKeysError` unless the state declares every key the RPM nodes write.

    Also raises :class:`~langchain_rpm.errors.ConfigurationError` when the state declares neither
    ``rpm_query`` nor ``messages``, since the nodes would then have no query to read.
    """
    schema = builder_or_schema.state_schema if isinstance(builder_or_schema, StateGraph) else builder_or_schema
    name = getattr(schema, "__name__", str(schema))
    declared = declared_state_keys(builder_or_schema)
    missing = [key for key in RPM_WRITTEN_KEYS if key not in declared]
    if missing:
        raise MissingStateKeysError(missing, name)
    if not any(key in declared for key in QUERY_KEYS):
        raise ConfigurationError(
            f"state {name!r} declares neither `rpm_query` nor `messages`: the RPM nodes need a query"
        )


def with_rpm_state(schema: type[Any], name: str | None = None) -> type[Any]:
    """A new state ``TypedDict``: every key of ``schema`` (reducers kept) plus the ``RPMState`` keys.

    Use it when subclassing is not possible: on Python < 3.13 a ``typing.TypedDict`` cannot be
    mixed with ``typing_extensions.TypedDict`` classes such as ``RPMState`` and ``MessagesState``.

    Example:
        >>> from typing_extensions import TypedDict
        >>> class MyState(TypedDict):
        ...     question: str
        >>> State = with_rpm_state(MyState)
        >>> sorted(State.__annotations__)[:3], State.__name__
        (['question', 'rpm_examples', 'rpm_factors'], 'MyStateWithRPM')
    """
    if not hasattr(schema, "__required_keys__"):
        raise ConfigurationError(
            f"with_rpm_state needs a TypedDict state, got {schema!r}: add the RPMState keys yourself"
        )
    hints = typing.get_type_hints(schema, include_extras=True)
    required = set(schema.__required_keys__)
    fields: dict[str, Any] = {key: NotRequired[_unwrap(t)] for key, t in typing.get_type_hints(RPMState).items()}
    for key, annotation in hints.items():
        bare = _unwrap(annotation)
        fields[key] = Required[bare] if key in required else NotRequired[bare]
    return TypedDict(name or f"{schema.__name__}WithRPM", fields)  # type: ignore[operator,no-any-return]


def _unwrap(annotation: Any) -> Any:
    """Strip ``Required``/``NotRequired``; keep ``Annotated`` reducers."""
    while typing.get_origin(annotation) in (Required, NotRequired):
        annotation = typing.get_args(annotation)[0]
    return annotation
