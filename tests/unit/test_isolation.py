"""Isolation: no read path returns another user's data, and deleting a user removes theirs and nothing else
(on both store layouts)."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from langchain_rpm import RPMStore, UserProfile
from langchain_rpm.types import Feature, ReasoningExample
from tests.support.rpm_fakes import CountingEmbeddings

ADVERSARIAL = [
    "alice@example.com",
    'o"brien',
    "ünïcödé-ユーザー",
    '{"$ne": "x"}',
    "$or",
    "user_id",
    " ",
    "a" * 300,
    "\\",
    "'; DROP TABLE users; --",
]
user_ids = st.one_of(st.sampled_from(ADVERSARIAL), st.text(min_size=1, max_size=40))
features = st.lists(st.sampled_from(["robots", "space", "wedding", "chase", "price"]), min_size=1, max_size=3)


def examples_for(user: str, names: list[list[str]]) -> list[ReasoningExample]:
    return [
        ReasoningExample(
            item_id=f"{i}",
            input=f"{user} item {i}",
            features=[Feature(name=n, factor="F") for n in feats],
            reasoning=f"reasoning of {user}",
            answer=f"answer of {user}",
        )
        for i, feats in enumerate(names)
    ]


@pytest.mark.parametrize("layout", ["shared", "per_user"])
@seed(20261125)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    users=st.lists(user_ids, min_size=2, max_size=6, unique=True),
    items=st.lists(features, min_size=1, max_size=4),
    query=features,
    victim_index=st.integers(min_value=0, max_value=5),
)
def test_every_read_is_scoped_to_one_user(layout, users, items, query, victim_index):
    store = RPMStore(tempfile.mkdtemp(), embeddings=CountingEmbeddings(), layout=layout)
    for user in users:
        store.add_examples(user, examples_for(user, items))
        store.save_profile(UserProfile(user_id=user, task="lamp2", factors=[], num_items=len(items), num_features=1))
    assert store.list_users() == sorted(users)
    for user in users:
        hits = store.search(user, [Feature(name=n, factor="F") for n in query], k=50)
        assert hits and {h.example.answer for h in hits} == {f"answer of {user}"}
        assert {e.reasoning for e in store.get_examples(user)} == {f"reasoning of {user}"}
        assert store.get_profile(user).user_id == user
        assert store.search(user, "free text", k=50)[0].example.input.startswith(user)

    victim = users[victim_index % len(users)]
    others = [u for u in users if u != victim]
    include = ["embeddings", "documents", "metadatas"]
    before = {u: store.examples_collection(u).get(where={"user_id": u}, include=include) for u in others}
    store.delete_user(victim)
    assert store.get_examples(victim) == [] and store.get_profile(victim) is None
    assert store.search(victim, "anything", k=50) == []
    assert store.list_users() == sorted(others)
    for user in others:
        after = store.examples_collection(user).get(where={"user_id": user}, include=include)
        assert after["ids"] == before[user]["ids"]
        assert after["documents"] == before[user]["documents"]
        assert after["metadatas"] == before[user]["metadatas"]
        assert (after["embeddings"] == before[user]["embeddings"]).all()
