"""Add the RPM inference nodes to your own LangGraph ``StateGraph`` (an agent, a chatbot, a pipeline).

Three steps: mix :class:`~langchain_rpm.inference_graph.RPMState` into your state, call
:func:`add_rpm_nodes` on your builder, and read ``rpm_prediction`` (or :func:`rpm_context`) in your
own nodes. LangGraph silently drops writes to keys a state does not declare, so
:func:`add_rpm_nodes` checks at build time that your state declares every key the RPM nodes write
and raises :class:`MissingStateKeysError` naming the missing ones.

The query is ``rpm_query`` when set, else the last human message in ``messages``. The user id comes
from the run context (``context=RPMContext(user_id=...)`` or any context object/dict with a
``user_id``), else ``config["configurable"]["user_id"]``. The example store is the one in the RPM
components you pass; a LangGraph ``BaseStore`` given to ``compile(store=...)`` (``runtime.store``) is
not used for examples, which need vector search over the Chroma-backed :class:`RPMStore`.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langgraph.graph import END, START, MessagesState, StateGraph
    >>> from langchain_rpm import RPMComponents, RPMState, RPMStore
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> parts = RPMComponents.create(FakeStructuredChatModel(), "lamp3",
    ...     store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> class ChatState(MessagesState, RPMState):
    ...     pass
    >>> builder = StateGraph(ChatState)
    >>> _ = builder.add_node("reply", lambda state: {"messages": [("ai", rpm_context(state))]})
    >>> add_rpm_nodes(builder, parts, after=START, before="reply")
    RPMNodeNames(extract='rpm_extract', retrieve='rpm_retrieve', generate='rpm_generate')
    >>> graph = builder.add_edge("reply", END).compile()
    >>> try:
    ...     add_rpm_nodes(StateGraph(MessagesState), parts)
    ... except MissingStateKeysError as exc:
    ...     print(exc.missing)
    ('rpm_features', 'rpm_factors', 'rpm_examples', 'rpm_prediction')
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, NotRequired, Required, TypedDict

from langgraph.graph import StateGraph
from typing_extensions import TypedDict as ExtTypedDict

from langchain_rpm.components import RPMComponents
from langchain_rpm.inference_graph import RPM_WRITTEN_KEYS, RPMState, rpm_inference_nodes
from langchain_rpm.types import Prediction

if TYPE_CHECKING:
    from langchain_rpm.facade import RPM

QUERY_KEYS = ("rpm_query", "messages")
"""Where the RPM nodes look for the query (a host state must declare at least one)."""

NODE_READS: dict[str, tuple[str, ...]] = {
    "extract": ("rpm_query", "rpm_options", "messages"),
    "retrieve": ("rpm_query", "rpm_features", "messages"),
    "generate": ("rpm_query", "rpm_options", "rpm_features", "rpm_factors", "rpm_examples", "messages"),
}
"""The state keys each RPM node reads (it is given only those the host state declares)."""


class MissingStateKeysError(ValueError):
    """The host graph's state does not declare keys the RPM nodes write (LangGraph would drop them)."""

    def __init__(self, missing: Iterable[str], schema_name: str) -> None:
        self.missing = tuple(missing)
        super().__init__(
            f"state {schema_name!r} does not declare {', '.join(self.missing)}, which the RPM nodes write "
            "(LangGraph silently drops undeclared keys): mix `RPMState` into your state, e.g. "
            "`class State(YourState, RPMState): ...`"
        )


class RPMNodeNames(NamedTuple):
    """Names of the three nodes :func:`add_rpm_nodes` added, in run order."""

    extract: str
    retrieve: str
    generate: str

    @property
    def first(self) -> str:
        """The node to route into."""
        return self.extract

    @property
    def last(self) -> str:
        """The node to route out of."""
        return self.generate


def as_components(rpm_or_components: RPM | RPMComponents) -> RPMComponents:
    """The :class:`RPMComponents` of an ``RPM`` facade, or the components themselves."""
    if isinstance(rpm_or_components, RPMComponents):
        return rpm_or_components
    parts = getattr(rpm_or_components, "components", None)
    if isinstance(parts, RPMComponents):
        return parts
    raise TypeError(f"expected an RPM or RPMComponents, got {type(rpm_or_components).__name__}")


def declared_state_keys(builder_or_schema: StateGraph[Any, Any, Any, Any] | type[Any]) -> set[str]:
    """Keys a graph accepts writes to: the builder's channels, or a schema class's type hints.

    Example:
        >>> from langchain_rpm.inference_graph import RPMState
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


def with_rpm_state(schema: type[Any], name: str | None = None) -> type[Any]:
    """A new state ``TypedDict``: every key of ``schema`` (reducers kept) plus the ``RPMState`` keys.

    Use it when subclassing is not possible: on Python < 3.13 a ``typing.TypedDict`` cannot be
    mixed with ``typing_extensions.TypedDict`` classes such as ``RPMState`` and ``MessagesState``.

    Example:
        >>> from typing import TypedDict
        >>> class MyState(TypedDict):
        ...     question: str
        >>> State = with_rpm_state(MyState)
        >>> sorted(State.__annotations__)[:3], State.__name__
        (['question', 'rpm_examples', 'rpm_factors'], 'MyStateWithRPM')
    """
    try:
        hints = typing.get_type_hints(schema, include_extras=True)
        required = set(getattr(schema, "__required_keys__", hints))
    except TypeError as exc:
        raise TypeError(f"with_rpm_state needs a TypedDict state, got {schema!r}") from exc
    if not hasattr(schema, "__required_keys__"):
        raise TypeError(f"with_rpm_state needs a TypedDict state, got {schema!r}: add the RPMState keys yourself")
    fields: dict[str, Any] = {key: NotRequired[_unwrap(t)] for key, t in typing.get_type_hints(RPMState).items()}
    for key, annotation in hints.items():
        bare = _unwrap(annotation)
        fields[key] = Required[bare] if key in required else NotRequired[bare]
    return ExtTypedDict(name or f"{schema.__name__}WithRPM", fields)  # type: ignore[operator,no-any-return]


def _unwrap(annotation: Any) -> Any:
    """Strip ``Required``/``NotRequired``; keep ``Annotated`` reducers."""
    while typing.get_origin(annotation) in (Required, NotRequired):
        annotation = typing.get_args(annotation)[0]
    return annotation


def check_host_state(builder_or_schema: StateGraph[Any, Any, Any, Any] | type[Any]) -> None:
    """Raise :class:`MissingStateKeysError` unless the state declares every key the RPM nodes write.

    Also raises ``ValueError`` when the state declares neither ``rpm_query`` nor ``messages``, since
    the nodes would then have no query to read.
    """
    schema = builder_or_schema.state_schema if isinstance(builder_or_schema, StateGraph) else builder_or_schema
    name = getattr(schema, "__name__", str(schema))
    declared = declared_state_keys(builder_or_schema)
    missing = [key for key in RPM_WRITTEN_KEYS if key not in declared]
    if missing:
        raise MissingStateKeysError(missing, name)
    if not any(key in declared for key in QUERY_KEYS):
        raise ValueError(f"state {name!r} declares neither `rpm_query` nor `messages`: the RPM nodes need a query")


def add_rpm_nodes(
    builder: StateGraph[Any, Any, Any, Any],
    rpm: RPM | RPMComponents,
    *,
    prefix: str = "rpm",
    after: str | None = None,
    before: str | None = None,
) -> RPMNodeNames:
    """Add ``{prefix}_extract -> {prefix}_retrieve -> {prefix}_generate`` to your ``StateGraph`` builder.

    Args:
        builder: Your uncompiled graph; its state must mix in ``RPMState`` (checked here).
        rpm: An :class:`~langchain_rpm.RPM` facade or :class:`RPMComponents` (model, task, store).
        prefix: Node-name prefix (the state keys stay ``rpm_*``).
        after: A node (or ``START``) to add an edge from, into the first RPM node.
        before: A node (or ``END``) to add an edge to, from the last RPM node.

    Returns:
        The node names, so you can wire edges yourself (``names.first``, ``names.last``).

    Raises:
        MissingStateKeysError: The state does not declare every ``rpm_*`` key the nodes write.

    Each node receives only the state keys it reads (``NODE_READS``) and writes a partial update;
    the answer lands in ``rpm_prediction`` (a :class:`Prediction` as a JSON-like dict).

    Example:
        >>> # builder = StateGraph(State)  where  class State(MessagesState, RPMState): ...
        >>> # add_rpm_nodes(builder, rpm, after=START, before="agent")
    """
    check_host_state(builder)
    declared = declared_state_keys(builder)
    names = RPMNodeNames(f"{prefix}_extract", f"{prefix}_retrieve", f"{prefix}_generate")
    taken = [name for name in names if name in builder.nodes]
    if taken:
        raise ValueError(f"the graph already has node(s) {taken}: pass another `prefix=`")
    nodes = rpm_inference_nodes(as_components(rpm))
    for stage, name in zip(("extract", "retrieve", "generate"), names, strict=True):
        reads = {key: Any for key in NODE_READS[stage] if key in declared}
        schema = TypedDict(f"{name}_input", reads, total=False)  # type: ignore[misc]
        builder.add_node(name, nodes[f"rpm_{stage}"], input_schema=schema)
    builder.add_edge(names.extract, names.retrieve)
    builder.add_edge(names.retrieve, names.generate)
    if after is not None:
        builder.add_edge(after, names.first)
    if before is not None:
        builder.add_edge(names.last, before)
    return names


def format_prediction(prediction: Prediction | Mapping[str, Any]) -> str:
    """A compact text of an RPM prediction for an agent's model: answer, reasoning, factors, examples.

    Example:
        >>> print(format_prediction({"user_id": "u", "query": "q", "answer": "4", "valid": True,
        ...     "raw_answer": "4", "reasoning": "Solid build.", "factors_used": ["Durability"]}))
        This user would answer: 4
        Their reasoning: Solid build.
        Factors behind it: Durability
    """
    pred = prediction if isinstance(prediction, Prediction) else Prediction.model_validate(prediction)
    lines = [f"This user would answer: {pred.answer}" + ("" if pred.valid else " (outside the expected format)")]
    if pred.reasoning:
        lines.append(f"Their reasoning: {pred.reasoning}")
    if pred.factors_used:
        lines.append("Factors behind it: " + ", ".join(pred.factors_used))
    if pred.example_ids:
        lines.append("Based on their past items: " + ", ".join(pred.example_ids))
    return "\n".join(lines)


def rpm_context(state: Mapping[str, Any], *, header: str = "Personalized context for this user (RPM):") -> str:
    """The ``rpm_prediction`` of ``state`` as text for a system prompt; ``""`` when there is none.

    Example:
        >>> rpm_context({})
        ''
    """
    prediction = state.get("rpm_prediction")
    if not prediction:
        return ""
    return f"{header}\n{format_prediction(prediction)}"
