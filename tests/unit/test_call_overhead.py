"""What the per-call CPU work changed must leave as it was: usage counts, parsing, retries."""

from __future__ import annotations

import json

import pytest
from langchain_core.caches import InMemoryCache
from pydantic import BaseModel

from langchain_rpm import RPM
from langchain_rpm._plans import run
from langchain_rpm.stages.base import StructuredCaller
from langchain_rpm.testing import FakeStructuredChatModel
from langchain_rpm.usage import UsageTracker
from tests.support.rpm_fakes import rpm_responder
from tests.unit.conftest import MOVIE_HISTORY


class Answer(BaseModel):
    answer: str


def test_the_profile_cost_counts_what_a_callback_handler_sees(store):
    rpm = RPM(FakeStructuredChatModel(responder=rpm_responder), "lamp2", store=store, pack_size=2)
    tracker = UsageTracker()
    profile = rpm.build_user("ada", MOVIE_HISTORY, config={"callbacks": [tracker]})
    assert profile.cost.model_dump() == tracker.usage.model_dump()
    assert profile.cost.llm_calls > 0 and profile.cost.input_tokens > 0


def test_cache_hits_cost_nothing_in_the_profile(store):
    rpm = RPM(FakeStructuredChatModel(responder=rpm_responder, cache=InMemoryCache()), "lamp2", store=store)
    first = rpm.build_user("ada", MOVIE_HISTORY)
    again = rpm.build_user("bob", MOVIE_HISTORY)  # same prompts: every reply comes from the cache
    assert first.cost.llm_calls > 0 and again.cost.llm_calls == 0


def test_a_body_cut_mid_json_is_sent_again():
    calls = []

    def responder(messages, schema):
        calls.append(1)
        if len(calls) == 1:
            raise json.JSONDecodeError("Unterminated string", '{"answer": "4', 11)
        return {"answer": "42"}

    caller = StructuredCaller(FakeStructuredChatModel(responder=responder), Answer)
    assert run(caller.plan([("human", "?")])) == Answer(answer="42") and len(calls) == 2


@pytest.mark.enable_socket
@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["function_calling", "json_schema"])  # the fake answers json_mode with {}
async def test_chat_openai_replies_are_parsed_and_their_tokens_counted(method):
    """ChatOpenAI's structured output is ``model | refusal check | parser``: parsed here, usage from the reply."""
    from langchain_openai import ChatOpenAI

    from langchain_rpm._plans import arun
    from tests.support.fault_server import FaultServer

    with FaultServer(seed=0) as server:
        llm = ChatOpenAI(base_url=server.base_url, api_key="test", model="fake", max_retries=0)
        caller = StructuredCaller(llm, Answer, stage="generate", method=method)
        tracker = UsageTracker()
        config = {"callbacks": [tracker]}
        reply = await arun(caller.plan([("human", "Answer in JSON: what is it?")], config))
        assert isinstance(reply, Answer)
        assert run(caller.plan([("human", "Again, in JSON.")], config)) is not None
    assert tracker.usage.llm_calls == 2 and tracker.usage.input_tokens > 0
    assert tracker.usage.by_stage["generate"].llm_calls == 2
    assert sum(u["input_tokens"] for u in tracker.usage_metadata.values()) == tracker.usage.input_tokens
