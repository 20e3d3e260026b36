"""Group commit: many users' writes coalesce into max-size upserts (embedded Chroma), each user still whole."""

from __future__ import annotations

from typing import Any

from langchain_rpm._plans import run
from langchain_rpm.store import RPMStore
from langchain_rpm.store._writes import UserWrite, write_many_plan
from langchain_rpm.types import Feature, ReasoningExample, UserProfile
from tests.support.rpm_fakes import CountingEmbeddings


class CountingCollection:
    """A collection that counts its upserts and forwards everything."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.upserts = inner, 0

    def upsert(self, **kwargs: Any) -> Any:
        self.upserts += 1
        return self.inner.upsert(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _write(user: str) -> UserWrite:
    items = [
        ReasoningExample(
            item_id=str(i), input=f"{user} {i}", features=[Feature(name=f"f{i}")], reasoning="r", answer="a"
        )
        for i in range(3)
    ]
    profile = UserProfile(user_id=user, task="lamp2", factors=[], num_items=3, num_features=0)
    return UserWrite(user, items, make_profile=lambda every, previous: profile)


def test_fifty_users_cost_a_few_max_size_upserts_not_a_hundred(tmp_path):
    store = RPMStore(tmp_path, embeddings=CountingEmbeddings())
    store._batch = 100  # 150 new records: 2 upserts of examples; 100 manifest + profile records: 1 upsert
    counted = {kind: CountingCollection(getattr(store, kind)) for kind in ("examples", "profiles")}
    store.handles.update(counted)
    results = run(write_many_plan(store, [_write(f"u{i:02d}") for i in range(50)]))
    assert (counted["examples"].upserts, counted["profiles"].upserts) == (2, 1)
    assert len(results) == 50 and store.list_users() == [f"u{i:02d}" for i in range(50)]
    assert [ex.input for ex in store.get_examples("u07")] == ["u07 0", "u07 1", "u07 2"]
    assert store.search("u07", "f1", k=1)[0].example.input == "u07 1"
