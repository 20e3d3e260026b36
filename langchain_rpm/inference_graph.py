"""The personalized-inference graph: query -> factor-aware features -> retrieval -> generation.

Its state keys are all prefixed ``rpm_`` (:class:`RPMState`), so the same nodes can be added to a
host graph whose state mixes in ``RPMState``. The query comes from ``rpm_query`` or, when that is
empty, from the last human message in ``messages``.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.components import RPMComponents
    >>> from langchain_rpm.store import RPMStore
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> parts = RPMComponents.create(FakeStructuredChatModel(), "lamp3",
    ...     store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> graph = create_inference_graph(parts).compile()
    >>> try:
    ...     graph.invoke({"rpm_query": "Great value."}, context=RPMContext(user_id="nobody"))
    ... except UnknownUserError as exc:
    ...     print(str(exc).split(":")[0])
    no profile for user 'nobody'
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime
from typing_extensions import TypedDict  # the flavour of LangGraph's MessagesState and langchain's AgentState

from langchain_rpm.components import RPMComponents
from langchain_rpm.context import RPMContext, progress_event, resolve_user_id
from langchain_rpm.types import Factor, Feature, Prediction, RetrievedExample, UserProfile


class UnknownUserError(LookupError):
    """The user has no stored profile."""


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


def query_from_state(state: dict[str, Any]) -> str:
    """``rpm_query``, else the text of the last human message in ``messages``."""
    query = state.get("rpm_query")
    if query:
        return str(query)
    for message in reversed(state.get("messages") or []):
        if isinstance(message, HumanMessage) or (isinstance(message, BaseMessage) and message.type == "human"):
            return message.text if hasattr(message, "text") else str(message.content)
    raise ValueError("RPM needs a query: set `rpm_query` in the state (or add a human message to `messages`)")


def require_profile(profile: UserProfile | None, user_id: str) -> UserProfile:
    """Return ``profile`` or raise :class:`UnknownUserError` saying how to build one."""
    if profile is None:
        raise UnknownUserError(
            f"no profile for user {user_id!r}: build it first (RPM.build_user / `rpm build`), or check the user id"
        )
    return profile


def _emit(stage: str, user_id: str) -> None:
    get_stream_writer()(progress_event(stage, user_id, 1, 1))


def rpm_inference_nodes(parts: RPMComponents) -> dict[str, RunnableLambda[Any, dict[str, Any]]]:
    """The three inference nodes (``rpm_extract``, ``rpm_retrieve``, ``rpm_generate``), sync and async."""
    store = parts.store

    def _user(config: RunnableConfig) -> str:
        return resolve_user_id(get_runtime().context, config)

    def _extract_input(state: dict[str, Any], profile: UserProfile) -> dict[str, Any]:
        return {"text": query_from_state(state), "options": state.get("rpm_options"), "factors": profile.factors}

    def _extracted(user_id: str, profile: UserProfile, features: list[Feature]) -> dict[str, Any]:
        _emit("query_features", user_id)
        return {
            "rpm_features": [f.model_dump() for f in features],
            "rpm_factors": [f.model_dump() for f in profile.factors],
        }

    def extract(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        user_id = _user(config)
        profile = require_profile(store.get_profile(user_id), user_id)
        return _extracted(user_id, profile, parts.extractor.invoke(_extract_input(state, profile), config))

    async def aextract(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        user_id = _user(config)
        profile = require_profile(await store.aget_profile(user_id), user_id)
        return _extracted(user_id, profile, await parts.extractor.ainvoke(_extract_input(state, profile), config))

    def _retrieve_input(state: dict[str, Any], user_id: str) -> dict[str, Any]:
        return {"user_id": user_id, "features": state.get("rpm_features") or [], "query": query_from_state(state)}

    def _retrieved(user_id: str, hits: list[RetrievedExample]) -> dict[str, Any]:
        _emit("retrieve", user_id)
        return {"rpm_examples": [h.model_dump() for h in hits]}

    def retrieve(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        user_id = _user(config)
        return _retrieved(user_id, parts.retriever.invoke(_retrieve_input(state, user_id), config))

    async def aretrieve(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        user_id = _user(config)
        return _retrieved(user_id, await parts.retriever.ainvoke(_retrieve_input(state, user_id), config))

    def _generate_input(state: dict[str, Any], user_id: str) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "query": query_from_state(state),
            "options": state.get("rpm_options"),
            "features": [Feature.model_validate(f) for f in state.get("rpm_features") or []],
            "factors": [Factor.model_validate(f) for f in state.get("rpm_factors") or []],
            "examples": [RetrievedExample.model_validate(h) for h in state.get("rpm_examples") or []],
        }

    def _generated(user_id: str, prediction: Prediction) -> dict[str, Any]:
        _emit("generate", user_id)
        return {"rpm_prediction": prediction.model_dump(mode="json")}

    def generate(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        user_id = _user(config)
        return _generated(user_id, parts.generator.invoke(_generate_input(state, user_id), config))

    async def agenerate(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        user_id = _user(config)
        return _generated(user_id, await parts.generator.ainvoke(_generate_input(state, user_id), config))

    return {
        "rpm_extract": RunnableLambda(extract, afunc=aextract, name="rpm_extract"),
        "rpm_retrieve": RunnableLambda(retrieve, afunc=aretrieve, name="rpm_retrieve"),
        "rpm_generate": RunnableLambda(generate, afunc=agenerate, name="rpm_generate"),
    }


def create_inference_graph(
    components: RPMComponents | None = None, **options: Any
) -> StateGraph[RPMState, RPMContext, RPMState, RPMState]:
    """Return the *uncompiled* inference graph (``rpm_extract -> rpm_retrieve -> rpm_generate``).

    Input: ``{"rpm_query": ..., "rpm_options": [...] or None}`` with the user id in the run context
    (``context=RPMContext(user_id=...)``) or ``config["configurable"]["user_id"]``. Output state:
    ``rpm_prediction`` (a :class:`Prediction` as a dict) and the intermediate ``rpm_*`` keys.
    """
    parts = components or RPMComponents.create(**options)
    builder = StateGraph(RPMState, context_schema=RPMContext)
    for name, node in rpm_inference_nodes(parts).items():
        builder.add_node(name, node)
    builder.add_edge(START, "rpm_extract")
    builder.add_edge("rpm_extract", "rpm_retrieve")
    builder.add_edge("rpm_retrieve", "rpm_generate")
    builder.add_edge("rpm_generate", END)
    return builder
