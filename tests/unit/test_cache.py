from __future__ import annotations

import threading

import pytest
from pydantic import BaseModel

from langchain_rpm import RPM, RPMStore
from langchain_rpm._plans import arun, run
from langchain_rpm.cli._cache import SQLiteCache
from langchain_rpm.errors import StructuredOutputError
from langchain_rpm.stages.base import StructuredCaller
from langchain_rpm.testing import FakeStructuredChatModel
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY


def test_sqlite_cache_makes_a_rebuild_free_across_processes_worth_of_objects(tmp_path):
    path = tmp_path / "llm.sqlite"
    first = rpm_fake_model(cache=SQLiteCache(path))
    RPM(first, task="lamp2", store=RPMStore(tmp_path / "a", embeddings=CountingEmbeddings())).build_user(
        "ada", MOVIE_HISTORY
    )
    assert first.call_count == 2 * len(MOVIE_HISTORY) + 2  # + 1 Propose and 1 Assign call
    second = rpm_fake_model(cache=SQLiteCache(path))  # a new connection, as after a restart
    profile = RPM(second, task="lamp2", store=RPMStore(tmp_path / "b", embeddings=CountingEmbeddings())).build_user(
        "ada", MOVIE_HISTORY
    )
    assert second.call_count == 0
    assert profile.num_items == len(MOVIE_HISTORY)


def test_sqlite_cache_is_thread_safe(tmp_path):
    from langchain_core.outputs import Generation

    cache = SQLiteCache(tmp_path / "c.sqlite")

    def work(i: int) -> None:
        for j in range(50):
            cache.update(f"p{i}-{j}", "m", [Generation(text=str(j))])
            assert cache.lookup(f"p{i}-{j}", "m")[0].text == str(j)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.lookup("p3-49", "m")[0].text == "49"
    cache.clear()
    assert cache.lookup("p3-49", "m") is None


class Verdict(BaseModel):
    answer: str


def test_a_reply_that_fails_validation_is_evicted_so_a_retry_asks_the_model_again(tmp_path):
    """main: the invalid reply stayed cached, so every retry of the build got the same bad reply back."""
    bad = {"on": True}
    model = FakeStructuredChatModel(
        responder=lambda messages, schema: {"verdict": "?"} if bad["on"] else {"answer": "yes"},
        cache=SQLiteCache(tmp_path / "llm.sqlite"),
    )
    caller = StructuredCaller(model, Verdict, max_retries=1)
    with pytest.raises(StructuredOutputError):
        run(caller.plan([("human", "Robots?")]))
    assert model.call_count == 2  # the first try and its retry (with the error fed back): both invalid
    bad["on"] = False
    assert run(caller.plan([("human", "Robots?")])) == Verdict(answer="yes")
    assert model.call_count == 3  # asked again, not answered from the cache
    assert run(caller.plan([("human", "Robots?")])) == Verdict(answer="yes") and model.call_count == 3  # valid: cached


async def test_invalid_replies_are_evicted_on_the_async_path_too(tmp_path):
    bad = {"on": True}
    model = FakeStructuredChatModel(
        responder=lambda messages, schema: {} if bad["on"] else {"answer": "no"},
        cache=SQLiteCache(tmp_path / "llm.sqlite"),
    )
    caller = StructuredCaller(model, Verdict, max_retries=0)
    with pytest.raises(StructuredOutputError):
        await arun(caller.plan([("human", "Romance?")]))
    bad["on"] = False
    assert await arun(caller.plan([("human", "Romance?")])) == Verdict(answer="no") and model.call_count == 2
