"""Dataset loaders: the shipped demo data, error messages on bad files, and the seeded split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from langchain_rpm.evaluation.datasets import (
    DatasetError,
    EvalQuery,
    EvalUser,
    demo_dataset,
    load_goqa,
    load_lamp,
    split_users,
    strip_lamp_prompt,
)
from langchain_rpm.evaluation.metrics import compute_metrics
from langchain_rpm.tasks import LAMP2, LAMP2_TAGS, LAMP3, get_task
from langchain_rpm.types import HistoryItem

DEMO = Path(__file__).resolve().parents[2] / "langchain_rpm" / "data" / "demo"


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _lamp2_record(qid: str = "110", **profile_overrides: Any) -> dict[str, Any]:
    profile = [
        {"id": "1100", "description": "A robot uprising on a moon base.", "tag": "sci-fi"},
        {"id": "1101", "description": "Two rivals plan the same wedding.", "tag": "romance"},
        {"id": "1102", "description": "A heist that goes wrong.", "tag": "action"},
    ]
    profile[2] = {**profile[2], **profile_overrides}
    return {
        "id": qid,
        "input": "Which tag does this movie relate to among the following tags? Just answer with the tag name "
        "without further explanation. tags: [sci-fi, comedy] description: A space probe wakes up.",
        "profile": profile,
    }


@pytest.fixture
def lamp2_files(tmp_path: Path):
    def make(records: list[Any], golds: Any = None) -> tuple[Path, Path]:
        if golds is None:
            golds = {"task": "LaMP_2", "golds": [{"id": str(r["id"]), "output": "sci-fi"} for r in records]}
        return _write(tmp_path / "lamp2_questions.json", records), _write(tmp_path / "lamp2_outputs.json", golds)

    return make


# -- demo data ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["lamp2", "lamp3", "lamp5"])
def test_demo_lamp_users(task: str):
    users = demo_dataset(task)
    assert [u.user_id for u in users] == [f"{task}-u{i}" for i in range(1, 5)]
    spec = get_task(task)
    for user in users:
        assert user.task == task
        assert len(user.history) == 8
        assert len({h.id for h in user.history}) == 8
        assert len(user.queries) == 1
        query = user.queries[0]
        assert query.id == user.user_id
        assert "description:" not in query.input and "review:" not in query.input
        assert not query.input.lower().startswith(("which tag", "what is the score", "generate a title"))
        if spec.is_discrete:
            assert spec.normalize(query.gold) == query.gold
            assert all(spec.normalize(h.response) == h.response for h in user.history)


def test_demo_lamp2_content():
    user = demo_dataset("lamp2")[1]
    assert user.queries[0].gold == "based on a book"
    assert user.queries[0].input.startswith("Adapted from a popular fantasy novel")
    assert {h.response for h in user.history} == {"based on a book", "dystopia", "dark comedy"}
    assert all(h.response in LAMP2_TAGS for u in demo_dataset("lamp2") for h in u.history)


def test_demo_lamp3_ratings_are_integer_strings():
    user = demo_dataset("lamp3")[0]
    assert [h.response for h in user.history] == ["2", "5", "1", "5", "3", "1", "5", "3"]
    assert user.queries[0].gold == "2"


def test_demo_goqa_users_carry_options():
    users = demo_dataset("goqa")
    assert [u.user_id for u in users] == ["Aldoria", "Brenmark", "Corvesta", "Dalmora"]
    for user in users:
        assert user.task == "goqa"
        assert len(user.queries) == 2
        assert len(user.history) == (8 if user.user_id == "Corvesta" else 9)
        for q in user.queries:
            assert q.options and q.gold in q.options
        assert all(h.options and h.response in h.options for h in user.history)
        assert not {q.id for q in user.queries} & {h.id for h in user.history}


def test_demo_goqa_answer_is_the_highest_share_and_missing_country_is_skipped():
    users = {u.user_id: u for u in load_goqa(DEMO / "goqa.json")}
    religion = {name: next(h for h in u.history if h.id == "q01").response for name, u in users.items()}
    assert religion == {
        "Aldoria": "Very important",
        "Brenmark": "Not at all important",
        "Corvesta": "Not too important",
        "Dalmora": "Somewhat important",
    }
    assert "q11" not in {h.id for h in users["Corvesta"].history}
    assert len(users["Corvesta"].history) == 10 and len(users["Aldoria"].history) == 11
    assert users["Aldoria"].queries == []


def test_demo_golds_score_perfectly():
    for task in ("lamp2", "lamp3", "lamp5", "goqa"):
        queries = [q for u in demo_dataset(task) for q in u.queries]
        golds = [q.gold for q in queries]
        result = compute_metrics(task, golds, golds, [q.options for q in queries])
        assert result.get("accuracy", 1.0) == 1.0 and result.get("mae", 0.0) == 0.0
        assert result.get("rouge1", 1.0) == pytest.approx(1.0)


def test_demo_unknown_task():
    with pytest.raises(ValueError, match="unknown demo task"):
        demo_dataset("lamp7")


def test_demo_files_regenerate_identically():
    from scripts.make_demo_data import build

    for name, data in build().items():
        assert json.loads((DEMO / name).read_text(encoding="utf-8")) == data, name


# -- LaMP loader ----------------------------------------------------------------------------------------------


def test_load_lamp_builds_users(lamp2_files):
    questions, golds = lamp2_files([_lamp2_record("110"), _lamp2_record("111")])
    users = load_lamp(questions, golds, LAMP2)
    assert [u.user_id for u in users] == ["110", "111"]
    assert users[0].queries == [EvalQuery(id="110", input="A space probe wakes up.", gold="sci-fi")]
    assert users[0].history[1] == HistoryItem(id="1101", input="Two rivals plan the same wedding.", response="romance")


def test_load_lamp_keeps_prompt_when_asked(lamp2_files):
    questions, golds = lamp2_files([_lamp2_record()])
    user = load_lamp(questions, golds, "lamp2", strip_prompt=False)[0]
    assert user.queries[0].input.startswith("Which tag does this movie")


def test_load_lamp3_numeric_scores(tmp_path: Path):
    record = {
        "id": 7,
        "input": "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, "
        "or 5 without further explanation. review: Broke in a day.",
        "profile": [
            {"id": 70, "text": "Love it.", "score": 5},
            {"id": 71, "text": "Meh.", "score": "3"},
            {"id": 72, "text": "Fine.", "score": 4.0},
        ],
    }
    q = _write(tmp_path / "q.json", [record])
    g = _write(tmp_path / "g.json", {"task": "LaMP_3", "golds": [{"id": "7", "output": 1}]})
    user = load_lamp(q, g, LAMP3)[0]
    assert [h.response for h in user.history] == ["5", "3", "4"]
    assert user.queries[0] == EvalQuery(id="7", input="Broke in a day.", gold="1")


def test_load_lamp_rating_off_scale(tmp_path: Path):
    record = {"id": "7", "input": "review: ok", "profile": [{"id": "70", "text": "Love it.", "score": "6"}]}
    q = _write(tmp_path / "q.json", [record])
    g = _write(tmp_path / "g.json", {"task": "LaMP_3", "golds": [{"id": "7", "output": "3"}]})
    with pytest.raises(DatasetError, match=r"q\.json: record 0 \(id '7'\): profile item 0: field 'score'"):
        load_lamp(q, g, LAMP3)


@pytest.mark.parametrize(
    ("task", "text", "expected"),
    [
        ("lamp2", "Which tag ...? tags: [a, b] description: A film.", "A film."),
        ("lamp3", "What is the score of the following review on a scale of 1 to 5? ... review: Good.", "Good."),
        ("lamp5", "Generate a title for the following abstract of a paper: We do X.", "We do X."),
        ("lamp5", "Please title this paper: We do Y.", "We do Y."),
        ("lamp5", "no wrapper here", "no wrapper here"),
        ("lamp2", "  just a description  ", "just a description"),
    ],
)
def test_strip_lamp_prompt(task: str, text: str, expected: str):
    assert strip_lamp_prompt(text, task) == expected


def test_error_names_file_record_and_missing_field(lamp2_files):
    records = [_lamp2_record(str(i)) for i in range(107, 111)]
    del records[3]["profile"][2]["tag"]
    questions, golds = lamp2_files(records)
    with pytest.raises(DatasetError) as info:
        load_lamp(questions, golds, LAMP2)
    message = str(info.value)
    assert "lamp2_questions.json: record 3 (id '110'): profile item 2 is missing field 'tag'" in message


def test_error_wrong_types(lamp2_files):
    record = _lamp2_record()
    record["profile"] = "not a list"
    questions, golds = lamp2_files([record])
    with pytest.raises(DatasetError, match=r"record 0 \(id '110'\): field 'profile' must be list, got str"):
        load_lamp(questions, golds, LAMP2)

    questions, golds = lamp2_files([_lamp2_record(description=42)])
    with pytest.raises(DatasetError, match=r"profile item 2: field 'description' must be str, got int"):
        load_lamp(questions, golds, LAMP2)

    questions, golds = lamp2_files([{"id": "1", "input": None, "profile": []}])
    with pytest.raises(DatasetError, match=r"record 0 \(id '1'\): field 'input' must be str, got NoneType"):
        load_lamp(questions, golds, LAMP2)

    questions, golds = lamp2_files([["not", "an", "object"]], golds={"golds": []})
    with pytest.raises(DatasetError, match=r"record 0: expected an object, got list"):
        load_lamp(questions, golds, LAMP2)


def test_error_tag_not_in_label_list(lamp2_files):
    questions, golds = lamp2_files([_lamp2_record(tag="western")])
    with pytest.raises(DatasetError, match=r"record 0 \(id '110'\): profile item 2: field 'tag'.*'western'"):
        load_lamp(questions, golds, LAMP2)


def test_error_top_level_not_a_list(tmp_path: Path):
    q = _write(tmp_path / "questions.json", {"id": "1"})
    g = _write(tmp_path / "golds.json", {"golds": []})
    with pytest.raises(DatasetError, match=r"questions\.json: expected a JSON list of question records, got dict"):
        load_lamp(q, g, LAMP2)


def test_error_gold_file_problems(lamp2_files):
    questions, golds = lamp2_files([_lamp2_record("110")], golds={"task": "LaMP_2", "golds": []})
    with pytest.raises(DatasetError, match=r"lamp2_outputs\.json: no gold output for question id '110'"):
        load_lamp(questions, golds, LAMP2)

    questions, golds = lamp2_files([_lamp2_record("110")], golds={"task": "LaMP_2", "golds": [{"id": "110"}]})
    with pytest.raises(
        DatasetError, match=r"lamp2_outputs\.json: gold record 0 \(id '110'\) is missing field 'output'"
    ):
        load_lamp(questions, golds, LAMP2)

    questions, golds = lamp2_files([_lamp2_record("110")], golds={"task": "LaMP_3", "golds": []})
    with pytest.raises(DatasetError, match=r"lamp2_outputs\.json: this gold file is for task 'LaMP_3', not 'lamp2'"):
        load_lamp(questions, golds, LAMP2)

    questions, golds = lamp2_files([_lamp2_record("110")], golds={"task": "LaMP_2"})
    with pytest.raises(DatasetError, match=r"lamp2_outputs\.json: missing field 'golds'"):
        load_lamp(questions, golds, LAMP2)


def test_error_duplicate_question_id(lamp2_files):
    questions, golds = lamp2_files([_lamp2_record("110"), _lamp2_record("110")])
    with pytest.raises(DatasetError, match=r"record 1 \(id '110'\): duplicate question id '110'"):
        load_lamp(questions, golds, LAMP2)


def test_malformed_json_names_file_line_and_column(tmp_path: Path):
    bad = tmp_path / "lamp2_questions.json"
    bad.write_text('[\n  {"id": "1",\n   "input": "x"\n   "profile": []}\n]', encoding="utf-8")
    golds = _write(tmp_path / "golds.json", {"golds": []})
    with pytest.raises(DatasetError, match=r"lamp2_questions\.json: invalid JSON at line 4, column 4"):
        load_lamp(bad, golds, LAMP2)


def test_non_utf8_names_file(tmp_path: Path):
    bad = tmp_path / "lamp2_outputs.json"
    bad.write_bytes(b'{"golds": [{"id": "1", "output": "caf\xe9"}]}')
    questions = _write(tmp_path / "questions.json", [])
    with pytest.raises(DatasetError, match=r"lamp2_outputs\.json: not UTF-8 text \(invalid byte at offset 37\)"):
        load_lamp(questions, bad, LAMP2)


def test_utf8_bom_is_accepted(lamp2_files):
    questions, golds = lamp2_files([_lamp2_record()])
    golds.write_bytes(b"\xef\xbb\xbf" + golds.read_bytes())
    assert len(load_lamp(questions, golds, LAMP2)) == 1


def test_blank_profile_items_skipped_and_duplicate_ids_disambiguated(lamp2_files):
    record = _lamp2_record()
    record["profile"].append({"id": "1100", "description": "A second robot film.", "tag": "sci-fi"})
    record["profile"].append({"id": "1104", "description": "   ", "tag": "comedy"})
    questions, golds = lamp2_files([record])
    user = load_lamp(questions, golds, LAMP2)[0]
    assert [h.id for h in user.history] == ["1100", "1101", "1102", "1100#2"]


def test_custom_task_needs_profile_fields(lamp2_files):
    custom = get_task("lamp5").model_copy(update={"name": "headlines"})
    questions, golds = lamp2_files([_lamp2_record()])
    with pytest.raises(ValueError, match="profile_fields"):
        load_lamp(questions, golds, custom)
    user = load_lamp(questions, golds, custom, profile_fields=("description", "tag"))[0]
    assert user.history[0].response == "sci-fi"
    assert user.queries[0].input.startswith("Which tag")  # no known wrapper for a custom task


# -- GOQA loader -----------------------------------------------------------------------------------------------


def test_goqa_hugging_face_string_fields(tmp_path: Path):
    data = [
        {
            "question": "Is it OK?",
            "options": "['Yes', 'No']",
            "selections": "defaultdict(<class 'list'>, {'Ruritania': [0.3, 0.7], 'Genovia': [0.5, 0.5]})",
        },
        {"question": "Again?", "options": ["Yes", "No"], "selections": {"Genovia": [0.1, 0.9], "Ruritania": []}},
    ]
    users = load_goqa(_write(tmp_path / "goqa.json", data))
    assert [u.user_id for u in users] == ["Genovia", "Ruritania"]
    genovia, ruritania = users
    # a tie goes to the first option; an empty selection list means "no data" for that country
    assert [(h.id, h.response) for h in genovia.history] == [("0", "Yes"), ("1", "No")]
    assert [(h.id, h.response) for h in ruritania.history] == [("0", "No")]
    assert genovia.history[0].options == ["Yes", "No"]


@pytest.mark.parametrize(
    ("record", "pattern"),
    [
        ({"options": ["A", "B"], "selections": {}}, r"record 0 is missing field 'question'"),
        (
            {"question": "Q", "options": ["A"], "selections": {}},
            r"record 0: field 'options' must be a list of at least 2",
        ),
        (
            {"question": "Q", "options": ["A", "B"], "selections": {"X": [0.5]}},
            r"record 0: selections for 'X' has 1 probabilities for 2 options",
        ),
        (
            {"question": "Q", "options": ["A", "B"], "selections": {"X": ["high", "low"]}},
            r"record 0: selections for 'X' must be a list of numbers",
        ),
        (
            {"id": "q9", "question": "Q", "options": "[oops", "selections": {}},
            r"record 0 \(id 'q9'\): field 'options' is a string that is not a Python/JSON literal",
        ),
        (
            {"question": "Q", "options": ["A", "B"], "selections": 3},
            r"record 0: field 'selections' must be dict or str, got int",
        ),
    ],
)
def test_goqa_errors(tmp_path: Path, record: dict[str, Any], pattern: str):
    with pytest.raises(DatasetError, match=r"goqa\.json: " + pattern):
        load_goqa(_write(tmp_path / "goqa.json", [record]))


# -- split ---------------------------------------------------------------------------------------------------------


def _users(n: int, items: int) -> list[EvalUser]:
    return [
        EvalUser(
            user_id=f"user{u}",
            task="goqa",
            history=[
                HistoryItem(id=f"h{i}", input=f"question {i}", response="Yes", options=["Yes", "No"])
                for i in range(items)
            ],
        )
        for u in range(n)
    ]


def test_split_is_deterministic_and_carves_the_last_shuffled_items():
    users = _users(6, 10)
    first = split_users(users, n_users=4, n_test=3, seed=7)
    again = split_users(users, n_users=4, n_test=3, seed=7)
    assert first == again
    assert len(first) == 4
    order = [u.user_id for u in users]
    assert [u.user_id for u in first] == sorted((u.user_id for u in first), key=order.index)  # input order kept
    for user in first:
        assert len(user.queries) == 3 and len(user.history) == 7
        held = {q.id for q in user.queries}
        assert held.isdisjoint(h.id for h in user.history)
        assert [h.id for h in user.history] == sorted((h.id for h in user.history), key=lambda s: int(s[1:]))
        assert all(q.gold == "Yes" and q.options == ["Yes", "No"] for q in user.queries)
    others = [split_users(users, n_users=4, n_test=3, seed=s) for s in range(8, 14)]
    assert any(o != first for o in others)


def test_split_of_a_user_does_not_depend_on_the_others():
    users = _users(5, 10)
    alone = split_users([users[3]], seed=1)[0]
    together = next(u for u in split_users(users, seed=1) if u.user_id == "user3")
    assert alone == together


def test_split_keeps_existing_queries_and_drops_too_short_histories():
    lamp = demo_dataset("lamp2")
    assert split_users(lamp, n_test=2) == lamp
    short = _users(1, 2)[0].model_copy(update={"user_id": "short"})
    result = split_users([*_users(1, 5), short], n_test=2)
    assert [u.user_id for u in result] == ["user0"]


def test_split_argument_errors():
    with pytest.raises(ValueError, match="n_test"):
        split_users(_users(2, 5), n_test=0)
    with pytest.raises(ValueError, match="asked for 3 users but only 2"):
        split_users(_users(2, 5), n_users=3)
    with pytest.raises(ValueError, match="n_users"):
        split_users(_users(2, 5), n_users=0)


# -- whole-file validation (issue 13, defect 7b) -----------------------------------------------------------------


def test_an_empty_profile_is_refused_before_any_user_is_returned(lamp2_files):
    # The fourth record has no profile: the loader names it, instead of a run finding out after three builds.
    records = [_lamp2_record(str(i)) for i in range(3)] + [{**_lamp2_record("113"), "profile": []}]
    questions, golds = lamp2_files(records)
    with pytest.raises(DatasetError, match=r"record 3 \(id '113'\): the profile has no usable item"):
        load_lamp(questions, golds, LAMP2)


def test_a_profile_of_blank_inputs_only_is_refused(lamp2_files):
    record = {**_lamp2_record(), "profile": [{"id": "1", "description": "  ", "tag": "comedy"}]}
    questions, golds = lamp2_files([record])
    with pytest.raises(DatasetError, match="the profile has no usable item"):
        load_lamp(questions, golds, LAMP2)
