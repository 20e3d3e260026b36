"""The personalized-inference graph: query -> factor-aware features -> retrieval -> generation.

Its state keys are all prefixed ``rpm_`` (:class:`~langchain_rpm.graphs.state.RPMState`), so the
same nodes can join a host graph whose state mixes in ``RPMState``
(:func:`~langchain_rpm.graphs.compose.add_rpm_nodes`). The query comes from ``rpm_query`` or, when
that is empty, from the last human message in ``messages``. Each node is a step of the
:class:`~langchain_rpm.personalization.Personalizer` and writes a partial state update.

Example:
    >>> from langchain_rpm.testing import demo_rpm
    >>> rpm = demo_rpm()  # the offline demo model, a temporary store, user "ada" built
    >>> graph = create_inference_graph(rpm.components).compile()
    >>> out = graph.invoke({"rpm_query": "Broke in a day."}, context=RPMContext(user_id="ada"))
    >>> out["rpm_prediction"]["answer"]
    '1'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime

from langchain_rpm._plans import Plan, arun, run
from langchain_rpm.components import RPMComponents
from langchain_rpm.errors import ConfigurationError
from langchain_rpm.graphs.internal import internal_config
from langchain_rpm.graphs.state import RPMContext, RPMState, progress_event, resolve_user_id
from langchain_rpm.personalization import OnUnknownUser, Personalizer, check_on_unknown_user, require_profile
from langchain_rpm.store import QueryContext
from langchain_rpm.types import Factor, Feature, Prediction, RetrievedExample, Usage

NodePlan = Callable[[Any, RunnableConfig], Plan[dict[str, Any]]]


def query_from_state(state: dict[str, Any]) -> str:
    """``rpm_query``, else the text of the last human message in ``messages``."""
    query = state.get("rpm_query")
    if query:
        return str(query)
    for message in reversed(state.get("messages") or []):
        if isinstance(message, BaseMessage) and message.type == "human":
            return message.text
    raise ConfigurationError("RPM needs a query: set `rpm_query` in the state (or add a human message to `messages`)")


def plan_node(name: str, step: NodePlan) -> RunnableLambda[Any, dict[str, Any]]:
    """A graph node (sync and async) that runs ``step(state, config)``'s plan, its model calls tagged internal."""

    def node(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return run(step(state, internal_config(config)))

    async def anode(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return await arun(step(state, internal_config(config)))

    return RunnableLambda(node, afunc=anode, name=name)


class InferenceSteps:
    """The three inference steps over one set of components, as node plans.

    A user without a profile gets empty ``rpm_*`` keys and ``rpm_prediction`` ``None`` (no LLM call),
    or, with ``on_unknown_user="raise"``, :class:`~langchain_rpm.errors.UnknownUserError`.
    """

    def __init__(self, components: RPMComponents, *, on_unknown_user: OnUnknownUser = "empty") -> None:
        """Personalize with ``components``; ``on_unknown_user`` is the cold-start rule."""
        self.components = components
        self.personalizer = Personalizer(components)
        self.strict = check_on_unknown_user(on_unknown_user)

    @staticmethod
    def _user(config: RunnableConfig) -> str:
        return resolve_user_id(get_runtime().context, config)

    @staticmethod
    def _emit(stage: str, user_id: str) -> None:
        get_stream_writer()(progress_event(stage, user_id, 1, 1))

    def _context(self, user_id: str) -> Plan[QueryContext]:
        """The user's profile and examples: one store read, none when this process holds it (the query cache)."""
        context = yield from self.components.store.query_context_plan(user_id)
        return context

    def _factors(self, user_id: str) -> Plan[list[Factor] | None]:
        """The user's factors (``None``: no profile): from the query context where the store caches it.

        Read once for all three nodes; a query parses the factors, not the rest of the profile (its drift history).
        """
        return (yield from self.components.store.profile_context_plan(user_id)).factors

    def extract(self, state: dict[str, Any], config: RunnableConfig) -> Plan[dict[str, Any]]:
        """``rpm_extract``: the query's factor-aware features and the user's factors."""
        user_id = self._user(config)
        factors = yield from self._factors(user_id)
        if self.strict:
            factors = require_profile(factors, user_id)
        if factors is None:  # cold start: an empty personalization
            self._emit("query_features", user_id)
            return {"rpm_features": [], "rpm_factors": []}
        query = query_from_state(state)
        features = yield from self.personalizer.features_plan(factors, query, state.get("rpm_options"), config)
        self._emit("query_features", user_id)
        return {
            "rpm_features": [f.model_dump() for f in features],
            "rpm_factors": [f.model_dump() for f in factors],
        }

    def retrieve(self, state: dict[str, Any], config: RunnableConfig) -> Plan[dict[str, Any]]:
        """``rpm_retrieve``: the user's examples nearest to the features."""
        user_id = self._user(config)
        features = [Feature.model_validate(f) for f in state.get("rpm_features") or []]
        context = yield from self._context(user_id)  # the read of rpm_extract, from the query cache
        query, k = query_from_state(state), self.personalizer.k
        hits = yield from self.personalizer.nearest_plan(context, user_id, features, query, k)
        self._emit("retrieve", user_id)
        return {"rpm_examples": [h.model_dump() for h in hits]}

    def generate(self, state: dict[str, Any], config: RunnableConfig) -> Plan[dict[str, Any]]:
        """``rpm_generate``: the user's reasoning and answer."""
        user_id = self._user(config)
        if not state.get("rpm_factors") and (yield from self._factors(user_id)) is None:
            self._emit("generate", user_id)
            return {"rpm_prediction": None}
        generator = self.components.generator
        request = generator.coerce(
            {
                "user_id": user_id,
                "query": query_from_state(state),
                "options": state.get("rpm_options"),
                "features": [Feature.model_validate(f) for f in state.get("rpm_features") or []],
                "factors": [Factor.model_validate(f) for f in state.get("rpm_factors") or []],
                "examples": [RetrievedExample.model_validate(h) for h in state.get("rpm_examples") or []],
            }
        )
        prediction = yield from generator.plan(request, config)
        self._emit("generate", user_id)
        return {"rpm_prediction": prediction.model_dump(mode="json")}

    def nodes(self) -> dict[str, RunnableLambda[Any, dict[str, Any]]]:
        """The three nodes, keyed by stage (``extract``, ``retrieve``, ``generate``)."""
        return {
            "extract": plan_node("rpm_extract", self.extract),
            "retrieve": plan_node("rpm_retrieve", self.retrieve),
            "generate": plan_node("rpm_generate", self.generate),
        }


def create_inference_graph(
    components: RPMComponents | None = None, *, on_unknown_user: OnUnknownUser = "empty", **options: Any
) -> StateGraph[RPMState, RPMContext, RPMState, RPMState]:
    """Return the *uncompiled* inference graph (``rpm_extract -> rpm_retrieve -> rpm_generate``).

    Args:
        components: Configured stages; if omitted, built from ``options``.
        on_unknown_user: ``"empty"`` (a user without a profile: empty ``rpm_*`` keys, ``rpm_prediction``
            ``None``) or ``"raise"`` (:class:`~langchain_rpm.errors.UnknownUserError`).
        **options: Arguments of :meth:`RPMComponents.create` (``llm=``, ``task=``, ``store=``, ...).

    Input: ``{"rpm_query": ..., "rpm_options": [...] or None}`` with the user id in the run context
    (``context=RPMContext(user_id=...)``) or ``config["configurable"]["user_id"]``. Output state:
    ``rpm_prediction`` (a :class:`~langchain_rpm.types.Prediction` as a dict) and the other ``rpm_*`` keys.

    Example:
        >>> import tempfile
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> from langchain_rpm import RPMStore
        >>> from langchain_rpm.testing import demo_chat_model
        >>> store = RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8))
        >>> graph = create_inference_graph(llm=demo_chat_model(), task="lamp2", store=store)
        >>> list(graph.compile().get_graph().nodes)[1:4]
        ['rpm_extract', 'rpm_retrieve', 'rpm_generate']
    """
    parts = components or RPMComponents.create(**options)
    builder = StateGraph(RPMState, context_schema=RPMContext)
    nodes = InferenceSteps(parts, on_unknown_user=on_unknown_user).nodes()
    for name, node in zip(("rpm_extract", "rpm_retrieve", "rpm_generate"), nodes.values(), strict=True):
        builder.add_node(name, node)
    builder.add_edge(START, "rpm_extract")
    builder.add_edge("rpm_extract", "rpm_retrieve")
    builder.add_edge("rpm_retrieve", "rpm_generate")
    builder.add_edge("rpm_generate", END)
    return builder


def query_input(query: str, options: Sequence[str] | None) -> RPMState:
    """The inference graph's input for ``query`` (and the query's own answer options, if any)."""
    if not isinstance(query, str) or not query.strip():
        raise ConfigurationError("query must be a non-empty string")
    return {"rpm_query": query, "rpm_options": list(options) if options else None}


def prediction_from_state(state: dict[str, Any], usage: Usage) -> Prediction:
    """The graph's final prediction, with the usage the run counted."""
    prediction = Prediction.model_validate(state["rpm_prediction"])
    return prediction.model_copy(update={"usage": usage})
