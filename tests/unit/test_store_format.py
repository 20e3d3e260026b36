"""The profiles collection's stored format: manifests and profiles in metadata, and folders of the older format.

Up to 9991821 a user's manifest and profile were the *documents* of their two records in
``{namespace}_profiles``; since then the JSON is kept in metadata (``ids`` / ``profile``) and the document is
``""`` (Chroma full-text indexes documents: ~3x the upsert cost). A folder written in the older format must
read exactly as before, and a record an older version rewrites later must be read by its document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_rpm._plans import run
from langchain_rpm.store import RPMStore
from langchain_rpm.store._records import encode_manifest, manifest_id, profile_id
from langchain_rpm.store._writes import UserWrite, write_many_plan
from langchain_rpm.types import UserProfile
from tests.unit.test_store import example, history, profile

USERS = ["ada", "Zoë 🚀 数据"]


def _store(folder: Path) -> RPMStore:
    return RPMStore(folder, embeddings=DeterministicFakeEmbedding(size=8))


def _switch_records_before_9991821(user_id: str, ids: list[str], stored: UserProfile | None) -> dict[str, Any]:
    """The records the switch upserted up to 9991821 (``_chroma._switch_record`` there), verbatim in effect."""
    record: dict[str, list[Any]] = {
        "ids": [manifest_id(user_id)],
        "embeddings": [[1.0]],
        "documents": [encode_manifest(ids)],
        "metadatas": [{"user_id": user_id, "kind": "example_ids"}],
    }
    if stored is not None:
        record["ids"].append(profile_id(user_id))
        record["embeddings"].append([1.0])
        record["documents"].append(stored.model_dump_json())
        record["metadatas"].append({"user_id": user_id, "version": stored.version})
    return record


def _reads(store: RPMStore, user_id: str) -> dict[str, Any]:
    """Everything a reader sees of one user, on a store object that has cached nothing."""
    context = run(store.backend.query_context_plan(user_id))
    return {
        "profile": store.get_profile(user_id),
        "examples": store.get_examples(user_id),
        "search": store.search(user_id, "feature 1", k=2),
        "context": (context.profile, context.nearest(user_id, store.embeddings.embed_query("feature 1"), 2)),
        "users": store.list_users(),
    }


def _written(folder: Path) -> dict[str, dict[str, Any]]:
    store = _store(folder)
    for n, user in enumerate(USERS, start=2):
        store.replace_user_examples(user, history(user, n))
        store.save_profile(profile(user, version=n))
    return {user: _reads(_store(folder), user) for user in USERS}


def _rewrite_in_the_old_format(folder: Path) -> None:
    """Replace every user's manifest and profile records by the older encoding (delete, then add: no merge)."""
    store = _store(folder)
    for user in USERS:
        ids = run(store.backend.current_plan(user)).records
        old = _switch_records_before_9991821(user, sorted(ids), store.get_profile(user))
        store.profiles.delete(ids=old["ids"])
        store.profiles.add(**old)


def test_the_switch_keeps_manifest_and_profile_in_metadata_and_no_document_text(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.replace_user_examples("ada", history("ada", 3))
    saved = profile("ada", version=4)
    store.save_profile(saved)
    got = store.profiles.get(include=["documents", "metadatas"])
    assert got["documents"] == ["", ""]  # main stored the JSON here, which Chroma full-text indexes
    by_id = dict(zip(got["ids"], got["metadatas"], strict=True))
    assert json.loads(by_id[manifest_id("ada")]["ids"])["ids"] == sorted(run(store.backend.current_plan("ada")).records)
    assert UserProfile.model_validate_json(by_id[profile_id("ada")]["profile"]) == saved


def test_a_folder_written_in_the_older_format_reads_exactly_as_before(tmp_path: Path) -> None:
    before = _written(tmp_path)
    _rewrite_in_the_old_format(tmp_path)
    assert all(text for text in _store(tmp_path).profiles.get(include=["documents"])["documents"])  # old format
    assert {user: _reads(_store(tmp_path), user) for user in USERS} == before


def test_writes_over_an_older_format_folder_store_the_manifests_they_switch_in_the_new_format(tmp_path: Path) -> None:
    before = _written(tmp_path)
    _rewrite_in_the_old_format(tmp_path)
    store = _store(tmp_path)
    store.add_examples("ada", [example("9", "feature ada 9")])  # a user's write
    rebuilt = profile(USERS[1], version=9)
    grouped = UserWrite(USERS[1], [example("8", "feature z 8")], replace=False, make_profile=lambda *_: rebuilt)
    run(write_many_plan(store, [grouped]))  # a group commit, reading the older manifest under its lock
    stored = store.profiles.get(ids=[manifest_id(u) for u in USERS] + [profile_id(u) for u in USERS])
    documents = dict(zip(stored["ids"], stored["documents"], strict=True))
    assert [documents[manifest_id(u)] for u in USERS] == ["", ""]
    assert documents[profile_id(USERS[1])] == ""
    assert documents[profile_id("ada")]  # ada's write made no profile: the older record stays as it was
    fresh = _store(tmp_path)
    assert [ex.item_id for ex in fresh.get_examples("ada")] == ["0", "1", "9"]
    assert [ex.item_id for ex in fresh.get_examples(USERS[1])] == ["0", "1", "2", "8"]
    assert fresh.get_profile("ada") == before["ada"]["profile"]
    assert fresh.get_profile(USERS[1]) == rebuilt
    assert fresh.list_users() == sorted(USERS)


def test_a_record_an_older_version_rewrote_afterwards_is_read_by_its_document(tmp_path: Path) -> None:
    """Chroma's upsert merges metadata: an older writer leaves this format's keys behind, stale."""
    store = _store(tmp_path)
    store.replace_user_examples("ada", history("ada", 3))
    store.save_profile(profile("ada", version=1))
    kept, older = sorted(run(store.backend.current_plan("ada")).records)[:2], profile("ada", version=5)
    store.profiles.upsert(**_switch_records_before_9991821("ada", kept, older))
    stale = store.profiles.get(ids=[manifest_id("ada")], include=["metadatas"])["metadatas"][0]
    assert len(json.loads(stale["ids"])["ids"]) == 3  # the newer format's key is still there
    fresh = _store(tmp_path)
    assert fresh.get_profile("ada") == older
    assert len(fresh.get_examples("ada")) == 2
    assert run(fresh.backend.query_context_plan("ada")).profile == older


def _big_profile(version: int, factors: int = 200) -> UserProfile:
    from langchain_rpm.types import Factor

    return profile("ada", version=version).model_copy(
        update={"factors": [Factor(name=f"Theme {n}") for n in range(factors)]}
    )


def test_json_too_long_for_a_chroma_cloud_metadata_value_is_kept_in_counted_pieces_not_the_document(
    tmp_path: Path,
) -> None:
    """Chroma Cloud refuses a metadata value over 4,096 bytes; up to round 7 such a profile or manifest was the
    document, which Chroma full-text indexes (an upsert of 20 users' 7-8 KB texts: 272 -> 41 ms of CPU)."""
    store = _store(tmp_path)
    store.replace_user_examples("ada", history("ada", 2))
    store.save_profile(profile("ada", version=1))  # small: one metadata value
    big = _big_profile(2)
    store.save_profile(big)
    store.replace_user_examples("ada", history("ada", 150))  # 150 ids of 32 hex digits: over 4,096 bytes
    got = store.profiles.get(ids=[profile_id("ada"), manifest_id("ada")], include=["documents", "metadatas"])
    assert got["documents"] == ["", ""]
    for meta in got["metadatas"]:
        assert (
            all(len(str(v).encode()) <= 4096 for v in meta.values()) and max(map(len, map(str, meta.values()))) > 3000
        )
    fresh = _store(tmp_path)
    assert fresh.get_profile("ada") == big and len(fresh.get_examples("ada")) == 150
    small = profile("ada", version=3)
    store.save_profile(small)  # small again: the pieces stay behind, stale, and are not read
    assert _store(tmp_path).get_profile("ada") == small
    fewer = _big_profile(4, factors=120)  # fewer pieces than the first big profile left behind
    store.save_profile(fewer)
    assert _store(tmp_path).get_profile("ada") == fewer


def test_a_long_text_stored_as_the_document_by_an_earlier_version_reads_and_is_rewritten(tmp_path: Path) -> None:
    """Up to round 7 a text over 4,096 bytes was the record's document; an older version may still write so."""
    store = _store(tmp_path)
    store.replace_user_examples("ada", history("ada", 3))
    store.save_profile(_big_profile(2))
    older = _big_profile(5, factors=150)
    record = {"ids": [profile_id("ada")], "embeddings": [[1.0]], "documents": [older.model_dump_json()]}
    store.profiles.upsert(**record, metadatas=[{"user_id": "ada", "version": 5}])  # as round 6 wrote it
    assert _store(tmp_path).get_profile("ada") == older  # its document wins over the stale pieces
    newer = _big_profile(6, factors=130)
    store.save_profile(newer)
    assert store.profiles.get(ids=[profile_id("ada")], include=["documents"])["documents"] == [""]
    assert _store(tmp_path).get_profile("ada") == newer
    small = profile("ada", version=7)  # an older version's small text: one value, the pieces left behind
    store.profiles.upsert(**{**record, "documents": [""]}, metadatas=[{"profile": small.model_dump_json()}])
    assert _store(tmp_path).get_profile("ada") == small


def test_an_example_or_exact_vector_over_a_chroma_cloud_metadata_value_is_kept_in_pieces(tmp_path: Path) -> None:
    """Chroma Cloud refuses a metadata value over 4,096 bytes: an example with a long input (a LaMP-4 article)
    and an imported 768-dimension vector (its exact bytes, base64) were each one value past it."""
    from langchain_rpm.store._writes import write_plan

    store = RPMStore(tmp_path, embeddings=DeterministicFakeEmbedding(size=768))
    long = example("long", "feature 1").model_copy(update={"input": "Zoë 🚀 数据 é " * 900})
    vectors = [[0.1 + n / 1000 + d / 7 for d in range(768)] for n in range(2)]
    run(write_plan(store, "ada", [long, example("short", "feature 2")], replace=True, vectors=vectors))
    got = store.examples.get(where={"user_id": "ada"}, include=["metadatas"])
    pieces = sorted(sorted(key for key in meta if key.startswith(("example", "vector"))) for meta in got["metadatas"])
    assert pieces == [  # 18,000 bytes of input in 5 pieces, 8,192 of base64 in 2
        ["example", *(f"example_{n}" for n in range(2, 6)), "vector", "vector_2"],
        ["example", "vector", "vector_2"],
    ]
    for meta in got["metadatas"]:
        assert all(len(str(value).encode()) <= 4096 for value in meta.values())
    fresh = RPMStore(tmp_path, embeddings=DeterministicFakeEmbedding(size=768))
    assert {ex.item_id: ex for ex in fresh.get_examples("ada")}["long"] == long
    assert [hit.example for hit in fresh.search("ada", "feature 1", k=2) if hit.example.item_id == "long"] == [long]
    item_of = {record_id: meta["item_id"] for record_id, meta in zip(got["ids"], got["metadatas"], strict=True)}
    ids = sorted(item_of)
    assert run(fresh.backend.vectors_plan("ada", ids)) == [vectors[0 if item_of[i] == "long" else 1] for i in ids]


def test_an_example_record_keeps_no_document_and_records_of_older_versions_with_one_read_the_same(
    tmp_path: Path,
) -> None:
    """Example records carry no document since round 7 (Chroma full-text indexes each one: ~40 % of an ``add``).

    Before, the document was the embedded feature text, which nothing reads back; a folder holding such
    records must read exactly as one without them.
    """
    store = _store(tmp_path)
    store.replace_user_examples("ada", history("ada", 3))
    run(write_many_plan(store, [UserWrite(user, history(user, 2)) for user in ["Zoë 🚀 数据", "bob"]]))
    for user in [*USERS, "bob"]:
        collection = store.examples_collection(user)
        got = collection.get(where={"user_id": user}, include=["documents", "metadatas"])
        assert got["documents"] == [None] * len(got["ids"]) and got["ids"]
    before = _reads(_store(tmp_path), "ada")
    collection = store.examples_collection("ada")
    old = collection.get(where={"user_id": "ada"}, include=["embeddings", "metadatas"])
    collection.delete(ids=old["ids"])
    texts = [", ".join(f["name"] for f in json.loads(meta["example"])["features"]) for meta in old["metadatas"]]
    collection.add(ids=old["ids"], embeddings=old["embeddings"], metadatas=old["metadatas"], documents=texts)
    assert _reads(_store(tmp_path), "ada") == before
