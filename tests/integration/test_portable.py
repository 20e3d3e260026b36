"""Portable profiles: a user moved Chroma -> Postgres -> Chroma with ``rpm export`` / ``rpm import``, byte for
byte and without a model; refusals (a stored user, a malformed or foreign-version file) store nothing."""

from __future__ import annotations

import json

import pytest

from langchain_rpm import RPM, RPMStore
from tests.support.cli_run import MODEL_ENV, run_main
from tests.support.postgres import postgres_server  # noqa: F401 - the session fixture
from tests.support.rpm_fakes import rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_model_env(monkeypatch):
    for name in MODEL_ENV:  # no model can be reached: a command that needed one would fail
        monkeypatch.delenv(name, raising=False)


def test_a_user_moves_chroma_to_postgres_to_chroma_byte_for_byte_without_a_model(tmp_path, capsys, postgres_server):  # noqa: F811
    first, last, url = tmp_path / "first", tmp_path / "last", postgres_server.database()
    RPM(rpm_fake_model(), "lamp2", store=RPMStore(first)).build_user("ada", MOVIE_HISTORY)
    files = [tmp_path / f"ada{i}.json" for i in range(3)]
    steps = [
        ("export", "ada", "--store", str(first), "-o", str(files[0])),
        ("import", str(files[0]), "--store", url),
        ("export", "ada", "--store", url, "-o", str(files[1])),
        ("import", str(files[1]), "--store", str(last)),
        ("export", "ada", "--store", str(last), "-o", str(files[2])),
    ]
    for argv in steps:
        result = run_main(capsys, *argv)
        assert result.status == 0, (argv, result.err)
    assert files[0].read_bytes() == files[1].read_bytes() == files[2].read_bytes()
    document = json.loads(files[0].read_text())
    assert len(document["examples"]) == len(MOVIE_HISTORY) and document["provenance"]["task"] == "lamp2"
    moved = RPMStore(last)
    assert moved.get_profile("ada") == RPMStore(first).get_profile("ada")
    assert [h.example.item_id for h in moved.search("ada", "robots", k=3)] == [
        h.example.item_id for h in RPMStore(first).search("ada", "robots", k=3)
    ]


def test_refusals_are_one_line_and_store_nothing(tmp_path, capsys, postgres_server):  # noqa: F811
    url = postgres_server.database()
    RPM(rpm_fake_model(), "lamp2", store=RPMStore(tmp_path / "s")).build_user("ada", MOVIE_HISTORY)
    good = tmp_path / "ada.json"
    assert run_main(capsys, "export", "ada", "--store", str(tmp_path / "s"), "-o", str(good)).status == 0
    assert run_main(capsys, "import", str(good), "--store", url).status == 0
    again = run_main(capsys, "import", str(good), "--store", url)
    assert again.status != 0 and len(again.errors) == 1 and "--replace" in again.errors[0]
    assert run_main(capsys, "import", str(good), "--store", url, "--replace").status == 0
    document = json.loads(good.read_text())
    broken = {
        "truncated.json": good.read_text()[:200],
        "foreign.json": json.dumps({**document, "version": 99}),
        "bad-vector.json": json.dumps({**document, "examples": [{**document["examples"][0], "vector": [1.0]}]}),
    }
    fresh = tmp_path / "fresh"
    for name, text in broken.items():
        (tmp_path / name).write_text(text)
        result = run_main(capsys, "import", str(tmp_path / name), "--store", str(fresh))
        assert result.status != 0 and len(result.errors) == 1 and "nothing was stored" in result.errors[0], name
    assert not (fresh / "chroma.sqlite3").exists()  # refused before the store was opened
