"""RPMMiddleware in ``langchain.agents.create_agent``: factors and examples in the system prompt, in budget."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from langchain_rpm import LAMP2, RPM, RPMContext, RPMStore
from langchain_rpm.agents.middleware import RPMMiddleware
from langchain_rpm.agents.tools import create_rpm_tool
from langchain_rpm.errors import MissingUserIdError, UnknownUserError
from langchain_rpm.personalization import Personalization, approx_tokens
from langchain_rpm.types import Factor, FactorStatistics, ReasoningExample, RetrievedExample, UserProfile
from tests.support.agent_fakes import BASE_PROMPT, ToolLoopModel, movie_facts
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY

QUESTION = "A robot falls in love in space."


def _agent(rpm: Any, model: ToolLoopModel, **options: Any) -> Any:
    return create_agent(
        model,
        tools=[movie_facts],
        system_prompt=BASE_PROMPT,
        middleware=[RPMMiddleware(rpm, **options)],
        context_schema=RPMContext,
        checkpointer=InMemorySaver(),
    )


@pytest.mark.parametrize("use_async", [False, True])
async def test_every_model_call_sees_factors_and_examples(rpm, llm, embeddings, use_async):
    rpm.build_user("ada", MOVIE_HISTORY)
    llm.reset()
    queries_before = embeddings.query_calls
    model = ToolLoopModel(plan={"movie_facts": "title"})
    agent = _agent(rpm, model, k=2, max_tokens=600, retrieval="query")
    config = {"configurable": {"thread_id": "t"}}
    payload = {"messages": [HumanMessage(QUESTION)]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if use_async:
            out = await agent.ainvoke(payload, config, context=RPMContext(user_id="ada"))
        else:
            out = agent.invoke(payload, config, context=RPMContext(user_id="ada"))
    assert [str(w.message) for w in caught] == []
    assert [m.type for m in out["messages"]] == ["human", "ai", "tool", "ai"]
    prompts = model.system_prompts
    assert len(prompts) == 2 and prompts[0] == prompts[1]  # both calls of the tool loop
    prompt = prompts[0]
    assert prompt.startswith(BASE_PROMPT + "\n\nPersonalization (RPM)")
    science = next(line for line in prompt.splitlines() if line.startswith("Science themes | "))
    assert "| 4 |" in science and "sci-fi 2/4 (50.0%)" in science  # factor statistics included
    assert prompt.count("<example>") == 2
    assert approx_tokens(prompt) - approx_tokens(BASE_PROMPT) <= 600
    assert llm.call_count == 0  # query-text retrieval: no extra LLM call
    assert embeddings.query_calls - queries_before == 1  # one retrieval per turn, cached for the loop
    assert "Personalization (RPM)" in out["messages"][-1].text


async def test_feature_retrieval_costs_one_llm_call_per_turn(rpm, llm):
    await rpm.abuild_user("ada", MOVIE_HISTORY)
    llm.reset()
    model = ToolLoopModel(plan={"movie_facts": "title"})
    agent = _agent(rpm, model, retrieval="features", k=3)
    await agent.ainvoke({"messages": [HumanMessage(QUESTION)]}, {"configurable": {"thread_id": "t", "user_id": "ada"}})
    assert llm.call_count == 1
    assert model.system_prompts[0].count("<example>") == 3


def test_unknown_user_runs_unpersonalized_or_fails_when_required(rpm):
    model = ToolLoopModel()
    out = _agent(rpm, model).invoke(
        {"messages": [HumanMessage(QUESTION)]},
        {"configurable": {"thread_id": "t"}},
        context=RPMContext(user_id="ghost"),
    )
    assert model.system_prompts == [BASE_PROMPT]
    assert out["messages"][-1].type == "ai"
    with pytest.raises(UnknownUserError, match="no profile for user 'ghost'"):
        _agent(rpm, ToolLoopModel(), on_unknown_user="raise").invoke(
            {"messages": [HumanMessage(QUESTION)]}, {"configurable": {"thread_id": "t"}}, context=RPMContext("ghost")
        )


def test_missing_user_id_is_an_error(rpm):
    agent = create_agent(ToolLoopModel(), tools=[], middleware=[RPMMiddleware(rpm)])
    with pytest.raises(MissingUserIdError, match="RPM needs a user id"):
        agent.invoke({"messages": [HumanMessage(QUESTION)]})


def test_middleware_and_tool_together_in_create_agent(rpm):
    rpm.build_user("ada", MOVIE_HISTORY)
    tool = create_rpm_tool(rpm)
    model = ToolLoopModel(plan={tool.name: "query"})
    agent = create_agent(model, tools=[tool], middleware=[RPMMiddleware(rpm, k=1)], context_schema=RPMContext)
    out = agent.invoke({"messages": [HumanMessage(QUESTION)]}, context=RPMContext(user_id="ada"))
    answer = rpm.personalize("ada", QUESTION).answer
    assert f"This user would answer: {answer}" in out["messages"][-1].text
    assert model.system_prompts[0].count("<example>") == 1


def _hit(i: int, reasoning_words: int = 30) -> RetrievedExample:
    example = ReasoningExample(
        item_id=f"e{i}", input=f"Input {i}", features=[], reasoning=" ".join(["word"] * reasoning_words), answer="x"
    )
    return RetrievedExample(example=example, score=1 - i / 10)


def test_budget_drops_whole_examples_first_then_factors():

    factors = [
        Factor(name="Rare", statistics=FactorStatistics(support=1, coverage=1)),
        Factor(name="Common", statistics=FactorStatistics(support=9, coverage=9, propensity={"comedy": 1.0})),
    ]
    hits = [_hit(i) for i in range(4)]
    full = _block(factors, hits, max_tokens=10_000)
    assert full.count("<example>") == 4
    assert full.index("Common") < full.index("Rare")  # most supported factor first
    for budget in (approx_tokens(full) - 1, 250, 150):
        text = _block(factors, hits, max_tokens=budget)
        assert approx_tokens(text) <= budget
        kept = text.count("<example>")
        assert kept < 4 and "Input 0" in text if kept else "Rare" in text  # most similar kept, factors intact
        assert text.count("<example>") == text.count("</example>")  # never half an example
    factors_only = _block(factors, [], max_tokens=10_000)
    assert _block(factors, hits, max_tokens=approx_tokens(factors_only)) == factors_only
    fewer = _block(factors, hits, max_tokens=approx_tokens(factors_only) - 2)
    assert "<example>" not in fewer and "Common" in fewer and "Rare" not in fewer
    assert approx_tokens(_block(factors, hits, max_tokens=5)) <= 5
    assert _block([], [], max_tokens=100) == ""


def _block(factors, hits, *, max_tokens):
    profile = UserProfile(user_id="u", task="lamp2", factors=factors, num_items=0, num_features=0)
    return Personalization("u", "q", profile, examples=list(hits)).render(LAMP2, max_tokens=max_tokens)


def test_a_block_cached_before_a_forget_is_not_served_to_the_rebuilt_user(rpm):
    """A rebuilt user starts at profile version 1 again: a block keyed by the version would be the forgotten one."""
    middleware = RPMMiddleware(rpm, k=1, retrieval="query")
    rpm.build_user("ada", MOVIE_HISTORY[:2])
    before = middleware.personal_block("ada", QUESTION)
    assert "Robots rebel on a space station." in before
    rpm.forget("ada")
    assert not [key for key in middleware._cache if key[0] == "ada"]  # dropped by the forget itself
    assert middleware.personal_block("ada", QUESTION) == ""
    rpm.build_user("ada", MOVIE_HISTORY[2:])
    assert rpm.profile("ada").version == 1
    after = middleware.personal_block("ada", QUESTION)
    assert after and after != before  # main: the forgotten user's block, served from the cache
    assert "Robots rebel on a space station." not in after


def test_a_user_forgotten_between_the_middlewares_reads_gets_no_block_and_no_error(rpm, monkeypatch):
    """A store without a query cache: the middleware reads the profile, then the personalization its own context."""
    from langchain_rpm.store import RPMStore

    monkeypatch.setattr(RPMStore, "caches_queries", property(lambda self: False))
    rpm.build_user("ada", MOVIE_HISTORY)
    profile = rpm.profile("ada")
    rpm.forget("ada")

    def stale_read(self: RPMStore, user_id: str) -> Any:  # what the read saw just before the forget
        yield from ()
        return profile

    monkeypatch.setattr(RPMStore, "profile_plan", stale_read)
    assert RPMMiddleware(rpm, retrieval="query").personal_block("ada", QUESTION) == ""  # 428ffc4: UnknownUserError


def _driven(middleware: RPMMiddleware, user_id: str, between: Any) -> str:
    """Run ``middleware.block_plan`` by hand, calling ``between(n)`` after its n-th request has run."""
    plan, reply, n = middleware.block_plan(user_id, QUESTION), None, 0
    while True:
        try:
            request = plan.send(reply)
        except StopIteration as done:
            return str(done.value)
        reply = request.run()
        n += 1
        between(n)


def test_a_forget_while_a_block_is_made_keeps_nothing_and_serves_no_forgotten_text(rpm):
    """The block was made from a read before the forget; eb1cdff kept it (and served it) after the forget."""
    rpm.build_user("ada", MOVIE_HISTORY)
    middleware = RPMMiddleware(rpm, k=2)  # feature retrieval: an LLM call after the read
    block = _driven(middleware, "ada", lambda n: rpm.forget("ada") if n == 1 else None)
    assert block == "" and not [key for key in middleware._cache if key[0] == "ada"]


def test_other_users_writes_while_a_block_is_made_do_not_cost_it(rpm):
    """Drops are counted per user: 4ab6ed8 counted them in 256 hashed buckets, so a user sharing ada's bucket
    and writing examples at each step of ada's block left ada without one."""
    rpm.build_user("ada", MOVIE_HISTORY)
    middleware = RPMMiddleware(rpm, k=2)
    neighbour = next(f"user{i}" for i in range(10_000) if hash(f"user{i}") % 256 == hash("ada") % 256)
    example = ReasoningExample(item_id="n", input="Another user's film.", features=[], reasoning="r", answer="sci-fi")
    block = _driven(middleware, "ada", lambda n: rpm.store.add_examples(neighbour, [example]))
    assert "Robots rebel on a space station." in block and [k for k in middleware._cache if k[0] == "ada"]


def test_a_forget_whose_purge_fails_still_empties_the_caches(rpm, monkeypatch):
    """4ab6ed8 emptied them after the purge, so a failing purge (a checkpointer, a cache file) skipped it."""
    import langchain_rpm.privacy as privacy

    rpm.build_user("ada", MOVIE_HISTORY)
    middleware = RPMMiddleware(rpm, k=1, retrieval="query")
    assert middleware.personal_block("ada", QUESTION)

    def failing(*args: Any, **kwargs: Any) -> Any:  # a step of the purge: the state files' handlers
        raise OSError("the checkpoint database is locked")

    monkeypatch.setattr(privacy, "_state_files", failing)
    with pytest.raises(OSError, match="locked"):
        rpm.forget("ada")
    assert not [key for key in middleware._cache if key[0] == "ada"]


def test_an_import_over_the_user_drops_their_blocks(rpm):
    """An import keeps the file's profile, whose revision may be the stored one's (4ab6ed8 kept the blocks)."""
    rpm.build_user("ada", MOVIE_HISTORY)
    document = rpm.store.export_user("ada")
    secret = ReasoningExample(item_id="s", input="SECRET robots in love", features=[], reasoning="r", answer="sci-fi")
    rpm.store.replace_user_examples("ada", [secret])
    middleware = RPMMiddleware(rpm, k=3, retrieval="query")
    assert "SECRET" in middleware.personal_block("ada", QUESTION)
    rpm.store.import_user(document, replace=True)
    assert "SECRET" not in middleware.personal_block("ada", QUESTION)


def test_a_removal_or_a_write_of_examples_alone_drops_the_users_blocks(rpm):
    """Neither moves the revision the blocks are kept under unless it drops them (eb1cdff kept and served them)."""
    rpm.build_user("ada", MOVIE_HISTORY)
    middleware = RPMMiddleware(rpm, k=3, retrieval="query")
    assert "Robots rebel on a space station." in middleware.personal_block("ada", QUESTION)
    secret = ReasoningExample(item_id="s", input="SECRET robots in love", features=[], reasoning="r", answer="sci-fi")
    rpm.store.replace_user_examples("ada", [secret])
    assert "SECRET" in middleware.personal_block("ada", QUESTION)
    rpm.store.replace_user_examples("ada", [])
    assert "SECRET" not in middleware.personal_block("ada", QUESTION)
    rpm.build_user("ada", MOVIE_HISTORY)
    assert "Robots rebel on a space station." in middleware.personal_block("ada", QUESTION)
    first = rpm.store.get_examples("ada")[0]
    rpm.remove_interactions("ada", [first.item_id])
    assert not [text for key, text in middleware._cache.items() if key[0] == "ada" and first.input in text]


def test_a_user_changed_by_another_process_keeps_only_their_current_block(rpm, monkeypatch):
    """Another process's forget and rebuild reach this one only as a new revision: the old blocks go then."""
    import langchain_rpm.privacy as privacy
    import langchain_rpm.store._writes as writes

    rpm.build_user("ada", MOVIE_HISTORY[:2])
    middleware = RPMMiddleware(rpm, k=1, retrieval="query")
    before = middleware.personal_block("ada", QUESTION)
    with monkeypatch.context() as elsewhere:  # as in another process: no hook of this one runs
        elsewhere.setattr(privacy, "empty_all", lambda user_id: None)
        elsewhere.setattr(writes, "drop_user", lambda user_id: None, raising=False)
        rpm.forget("ada")
        rpm.build_user("ada", MOVIE_HISTORY[2:])
    after = middleware.personal_block("ada", QUESTION)
    assert after != before and [text for key, text in middleware._cache.items() if key[0] == "ada"] == [after]


@pytest.mark.parametrize("backend", ["chroma", "langgraph"])
def test_examples_replaced_by_another_process_are_not_served_from_an_older_block(rpm, monkeypatch, backend):
    """A write of examples alone keeps the profile; in another process it reached this one's middleware only when
    the profile changed, so the kept block went on naming the erased examples. The revision covers the examples."""
    import langchain_rpm.store._writes as writes

    if backend == "langgraph":
        store = RPMStore.from_langgraph(InMemoryStore(), embeddings=CountingEmbeddings())
        rpm = RPM(rpm_fake_model(), task="lamp2", store=store, k=3)
    rpm.build_user("ada", MOVIE_HISTORY[:2])
    middleware = RPMMiddleware(rpm, k=1, retrieval="query")
    before = middleware.personal_block("ada", QUESTION)
    erased = MOVIE_HISTORY[0]["input"]
    assert erased in before
    kept = ReasoningExample(item_id="n", input="Robots kiss a pilot.", features=[], reasoning="r", answer="sci-fi")
    with monkeypatch.context() as elsewhere:  # as in another process: no hook of this one runs
        elsewhere.setattr(writes, "drop_user", lambda user_id: None, raising=False)
        rpm.store.replace_user_examples("ada", [kept])
    after = middleware.personal_block("ada", QUESTION)
    assert erased not in after and kept.input in after
    assert [text for key, text in middleware._cache.items() if key[0] == "ada"] == [after]


def test_a_write_of_examples_alone_keeps_the_caches_keyed_by_text(rpm):
    """Only a forget or a removal empties those (82fdab0 emptied them at every such write: callers built again)."""
    rpm.build_user("ada", MOVIE_HISTORY)
    rpm.personalize("ada", QUESTION)
    extractor = rpm.components.query_extractor
    assert extractor._aware
    example = ReasoningExample(item_id="n", input="Another film.", features=[], reasoning="r", answer="sci-fi")
    rpm.store.add_examples("bo", [example])
    assert extractor._aware
