"""Add the RPM inference nodes to your own LangGraph ``StateGraph`` (an agent, a chatbot, a pipeline).

Three steps: mix :class:`~langchain_rpm.graphs.inference.RPMState` into your state, call
:func:`add_rpm_nodes` on your builder, and read ``rpm_prediction`` (or :func:`rpm_context`) in your
own nodes. LangGraph silently drops writes to keys a state does not declare, so
:func:`add_rpm_nodes` checks at build time that your state declares every key the RPM nodes write
and raises :class:`MissingStateKeysError` naming the missing ones.

The query is ``rpm_query`` when set, else the last human message in ``messages``. The user id comes
from the run context (``context=RPMContext(user_id=...)`` or any context object/dict with a
``user_id``), else ``config["configurable"]["user_id"]``. The example store is the one in the RPM
components you pass; components made without one use the LangGraph ``BaseStore`` the graph is
compiled with (``compile(store=...)``, ``runtime.store``; exact cosine search needs no vector index).

Example:
    >>> from langgraph.graph import END, START, MessagesState, StateGraph
    >>> from langchain_rpm import RPMContext, RPMState
    >>> from langchain_rpm.errors import MissingStateKeysError
    >>> from langchain_rpm.testing import demo_rpm
    >>> parts = demo_rpm().components
    >>> class ChatState(MessagesState, RPMState):
    ...     pass
    >>> builder = StateGraph(ChatState)
    >>> _ = builder.add_node("reply", lambda state: {"messages": [("ai", rpm_context(state))]})
    >>> add_rpm_nodes(builder, parts, after=START, before="reply")
    RPMNodeNames(extract='rpm_extract', retrieve='rpm_retrieve', generate='rpm_generate')
    >>> graph = builder.add_edge("reply", END).compile()
    >>> out = graph.invoke({"messages": [("human", "Broke in a day.")]}, context=RPMContext("ada"))
    >>> out["rpm_prediction"]["answer"]
    '1'
    >>> try:
    ...     add_rpm_nodes(StateGraph(MessagesState), parts)
    ... except MissingStateKeysError as exc:
    ...     print(exc.missing)
    ('rpm_features', 'rpm_factors', 'rpm_examples', 'rpm_prediction')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from langgraph.graph import StateGraph
from typing_extensions import TypedDict

from langchain_rpm.components import HasComponents, RPMComponents, as_components
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.graphs.inference import InferenceSteps
from langchain_rpm.graphs.state import check_host_state, declared_state_keys
from langchain_rpm.personalization import OnUnknownUser
from langchain_rpm.types import Prediction

NODE_READS: dict[str, tuple[str, ...]] = {
    "extract": ("rpm_query", "rpm_options", "messages"),
    "retrieve": ("rpm_query", "rpm_features", "messages"),
    "generate": ("rpm_query", "rpm_options", "rpm_features", "rpm_factors", "rpm_examples", "messages"),
}
"""The state keys each RPM node reads (it is given only those the host state declares)."""


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


def add_rpm_nodes(
    builder: StateGraph[Any, Any, Any, Any],
    rpm: HasComponents | RPMComponents,
    *,
    prefix: str = "rpm",
    after: str | None = None,
    before: str | None = None,
    on_unknown_user: OnUnknownUser = "empty",
) -> RPMNodeNames:
    """Add ``{prefix}_extract -> {prefix}_retrieve -> {prefix}_generate`` to your ``StateGraph`` builder.

    Args:
        builder: Your uncompiled graph; its state must mix in ``RPMState`` (checked here).
        rpm: An :class:`~langchain_rpm.RPM` facade or :class:`RPMComponents` (model, task, store).
        prefix: Node-name prefix (the state keys stay ``rpm_*``).
        after: A node (or ``START``) to add an edge from, into the first RPM node.
        before: A node (or ``END``) to add an edge to, from the last RPM node.
        on_unknown_user: ``"empty"`` (a user without a profile: empty ``rpm_*`` keys and no
            ``rpm_prediction``, your graph runs unpersonalized) or ``"raise"``
            (:class:`~langchain_rpm.errors.UnknownUserError`).

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
        raise ConfigurationError(f"the graph already has node(s) {taken}: pass another `prefix=`")
    nodes = InferenceSteps(as_components(rpm), on_unknown_user=on_unknown_user).nodes()
    for stage, name in zip(("extract", "retrieve", "generate"), names, strict=True):
        reads = {key: Any for key in NODE_READS[stage] if key in declared}
        schema = TypedDict(f"{name}_input", reads, total=False)  # type: ignore[misc]
        builder.add_node(name, nodes[stage], input_schema=schema)
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
