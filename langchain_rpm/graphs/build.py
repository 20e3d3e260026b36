"""The profile-build graph: history -> features -> factors -> reasoning paths -> stored profile.

Nodes are the named steps of :class:`BuildSteps` (``prepare``, ``extract_items``, ``aggregate``,
``reason_items``, ``finalize``), each a :mod:`plan <langchain_rpm._plans>` run sync or async. Items
fan out with ``Send`` (one task per pack of ``pack_size`` items), so with a checkpointer an
interrupted build resumes without re-running finished items. ``extract_items`` also runs the judge
(open-ended tasks, ``judge="separate"``); ``aggregate`` is Propose-Assign-Select. An item whose LLM
call fails is recorded in ``failed`` and the profile is built from the rest. Each LLM node adds what
it spent to the ``usage`` state key; ``finalize`` adds that to the profile's ``cost``.

Every result in the state belongs to one request (``build_key``: user, mode and each item's
content): a new history on a used thread keeps only the features of items whose content is
unchanged, and reasoning paths only when the whole request is the same, so nothing crosses users
and nothing stale survives an edit.

Example:
    >>> import tempfile
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> from langchain_rpm.components import RPMComponents
    >>> from langchain_rpm.store import RPMStore
    >>> from langchain_rpm.testing import demo_chat_model
    >>> parts = RPMComponents.create(demo_chat_model(), "lamp3",
    ...     store=RPMStore(tempfile.mkdtemp(), embeddings=DeterministicFakeEmbedding(size=8)))
    >>> graph = create_profile_build_graph(parts).compile()
    >>> out = graph.invoke({"user_id": "u1", "history": [{"id": "1", "input": "Late delivery.", "response": "2"}]})
    >>> out["profile"]["num_items"]
    1
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Overwrite, Send

from langchain_rpm._plans import Plan, gather
from langchain_rpm.components import RPMComponents
from langchain_rpm.errors import BuildFailedError, ConfigurationError, InvalidHistoryError
from langchain_rpm.graphs._commit import commit_build_plan, embed_ahead, embedded_ahead
from langchain_rpm.graphs._progress import BuildProgress, emit
from langchain_rpm.graphs._results import as_history_item, failure_entry, keyless, sharing_features
from langchain_rpm.graphs._windows import windows
from langchain_rpm.graphs.inference import plan_node
from langchain_rpm.graphs.state import REQUEST_KEY, BuildRequest, BuildState, RPMContext, resolve_user_id
from langchain_rpm.personalization import require_profile
from langchain_rpm.stages import ExtractionInput, JudgeInput, ReasoningInput
from langchain_rpm.stages.clustering import closest_factor
from langchain_rpm.stages.statistics import refresh_factors
from langchain_rpm.store._ahead import EmbedAhead
from langchain_rpm.types import (
    OTHER_FACTOR,
    Factor,
    Feature,
    HistoryItem,
    ReasoningExample,
    UserProfile,
)
from langchain_rpm.usage import tracked_plan


class BuildSteps:
    """The steps of a profile build over one set of components (the graph's nodes, as plans).

    Args:
        components: The configured stages and store.
        packs_per_task: Packs of items per ``extract_items`` / ``reason_items`` graph task; a window's packs
            run concurrently inside the task.
    """

    def __init__(self, components: RPMComponents, packs_per_task: int = 1) -> None:
        """Build with ``components``."""
        self.components = components
        self.task = components.task
        self.store = components.store
        self._progress = BuildProgress()
        if not isinstance(packs_per_task, int) or packs_per_task < 1:
            raise ConfigurationError(f"packs_per_task must be an integer >= 1, got {packs_per_task!r}")
        self.window = packs_per_task
        self._last_factors: tuple[list[dict[str, Any]], list[Factor]] | None = None

    # -- prepare -------------------------------------------------------------------------------------------
    def prepare(self, state: BuildState, config: RunnableConfig) -> Plan[dict[str, Any]]:
        """Validate the request, keep only results that belong to it, and load the stored profile (update)."""
        user_id = state.get("user_id") or resolve_user_id(get_runtime().context, config)
        mode = state.get("mode") or "build"
        given = (config.get("configurable") or {}).get(REQUEST_KEY)  # validated by the facade: not again
        if isinstance(given, BuildRequest) and (given.user_id, given.mode) == (user_id, mode):
            request = given
        else:
            request = BuildRequest.validate(self.task, user_id, mode, state.get("history") or [])
        user_id, items, digests, key = request.user_id, request.items, request.digests, request.key
        base = require_profile((yield from self.store.profile_plan(user_id)), user_id) if mode == "update" else None
        # Update-mode features are extracted against the stored factors: they belong to one base version.
        scope = f"{mode}:{base.version}" if base is not None else mode
        keys = {item_id: f"{scope}:{digest}" for item_id, digest in digests.items()}
        # ``history``/``user_id`` already hold the new input here: compare with the recorded item keys.
        old_keys = (state.get("item_keys") or {}) if state.get("build_key") else {}
        same = state.get("build_key") == key and old_keys == keys
        kept = {k: v for k, v in (state.get("features") or {}).items() if k in keys and old_keys.get(k) == keys[k]}
        update: dict[str, Any] = {
            "user_id": user_id,
            "mode": mode,
            "history": [item.model_dump() for item in items],
            "build_key": key,
            "item_keys": keys,
            "features": Overwrite(kept),
            "examples": Overwrite((state.get("examples") or {}) if same else {}),
            "failed": Overwrite((state.get("failed") or {}) if same else {}),
            "profile": {} if not same else state.get("profile") or {},
            # spent on this request and not yet in a stored profile's cost (a finished run committed its own)
            "usage": Overwrite((state.get("usage") or {}) if same and not state.get("profile") else {}),
        }
        if base is not None:
            stored = yield from self.store.examples_plan(user_id)
            clash = sorted({item.id for item in items} & {ex.item_id for ex in stored})
            if clash:
                raise InvalidHistoryError(
                    f"user {user_id!r} already has item id(s) {clash[:5]}: new items need new ids"
                )
            update |= {
                "base_profile": base.model_dump(mode="json"),
                "stored": {ex.item_id: ex.model_dump() for ex in stored},
                "factors": [f.model_dump() for f in base.factors],
            }
        else:
            update |= {"base_profile": None, "stored": {}, "factors": []}
        self._progress.start(key, "extract", len(items), len(kept))
        emit("extract", user_id, len(kept), len(items))
        return update

    # -- extraction ----------------------------------------------------------------------------------------
    def route_extract(self, state: BuildState) -> list[Send] | str:
        """One ``extract_items`` task per window of packs of items without features yet."""
        have = state.get("features") or {}
        factors = state.get("factors") if state.get("mode") == "update" else None
        pending = [item for item in state["history"] if item["id"] not in have]
        sends = [
            Send(
                "extract_items",
                {"user_id": state["user_id"], "key": state["build_key"], "packs": window, "factors": factors},
            )
            for window in windows(pending, self.components.settings.pack_size, self.window)
        ]
        return sends or "aggregate"

    def extract_items(self, payload: dict[str, Any], config: RunnableConfig) -> Plan[dict[str, Any]]:
        """Features of one window of packs, the packs concurrently (factor-aware in update mode)."""
        factors = [Factor.model_validate(f) for f in payload["factors"]] if payload.get("factors") is not None else None
        window = payload["packs"]
        outcomes = yield from gather([self._extract_pack(pack, factors, config) for pack in window])
        results = [result for outcome in outcomes for result, _ in outcome]
        failed_at = [stage for outcome in outcomes for _, stage in outcome]
        return self._collected(payload, [item for pack in window for item in pack], results, "features", failed_at)

    def _extract_pack(
        self, pack: list[dict[str, Any]], factors: list[Factor] | None, config: RunnableConfig
    ) -> Plan[list[tuple[Any, str]]]:
        """``(feature dicts or exception, stage it failed at)`` per item of one pack; the judge runs after extraction.

        The features are dumped as the pack finishes: its window's other packs may wait long for LLM slots
        (a bulk build shares them with every user in flight), and models kept until then would be promoted.
        """
        items = [HistoryItem.model_validate(item) for item in pack]
        requests: list[Any] = items
        if factors is not None:
            requests = [ExtractionInput(text=i.input, options=i.options, factors=factors) for i in items]
        results = yield from self.components.extractor.pack_plan(requests, config)
        results = [keyless(result) for result in results]
        failed_at = ["extract"] * len(results)  # an item whose judge call fails is recorded at stage "judge"
        if self.components.separate_judge:
            jobs = [i for i, result in enumerate(results) if not isinstance(result, Exception)]
            plans = [self.components.judge.plan(JudgeInput(item=items[i], features=results[i]), config) for i in jobs]
            for i, verdict in zip(jobs, (yield from gather(plans, return_exceptions=True)), strict=True):
                results[i], failed_at[i] = verdict, "judge"
        dumped = [[f.model_dump() for f in result] if isinstance(result, list) else result for result in results]
        return list(zip(dumped, failed_at, strict=True))

    def _collected(
        self, payload: dict[str, Any], items: list[dict[str, Any]], results: list[Any], key: str, failed_at: list[str]
    ) -> dict[str, Any]:
        """A window's results as a state update: outputs under ``key`` (as dicts), failures under ``failed``."""
        outputs: dict[str, Any] = {}
        failed: dict[str, Any] = {}
        for item, result, stage in zip(items, results, failed_at, strict=True):
            if isinstance(result, Exception):
                failed |= failure_entry(item["id"], stage, result)
            elif isinstance(result, list):  # feature dicts, dumped as their pack finished (_extract_pack)
                outputs[item["id"]] = result
            else:
                outputs[item["id"]] = result if isinstance(result, dict) else result.model_dump()
        stage = "extract" if key == "features" else "reason"
        for _ in outputs:  # one event per item, so progress moves item by item even in packs
            done, total = self._progress.advance(payload["key"], stage, 1)
            emit(stage, payload["user_id"], done, total)
        return {k: v for k, v in {key: outputs, "failed": failed}.items() if v}

    # -- aggregation ---------------------------------------------------------------------------------------
    def aggregate(self, state: BuildState, config: RunnableConfig) -> Plan[dict[str, Any]]:
        """Cluster the features into factors (a build, or an update past the threshold), else assign."""
        have = state.get("features") or {}
        items = [item for item in state["history"] if item["id"] in have]
        if not items:
            self._progress.finish(state["build_key"])
            failures = "; ".join(f"{k}: {v['error']}" for k, v in (state.get("failed") or {}).items())
            raise BuildFailedError(f"user {state['user_id']!r}: no history item could be processed ({failures})")
        features = {item["id"]: have[item["id"]] for item in items}
        if state.get("mode") == "update":
            base = UserProfile.model_validate(state["base_profile"])
            known = {f["name"] for f in state.get("factors") or []}
            new = [f for feats in features.values() for f in feats]
            unfit = base.unfit_features + sum(1 for f in new if f.get("soft_assigned") or f["factor"] not in known)
            threshold = self.components.settings.recluster_threshold
            # drift "on": the drift monitor answers unfit features with an incremental round (langchain_rpm._refresh)
            if unfit <= threshold * max(1, base.num_features + len(new)) or self.components.settings.drift == "on":
                return self._assigned(state)
            stored = state.get("stored") or {}
            items = [as_history_item(ex) for ex in stored.values()] + items
            features = {**{k: ex["features"] for k, ex in stored.items()}, **features}
        emit("aggregate", state["user_id"], 0, 1)
        aggregator = self.components.aggregator
        result = yield from aggregator.plan(aggregator.coerce({"items": items, "features": features}), config)
        emit("aggregate", state["user_id"], 1, 1, factors=len(result.factors))
        clustered = {k: [f.model_dump() for f in v] for k, v in result.features.items()}
        update = self._aggregated(state, [f.model_dump() for f in result.factors], clustered, reclustered=True)
        if state.get("mode") == "update":  # re-clustered: stored examples take their new factor names
            stored = state.get("stored") or {}
            update["stored"] = {k: {**ex, "features": clustered[k]} for k, ex in stored.items()}
            update["features"] = {k: v for k, v in clustered.items() if k not in stored}
        return update

    def _assigned(self, state: BuildState) -> dict[str, Any]:
        """Update mode under the threshold: keep the factor-aware features (a factorless one gets the closest)."""
        factors = [Factor.model_validate(f) for f in state.get("factors") or []]
        known = {f.name for f in factors}
        new_ids = {item["id"] for item in state["history"]}

        def fit(raw: dict[str, Any]) -> dict[str, Any]:
            feature = Feature.model_validate(raw)
            closest = closest_factor(feature, factors)
            return raw if feature.factor in known else {**raw, "factor": closest, "soft_assigned": True}

        features = {k: [fit(f) for f in feats] for k, feats in (state.get("features") or {}).items() if k in new_ids}
        if OTHER_FACTOR not in known and any(f["factor"] == OTHER_FACTOR for v in features.values() for f in v):
            factors.append(Factor(name=OTHER_FACTOR, description="Features that fit no other factor."))
        examples = [ReasoningExample.model_validate(e) for e in (state.get("stored") or {}).values()]
        pending = [  # the new items as provisional examples, so statistics cover them in reasoning prompts
            ReasoningExample(
                item_id=item["id"],
                input=item["input"],
                features=[Feature.model_validate(f) for f in features[item["id"]]],
                reasoning="",
                answer=self.task.check(item["response"], item.get("options")).answer,
                options=item.get("options"),
                time=item.get("time"),
            )
            for item in state["history"]
            if item["id"] in features
        ]
        factors = refresh_factors(
            self.task, factors, examples + pending, half_life=self.components.settings.recency_half_life
        )
        return self._aggregated(state, [f.model_dump() for f in factors], features, reclustered=False)

    def _aggregated(
        self, state: BuildState, factors: list[dict[str, Any]], features: dict[str, Any], *, reclustered: bool
    ) -> dict[str, Any]:
        new_ids = {item["id"] for item in state["history"]}
        total = sum(1 for k in features if k in new_ids)
        done = sum(1 for k in features if k in (state.get("examples") or {}))
        self._progress.start(state["build_key"], "reason", total, done)
        emit("reason", state["user_id"], done, total)
        return {"factors": factors, "features": features, "reclustered": reclustered}

    # -- reasoning paths -----------------------------------------------------------------------------------
    def route_reason(self, state: BuildState) -> list[Send] | str:
        """One ``reason_items`` task per window of packs of items with features and no reasoning path yet."""
        have = state.get("examples") or {}
        features = state.get("features") or {}
        pending = [item for item in state["history"] if item["id"] in features and item["id"] not in have]
        sends = [
            Send(
                "reason_items",
                {
                    "user_id": state["user_id"],
                    "key": state["build_key"],
                    "packs": window,
                    "features": {item["id"]: features[item["id"]] for pack in window for item in pack},
                    "factors": state["factors"],
                },
            )
            for window in windows(pending, self.components.settings.pack_size, self.window)
        ]
        return sends or "finalize"

    def reason_items(self, payload: dict[str, Any], config: RunnableConfig) -> Plan[dict[str, Any]]:
        """Reasoning paths of one window of packs, the packs concurrently."""
        factors = self._factors(payload["factors"])
        window = payload["packs"]
        ahead = embedded_ahead(self.components, payload["key"], config)
        plans = [self._reason_pack(pack, payload["features"], factors, config, ahead) for pack in window]
        results = [result for outcome in (yield from gather(plans)) for result in outcome]
        items = [item for pack in window for item in pack]
        return self._collected(payload, items, results, "examples", ["reason"] * len(items))

    def _reason_pack(
        self,
        pack: list[dict[str, Any]],
        features: dict[str, Any],
        factors: list[Factor],
        config: RunnableConfig,
        ahead: EmbedAhead | None,
    ) -> Plan[list[Any]]:
        """One pack's examples (as state dicts sharing the state's feature dicts) or exceptions, in order.

        With ``ahead``, the pack's examples are embedded ahead of the commit.
        """
        requests = [
            ReasoningInput(
                item=HistoryItem.model_validate(item),
                features=[Feature.model_validate(f) for f in features[item["id"]]],
                factors=factors,
            )
            for item in pack
        ]
        results = yield from self.components.reasoner.pack_plan(requests, config)
        yield from embed_ahead(self.components, ahead, results)
        return [
            sharing_features(result, request.features, features[request.item.id])
            for request, result in zip(requests, results, strict=True)
        ]

    def _factors(self, raw: list[dict[str, Any]]) -> list[Factor]:
        """The phase's factors as models, validated once (every window of a phase gets one state list).

        Sharing the objects also lets the reasoning stage render their table once, not once per call.
        """
        last = self._last_factors
        if last is not None and last[0] is raw:
            return last[1]
        factors = [Factor.model_validate(f) for f in raw]
        self._last_factors = (raw, factors)
        return factors

    # -- finalize ------------------------------------------------------------------------------------------
    def finalize(self, state: BuildState, config: RunnableConfig) -> Plan[dict[str, Any]]:
        """Write the new examples and a profile whose statistics describe exactly what is then stored."""
        self._progress.finish(state["build_key"])
        return (yield from commit_build_plan(self.components, state, config))


def create_profile_build_graph(
    components: RPMComponents | None = None, *, packs_per_task: int = 1, **options: Any
) -> StateGraph[BuildState, RPMContext, BuildState, BuildState]:
    """Return the *uncompiled* profile-build graph; compile it with your own checkpointer.

    Args:
        components: Configured stages; if omitted, built from ``options``.
        packs_per_task: Packs of items per graph task. ``1`` (the default) saves each pack's result as
            it finishes, so a checkpointed build resumes losing at most the packs in flight; more packs
            per task (e.g. ``max_concurrency``) cut LangGraph's per-task CPU, which grows with the number
            of tasks in a superstep, but a crash then loses every unfinished window's finished packs.
        **options: Arguments of :meth:`RPMComponents.create` (``llm=``, ``task=``, ``store=``, ``preset=``, ...).

    Input: ``{"user_id": ..., "history": [HistoryItem-like dicts]}`` builds from scratch; add
    ``"mode": "update"`` to add new items to a stored profile, paying LLM calls only for them.
    The user id may come from the run context instead. Output state: ``profile`` (the stored
    :class:`~langchain_rpm.types.UserProfile` as a dict), ``failed`` (items that failed, with reasons).

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from langchain_rpm.testing import demo_rpm
        >>> graph = create_profile_build_graph(demo_rpm(user=None).components).compile(checkpointer=InMemorySaver())
        >>> config = {"configurable": {"thread_id": "build-ada"}}
        >>> out = graph.invoke({"user_id": "ada", "history": [{"input": "Late.", "response": "2"}]}, config)
        >>> out["profile"]["num_items"], graph.get_state(config).next
        (1, ())
    """
    steps = BuildSteps(components or RPMComponents.create(**options), packs_per_task)
    builder = StateGraph(BuildState, context_schema=RPMContext)
    builder.add_node("prepare", plan_node("prepare", steps.prepare))
    builder.add_node("extract_items", plan_node("extract_items", tracked_plan(steps.extract_items)))
    builder.add_node("aggregate", plan_node("aggregate", tracked_plan(steps.aggregate)))
    builder.add_node("reason_items", plan_node("reason_items", tracked_plan(steps.reason_items)))
    builder.add_node("finalize", plan_node("finalize", steps.finalize))
    builder.add_edge(START, "prepare")
    builder.add_conditional_edges("prepare", steps.route_extract, ["extract_items", "aggregate"])
    builder.add_edge("extract_items", "aggregate")
    builder.add_conditional_edges("aggregate", steps.route_reason, ["reason_items", "finalize"])
    builder.add_edge("reason_items", "finalize")
    builder.add_edge("finalize", END)
    return builder
