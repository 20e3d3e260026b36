"""Factor statistics exactly as Eq. 1-4, on hand-computed histories, and their rendering as table rows."""

from __future__ import annotations

import pytest

from langchain_rpm import LAMP2, LAMP3, LAMP5
from langchain_rpm.prompts import render_factors
from langchain_rpm.stages.statistics import factor_statistics, refresh_factors
from langchain_rpm.types import Factor, Feature, HistoryItem, ReasoningExample


def feature(name: str, factor: str, *extra: str, influenced: bool | None = None, evaluation=None) -> Feature:
    return Feature(name=name, factor=factor, extra_factors=list(extra), influenced=influenced, evaluation=evaluation)


def items(*answers: str) -> list[HistoryItem]:
    return [HistoryItem(id=str(i), input=f"input {i}", response=a) for i, a in enumerate(answers, 1)]


def test_discrete_propensity_is_eq_1():
    history = items("comedy", "comedy", "action", "action", "romance")
    features = {
        "1": [feature("a", "Tone"), feature("b", "Plot")],
        "2": [feature("c", "Tone")],
        "3": [feature("d", "Plot"), feature("e", "Plot")],  # two features of Plot: the item counts once
        "4": [feature("f", "Cast")],
        "5": [feature("g", "Tone", "Cast")],  # a feature with two factors: item 5 has both
    }
    stats = factor_statistics(LAMP2, history, features, ["Tone", "Plot", "Cast", "Unused"])
    tone, plot, cast = stats["Tone"], stats["Plot"], stats["Cast"]
    assert (tone.support, tone.coverage, tone.history_size) == (3, 3, 5)
    assert tone.propensity["comedy"] == pytest.approx(2 / 3) and tone.propensity["romance"] == pytest.approx(1 / 3)
    assert sum(tone.propensity.values()) == pytest.approx(1.0) and set(tone.propensity) == set(LAMP2.labels)
    assert plot.support == 2 and plot.propensity["comedy"] == plot.propensity["action"] == 0.5
    assert cast.support == 2 and cast.propensity["action"] == cast.propensity["romance"] == 0.5
    assert stats["Unused"].support == 0 and stats["Unused"].propensity == {}
    assert tone.mean_rating is None and tone.influence is None and tone.polarity is None
    assert render_factors([Factor(name="Tone", statistics=tone)], LAMP2).splitlines() == [
        "factor | count (of 5 items) | answers",
        "all items (baseline) | 5 | comedy 2/5 (40.0%); action 2/5 (40.0%); romance 1/5 (20.0%)",
        "Tone | 3 | comedy 2/3 (66.7%); romance 1/3 (33.3%)",
    ]


def test_ratings_add_the_factor_mean_and_the_users_overall_mean():
    history = items("5", "4 stars", "2", "1")  # answers are normalised: "4 stars" -> 4; overall mean 3.0
    features = {
        "1": [feature("x", "Quality")],
        "2": [feature("y", "Quality"), feature("z", "Price")],
        "3": [feature("w", "Price")],
        "4": [feature("v", "Shipping")],
    }
    stats = factor_statistics(LAMP3, history, features, ["Quality", "Price", "Shipping"])
    assert stats["Quality"].mean_rating == pytest.approx(4.5)
    assert stats["Quality"].propensity == {"1": 0.0, "2": 0.0, "3": 0.0, "4": 0.5, "5": 0.5}
    assert stats["Price"].mean_rating == pytest.approx(3.0) and stats["Shipping"].mean_rating == pytest.approx(1.0)
    assert [s.overall_mean_rating for s in stats.values()] == [3.0, 3.0, 3.0]
    rows = render_factors([Factor(name="Quality", statistics=stats["Quality"])], LAMP3).splitlines()
    assert rows == [
        "factor | count (of 4 items) | mean rating | answers",
        "all items (baseline) | 4 | mean 3.00 | 1 1/4 (25.0%); 2 1/4 (25.0%); 4 1/4 (25.0%); 5 1/4 (25.0%)",
        "Quality | 2 | mean 4.50 (user's overall 3.00) | 4 1/2 (50.0%); 5 1/2 (50.0%)",
    ]


def test_open_ended_coverage_influence_and_polarity_are_eq_2_to_4():
    history = items("Title one", "Title two", "Title three")
    features = {
        "1": [
            feature("f1", "Method", influenced=True, evaluation="pos"),
            feature("f2", "Method", influenced=True, evaluation="neg"),
            feature("f3", "Data", influenced=False),
        ],
        "2": [feature("f4", "Method", influenced=False), feature("f5", "Data", influenced=True, evaluation="neu")],
        "3": [feature("f6", "Method", influenced=True, evaluation="pos"), feature("f7", "Eval", influenced=True)],
    }
    stats = factor_statistics(LAMP5, history, features, ["Method", "Data", "Eval"])
    method, data, evaluation = stats["Method"], stats["Data"], stats["Eval"]
    # Method: in items 1, 2, 3 (Eq. 2: 3); influenced in 1 and 3 (Eq. 3: 2); influenced features f1, f2, f6.
    assert (method.coverage, method.influence, method.influenced_features) == (3, 2, 3)
    assert method.polarity == pytest.approx({"pos": 2 / 3, "neu": 0.0, "neg": 1 / 3})
    assert (data.coverage, data.influence, data.influenced_features) == (2, 1, 1)
    assert data.polarity == {"pos": 0.0, "neu": 1.0, "neg": 0.0}
    assert evaluation.polarity == {"pos": 0.0, "neu": 1.0, "neg": 0.0}  # influenced without an evaluation: neutral
    assert method.propensity == {}
    factors = [Factor(name=n, statistics=stats[n]) for n in ("Method", "Data")]
    assert render_factors(factors, LAMP5).splitlines() == [
        "factor | count (of 3 items) | directly influenced | positive | neutral | negative",
        "Method | 3 | 2/3 (66.7%) | 2/3 (66.7%) | 0 (0.0%) | 1/3 (33.3%)",
        "Data | 2 | 1/2 (50.0%) | 0 (0.0%) | 1/1 (100.0%) | 0 (0.0%)",
        "Answers over all 3 items (the baseline): median 2 words (2-2); 0 of 3 with a colon; 2 of 3 in title case",
    ]


def test_open_ended_statistics_wait_for_the_judge():
    history = items("A title")
    stats = factor_statistics(LAMP5, history, {"1": [feature("f", "Method")]}, ["Method"])
    assert (stats["Method"].coverage, stats["Method"].influence, stats["Method"].polarity) == (1, None, None)
    assert render_factors([Factor(name="Method", statistics=stats["Method"])], LAMP5).splitlines() == [
        "factor | count (of 1 items)",
        "Method | 1",
        "Answers over all 1 items (the baseline): median 2 words (2-2); 0 of 1 with a colon; 0 of 1 in title case",
    ]


def test_refresh_recomputes_statistics_and_members_from_the_stored_examples():
    examples = [
        ReasoningExample(item_id="1", input="a", features=[feature("taste", "Quality")], reasoning="r", answer="5"),
        ReasoningExample(
            item_id="2",
            input="b",
            features=[feature("smell", "Quality"), feature("cost", "Price")],
            reasoning="r",
            answer="3",
        ),
    ]
    stale = [Factor(name="Quality", features=["old"]), Factor(name="Price"), Factor(name="Gone", features=["x"])]
    refreshed = {f.name: f for f in refresh_factors(LAMP3, stale, examples)}
    assert refreshed["Quality"].features == ["taste", "smell"] and refreshed["Quality"].statistics.mean_rating == 4.0
    assert refreshed["Price"].statistics.coverage == 1 and refreshed["Gone"].features == []
    assert refreshed["Gone"].statistics.support == 0


def test_long_answer_lists_show_the_most_frequent_first():
    history = items(*"aabbbcdefg")
    stats = factor_statistics(
        LAMP2.model_copy(update={"labels": tuple("abcdefg")}),
        history,
        {str(i): [feature("x", "F")] for i in range(1, 11)},
        ["F"],
    )
    baseline, row = render_factors([Factor(name="F", statistics=stats["F"])], LAMP2, top_labels=2).splitlines()[1:]
    assert row == "F | 10 | b 3/10 (30.0%); a 2/10 (20.0%); 5 more"
    assert baseline.endswith("e 1/10 (10.0%); f 1/10 (10.0%); g 1/10 (10.0%)")  # the baseline lists every answer


def test_multiple_choice_answers_count_by_option_position_never_mixing_questions():
    from langchain_rpm.tasks import GLOBAL_OPINION_QA

    items = [
        HistoryItem(id="1", input="Reduce income gaps?", response="Agree", options=["Agree", "Disagree"]),
        HistoryItem(id="2", input="Religion?", response="Very important", options=["Very important", "Not important"]),
        HistoryItem(id="3", input="Economy?", response="Bad", options=["Good", "Bad", "Neither"]),
    ]
    features = {i.id: [Feature(name="topic", factor="Society")] for i in items}
    stats = factor_statistics(GLOBAL_OPINION_QA, items, features, ["Society"])["Society"]
    assert stats.propensity == {"option A": 2 / 3, "option B": 1 / 3, "option C": 0.0}


def test_judged_multiple_choice_items_get_the_label_free_statistics_of_app_e5():
    from langchain_rpm.tasks import GLOBAL_OPINION_QA

    items = [HistoryItem(id="1", input="Religion?", response="Yes", options=["Yes", "No"])]
    features = {"1": [Feature(name="faith", factor="Belief", influenced=True, evaluation="pos")]}
    stats = factor_statistics(GLOBAL_OPINION_QA, items, features, ["Belief"])["Belief"]
    assert (stats.influence, stats.polarity, stats.propensity) == (1, {"pos": 1.0, "neu": 0.0, "neg": 0.0}, {})


def test_factor_tables_open_with_the_users_baseline():
    from langchain_rpm.prompts import render_factors
    from langchain_rpm.tasks import LAMP2, LAMP3, LAMP5
    from langchain_rpm.types import Factor

    def table(task, responses):
        items = [HistoryItem(id=str(i), input="x", response=r) for i, r in enumerate(responses)]
        features = {items[0].id: [Feature(name="robots", factor="Science")]}
        stats = factor_statistics(task, items, features, ["Science"])
        return render_factors([Factor(name="Science", statistics=stats["Science"])], task).splitlines()

    lamp2 = table(LAMP2, ["sci-fi", "comedy", "comedy", "romance", "action", "dystopia", "classic"])
    assert lamp2[1] == (
        "all items (baseline) | 7 | comedy 2/7 (28.6%); sci-fi 1/7 (14.3%); action 1/7 (14.3%); "
        "dystopia 1/7 (14.3%); classic 1/7 (14.3%); romance 1/7 (14.3%)"
    )  # every label the user gave, not the top 5 of one factor
    assert table(LAMP3, ["5", "3"])[1] == "all items (baseline) | 2 | mean 4.00 | 3 1/2 (50.0%); 5 1/2 (50.0%)"
    titles = ["Sign Language Translation: A Keypoint Approach", "Curriculum Order Matters"]
    assert table(LAMP5, titles)[-1] == (
        "Answers over all 2 items (the baseline): median 6 words (3-6); 1 of 2 with a colon; 2 of 2 in title case"
    )
