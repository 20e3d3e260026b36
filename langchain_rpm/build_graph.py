"""The profile-build graph: history -> features -> factors -> reasoning paths -> stored profile.

Items fan out with ``Send`` (one task per item, or per pack of ``components.pack_size`` items), so
with a checkpointer an interrupted build resumes without re-running finished items, and LangGraph
runs them concurrently under ``config["max_concurrency"]``. An item whose LLM call fails is recorded
in ``failed`` and the profile is built from the rest.

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

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.errors import GraphBubbleUp
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Send

from langchain_rpm.components import RPMComponents
from langchain_rpm.context import ProgressCounter, RPMContext, progress_event, resolve_user_id
from langchain_rpm.extractor import ExtractionInput
from langchain_rpm.inference_graph import require_profile
from langchain_rpm.packing import packs
from langchain_rpm.prompts import PROMPT_VERSION
from langchain_rpm.reasoning import ReasoningInput
from langchain_rpm.statistics import refresh_factors
from langchain_rpm.tasks import InvalidAnswerError, TaskSpec
from langchain_rpm.types import OTHER_FACTOR, Factor, FailedItem, Feature, HistoryItem, ReasoningExample, UserProfile


class BuildFailedError(RuntimeError):
    """No history item could be processed, so no profile was stored."""


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: keys of ``right`` replace those of ``left``."""
    return {**(left or {}), **(right or {})}


class ProfileBuildState(TypedDict, total=False):
    """State of the build graph; every value is JSON-like (``model_dump()`` dicts).

    ``mode`` is ``"build"`` (default: ``history`` is the user's whole history) or ``"update"``
    (``history`` holds only new items, added to the stored profile incrementally).
    """

    user_id: str
    mode: Literal["build", "update"]
    history: list[dict[str, Any]]
    stored: dict[str, dict[str, Any]]
    base_profile: dict[str, Any] | None
    features: Annotated[dict[str, list[dict[str, Any]]], merge_dicts]
    factors: list[dict[str, Any]]
    reclustered: bool
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
    components: RPMComponents | None = None, *, recluster_threshold: float = 0.3, **options: Any
) -> StateGraph[ProfileBuildState, RPMContext, ProfileBuildState, ProfileBuildState]:
    """Return the *uncompiled* profile-build graph; compile it with your own checkpointer.

    Args:
        components: Configured stages; if omitted, built from ``options`` via
            :meth:`RPMComponents.create` (``llm=``, ``task=``, ``store=``, ...).
        recluster_threshold: In update mode, the share of the profile's features that may fit no
            existing factor before the factors are re-clustered from all features.

    Input: ``{"user_id": ..., "history": [HistoryItem-like dicts]}`` builds from scratch; add
    ``"mode": "update"`` to add new items to a stored profile, paying LLM calls only for them.
    The user id may come from the run context instead. Output state: ``profile`` (the stored
    :class:`UserProfile` as a dict), ``failed`` (items that could not be processed, with reasons).
    """
    parts = components or RPMComponents.create(**options)
    task, store = parts.task, parts.store
    progress = ProgressCounter()

    # -- prepare: validate, and in update mode load what is stored ------------------------------------
    def _prepared(state: ProfileBuildState, user_id: str, profile: UserProfile | None) -> dict[str, Any]:
        items = validate_history(task, state.get("history") or [])
        update: dict[str, Any] = {"user_id": user_id, "history": [item.model_dump() for item in items]}
        if state.get("mode") == "update":
            base = require_profile(profile, user_id)
            stored = store.get_examples(user_id)
            stored_ids = {ex.item_id for ex in stored}
            clash = [item.id for item in items if item.id in stored_ids]
            if clash:
                raise ValueError(f"user {user_id!r} already has item id(s) {clash[:5]}: new items need new ids")
            update |= {
                "base_profile": base.model_dump(mode="json"),
                "stored": {ex.item_id: ex.model_dump() for ex in stored},
                "factors": [f.model_dump() for f in base.factors],
            }
        done = sum(1 for item in items if item.id in (state.get("features") or {}))
        progress.start(user_id, "extract", len(items), done)
        _emit("extract", user_id, done, len(items))
        return update

    def prepare(state: ProfileBuildState, config: RunnableConfig) -> dict[str, Any]:
        user_id = state.get("user_id") or resolve_user_id(get_runtime().context, config)
        return _prepared(state, user_id, store.get_profile(user_id) if state.get("mode") == "update" else None)

    # -- extraction, one task per pack of items (factor-aware against the stored factors in update mode) --
    def route_extract(state: ProfileBuildState) -> list[Send] | str:
        have = state.get("features") or {}
        factors = state.get("factors") if state.get("mode") == "update" else None
        pending = [item for item in state["history"] if item["id"] not in have]
        sends = [
            Send("extract_item", {"user_id": state["user_id"], "items": pack, "factors": factors})
            for pack in packs(pending, parts.pack_size)
        ]
        return sends or "aggregate"

    def _extraction_inputs(payload: dict[str, Any]) -> list[Any]:
        items = [HistoryItem.model_validate(item) for item in payload["items"]]
        if payload.get("factors") is None:
            return items
        factors = [Factor.model_validate(f) for f in payload["factors"]]
        return [ExtractionInput(text=item.input, options=item.options, factors=factors) for item in items]

    def _collected(payload: dict[str, Any], results: list[Any], stage: str, key: str) -> dict[str, Any]:
        """A pack's results as a state update: outputs under ``key`` (as dicts), failures under ``failed``."""
        outputs: dict[str, Any] = {}
        failed: dict[str, Any] = {}
        for item, result in zip(payload["items"], results, strict=True):
            if isinstance(result, Exception):
                failed |= _failure(item["id"], stage, result)
                continue
            outputs[item["id"]] = [f.model_dump() for f in result] if isinstance(result, list) else result.model_dump()
            done, total = progress.advance(payload["user_id"], stage)
            _emit(stage, payload["user_id"], done, total)
        return _nonempty(**{key: outputs, "failed": failed})

    def extract_item(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        results = parts.extractor.invoke_pack(_extraction_inputs(payload), config)
        return _collected(payload, results, "extract", "features")

    async def aextract_item(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        results = await parts.extractor.ainvoke_pack(_extraction_inputs(payload), config)
        return _collected(payload, results, "extract", "features")

    # -- aggregation: cluster (build, or update past the threshold) or assign to stored factors -------
    def _plan(state: ProfileBuildState) -> tuple[str, dict[str, Any]]:
        """``("cluster", aggregator input)`` or ``("assign", {})``."""
        have = state.get("features") or {}
        items = [item for item in state["history"] if item["id"] in have]
        if not items:
            failures = "; ".join(f"{k}: {v['error']}" for k, v in (state.get("failed") or {}).items())
            raise BuildFailedError(f"user {state['user_id']!r}: no history item could be processed ({failures})")
        features = {item["id"]: have[item["id"]] for item in items}
        if state.get("mode") == "update":
            base = UserProfile.model_validate(state["base_profile"])
            known = {f["name"] for f in state.get("factors") or []}
            new = [f for feats in features.values() for f in feats]
            unfit = base.unfit_features + sum(1 for f in new if f["factor"] not in known)
            if unfit <= recluster_threshold * max(1, base.num_features + len(new)):
                return "assign", {}
            stored = state.get("stored") or {}
            items = [_as_item(ex) for ex in stored.values()] + items
            features = {**{k: ex["features"] for k, ex in stored.items()}, **features}
        _emit("aggregate", state["user_id"], 0, 1)
        return "cluster", {"items": items, "features": features}

    def _assigned(state: ProfileBuildState) -> dict[str, Any]:
        """Update mode under the threshold: features that fit no factor go to 'Other'; no LLM call."""
        factors = [Factor.model_validate(f) for f in state.get("factors") or []]
        known = {f.name for f in factors}
        new_ids = {item["id"] for item in state["history"]}
        features = {
            k: [f if f["factor"] in known else {**f, "factor": OTHER_FACTOR} for f in feats]
            for k, feats in (state.get("features") or {}).items()
            if k in new_ids
        }
        if OTHER_FACTOR not in known and any(f["factor"] == OTHER_FACTOR for v in features.values() for f in v):
            factors.append(Factor(name=OTHER_FACTOR, description="Features that fit no other factor."))
        examples = [ReasoningExample.model_validate(e) for e in (state.get("stored") or {}).values()]
        pending = [  # the new items as provisional examples, so statistics cover them in reasoning prompts
            ReasoningExample(
                item_id=item["id"],
                input=item["input"],
                features=[Feature.model_validate(f) for f in features[item["id"]]],
                reasoning="",
                answer=task.check(item["response"], item.get("options")).answer,
                options=item.get("options"),
            )
            for item in state["history"]
            if item["id"] in features
        ]
        factors = refresh_factors(task, factors, examples + pending)
        return _aggregated(state, [f.model_dump() for f in factors], features, reclustered=False)

    def _clustered(state: ProfileBuildState, result: Any) -> dict[str, Any]:
        _emit("aggregate", state["user_id"], 1, 1, factors=len(result.factors))
        features = {k: [f.model_dump() for f in v] for k, v in result.features.items()}
        update = _aggregated(state, [f.model_dump() for f in result.factors], features, reclustered=True)
        if state.get("mode") == "update":  # re-clustered: stored examples take their new factor names
            stored = state.get("stored") or {}
            update["stored"] = {k: {**ex, "features": features[k]} for k, ex in stored.items()}
            update["features"] = {k: v for k, v in features.items() if k not in stored}
        return update

    def _aggregated(
        state: ProfileBuildState, factors: list[dict[str, Any]], features: dict[str, Any], *, reclustered: bool
    ) -> dict[str, Any]:
        new_ids = {item["id"] for item in state["history"]}
        total = sum(1 for k in features if k in new_ids)
        done = sum(1 for k in features if k in (state.get("examples") or {}))
        progress.start(state["user_id"], "reason", total, done)
        _emit("reason", state["user_id"], done, total)
        return {"factors": factors, "features": features, "reclustered": reclustered}

    def aggregate(state: ProfileBuildState, config: RunnableConfig) -> dict[str, Any]:
        kind, request = _plan(state)
        if kind == "assign":
            return _assigned(state)
        return _clustered(state, parts.aggregator.invoke(request, config))

    async def aaggregate(state: ProfileBuildState, config: RunnableConfig) -> dict[str, Any]:
        kind, request = _plan(state)
        if kind == "assign":
            return _assigned(state)
        return _clustered(state, await parts.aggregator.ainvoke(request, config))

    # -- reasoning paths, one task per pack of items ---------------------------------------------------
    def route_reason(state: ProfileBuildState) -> list[Send] | str:
        have = state.get("examples") or {}
        features = state.get("features") or {}
        pending = [item for item in state["history"] if item["id"] in features and item["id"] not in have]
        sends = [
            Send(
                "reason_item",
                {
                    "user_id": state["user_id"],
                    "items": pack,
                    "features": {item["id"]: features[item["id"]] for item in pack},
                    "factors": state["factors"],
                },
            )
            for pack in packs(pending, parts.pack_size)
        ]
        return sends or "finalize"

    def _reasoning_inputs(payload: dict[str, Any]) -> list[ReasoningInput]:
        factors = [Factor.model_validate(f) for f in payload["factors"]]  # validated once per pack
        return [
            ReasoningInput(
                item=HistoryItem.model_validate(item),
                features=[Feature.model_validate(f) for f in payload["features"][item["id"]]],
                factors=factors,
            )
            for item in payload["items"]
        ]

    def reason_item(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        results = parts.reasoner.invoke_pack(_reasoning_inputs(payload), config)
        return _collected(payload, results, "reason", "examples")

    async def areason_item(payload: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        results = await parts.reasoner.ainvoke_pack(_reasoning_inputs(payload), config)
        return _collected(payload, results, "reason", "examples")

    # -- finalize: exact statistics over what is stored, then write examples and the profile ----------
    def _outcome(state: ProfileBuildState, previous: UserProfile | None) -> tuple[UserProfile, list[ReasoningExample]]:
        """The new profile, and the examples to write (all of them, or only new ones in a cheap update)."""
        new = [ReasoningExample.model_validate(e) for e in (state.get("examples") or {}).values()]
        stored = [ReasoningExample.model_validate(e) for e in (state.get("stored") or {}).values()]
        examples = stored + new
        factors = refresh_factors(task, [Factor.model_validate(f) for f in state.get("factors") or []], examples)
        done = {e.item_id for e in new}
        failed = [FailedItem.model_validate(v) for k, v in (state.get("failed") or {}).items() if k not in done]
        known = {f.name for f in factors} - {OTHER_FACTOR}
        base = UserProfile.model_validate(state["base_profile"]) if state.get("base_profile") else None
        unfit = 0
        if base is not None and not state.get("reclustered"):
            unfit = base.unfit_features + sum(1 for e in new for f in e.features if f.factor not in known)
        profile = UserProfile(
            user_id=state["user_id"],
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
            unfit_features=unfit,
        )
        cheap_update = state.get("mode") == "update" and not state.get("reclustered")
        return profile, new if cheap_update else examples

    def _write(profile: UserProfile, examples: list[ReasoningExample], state: ProfileBuildState) -> None:
        if state.get("mode") == "update":
            store.add_examples(profile.user_id, examples, profile_version=profile.version)
        else:
            store.replace_user_examples(profile.user_id, examples, profile_version=profile.version)
        store.save_profile(profile)

    def finalize(state: ProfileBuildState) -> dict[str, Any]:
        profile, examples = _outcome(state, store.get_profile(state["user_id"]))
        _emit("store", profile.user_id, 0, len(examples))
        _write(profile, examples, state)
        _emit("store", profile.user_id, len(examples), len(examples))
        return {"profile": profile.model_dump(mode="json")}

    async def afinalize(state: ProfileBuildState) -> dict[str, Any]:
        profile, examples = _outcome(state, await store.aget_profile(state["user_id"]))
        _emit("store", profile.user_id, 0, len(examples))
        await asyncio.to_thread(_write, profile, examples, state)
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


def _nonempty(**updates: dict[str, Any]) -> dict[str, Any]:
    """The state update without empty dicts (each written key costs a reducer merge)."""
    return {key: value for key, value in updates.items() if value}


def _as_item(example: dict[str, Any]) -> dict[str, Any]:
    """A stored example as a history-item dict (its answer is the response)."""
    return {
        "id": example["item_id"],
        "input": example["input"],
        "response": example["answer"],
        "options": example.get("options"),
    }
