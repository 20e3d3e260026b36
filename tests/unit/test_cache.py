from __future__ import annotations

import threading

from langchain_rpm import RPM, RPMStore
from langchain_rpm.cli.cache import SQLiteCache
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
