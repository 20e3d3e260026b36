"""Concurrent builds into one persistent store lose nothing; queries racing a rebuild see one profile version."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from langchain_rpm import RPM, RPMStore
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY


def _history(user: int, n: int = len(MOVIE_HISTORY)) -> list[dict[str, str]]:
    return [{**item, "id": f"{item['id']}-{user}"} for item in MOVIE_HISTORY[:n]]


def test_concurrent_builds_of_different_users_lose_no_writes(tmp_path):
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    rpms = [RPM(rpm_fake_model(), task="lamp2", store=store) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        profiles = list(pool.map(lambda i: rpms[i].build_user(f"user-{i}", _history(i)), range(6)))
    assert all(p.num_items == len(MOVIE_HISTORY) for p in profiles)
    reopened = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    assert reopened.list_users() == [f"user-{i}" for i in range(6)]
    for i in range(6):
        assert {e.item_id for e in reopened.get_examples(f"user-{i}")} == {item["id"] for item in _history(i)}
    assert len(reopened.examples.get(include=[])["ids"]) == 6 * len(MOVIE_HISTORY)


def test_queries_racing_a_rebuild_see_one_consistent_profile(tmp_path):
    store = RPMStore(tmp_path / "store", embeddings=CountingEmbeddings())
    writer = RPM(rpm_fake_model(), task="lamp2", store=store)
    reader = RPM(rpm_fake_model(), task="lamp2", store=store)
    writer.build_user("ada", _history(0, 3))
    versions: dict[int, set[str]] = {1: {f.name for f in store.get_profile("ada").factors}}
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[tuple[set[str], set[str]]] = []

    def rebuild() -> None:
        try:
            for n in range(4, len(MOVIE_HISTORY) + 1):
                profile = writer.build_user("ada", _history(0, n))
                versions[profile.version] = {f.name for f in profile.factors}
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def query() -> None:
        while not done.is_set():
            try:
                prediction = reader.personalize("ada", "Robots kiss during a car chase in space.")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return
            seen.append(({f.factor for f in prediction.features}, set(prediction.example_ids)))

    threads = [threading.Thread(target=rebuild), threading.Thread(target=query)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert seen, "the reader never completed a query"
    all_items = {item["id"] for item in _history(0)}
    for factors, example_ids in seen:
        # Factor-aware features were assigned against exactly one stored profile version.
        assert any(factors <= names for names in versions.values()), (factors, versions)
        assert example_ids <= all_items
    final = store.get_profile("ada")
    assert final.version == 1 + (len(MOVIE_HISTORY) - 3)
    assert {e.item_id for e in store.get_examples("ada")} == all_items
