"""The evaluated methods: what each puts in the prompt, how it picks examples, and how answers are checked."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.messages import BaseMessage

from langchain_rpm import LAMP2, LAMP3, RPM, RPMStore
from langchain_rpm.evaluation import (
    ALL_METHODS,
    METHODS,
    PAPER_METHODS,
    EvalQuery,
    EvalUser,
    Method,
    MethodContext,
    Spend,
    arun_evaluation,
    demo_dataset,
    resolve_methods,
)
from langchain_rpm.evaluation.method import ProfileBuild
from langchain_rpm.tasks import GLOBAL_OPINION_QA, TaskSpec
from langchain_rpm.testing import FakeStructuredChatModel, demo_responder
from langchain_rpm.types import HistoryItem

FACTOR_TABLE = "factor | count"  # the header of the factor-statistics table (render_factors)


class Recorder:
    """A responder that records every prompt (system, human, schema properties) and delegates to another."""

    def __init__(self, inner: Any = demo_responder) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, set[str]]] = []
        self._lock = threading.Lock()

    def __call__(self, messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((str(messages[0].content), str(messages[-1].content), set(schema.get("properties", {}))))
        return self.inner(messages, schema)

    def answers(self) -> list[tuple[str, str, set[str]]]:
        return [call for call in self.calls if {"answer", LAMP2.answer_key} & call[2]]


class KeywordEmbeddings(Embeddings):
    """One dimension per keyword: texts sharing keywords are close (cosine)."""

    model_name = "keywords"
    KEYWORDS = ("robot", "space", "wedding", "love", "chase", "fight", "battery", "late")

    def _vector(self, text: str) -> list[float]:
        lowered = text.lower()
        return [float(k in lowered) for k in self.KEYWORDS] + [0.01]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


MOVIES = EvalUser(
    user_id="ada",
    task="lamp2",
    history=[
        HistoryItem(id="h1", input="A wedding in Tuscany and a love story.", response="romance"),
        HistoryItem(id="h2", input="A robot crew drifts through space.", response="sci-fi"),
        HistoryItem(id="h3", input="A car chase ends in a fist fight.", response="action"),
        HistoryItem(id="h4", input="Two rivals fall in love at a wedding.", response="romance"),
        HistoryItem(id="h5", input="Astronauts and a robot explore space.", response="sci-fi"),
    ],
    queries=[EvalQuery(id="q1", input="A robot learns to love in space.", gold="sci-fi")],
)


def context(
    tmp_path, responder: Any, task: TaskSpec = LAMP2, **kwargs: Any
) -> tuple[MethodContext, FakeStructuredChatModel]:
    model = FakeStructuredChatModel(responder=responder, model="demo-deterministic")
    store = RPMStore(tmp_path / "store", embeddings=kwargs.pop("embeddings", KeywordEmbeddings()))
    return MethodContext(model, task, store, **kwargs), model


async def run_method(ctx: MethodContext, name: str, user: EvalUser = MOVIES, query: EvalQuery | None = None) -> str:
    method = METHODS[name](ctx)
    await method.prepare_user(user, None)
    return await method.predict(user, query or user.queries[0], None)


SPACE_1, SPACE_2 = "A robot crew drifts through space.", "Astronauts and a robot explore space."


def examples_in(system: str) -> list[str]:
    return [line.removeprefix("Input: ") for line in system.splitlines() if line.startswith("Input: ")]


# -- prompts --------------------------------------------------------------------------------------------


async def test_zero_shot_sees_only_the_task_and_the_input(tmp_path):
    recorder = Recorder()
    ctx, model = context(tmp_path, recorder)
    answer = await run_method(ctx, "zero_shot")
    assert answer in LAMP2.labels and model.call_count == 1
    system, human, schema = recorder.calls[0]
    assert schema == {"answer"}  # no reasoning field: baselines answer directly
    assert "Example" not in system and "Answer format: exactly one label from: sci-fi" in system
    assert "<input>\nA robot learns to love in space.\n</input>" in human


async def test_icl_is_seeded_and_takes_k_random_examples(tmp_path):
    picks = []
    for seed in (0, 0, 1, 2, 3):
        recorder = Recorder()
        ctx, _ = context(tmp_path / str(seed), recorder, k=2, seed=seed)
        await run_method(ctx, "icl")
        picks.append(tuple(examples_in(recorder.calls[0][0])))
    assert all(len(p) == 2 for p in picks)
    assert picks[0] == picks[1]  # same seed, same examples
    assert len(set(picks)) > 1  # other seeds pick others


async def test_the_paper_uses_k_3_by_default(tmp_path):
    recorder = Recorder()
    ctx, _ = context(tmp_path, recorder)
    assert ctx.k == 3
    await run_method(ctx, "icl")
    assert len(examples_in(recorder.calls[0][0])) == 3


async def test_bm25_puts_the_lexically_closest_pairs_first(tmp_path):
    recorder = Recorder()
    ctx, _ = context(tmp_path, recorder, k=2)
    query = EvalQuery(id="q2", input="Another fist fight after a car chase.", gold="action")
    assert await run_method(ctx, "bm25", query=query) == "action"
    assert examples_in(recorder.calls[0][0])[0] == "A car chase ends in a fist fight."
    assert "Answer: action" in recorder.calls[0][0]


async def test_rag_retrieves_by_the_stores_embeddings_of_the_query_text(tmp_path):
    recorder = Recorder()
    ctx, _ = context(tmp_path, recorder, k=2)
    assert await run_method(ctx, "rag") == "sci-fi"
    assert set(examples_in(recorder.calls[0][0])) == {SPACE_1, SPACE_2}


async def test_pag_summarises_the_top_10_then_answers_with_the_profile_and_the_top_k(tmp_path):
    recorder = Recorder()
    ctx, model = context(tmp_path, recorder, k=2)
    assert await run_method(ctx, "pag") == "sci-fi"
    assert model.call_count == 2  # one summary per query, one answer
    (summary_system, _, summary_schema), (answer_system, _, answer_schema) = recorder.calls
    assert summary_schema == {"summary"} and len(examples_in(summary_system)) == len(MOVIES.history)  # <= 10
    assert set(examples_in(summary_system)[:2]) == {SPACE_1, SPACE_2}  # nearest first
    assert answer_schema == {"answer"} and "<profile>" in answer_system
    assert set(examples_in(answer_system)) == {SPACE_1, SPACE_2}


async def _answer_prompts(tmp_path, names: list[str]) -> dict[str, tuple[str, str, set[str], int]]:
    """The last answer prompt each method sent, and how many calls its prediction made."""
    prompts = {}
    for name in names:
        recorder = Recorder()
        ctx, model = context(tmp_path / name, recorder, k=2)
        method = METHODS[name](ctx)
        await method.prepare_user(MOVIES, None)
        before = model.call_count
        await method.predict(MOVIES, MOVIES.queries[0], None)
        prompts[name] = (*recorder.answers()[-1], model.call_count - before)
    return prompts


async def test_the_ablation_ladder_adds_one_ingredient_at_a_time(tmp_path):
    names = ["ladder_features_factors", "ladder_pairs", "ladder_example_features", "ladder_generic_cot", "rpm"]
    prompts = await _answer_prompts(tmp_path, names)
    system, human, schema, calls = prompts["ladder_features_factors"]
    assert schema == {"answer"} and FACTOR_TABLE in system and "<features>" in human and "Example" not in system
    assert calls == 2  # the query's features, then the answer
    system, _, schema, calls = prompts["ladder_pairs"]
    assert schema == {"answer"} and FACTOR_TABLE in system and "Example 1" in system and "Answer: " in system
    assert "Features:" not in system and "Reasoning:" not in system and calls == 2
    system, _, schema, calls = prompts["ladder_example_features"]
    assert schema == {"answer"} and FACTOR_TABLE in system and "Features:" in system and "Reasoning:" not in system
    system, human, schema, calls = prompts["ladder_generic_cot"]
    assert schema == {"reasoning", "answer"} and "Reasoning:" in system and "Think step by step" in system
    assert FACTOR_TABLE not in system and "Features:" not in system and "<features>" not in human  # no features/factors
    assert calls == 2 + 1  # one generic explanation per retrieved example, then the answer
    _, human, schema, calls = prompts["rpm"]  # RPM's own prompt: the exemplars lead its human message
    assert schema == {"reasoning", LAMP2.answer_key} and "Reasoning:" in human and "Features:" in human


async def test_generic_explanations_see_the_input_and_answer_only_and_are_made_once(tmp_path):
    recorder = Recorder()
    ctx, model = context(tmp_path, recorder, k=2)
    method = METHODS["ladder_generic_cot"](ctx)
    await method.predict(MOVIES, MOVIES.queries[0], None)
    explained = [call for call in recorder.calls if call[2] == {"reasoning"}]
    assert len(explained) == 2
    for system, human, _ in explained:
        assert "<answer>\nsci-fi\n</answer>" in human and FACTOR_TABLE not in system and "<features>" not in human
    again = EvalQuery(id="q2", input="Robots in space again.", gold="sci-fi")  # the same two neighbours
    before = model.call_count
    await method.predict(MOVIES, again, None)
    assert model.call_count - before == 1  # explanations are cached per user and item


async def test_rpm_without_reasoning_sees_rpm_inputs_but_answers_only(tmp_path):
    prompts = await _answer_prompts(tmp_path, ["rpm_no_reasoning"])
    system, human, schema, calls = prompts["rpm_no_reasoning"]
    assert schema == {"answer"} and calls == 2
    assert "Reasoning:" in system and "Features:" in system and FACTOR_TABLE in system and "<features>" in human
    # exemplars first, then the factors (the paper's order)
    assert system.index("Exemplar 1") < system.index(FACTOR_TABLE)


def wedding_features(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
    """The demo model, except that the query "A chase in space." gets features about a wedding and love."""
    reply = demo_responder(messages, schema)
    if "features" in reply and "A chase in space." in str(messages[-1].content):
        for feature in reply["features"]:
            feature.update({key: "wedding love" for key in feature if "name" in key or "context" in key})
    return reply


async def test_the_retrieval_grid_crosses_source_and_key(tmp_path):
    # The query text is about space and a chase; its features (as extracted) are about a wedding and love:
    # the query key finds the space/chase items, the feature key the wedding/love items.
    query = EvalQuery(id="q3", input="A chase in space.", gold="action")
    user = MOVIES.model_copy(update={"queries": [query]})
    found = {}
    for name in ("rag", "raw_by_features", "reasoned_by_query", "rpm"):
        recorder = Recorder(wedding_features)
        ctx, _ = context(tmp_path / name, recorder, k=2)
        await run_method(ctx, name, user=user, query=query)
        system, human, _ = recorder.answers()[-1]
        text = system + "\n" + human  # RPM's own prompt puts its exemplars in the human message
        found[name] = (examples_in(text), "Reasoning:" in text, FACTOR_TABLE in text)
    assert found["rag"][1:] == (False, False) and found["raw_by_features"][1:] == (False, False)  # raw pairs
    assert found["reasoned_by_query"][1:] == (True, True) and found["rpm"][1:] == (True, True)  # reasoned examples
    assert found["reasoned_by_query"][0] == found["rag"][0]  # the same key (query text) finds the same items
    assert found["raw_by_features"][0] == found["rpm"][0]  # the same key (features) finds the same items
    assert set(found["rag"][0]) == {SPACE_1, "A car chase ends in a fist fight."}
    assert set(found["rpm"][0]) == {"A wedding in Tuscany and a love story.", "Two rivals fall in love at a wedding."}


COT_TWINS = {"zero_shot_cot": "zero_shot", "icl_cot": "icl", "rag_cot": "rag", "pag_cot": "pag"}


@pytest.mark.parametrize("name", list(COT_TWINS))
async def test_cot_baselines_reason_then_answer_on_their_twins_inputs(tmp_path, name):
    """Each "+CoT" baseline makes its twin's calls, sees its twin's examples, and asks for reasoning before the answer."""
    seen = {}
    for method in (name, COT_TWINS[name]):
        recorder = Recorder()
        ctx, model = context(tmp_path / method, recorder, k=2)
        answer = await run_method(ctx, method)
        seen[method] = (answer, model.call_count, recorder.answers()[-1])
    answer, calls, (system, human, schema) = seen[name]
    _, twin_calls, (twin_system, twin_human, twin_schema) = seen[COT_TWINS[name]]
    assert answer in LAMP2.labels and calls == twin_calls == (2 if name == "pag_cot" else 1)
    assert schema == {"reasoning", "answer"} and twin_schema == {"answer"}
    assert "Think step by step" in system and "Give only the answer" not in system
    assert examples_in(system) == examples_in(twin_system) and human == twin_human
    assert len(examples_in(system)) == (0 if name == "zero_shot_cot" else 2)


def reasoned_examples(text: str) -> list[str]:
    """The inputs of the exemplars in RPM's generation prompt, in order."""
    return [line.removeprefix("Input: ") for line in text.splitlines() if line.startswith("Input: ")]


async def _reasoned_prompt(tmp_path, name: str, query: EvalQuery, **kwargs: Any) -> tuple[str, int]:
    recorder = Recorder()
    ctx, model = context(tmp_path / name, recorder, k=2, **kwargs)
    method = METHODS[name](ctx)
    await method.prepare_user(MOVIES, None)
    before = model.call_count
    assert await method.predict(MOVIES, query, None) in LAMP2.labels
    system, human, schema = recorder.answers()[-1]
    assert schema == {"reasoning", LAMP2.answer_key} and "Reasoning:" in human and FACTOR_TABLE in system + human
    return human, model.call_count - before


async def test_reasoned_random_draws_icls_items_with_their_reasoning(tmp_path):
    """S_u x Random: with every item reasoned, the same seeded draw as ICL, shown in RPM's prompt; other seeds differ."""
    draws = []
    for seed in (0, 1, 2, 3):
        human, calls = await _reasoned_prompt(tmp_path / str(seed), "reasoned_random", MOVIES.queries[0], seed=seed)
        recorder = Recorder()
        ctx, _ = context(tmp_path / f"icl{seed}", recorder, k=2, seed=seed)
        await run_method(ctx, "icl")
        assert set(reasoned_examples(human)) == set(examples_in(recorder.calls[0][0])) and calls == 2
        draws.append(frozenset(reasoned_examples(human)))
    assert len(set(draws)) > 1


async def test_reasoned_bm25_shows_the_lexically_closest_reasoned_examples(tmp_path):
    query = EvalQuery(id="q2", input="Another fist fight after a car chase.", gold="action")
    human, calls = await _reasoned_prompt(tmp_path, "reasoned_bm25", query)
    assert reasoned_examples(human)[0] == "A car chase ends in a fist fight." and calls == 2


async def test_rpm_method_answers_as_the_facade_does(tmp_path):
    ctx, _ = context(tmp_path / "a", demo_responder)
    answer = await run_method(ctx, "rpm")
    facade = RPM(
        FakeStructuredChatModel(responder=demo_responder, model="demo-deterministic"),
        task=LAMP2,
        store=RPMStore(tmp_path / "b", embeddings=KeywordEmbeddings()),
    )
    await facade.abuild_user(MOVIES.user_id, MOVIES.history)
    assert answer == (await facade.apersonalize(MOVIES.user_id, MOVIES.queries[0].input)).answer


# -- shared profiles ------------------------------------------------------------------------------------


async def test_profile_methods_share_one_build_and_each_is_charged_for_it(tmp_path):
    ctx, model = context(tmp_path, demo_responder)
    methods = [METHODS[name](ctx) for name in ("ladder_features_factors", "rpm_no_reasoning", "rpm")]
    spends = await asyncio.gather(*(m.prepare_user(MOVIES, None) for m in methods))
    assert all(isinstance(s, Spend) and s == spends[0] for s in spends)
    assert spends[0].usage.llm_calls == model.call_count


async def test_a_profile_recorded_by_an_earlier_run_is_reused_without_calls(tmp_path):
    built: dict[str, ProfileBuild] = {}
    ctx, _ = context(tmp_path, demo_responder, on_profile_built=built.__setitem__)
    first = await METHODS["rpm"](ctx).prepare_user(MOVIES, None)
    assert set(built) == {"ada"} and built["ada"].spend == first
    again, again_model = context(tmp_path, demo_responder, known_profiles=dict(built))
    assert await METHODS["ladder_pairs"](again).prepare_user(MOVIES, None) == first
    assert again_model.call_count == 0
    changed = MOVIES.model_copy(update={"history": MOVIES.history[:-1]})  # another history: rebuilt
    third, third_model = context(tmp_path, demo_responder, known_profiles=dict(built))
    await METHODS["rpm"](third).prepare_user(changed, None)
    assert third_model.call_count > 0


# -- answers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_METHODS)
async def test_answers_are_checked_against_the_task(tmp_path, name):
    def sloppy(messages: list[BaseMessage], schema: dict[str, Any]) -> dict[str, Any]:
        reply = demo_responder(messages, schema)
        return {**reply, "answer": "Sci Fi"} if "answer" in reply else reply

    ctx, _ = context(tmp_path, sloppy, embeddings=DeterministicFakeEmbedding(size=8))
    assert await run_method(ctx, name) == "sci-fi"


async def test_multiple_choice_letters_become_options(tmp_path):
    ctx, _ = context(tmp_path, lambda m, s: {"answer": "(B)"}, task=GLOBAL_OPINION_QA)
    user = demo_dataset("goqa")[0]
    query = user.queries[0]
    assert await run_method(ctx, "zero_shot", user=user, query=query) == query.options[1]  # type: ignore[index]


async def test_an_invalid_answer_is_kept_marked_wrong(tmp_path):
    ctx, _ = context(tmp_path, lambda m, s: {"answer": "eleven"}, task=LAMP3)
    user = demo_dataset("lamp3")[0]
    assert await run_method(ctx, "zero_shot", user=user) == "eleven"  # metrics score it as the worst rating


# -- registry -------------------------------------------------------------------------------------------


def test_methods_resolve_by_name_and_follow_the_protocol(tmp_path):
    assert list(resolve_methods(None)) == list(PAPER_METHODS) == list(ALL_METHODS)
    assert list(resolve_methods("all")) == list(ALL_METHODS)
    assert list(resolve_methods("bm25, rpm")) == ["bm25", "rpm"]
    assert list(resolve_methods("table1")) == [
        *("zero_shot", "icl", "rag", "pag"),
        *("zero_shot_cot", "icl_cot", "rag_cot", "pag_cot"),
        *("rpm_no_reasoning", "rpm"),
    ]
    assert list(resolve_methods("table3,table1"))[:8] == [
        *("icl", "bm25", "rag", "raw_by_features"),  # H_u x random, BM25, q', G_q'
        *("reasoned_random", "reasoned_bm25", "reasoned_by_query", "rpm"),  # S_u x the same keys
    ]
    assert set(resolve_methods("table1,table2,table3")) == set(PAPER_METHODS)
    with pytest.raises(ValueError, match="unknown method 'gpt'"):
        resolve_methods(["gpt"])
    with pytest.raises(ValueError, match="no methods"):
        resolve_methods(" , ")
    ctx, _ = context(tmp_path, demo_responder)
    for name, factory in METHODS.items():
        method = factory(ctx)
        assert isinstance(method, Method) and method.name == name


async def test_a_custom_method_runs_under_the_runner(tmp_path):
    class Always5:
        name = "always_5"

        def __init__(self, ctx: MethodContext) -> None:
            self.ctx = ctx

        async def prepare_user(self, user: EvalUser, config: Any = None) -> Spend | None:
            return None

        async def predict(self, user: EvalUser, query: EvalQuery, config: Any = None) -> str:
            return "5"

    model = FakeStructuredChatModel(responder=demo_responder)
    results = await arun_evaluation(
        ["lamp3"],
        [Always5, "zero_shot"],
        model,
        results_dir=tmp_path / "run",
        embeddings=DeterministicFakeEmbedding(size=8),
        progress=False,
    )
    assert results.methods == ["always_5", "zero_shot"]
    golds = [float(q.gold) for u in demo_dataset("lamp3") for q in u.queries]
    assert results.get("lamp3", "always_5").metrics["mae"] == pytest.approx(sum(5 - g for g in golds) / 4)  # type: ignore[union-attr]
    assert results.get("lamp3", "always_5").cost.total_dollars == 0  # type: ignore[union-attr]
