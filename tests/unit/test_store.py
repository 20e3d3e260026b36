"""RPMStore: isolation, deletion, batching, embedding checks and sync/async parity.

``TestStore`` runs on the embedded client here; ``tests/integration/test_chroma_server.py`` subclasses it
to run every test against a real Chroma server (``HttpClient`` and ``AsyncHttpClient``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_rpm.errors import AsyncClientError, EmbeddingMismatchError
from langchain_rpm.store import RPMStore, default_client, example_id, features_text, user_filter
from langchain_rpm.store._records import decode_manifest, stored_texts
from langchain_rpm.store._records import manifest_id as _manifest_id
from langchain_rpm.types import Factor, Feature, ReasoningExample, UserProfile
from tests.support.older_stores import rewrite_as_before_manifests
from tests.support.rpm_fakes import CountingEmbeddings

ODD_USER_IDS = [
    "ada@example.com",
    "Zoë 🚀 数据",
    "quote\"and'apostrophe",
    '{"$ne": "ada@example.com"}',
    "$ne",
    "user_id",
    " padded ",
    "a\x00b",
]

MakeStore = Callable[..., RPMStore]


def example(item_id: str, *features: str, answer: str = "sci-fi", factor: str = "Theme") -> ReasoningExample:
    return ReasoningExample(
        item_id=item_id,
        input=f"Input {item_id}: {' and '.join(features)}.",
        features=[Feature(name=name, factor=factor) for name in features],
        reasoning=f"Because of {features[0]}.",
        answer=answer,
    )


def profile(user_id: str, version: int = 1) -> UserProfile:
    return UserProfile(
        user_id=user_id, task="lamp2", factors=[Factor(name="Theme")], num_items=3, num_features=3, version=version
    )


def history(user_id: str, n: int = 3) -> list[ReasoningExample]:
    return [example(f"{i}", f"feature {user_id} {i}", answer=f"answer-{i}") for i in range(n)]


def snapshot(collection: Any) -> dict[str, tuple[bytes, str | None, str]]:
    """Every record of a collection: id -> (embedding bytes, document, metadata as sorted repr)."""
    got = collection.get(include=["embeddings", "documents", "metadatas"])
    return {
        record_id: (np.asarray(vector, dtype=np.float32).tobytes(), document, repr(sorted(metadata.items())))
        for record_id, vector, document, metadata in zip(
            got["ids"], got["embeddings"], got["documents"], got["metadatas"], strict=True
        )
    }


class AsyncClientProxy:
    """Wraps a sync Chroma client or collection so that every method is a coroutine (offline async tests)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return AsyncClientProxy(result) if hasattr(result, "upsert") else result

        return call


class SmallBatchClient:
    """A Chroma client that reports a tiny max batch size and records every write's size."""

    def __init__(self, inner: Any, size: int) -> None:
        self._inner, self.size, self.writes = inner, size, []

    def get_max_batch_size(self) -> int:
        return self.size

    def get_collection(self, *args: Any, **kwargs: Any) -> Any:
        return self._record(self._inner.get_collection(*args, **kwargs))

    def delete_collection(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.delete_collection(*args, **kwargs)

    def get_or_create_collection(self, *args: Any, **kwargs: Any) -> Any:
        return self._record(self._inner.get_or_create_collection(*args, **kwargs))

    def _record(self, collection: Any) -> Any:
        client = self

        class Recording:
            metadata = collection.metadata

            def __getattr__(self, name: str) -> Any:
                method = getattr(collection, name)
                if name not in {"upsert", "add", "delete"}:
                    return method

                def write(**kwargs: Any) -> Any:
                    kind = "examples" if "_examples" in collection.name else collection.name.rsplit("_", 1)[-1]
                    client.writes.append((f"{kind}.{name}", len(kwargs["ids"])))
                    return method(**kwargs)

                return write

        return Recording()


class TestStore:
    """Store behaviour, on whatever backend ``make_store`` builds (embedded here)."""

    @pytest.fixture
    def client(self, tmp_path) -> Any:
        return default_client(tmp_path / "chroma")

    @pytest.fixture
    def prefix(self) -> str:
        """Prefix of every namespace a test uses (unique per test on a shared server)."""
        return ""

    @pytest.fixture
    def layout(self) -> str:
        """The store layout every test of the class runs on (``TestStorePerUser``: one collection per user)."""
        return "shared"

    @pytest.fixture
    def make_store(self, client, prefix, layout) -> MakeStore:
        def make(embeddings: Any = None, namespace: str = "rpm", **kwargs: Any) -> RPMStore:
            emb = embeddings if embeddings is not None else CountingEmbeddings()
            return RPMStore(client=client, embeddings=emb, namespace=prefix + namespace, layout=layout, **kwargs)

        return make

    @pytest.fixture
    def store(self, make_store) -> RPMStore:
        return make_store()

    @pytest.fixture
    def astore(self, client, prefix, layout) -> RPMStore:
        """A store whose client is async (every Chroma call awaited)."""
        proxy = AsyncClientProxy(client)
        return RPMStore(client=proxy, embeddings=CountingEmbeddings(), namespace=prefix + "rpm", layout=layout)

    # -- basics ----------------------------------------------------------------------------------------
    def test_search_ranks_the_users_examples_by_feature_similarity(self, store):
        store.add_examples("ada", [example("1", "robots"), example("2", "love story"), example("3", "car chase")])
        hits = store.search("ada", [Feature(name="love story", factor="Theme")], k=2)
        assert [h.example.item_id for h in hits] == ["2", hits[1].example.item_id]
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].score >= hits[1].score
        assert len(store.search("ada", "anything", k=10)) == 3
        assert store.search("ada", "anything", k=0) == []
        assert store.search("nobody", "anything") == []

    def test_exact_search_matches_chromas_query_fallback(self, make_store):
        exact = make_store(namespace="exact")
        fallback = make_store(namespace="fallback", exact_search_limit=2)  # this user has more: Chroma's query
        examples = [example(str(i), f"feature {i}") for i in range(6)]
        for store in (exact, fallback):
            store.add_examples("ada", examples)
            store.add_examples("bob", [example("x", "feature 1")])
        query = [Feature(name="feature 1", factor="Theme")]
        a, b = exact.search("ada", query, k=3), fallback.search("ada", query, k=3)
        assert [h.example.item_id for h in a] == [h.example.item_id for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)

    def test_search_by_vector_checks_the_dimension(self, store):
        store.add_examples("ada", [example("1", "robots")])
        vector = store.embeddings.embed_query(features_text([Feature(name="robots", factor="Theme")]))
        assert store.search_by_vector("ada", vector, k=1)[0].score == pytest.approx(1.0, abs=1e-5)
        with pytest.raises(ValueError, match="query vector has dimension 3"):
            store.search_by_vector("ada", [1.0, 0.0, 0.0])

    def test_replace_drops_items_no_longer_in_the_history(self, store):
        store.add_examples("ada", history("ada", 4))
        store.add_examples("bob", history("bob", 2))
        store.replace_user_examples("ada", history("ada", 2))
        assert [e.item_id for e in store.get_examples("ada")] == ["0", "1"]
        assert len(store.get_examples("bob")) == 2

    def test_profiles_round_trip_and_users_are_listed(self, store):
        assert store.get_profile("ada") is None
        store.save_profile(profile("ada"))
        store.save_profile(profile("bob"))
        store.save_profile(profile("ada", version=2))
        assert store.get_profile("ada").version == 2
        assert store.list_users() == ["ada", "bob"]

    # -- isolation -------------------------------------------------------------------------------------
    def test_odd_user_ids_are_stored_and_isolated(self, store):
        for n, user in enumerate(ODD_USER_IDS):
            store.add_examples(user, [example("same-item", "shared feature", answer=f"answer of {n}")])
            store.save_profile(profile(user))
        assert store.list_users() == sorted(ODD_USER_IDS)
        for n, user in enumerate(ODD_USER_IDS):
            hits = store.search(user, [Feature(name="shared feature", factor="Theme")], k=10)
            assert [h.example.answer for h in hits] == [f"answer of {n}"]
            assert [e.answer for e in store.get_examples(user)] == [f"answer of {n}"]
            assert store.get_profile(user).user_id == user
        assert len({example_id(user, "same-item") for user in ODD_USER_IDS}) == len(ODD_USER_IDS)
        assert example_id("a\x00b", "c") != example_id("a", "b\x00c")

    def test_a_callers_filter_cannot_reach_another_user(self, store):
        store.add_examples("ada", [example("1", "robots", answer="sci-fi")])
        store.add_examples("bob", [example("1", "robots", answer="romance")])
        sneaky = [
            {"user_id": "bob"},
            {"user_id": {"$ne": "ada"}},
            {"$or": [{"user_id": "bob"}, {"answer": "romance"}]},
            {"$and": [{"answer": "romance"}, {"$or": [{"user_id": {"$in": ["bob"]}}]}]},
        ]
        for where in sneaky:
            with pytest.raises(ValueError, match="must not mention 'user_id'"):
                store.search("ada", "robots", where=where)
        # A filter that does not mention the user narrows this user's examples only.
        assert store.search("ada", "robots", where={"$or": [{"answer": "romance"}, {"answer": "x"}]}) == []
        assert [h.example.answer for h in store.search("ada", "robots", where={"answer": "sci-fi"})] == ["sci-fi"]
        with pytest.raises(ValueError, match="non-empty string"):
            store.search("", "robots")

    def test_search_reads_by_the_id_manifest_and_survives_without_it(self, store):
        store.add_examples("ada", history("ada", 4))
        store.add_examples("ada", [example("extra", "feature ada extra")])
        store.add_examples("bob", history("bob", 2))
        manifest = _manifest_id("ada")

        def listed() -> set[str]:
            stored = stored_texts(store.profiles.get(ids=[manifest], include=["documents", "metadatas"]))
            return set(decode_manifest(stored[manifest])[0])

        assert listed() == set(store.examples_collection("ada").get(where=user_filter("ada"), include=[])["ids"])
        query = [Feature(name="feature ada 2", factor="Theme")]
        expected = store.search("ada", query, k=3)
        assert expected[0].example.item_id == "2"
        # An older version's manifest (a bare list, written before the records) may miss or add ids: it is
        # not trusted, so reads go through the user filter and find every stored example. (Such a store's
        # records carry no commit token: a tokened record no exact manifest lists is a failed write's orphan.)
        partial = sorted(rewrite_as_before_manifests(store, "ada"))[:2]
        store.profiles.update(ids=[manifest], documents=[json.dumps([*partial, "never-written"])], embeddings=[[1.0]])
        assert store.search("ada", query, k=3) == expected
        assert len(store.get_examples("ada")) == 5
        # A store without manifests is searched through the user filter too ...
        store.profiles.delete(ids=[manifest])
        assert store.search("ada", query, k=3) == expected
        # ... and the next write rebuilds the manifest from the records' metadata.
        store.add_examples("ada", [example("later", "feature ada later")])
        assert len(listed()) == 6 == len(store.get_examples("ada"))
        assert listed() == set(store.examples_collection("ada").get(where=user_filter("ada"), include=[])["ids"])
        assert store.list_users() == []  # manifests are not profiles

    def test_user_filter_wraps_several_conditions_in_and(self):
        assert user_filter("u", {"answer": "a", "item_id": "1"}) == {
            "$and": [{"user_id": {"$eq": "u"}}, {"answer": "a"}, {"item_id": "1"}]
        }

    def test_deleting_one_of_fifty_users_leaves_the_others_byte_for_byte_intact(self, store):
        users = [f"user-{i:02d}" for i in range(50)]
        for user in users:
            store.add_examples(user, history(user, 2))
            store.save_profile(profile(user))
        victim = users[17]

        def examples() -> dict[str, tuple[bytes, str | None, str]]:  # every user's records, in either layout
            return {k: v for u in users if (c := store.examples_collection(u)) for k, v in snapshot(c).items()}

        victims = [
            set(c.get(where=user_filter(victim), include=[])["ids"])
            for c in (store.examples_collection(victim), store.profiles)
        ]
        assert [len(ids) for ids in victims] == [2, 2]  # two examples; the profile and the example-id manifest
        before = [examples(), snapshot(store.profiles)]
        assert store.delete_user(victim) == 2
        after = [examples(), snapshot(store.profiles)]
        for old, new, gone in zip(before, after, victims, strict=True):
            assert new == {key: value for key, value in old.items() if key not in gone}
        assert len(before[0]) == 100 and len(after[0]) == 98
        assert store.list_users() == [u for u in users if u != victim]
        assert store.get_examples(victim) == [] and store.get_profile(victim) is None
        assert store.delete_user(victim) == 0

    # -- scale and safety ------------------------------------------------------------------------------
    def test_writes_are_chunked_under_the_max_batch_size(self, client, prefix):
        small = SmallBatchClient(client, size=3)
        store = RPMStore(client=small, embeddings=CountingEmbeddings(), namespace=prefix + "small")
        store.add_examples("ada", history("ada", 8))
        for n in range(7):
            store.save_profile(profile(f"u{n}"))
        assert [size for op, size in small.writes if op == "examples.add"] == [3, 3, 2]
        store.replace_user_examples("ada", history("ada", 1))  # copy-on-write: 1 new record, then 8 old deleted
        assert [size for op, size in small.writes if op == "examples.delete"] == [3, 3, 2]
        assert all(size <= 3 for _, size in small.writes)
        assert store.list_users() == [f"u{n}" for n in range(7)]  # paged 3 at a time
        assert [e.item_id for e in store.get_examples("ada")] == ["0"]

    def test_embedding_model_name_mismatch_is_refused(self, make_store):
        make_store(embeddings=CountingEmbeddings()).add_examples("ada", history("ada"))
        other = DeterministicFakeEmbedding(size=16)
        with pytest.raises(
            EmbeddingMismatchError, match=r"'counting-fake-16'.*'DeterministicFakeEmbedding'.*namespace"
        ):
            make_store(embeddings=other).search("ada", "robots")
        assert make_store(embeddings=other, namespace="fresh").search("ada", "robots") == []

    def test_embedding_dimension_mismatch_is_refused(self, make_store):
        make_store(embeddings=CountingEmbeddings(size=16)).add_examples("ada", history("ada"))
        smaller = CountingEmbeddings(size=8)  # same model name, other dimension
        with pytest.raises(EmbeddingMismatchError, match=r"dimension 16.*dimension 8"):
            make_store(embeddings=smaller).get_examples("ada")

    def test_dimension_is_learned_without_an_extra_embedding_call(self, make_store):
        embeddings = CountingEmbeddings()
        store = make_store(embeddings=embeddings)
        store.add_examples("ada", history("ada"))
        store.search("ada", "robots")
        assert (embeddings.document_calls, embeddings.query_calls) == (3, 1)
        assert store.examples_collection("ada").metadata["embedding_dimension"] == 16

    # -- async -----------------------------------------------------------------------------------------
    async def test_async_methods_match_the_sync_ones(self, astore, make_store):
        sync_store = make_store(namespace="syncpeer")
        for target in (sync_store, astore):
            if target is sync_store:
                target.add_examples("ada", history("ada", 4))
                target.replace_user_examples("ada", history("ada", 3))
                target.add_examples("bob", history("bob", 2))
                target.save_profile(profile("ada"))
                target.save_profile(profile("bob"))
            else:
                await target.aadd_examples("ada", history("ada", 4))
                await target.areplace_user_examples("ada", history("ada", 3))
                await target.aadd_examples("bob", history("bob", 2))
                await asyncio.gather(target.asave_profile(profile("ada")), target.asave_profile(profile("bob")))
        query = [Feature(name="feature ada 1", factor="Theme")]
        expected = sync_store.search("ada", query, k=2)
        assert await astore.asearch("ada", query, k=2) == expected
        vector = astore.embeddings.embed_query(features_text(query))
        assert await astore.asearch_by_vector("ada", vector, k=2) == expected
        assert await astore.aget_examples("ada") == sync_store.get_examples("ada")
        assert (await astore.aget_profile("bob")).user_id == "bob"
        assert await astore.alist_users() == sync_store.list_users() == ["ada", "bob"]
        assert await astore.adelete_user("ada") == 3
        assert await astore.alist_users() == ["bob"]
        assert await astore.aget_examples("ada") == []
        assert len(await astore.aget_examples("bob")) == 2

    async def test_sync_methods_on_an_async_client_say_what_to_do(self, astore):
        if not astore.is_async:
            pytest.skip("this backend's astore has a sync client")
        for call in (
            lambda: astore.search("ada", "x"),
            lambda: astore.list_users(),
            lambda: astore.examples_collection("ada"),
        ):
            with pytest.raises(
                AsyncClientError,
                match=r"is async: use the async methods \(`await store\.a\w+\(\.\.\.\)`\).* sync client",
            ):
                call()


class TestStorePerUser(TestStore):
    """Every store test on the per-user layout (one examples collection per user, named by a digest)."""

    @pytest.fixture
    def layout(self) -> str:
        return "per_user"

    def test_each_user_has_a_collection_named_by_a_digest_and_reads_create_none(self, store, client):
        store.add_examples("ada", history("ada", 2))
        assert store.search("nobody", "robots") == [] and store.get_examples("nobody") == []
        names = {c.name for c in client.list_collections()}
        assert {n for n in names if n.startswith(store.namespace + "_examples_")} == {
            store.examples_collection("ada").name
        }
        assert "ada" not in store.examples_collection("ada").name
        with pytest.raises(ValueError, match="examples_collection"):
            _ = store.examples
        store.delete_user("ada")
        assert store.examples_collection("ada") is None  # the user's collection is gone with them


def test_async_proxy_is_detected_as_an_async_client(tmp_path):
    store = RPMStore(client=AsyncClientProxy(default_client(tmp_path)), embeddings=CountingEmbeddings())
    assert store.is_async and inspect.iscoroutinefunction(store.client.get_or_create_collection)
    assert not RPMStore(client=default_client(tmp_path), embeddings=CountingEmbeddings()).is_async
