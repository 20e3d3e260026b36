"""Time on items and recency-weighted statistics, checked against figures computed by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from langchain_rpm import LAMP2, LAMP3, LAMP5, RPM, RPMStore
from langchain_rpm._history import validate_history
from langchain_rpm.cli._files import read_interactions
from langchain_rpm.drift import recent_window
from langchain_rpm.errors import InputFileError, InvalidHistoryError
from langchain_rpm.prompts._render import render_factors
from langchain_rpm.stages.statistics import refresh_factors
from langchain_rpm.types import Factor, Feature, ReasoningExample
from tests.support.rpm_fakes import CountingEmbeddings, rpm_fake_model
from tests.unit.conftest import MOVIE_HISTORY


def _example(item_id, answer, day=None, **feature):
    time = datetime(2024, 1, day, tzinfo=UTC) if day else None
    features = [Feature(name="f", factor="Q", **feature)]
    return ReasoningExample(item_id=item_id, input="x", features=features, reasoning="", answer=answer, time=time)


def test_items_are_ordered_by_time_and_untimed_ones_keep_their_place():
    rows = [
        {"id": "c", "input": "x", "response": "1", "time": "2024-03-03"},
        {"id": "a", "input": "y", "response": "2", "date": 1704067200},  # LaMP's key, epoch seconds: 2024-01-01
        {"id": "u", "input": "z", "response": "3"},  # no time: stays right after "a"
        {"id": "b", "input": "w", "response": "4", "time": "2024-02-02T10:00:00+02:00"},
    ]
    items = validate_history(LAMP3, rows)
    assert [item.id for item in items] == ["a", "u", "b", "c"]
    assert items[2].time == datetime(2024, 2, 2, 8, tzinfo=UTC)
    untimed = validate_history(LAMP3, [{**row, "time": None, "date": None} for row in rows])
    assert [item.id for item in untimed] == ["c", "a", "u", "b"]


def test_lamp_dates_may_be_years_or_months_and_time_numbers_are_epoch_seconds():
    rows = [
        {"id": "y", "input": "x", "response": "1", "date": 2008},
        {"id": "m", "input": "y", "response": "2", "date": "2007-05"},
        {"id": "e", "input": "z", "response": "3", "time": 2008},  # epoch seconds: 1970-01-01T00:33:28
    ]
    items = {item.id: item.time for item in validate_history(LAMP3, rows)}
    assert items == {
        "y": datetime(2008, 1, 1, tzinfo=UTC),
        "m": datetime(2007, 5, 1, tzinfo=UTC),
        "e": datetime(1970, 1, 1, 0, 33, 28, tzinfo=UTC),
    }


def test_an_unparsable_time_is_one_line_naming_the_item():
    with pytest.raises(InvalidHistoryError) as caught:
        validate_history(LAMP3, [{"id": "r7", "input": "x", "response": "2", "time": "last Tuesday"}])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("history item 0 (id 'r7'): field 'time': 'last Tuesday' is not an ISO 8601 time")


def test_the_cli_row_reader_reads_lamp_dates(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"user_id": "ada", "input": "Late.", "response": 2, "date": "2023-05-01"}]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    assert read_interactions(path, "lamp3")["ada"][0].time == datetime(2023, 5, 1, tzinfo=UTC)
    path.write_text(json.dumps({**rows[0], "date": "May 1st"}))
    with pytest.raises(InputFileError, match=r"rows.jsonl:1: field 'date': 'May 1st' is not an ISO 8601"):
        read_interactions(path, "lamp3")


def test_decayed_rating_statistics_by_hand():
    # oldest -> newest: a (5), b (3), c (1); half-life 1 item: weights 1/4, 1/2, 1 (sum 7/4)
    examples = [_example("c", "1", 3), _example("a", "5", 1), _example("b", "3", 2)]
    [factor] = refresh_factors(LAMP3, [Factor(name="Q")], examples, half_life=1.0)
    stats = factor.statistics
    assert (stats.coverage, stats.support, stats.history_size) == (3, 3, 3)  # counts stay counts
    assert stats.weighted_coverage == pytest.approx(1.75)
    assert stats.mean_rating == pytest.approx((5 * 0.25 + 3 * 0.5 + 1 * 1) / 1.75)  # 2.142857
    assert stats.overall_mean_rating == pytest.approx(stats.mean_rating)
    assert stats.propensity["5"] == pytest.approx(0.25 / 1.75) and stats.propensity["1"] == pytest.approx(1 / 1.75)
    assert stats.propensity["2"] == 0
    plain = refresh_factors(LAMP3, [Factor(name="Q")], examples)[0].statistics
    assert (plain.mean_rating, plain.weighted_coverage, plain.propensity["5"]) == (3.0, None, pytest.approx(1 / 3))


def test_decayed_polarity_and_influence_by_hand():
    examples = [
        _example("old", "t", 1, influenced=True, evaluation="neg"),
        _example("mid", "t", 2, influenced=False),
        _example("new", "t", 3, influenced=True, evaluation="pos"),
    ]
    stats = refresh_factors(LAMP5, [Factor(name="Q")], examples, half_life=2.0)[0].statistics
    # weights: old 0.5 ** (2/2) = 0.5, mid 0.5 ** (1/2) = 0.7071, new 1
    assert stats.influence == 2 and stats.weighted_influence == pytest.approx(1.5)
    assert stats.weighted_coverage == pytest.approx(0.5 + 0.5**0.5 + 1)
    assert stats.polarity == pytest.approx({"pos": 1 / 1.5, "neu": 0.0, "neg": 0.5 / 1.5})


def test_the_factor_table_shows_the_weighted_figure_beside_the_count():
    examples = [_example("a", "comedy", 1), _example("b", "action", 2)]
    factors = refresh_factors(LAMP2, [Factor(name="Q")], examples, half_life=1.0)
    table = render_factors(factors, LAMP2)
    baseline, row = table.splitlines()[1:3]
    assert row == "Q | 2 (weighted 1.50) | action 66.7%; comedy 33.3%"
    assert baseline == "all items (baseline) | 2 | comedy 1/2 (50.0%); action 1/2 (50.0%)"  # each item once


def test_recent_window_statistics_by_hand():
    examples = [_example(str(day), answer, day) for day, answer in enumerate(["5", "5", "1", "2", "1"], 1)]
    view = recent_window(LAMP3, [Factor(name="Q")], examples, 3)
    assert view.items == 3 and view.since == datetime(2024, 1, 3, tzinfo=UTC)
    assert view.statistics == {"Q": {"count": 3.0, "mean": round(4 / 3, 4), "1": 0.6667, "2": 0.3333}}


def test_half_life_reaches_the_stored_profile_and_the_reasoning_prompts(tmp_path):
    timed = [{**row, "time": f"2024-01-0{i + 1}"} for i, row in enumerate(MOVIE_HISTORY)]
    rpm = RPM(rpm_fake_model(), "lamp2", store=RPMStore(tmp_path, embeddings=CountingEmbeddings()), recency_half_life=2)
    profile = rpm.build_user("ada", timed)
    assert all(f.statistics.weighted_coverage is not None for f in profile.factors)
    assert profile.recent is not None and profile.recent.items == len(MOVIE_HISTORY)
    assert {ex.time for ex in rpm.store.get_examples("ada")} == {
        datetime(2024, 1, i + 1, tzinfo=UTC) for i in range(len(MOVIE_HISTORY))
    }


def test_the_paper_preset_is_unchanged_by_time(tmp_path):
    """Paper preset: no weights, no window, no drift records; times only order the history."""

    def build(name, history):
        store = RPMStore(tmp_path / name, embeddings=CountingEmbeddings())
        return RPM(rpm_fake_model(), "lamp2", store=store, preset="paper").build_user("ada", history)

    timed = [{**row, "time": 1_700_000_000 + i} for i, row in enumerate(MOVIE_HISTORY)]
    with_time, without = build("timed", timed), build("plain", MOVIE_HISTORY)
    assert [f.model_dump() for f in with_time.factors] == [f.model_dump() for f in without.factors]
    assert with_time.recent is None and with_time.drift == []
    assert all(f.statistics.weighted_coverage is None for f in with_time.factors)
