"""The paper's splits (DESIGN §2), built from synthetic files in the official formats with known dates and shares."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from langchain_rpm.errors import DatasetError
from langchain_rpm.evaluation import load_task, read_goqa, read_lamp_questions
from langchain_rpm.evaluation.lamp import lamp_date
from langchain_rpm.evaluation.protocol import PAPER_SPLITS, Split, goqa_countries, paper_goqa_users, paper_lamp_users

TAGS = ["sci-fi", "comedy", "action", "romance"]


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _lamp2_user(uid: str, n: int, seed: int) -> dict[str, Any]:
    """``n`` profile items dated day 1..n of 2010 (item k is day k), written to the file in shuffled order."""
    items = [
        {
            "id": f"{uid}-{day}",
            "description": f"movie {day} of {uid}",
            "tag": TAGS[day % 4],
            "date": f"2010-01-{day:02d}",
        }
        if day <= 31
        else {
            "id": f"{uid}-{day}",
            "description": f"movie {day} of {uid}",
            "tag": TAGS[day % 4],
            "date": f"2010-02-{day - 31:02d}",
        }
        for day in range(1, n + 1)
    ]
    random.Random(seed).shuffle(items)
    return {"id": uid, "input": f"Which tag? description: the query movie of {uid}", "profile": items}


def _day(item_id: str) -> int:
    return int(item_id.rsplit("-", 1)[1])


# -- LaMP --------------------------------------------------------------------------------------------------------


def test_lamp2_users_get_their_36_oldest_of_the_latest_40_as_history_and_4_latest_as_test(tmp_path):
    # user a: 45 items (days 1..45): window = days 6..45; history days 6..41, test days 42..45
    # user b: 40 items exactly; user c: 39 items -> does not qualify
    path = _write(tmp_path / "q.json", [_lamp2_user("a", 45, 1), _lamp2_user("b", 40, 2), _lamp2_user("c", 39, 3)])
    records = read_lamp_questions(path, "lamp2", require_dates=True)
    users = paper_lamp_users(records, "lamp2", n_users=2)
    assert [u.user_id for u in users] == ["a", "b"]
    a, b = users
    assert [_day(h.id) for h in a.history] == list(range(6, 42))
    assert [_day(q.id) for q in a.queries] == [42, 43, 44, 45]
    assert [q.gold for q in a.queries] == [TAGS[d % 4] for d in (42, 43, 44, 45)]
    assert a.queries[0].input == "movie 42 of a" and a.queries[0].options is None
    assert [_day(h.id) for h in b.history] == list(range(1, 37)) and len(b.queries) == 4
    with pytest.raises(DatasetError, match="asked for 3 users but only 2 profiles have at least 40 items"):
        paper_lamp_users(records, "lamp2", n_users=3)


def test_lamp3_and_lamp5_take_90_and_10(tmp_path):
    profile = [{"id": str(i), "text": f"review {i}", "score": (i % 5) + 1, "date": 1_000 + i} for i in range(120)]
    path = _write(tmp_path / "q.json", [{"id": "u", "input": "review: query", "profile": profile[::-1]}])
    user = paper_lamp_users(read_lamp_questions(path, "lamp3", require_dates=True), "lamp3", n_users=1)[0]
    assert [h.id for h in user.history] == [str(i) for i in range(20, 110)]  # the latest 100: 20..119
    assert [q.id for q in user.queries] == [str(i) for i in range(110, 120)]
    assert [q.gold for q in user.queries] == [str((i % 5) + 1) for i in range(110, 120)]
    assert PAPER_SPLITS["lamp5"] == Split(users=100, history=90, test=10, order="time")
    assert PAPER_SPLITS["lamp2"].window == 40


def test_year_only_dates_keep_file_order_on_ties(tmp_path):
    # LaMP-5 dates are often a year: items of the same year stay in file order (a stable sort).
    profile = [
        {"id": f"p{i}", "abstract": f"abstract {i}", "title": f"T{i}", "date": 2000 + i // 10} for i in range(40)
    ]
    path = _write(tmp_path / "q.json", [{"id": "u", "input": "abstract: x", "profile": profile}])
    split = Split(users=1, history=36, test=4, order="time")
    user = paper_lamp_users(read_lamp_questions(path, "lamp5", require_dates=True), "lamp5", split=split)[0]
    assert [q.id for q in user.queries] == ["p36", "p37", "p38", "p39"]


def test_user_sampling_is_seeded_and_a_smaller_sample_is_a_subset(tmp_path):
    path = _write(tmp_path / "q.json", [_lamp2_user(f"u{i:02d}", 40, i) for i in range(12)])
    records = read_lamp_questions(path, "lamp2", require_dates=True)
    five = {u.user_id for u in paper_lamp_users(records, "lamp2", n_users=5, seed=7)}
    ten = {u.user_id for u in paper_lamp_users(records, "lamp2", n_users=10, seed=7)}
    assert len(five) == 5 and five < ten
    assert five == {u.user_id for u in paper_lamp_users(records, "lamp2", n_users=5, seed=7)}
    assert five != {u.user_id for u in paper_lamp_users(records, "lamp2", n_users=5, seed=8)}


def test_dates_are_read_as_lamp_orders_them():
    assert lamp_date("2011-03-25", "x") == (2011, 3, 25)
    assert lamp_date(2008, "x") == (2008,)
    assert lamp_date("2011-03-25T10:00:00Z", "x") == (2011, 3, 25, 10, 0, 0)
    assert lamp_date("2011-03", "x") < lamp_date("2011-03-02", "x") < lamp_date("2011-11-01", "x")
    with pytest.raises(DatasetError, match=r"here: field 'date' must be a date"):
        lamp_date("March 2011", "here")


def test_the_paper_protocol_needs_dated_profiles(tmp_path):
    record = _lamp2_user("a", 40, 1)
    del record["profile"][5]["date"]
    path = _write(tmp_path / "q.json", [record])
    with pytest.raises(DatasetError, match=r"record 0 \(id 'a'\): profile item 5 is missing field 'date'"):
        read_lamp_questions(path, "lamp2", require_dates=True)
    assert len(read_lamp_questions(path, "lamp2")) == 1  # LaMP's own protocol does not need dates


def test_paper_files_are_found_at_the_download_layout(tmp_path):
    _write(tmp_path / "time" / "LaMP_2" / "new" / "dev" / "dev_questions.json", [_lamp2_user("a", 40, 1)])
    data = load_task("lamp2", tmp_path, protocol="paper", n_users=1)
    assert [u.user_id for u in data.users] == ["a"] and len(data.files) == 1
    assert data.files[0].path.endswith("time/LaMP_2/new/dev/dev_questions.json") and len(data.files[0].sha256) == 64
    with pytest.raises(FileNotFoundError, match=r"time/LaMP_3/dev/dev_questions\.json"):
        load_task("lamp3", tmp_path, protocol="paper")
    with pytest.raises(DatasetError, match="the paper protocol needs the official"):
        load_task("lamp2", "demo", protocol="paper")


# -- GlobalOpinionQA ----------------------------------------------------------------------------------------------


def _goqa(n_questions: int) -> list[dict[str, Any]]:
    """Known shares: Alta is confident (0.9) on every question; Bela on even ones only (0.85 vs 0.8 exactly on odd);
    Cora never (0.6). The confident option cycles, so the label of question i is known."""
    records = []
    for i in range(n_questions):
        options = ["Yes", "No", "Maybe"]
        top = i % 3
        alta = [0.05] * 3
        alta[top] = 0.9
        bela = [0.1] * 3
        bela[(top + 1) % 3] = 0.85 if i % 2 == 0 else 0.8
        cora = [0.2] * 3
        cora[top] = 0.6
        selections = {"Alta": alta, "Bela": bela, "Cora": cora}
        records.append(
            {
                "question": f"Question {i}?",
                "options": str(options),
                "selections": f"defaultdict(<class 'list'>, {selections!r})",
            }
        )
    return records


def test_goqa_keeps_answers_whose_top_share_exceeds_0_8(tmp_path):
    questions = read_goqa(_write(tmp_path / "goqa.json", _goqa(90)))
    kept = goqa_countries(questions)
    assert sorted(kept) == ["Alta", "Bela"]  # Cora's top share 0.6 never passes
    assert len(kept["Alta"]) == 90 and len(kept["Bela"]) == 45  # Bela's 0.8 exactly does not exceed 0.8
    assert all(item.response == ["Yes", "No", "Maybe"][int(item.id) % 3] for item in kept["Alta"])
    assert all(item.response == ["Yes", "No", "Maybe"][(int(item.id) + 1) % 3] for item in kept["Bela"])
    assert sorted(goqa_countries(questions, minimum=46)) == ["Alta"]


def test_goqa_users_sample_40_and_split_36_4_seeded_per_country(tmp_path):
    questions = read_goqa(_write(tmp_path / "goqa.json", _goqa(90)))
    users = paper_goqa_users(questions, seed=3)
    assert [u.user_id for u in users] == ["Alta", "Bela"]
    for user in users:
        assert len(user.history) == 36 and len(user.queries) == 4
        ids = [h.id for h in user.history] + [q.id for q in user.queries]
        assert len(set(ids)) == 40
        assert all(q.options == ["Yes", "No", "Maybe"] and q.gold in q.options for q in user.queries)
    bela = users[1]
    assert all(int(i) % 2 == 0 for i in [h.id for h in bela.history] + [q.id for q in bela.queries])
    # a country's split does not depend on the others in the file, and the seed changes it
    without_bela = [replace(q, selections={"Alta": q.selections["Alta"]}) for q in questions]
    assert paper_goqa_users(without_bela, seed=3) == users[:1]
    assert paper_goqa_users(questions, seed=4)[0].queries != users[0].queries


def test_goqa_with_too_few_confident_questions_drops_the_country(tmp_path):
    questions = read_goqa(_write(tmp_path / "goqa.json", _goqa(60)))  # Bela keeps 30 < 40
    assert [u.user_id for u in paper_goqa_users(questions)] == ["Alta"]
    data = load_task("goqa", tmp_path, protocol="paper")
    assert [u.user_id for u in data.users] == ["Alta"] and data.files[0].path.endswith("goqa.json")
