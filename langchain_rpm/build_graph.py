"""The profile-build graph: history -> features -> factors -> reasoning paths -> stored profile.

Items fan out with ``Send``, so with a checkpointer an interrupted build resumes without re-running
finished items, and LangGraph runs them concurrently under ``config["max_concurrency"]``. An item
whose LLM call fails is recorded in ``failed`` and the profile is built from the rest.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.components import RPMComponents
    >>> from langchain_rpm.store import RPMStore
    >>> from langchain_rpm.testing import FakeStructuredChatModel
    >>> parts = RPMComponents.create(FakeStructuredChatModel(), "lamp3",
    ...     store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> graph = create_profile_build_graph(parts).compile()
    >>> out = graph.invoke({"user_id": "u1", "history": [{"id": "1", "input": "Late delivery.", "response": "2"}]})
    >>> out["profile"]["num_items"]
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Send

from langchain_rpm.components import RPMComponents
from langchain_rpm.context import ProgressCounter, RPMContext, progress_event, resolve_user_id
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.statistics import apply_judgments
from langchain_rpm.tasks import InvalidAnswerError, TaskKind, TaskSpec
from langchain_rpm.types import Factor, FailedItem, Feature, HistoryItem, ReasoningExample, UserProfile


class BuildFailedError(RuntimeError):
    """No history item could be processed, so no profile was stored."""


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: keys of ``right`` replace those of ``left``."""
    return {**(left or {}), **(right or {})}


class ProfileBuildState(TypedDict, total=False):
    """State of the build graph; every value is JSON-like (``model_dump()`` dicts)."""

    user_id: str
    history: list[dict[str, Any]]
    features: Annotated[dict[str, list[dict[str, Any]]], merge_dicts]
    factors: list[dict[str, Any]]
    examples: Annotated[dict[str, dict[str, Any]], merge_dicts]
    failed: Annotated[dict[str, dict[str, Any]], merge_dicts]
    profile: dict[str, Any]


def validate_history(task: TaskSpec, history: Sequence[HistoryItem | dict[str, Any]]) -> list[HistoryItem]:
    """Parse and check a history; raise ``ValueError`` naming the first bad item.

    Ids must be unique; discrete tasks need responses that fit the task (labels in the list,
    ratings on the scale, options among the item's options).
    """
    if not history:
        raise ValueError("the history is empty: a profile needs at least one (input, response) item")
    items: list[HistoryItem] = []
    seen: set[str] = set()
    for position, raw in enumerate(history):
        try:
            item = raw if isinstance(raw, HistoryItem) else HistoryItem.model_validate(raw)
        except ValueError as exc:
            raise ValueError(f"history item {position}: {exc}") from None
        if item.id in seen:
            raise ValueError(f"history item {position}: duplicate item id {item.id!r}")
        seen.add(item.id)
        if task.is_discrete:
            try:
                task.normalize(item.response, item.options)
            except InvalidAnswerError as exc:
                raise ValueError(f"history item {position} (id {item.id!r}): response rejected: {exc}") from None
        items.append(item)
    return items


def _emit(stage: str, user_id: str, done: int, total: int, **extra: Any) -> None:
    get_stream_writer()(progress_event(stage, user_id, done, total, **extra))


def _failure(item_id: str, stage: str, exc: Exception) -> dict[str, Any]:
    if isinstance(exc, GraphBubbleUp):
        raise exc
    return {item_id: FailedItem(item_id=item_id, stage=stage, error=f"{type(exc).__name__}: {exc}"[:500]).model_dump()}


def create_profile_build_graph(
    components: RPMComponents | None = None, **options: Any
) -> StateGraph[ProfileBuildState, RPMContext, ProfileBuildState, ProfileBuildState]:
    """Return the *uncompiled* profile-build graph; compile it with your own checkpointer.

    Args:
        components: Configured stages; if omitted, built from ``options`` via
            :meth:`RPMComponents.create` (``llm=``, ``task=``, ``store=``, ...).

    Input: ``{"user_id": ..., "history": [HistoryItem-like dicts]}`` (the user id may come from the
    run context instead). Output state: ``profile`` (the stored :class:`UserProfile` as a dict),
    ``failed`` (items that could not be processed, with reasons).
    """
    parts = components or RPMComponents.create(**options)
    task, store = parts.task, parts.store
    progress = ProgressCounter()

    def prepare(state: ProfileBuildState, config: RunnableConfig) -> dict[str, Any]:
        user_id = state.get("user_id") or resolve_user_id(get_runtime().context, config)
        items = validate_history(task, state.get("history") or [])
        done = sum(1 for item in items if item.id in (state.get("features") or {}))
        progress.start(user_id, "extract", len(items), done)
        _emit("extract", user_id, done, len(items))
        return {"user_id": user_id, "history": [item.model_dump() for item in items]}

    def route_extract(state: ProfileBuildState) -> list[Send] | str:
        have = state.get("features") or {}
        todo = [item for item in state["history"] if item["id"] not in have]
        return [Send("extract_item", {"user_id": state["user_id"], "item": item}) for item in todo] or "aggregate"

    def _extracted(payload: dict[str, Any], features: list[Feature]) -> dict[str, Any]:
        done, total = progress.advance(payload["user_id"], "extract")
        _emit("extract", payload["user_id"], done, total)
        return {"features": {payload["item"]["id"]: [f.model_dump() for f in features]}}

    def extract_item(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        try:
            features = parts.extractor.invoke(HistoryItem.model_validate(payload["item"]), config)
        except Exception as exc:
            return {"failed": _failure(payload["item"]["id"], "extract", exc)}
        return _extracted(payload, features)

    async def aextract_item(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        try:
            features = await parts.extractor.ainvoke(HistoryItem.model_validate(payload["item"]), config)
        except Exception as exc:
            return {"failed": _failure(payload["item"]["id"], "extract", exc)}
        return _extracted(payload, features)

    def _aggregation_input(state: ProfileBuildState) -> dict[str, Any]:
        have = state.get("features") or {}
        items = [item for item in state["history"] if item["id"] in have]
        if not items:
            failures = "; ".join(f"{k}: {v['error']}" for k, v in (state.get("failed") or {}).items())
            raise BuildFailedError(f"user {state['user_id']!r}: no history item could be processed ({failures})")
        _emit("aggregate", state["user_id"], 0, 1)
        return {"items": items, "features": {item["id"]: have[item["id"]] for item in items}}

    def _aggregated(state: ProfileBuildState, result: Any) -> dict[str, Any]:
        _emit("aggregate", state["user_id"], 1, 1, factors=len(result.factors))
        total = len(result.features)
        done = sum(1 for item_id in result.features if item_id in (state.get("examples") or {}))
        progress.start(state["user_id"], "reason", total, done)
        _emit("reason", state["user_id"], done, total)
        return {
            "factors": [f.model_dump() for f in result.factors],
            "features": {k: [f.model_dump() for f in v] for k, v in result.features.items()},
        }

    def aggregate(state: ProfileBuildState, config: RunnableConfig) -> dict[str, Any]:
        return _aggregated(state, parts.aggregator.invoke(_aggregation_input(state), config))

    async def aaggregate(state: ProfileBuildState, config: RunnableConfig) -> dict[str, Any]:
        return _aggregated(state, await parts.aggregator.ainvoke(_aggregation_input(state), config))

    def route_reason(state: ProfileBuildState) -> list[Send] | str:
        have = state.get("examples") or {}
        features = state.get("features") or {}
        sends = [
            Send(
                "reason_item",
                {
                    "user_id": state["user_id"],
                    "item": item,
                    "features": features[item["id"]],
                    "factors": state["factors"],
                },
            )
            for item in state["history"]
            if item["id"] in features and item["id"] not in have
        ]
        return sends or "finalize"

    def _reasoned(payload: dict[str, Any], example: ReasoningExample) -> dict[str, Any]:
        done, total = progress.advance(payload["user_id"], "reason")
        _emit("reason", payload["user_id"], done, total)
        return {"examples": {example.item_id: example.model_dump()}}

    def reason_item(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        try:
            example = parts.reasoner.invoke(payload, config)
        except Exception as exc:
            return {"failed": _failure(payload["item"]["id"], "reason", exc)}
        return _reasoned(payload, example)

    async def areason_item(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        try:
            example = await parts.reasoner.ainvoke(payload, config)
        except Exception as exc:
            return {"failed": _failure(payload["item"]["id"], "reason", exc)}
        return _reasoned(payload, example)

    def _profile(state: ProfileBuildState, previous: UserProfile | None) -> tuple[UserProfile, list[ReasoningExample]]:
        user_id = state["user_id"]
        examples = [ReasoningExample.model_validate(e) for e in (state.get("examples") or {}).values()]
        factors = [Factor.model_validate(f) for f in state.get("factors") or []]
        if task.kind is TaskKind.OPEN_ENDED:
            stats = apply_judgments(
                {f.name: f.statistics for f in factors if f.statistics},
                {e.item_id: e.factor_judgments for e in examples},
            )
            factors = [f.model_copy(update={"statistics": stats.get(f.name, f.statistics)}) for f in factors]
        done = {e.item_id for e in examples}
        failed = [FailedItem.model_validate(v) for k, v in (state.get("failed") or {}).items() if k not in done]
        profile = UserProfile(
            user_id=user_id,
            task=task.name,
            factors=factors,
            num_items=len(examples),
            num_features=sum(len(e.features) for e in examples),
            model=parts.model_name,
            embedding_model=store.embedding_model,
            prompt_version=PROMPT_VERSION,
            version=(previous.version + 1) if previous else 1,
            created_at=previous.created_at if previous else datetime.now(UTC),
            failed_items=failed,
        )
        return profile, examples

    def finalize(state: ProfileBuildState) -> dict[str, Any]:
        profile, examples = _profile(state, store.get_profile(state["user_id"]))
        _emit("store", profile.user_id, 0, len(examples))
        store.replace_user_examples(profile.user_id, examples, profile_version=profile.version)
        store.save_profile(profile)
        _emit("store", profile.user_id, len(examples), len(examples))
        return {"profile": profile.model_dump(mode="json")}

    async def afinalize(state: ProfileBuildState) -> dict[str, Any]:
        profile, examples = _profile(state, await store.aget_profile(state["user_id"]))
        _emit("store", profile.user_id, 0, len(examples))
        await store.areplace_user_examples(profile.user_id, examples, profile_version=profile.version)
        await store.asave_profile(profile)
        _emit("store", profile.user_id, len(examples), len(examples))
        return {"profile": profile.model_dump(mode="json")}

    builder = StateGraph(ProfileBuildState, context_schema=RPMContext)
    builder.add_node("prepare", prepare)
    builder.add_node("extract_item", RunnableLambda(extract_item, afunc=aextract_item, name="extract_item"))  # type: ignore[type-var]
    builder.add_node("aggregate", RunnableLambda(aggregate, afunc=aaggregate, name="aggregate"))
    builder.add_node("reason_item", RunnableLambda(reason_item, afunc=areason_item, name="reason_item"))  # type: ignore[type-var]
    builder.add_node("finalize", RunnableLambda(finalize, afunc=afinalize, name="finalize"))
    builder.add_edge(START, "prepare")
    builder.add_conditional_edges("prepare", route_extract, ["extract_item", "aggregate"])
    builder.add_edge("extract_item", "aggregate")
    builder.add_conditional_edges("aggregate", route_reason, ["reason_item", "finalize"])
    builder.add_edge("reason_item", "finalize")
    builder.add_edge("finalize", END)
    return builder
