"""The loaders on files written exactly as the real ones are: LaMP's time split and GlobalOpinionQA's original CSV.

No data is shipped: every file here is written by the test (LaMP and GlobalOpinionQA are not ours to ship).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from langchain_rpm import cli as rpm_cli
from langchain_rpm.errors import DatasetError, RPMError
from langchain_rpm.evaluation import load_task, read_goqa, read_lamp_questions
from langchain_rpm.evaluation.protocol import paper_lamp_users

HEADER = ["question", "selections", "options", "source"]
OPTIONS = ["Yes", "No", "Don't know"]  # an apostrophe: Python's repr quotes it with double quotes


def selections_repr(shares: dict[str, list[float]]) -> str:
    """``selections`` as the CSV holds it: the repr of a ``defaultdict(list)``."""
    return f"defaultdict(<class 'list'>, {shares!r})"


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def survey(n: int) -> list[list[str]]:
    """``n`` questions; Alta answers option i % 3 with 0.9 (kept), Bela with 0.81 on even i only, Cora never > 0.8."""
    rows = []
    for i in range(n):
        top = i % 3
        alta = [0.9 if j == top else 0.05 for j in range(3)]
        bela = [0.81 if j == top else 0.095 for j in range(3)] if i % 2 == 0 else [0.34, 0.33, 0.33]
        cora = [0.6 if j == top else 0.2 for j in range(3)]
        shares = {"Alta": alta, "Bela": bela, "Cora": cora}
        rows.append([f"Question {i}?", selections_repr(shares), repr(OPTIONS), "WVS" if i % 2 else "GAS"])
    return rows


# -- GlobalOpinionQA's global_opinions.csv ----------------------------------------------------------------------


def test_the_original_csv_is_read_as_downloaded(tmp_path):
    last = selections_repr({"Ruritania": [0.3, 0.7], "Genovia": [], "Nauru": [0.5, 0.5]})
    rows = [*survey(2), ["Is it OK?\nReally?", last, "['Agree', 'Disagree']", "Pew"]]
    questions = read_goqa(write_csv(tmp_path / "global_opinions.csv", rows))
    assert [(q.id, q.source) for q in questions] == [("0", "GAS"), ("1", "WVS"), ("2", "Pew")]
    assert questions[0].options == OPTIONS and questions[0].question == "Question 0?"
    assert questions[0].top("Alta") == ("Yes", 0.9) and questions[1].top("Bela") == ("Yes", 0.34)
    last = questions[2]
    assert last.question == "Is it OK?\nReally?" and set(last.selections) == {"Ruritania", "Nauru"}  # [] = no data
    assert last.top("Ruritania") == ("Disagree", 0.7) and last.top("Nauru") == ("Agree", 0.5)  # a tie: the first


def test_the_paper_protocol_reads_global_opinions_csv_directly(tmp_path):
    write_csv(tmp_path / "data" / "global_opinions.csv", survey(90))
    data = load_task("goqa", tmp_path / "data", protocol="paper", seed=3)
    assert data.files[0].path.endswith("global_opinions.csv")
    # Alta keeps 90 questions, Bela 45 (> 0.8 on even ones only), Cora none: two users, 40 sampled, 36 / 4
    assert [u.user_id for u in data.users] == ["Alta", "Bela"]
    for user in data.users:
        assert len(user.history) == 36 and len(user.queries) == 4
        assert all(q.options == OPTIONS and q.gold == OPTIONS[int(q.id) % 3] for q in user.queries)
    bela = data.users[1]
    assert all(int(item.id) % 2 == 0 for item in [*bela.history, *bela.queries])
    assert load_task("goqa", tmp_path / "data", protocol="lamp", goqa_test=5).users[0].user_id == "Alta"


MALFORMED = [
    (
        [["Q?", "defaultdict(<class 'list'>, {'Alta': [0.9, 0.1]", "['Yes', 'No']", "GAS"]],
        r"global_opinions\.csv: row 1 \(line 3\): field 'selections' is a string that is not a Python/JSON literal",
    ),
    (
        [["Q?", selections_repr({"Alta": [0.9, 0.05, 0.05]}), "['Yes', 'No']", "GAS"]],
        r"row 1 \(line 3\): selections for 'Alta' has 3 probabilities for 2 options",
    ),
    (
        [["Q?", selections_repr({"Alta": [0.9, 0.1]}), "Yes or No", "GAS"]],
        r"row 1 \(line 3\): field 'options' is a string that is not a Python/JSON literal",
    ),
    (
        [["Q?", selections_repr({"Alta": [0.9, 0.1]}), "['Yes', 'No']"]],
        r"row 1 \(line 3\): the row has 3 fields where the header has 4",
    ),
    (
        [["", selections_repr({"Alta": [0.9, 0.1]}), "['Yes', 'No']", "GAS"]],
        r"row 1 \(line 3\): field 'question' is empty",
    ),
]


@pytest.mark.parametrize(("bad", "message"), MALFORMED)
def test_a_malformed_row_is_one_line_naming_file_row_and_field(tmp_path, bad, message):
    path = write_csv(tmp_path / "global_opinions.csv", survey(1) + bad)
    with pytest.raises(DatasetError, match=message) as caught:
        read_goqa(path)
    assert isinstance(caught.value, RPMError) and "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_file_without_the_expected_columns_is_refused_naming_the_column(tmp_path):
    path = write_csv(tmp_path / "global_opinions.csv", [["Q?", "['Yes', 'No']", "GAS"]], ["question", "options", "src"])
    with pytest.raises(DatasetError, match=r"global_opinions\.csv: missing column 'selections' \(the header has"):
        read_goqa(path)


def test_code_in_a_repr_is_never_run(tmp_path):
    canary = tmp_path / "ran"
    payloads = [
        f"defaultdict(<class 'list'>, __import__('pathlib').Path({str(canary)!r}).touch())",
        f"defaultdict(<class 'list'>, {{'A': [0.9, 0.1]}}) or __import__('pathlib').Path({str(canary)!r}).touch(",
        f"__import__('pathlib').Path({str(canary)!r}).touch()",
    ]
    for payload in payloads:
        path = write_csv(tmp_path / "global_opinions.csv", [["Q?", payload, "['Yes', 'No']", "GAS"]])
        with pytest.raises(DatasetError, match="field 'selections' is a string that is not a Python/JSON literal"):
            read_goqa(path)
    assert not canary.exists()


def test_rpm_eval_on_a_malformed_csv_exits_2_with_one_line(tmp_path, capsys):
    data = tmp_path / "data"
    bad = [["Q?", "defaultdict(<class 'list'>, {'Alta': [0.9, 0.1]", "['Yes', 'No']", "GAS"]]
    write_csv(data / "global_opinions.csv", survey(3) + bad)
    argv = ["eval", "--protocol", "paper", "--tasks", "goqa", "--methods", "zero_shot", "--model", "demo"]
    status = rpm_cli.main([*argv, "--data", str(data), "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert "global_opinions.csv: row 3 (line 5): field 'selections'" in err[-1]


# -- LaMP's time split ------------------------------------------------------------------------------------------


def lamp3_record(qid: str, days: int, **extra: Any) -> dict[str, Any]:
    """A time-split LaMP-3 record: dated profile items with extra keys, the record with ``extra`` keys."""
    profile = [
        {"id": f"{qid}-{d}", "text": f"review {d}", "score": str(d % 5 + 1), "date": f"2012-{d // 28 + 1:02d}-{d % 28 + 1:02d}",
         "helpful": d, "asin": "B00X"}
        for d in range(days)
    ]  # fmt: skip
    return {"id": qid, "input": "What is the score of this review? review: query", "profile": profile[::-1], **extra}


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_lamp_records_with_user_id_and_extra_keys_keep_the_user_and_the_dates(tmp_path):
    records = [
        lamp3_record("310", 100, user_id="u-anna", split="time"),
        lamp3_record("311", 104, user_id="u-anna", split="time"),  # the same user, a later question: more items
        lamp3_record("312", 100, user_id=7),
    ]
    read = read_lamp_questions(_write_json(tmp_path / "dev_questions.json", records), "lamp3", require_dates=True)
    assert [(r.id, r.user_id, r.user) for r in read] == [("310", "u-anna", "u-anna"), ("311", "u-anna", "u-anna"),
                                                         ("312", "7", "7")]  # fmt: skip
    newest = read[0].profile[0]
    assert (newest.item.id, newest.date, newest.date_text) == ("310-99", (2012, 4, 16), "2012-04-16")
    users = paper_lamp_users(read, "lamp3", n_users=2)
    assert [u.user_id for u in users] == ["u-anna", "7"]  # one user per user_id, never two with the same id
    anna = users[0]
    assert [q.id for q in anna.queries] == [f"311-{d}" for d in range(94, 104)]  # from the record with 104 items


def test_an_empty_user_id_is_refused_naming_the_record_and_field(tmp_path):
    path = _write_json(tmp_path / "dev_questions.json", [lamp3_record("310", 3, user_id=" ")])
    with pytest.raises(DatasetError, match=r"dev_questions\.json: record 0 \(id '310'\): field 'user_id' is empty"):
        read_lamp_questions(path, "lamp3")
