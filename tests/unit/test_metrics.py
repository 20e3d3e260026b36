"""Metrics by LaMP's official rules, against hand-computed values (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from langchain_rpm.evaluation.metrics import compute_metrics, in_answer_space, primary_metric
from langchain_rpm.tasks import GLOBAL_OPINION_QA, LAMP2, LAMP3, LAMP5, TaskSpec

ABC = TaskSpec.classification("abc", ["a", "b", "c"], instruction="Pick a letter.")


# -- classification ---------------------------------------------------------------------------------------


def test_classification_out_of_list_prediction_is_wrong_and_macro_f1_per_label():
    # golds  a a b c ; preds a b b zzz ("zzz" is outside the list -> sentinel, wrong for every label)
    # accuracy = 2/4 = 0.5
    # a: TP=1 FP=0 FN=1 -> F1 = 2*1/(2+0+1) = 2/3
    # b: TP=1 FP=1 FN=0 -> F1 = 2/(2+1+0) = 2/3
    # c: TP=0 FP=0 FN=1 -> F1 = 0/(0+0+1) = 0
    # macro-F1 = (2/3 + 2/3 + 0) / 3 = 4/9
    result = compute_metrics(ABC, ["a", "b", "b", "zzz"], ["a", "a", "b", "c"])
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(4 / 9)


def test_classification_macro_f1_averages_over_the_whole_label_list():
    # LAMP2 has 15 tags. Two examples, both right: F1(sci-fi) = F1(comedy) = 1; the 13 unseen tags score 0
    # (sklearn zero_division) -> macro-F1 = 2/15, accuracy = 1.
    result = compute_metrics(LAMP2, ["sci-fi", "comedy"], ["sci-fi", "comedy"])
    assert result == {"accuracy": 1.0, "f1": pytest.approx(2 / 15)}


def test_classification_is_exact_after_strip_only():
    # " sci-fi " strips to "sci-fi" (right); "Sci-Fi" is not exactly a label (wrong, LaMP compares exact strings).
    # accuracy = 1/2. sci-fi: TP=1 FN=1 -> 2/3; other 14 labels 0 -> macro-F1 = (2/3)/15 = 2/45
    result = compute_metrics(LAMP2, [" sci-fi ", "Sci-Fi"], ["sci-fi", "sci-fi"])
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(2 / 45)


def test_classification_all_wrong_predictions_in_list():
    # golds a b ; preds b a -> accuracy 0; a: TP0 FP1 FN1 -> 0; b: same -> 0; c: 0 -> macro 0
    assert compute_metrics(ABC, ["b", "a"], ["a", "b"]) == {"accuracy": 0.0, "f1": 0.0}


def test_classification_gold_outside_label_list_raises():
    with pytest.raises(ValueError, match=r"gold 1 \('d'\) is not in the label list"):
        compute_metrics(ABC, ["a", "a"], ["a", "d"])


# -- rating -------------------------------------------------------------------------------------------------


def test_rating_follows_lamps_float_rule_on_the_issue_example():
    # LaMP: float(text.strip()), and only when that fails, the scale end farther from the gold.
    # "3.5" vs 3 -> 3.5, |err| 0.5      "4 stars" vs 4 -> unparseable; |1-4|=3 > |5-4|=1 -> 1, |err| 3
    # "6" vs 5   -> 6.0, |err| 1        " 2 " vs 2 -> 2.0, |err| 0
    # "five" vs 1 -> unparseable; |1-1|=0 > |5-1|=4 is false -> 5, |err| 4
    # MAE = (0.5 + 3 + 1 + 0 + 4)/5 = 8.5/5 = 1.7 ; RMSE = sqrt((0.25 + 9 + 1 + 0 + 16)/5) = sqrt(5.25)
    result = compute_metrics(LAMP3, ["3.5", "4 stars", "6", " 2 ", "five"], ["3", "4", "5", "2", "1"])
    assert result["mae"] == pytest.approx(1.7)
    assert result["rmse"] == pytest.approx(math.sqrt(5.25))


def test_rating_tie_goes_to_the_top_of_the_scale():
    # gold 3, pred "lol": |1-3| = |5-3|, LaMP's `>` is false -> 5 -> |err| 2
    # gold 4, pred "4.0" -> 4.0 -> 0 ; gold 2, pred "1e0" -> 1.0 (float parses it) -> 1
    result = compute_metrics(LAMP3, ["lol", "4.0", "1e0"], ["3", "4", "2"])
    assert result["mae"] == pytest.approx((2 + 0 + 1) / 3)
    assert result["rmse"] == pytest.approx(math.sqrt((4 + 0 + 1) / 3))


def test_rating_custom_scale_uses_its_ends():
    ten = TaskSpec.rating("ten", (0, 10), instruction="Rate it.")
    # gold 2, pred "n/a" -> farther end 10 -> 8 ; gold 9, pred "x" -> farther end 0 -> 9 ; gold 7 pred "7" -> 0
    result = compute_metrics(ten, ["n/a", "x", "7"], ["2", "9", "7"])
    assert result["mae"] == pytest.approx((8 + 9 + 0) / 3)


def test_rating_gold_that_is_no_number_raises():
    with pytest.raises(ValueError, match=r"gold 0 \('six'\) is not a number"):
        compute_metrics(LAMP3, ["3"], ["six"])


def test_in_answer_space_is_exact():
    assert in_answer_space(LAMP3, " 4 ") and not in_answer_space(LAMP3, "4.0") and not in_answer_space(LAMP3, "6")
    assert in_answer_space(LAMP2, "sci-fi") and not in_answer_space(LAMP2, "Sci-Fi")
    assert in_answer_space(GLOBAL_OPINION_QA, "No", ["Yes", "No"]) and not in_answer_space(
        GLOBAL_OPINION_QA, "B", ["Yes", "No"]
    )
    assert in_answer_space(LAMP5, "A title") and not in_answer_space(LAMP5, "  ")


# -- open-ended ---------------------------------------------------------------------------------------------


def test_rouge_hand_computed_and_empty_prediction_scores_zero():
    # 1) pred "a robust approach" vs gold "a robust bayesian approach":
    #    unigram overlap 3, P = 3/3, R = 3/4, F = 2*1*0.75/1.75 = 6/7; LCS = 3 -> ROUGE-L F = 6/7
    # 2) pred "approach robust" vs gold "robust approach": unigrams P = R = 1 -> F = 1;
    #    LCS = 1 -> P = R = 1/2 -> ROUGE-L F = 1/2
    # 3) pred "" -> 0 and 0
    # ROUGE-1 = (6/7 + 1 + 0)/3 = 13/21 ; ROUGE-L = (6/7 + 1/2 + 0)/3 = 19/42
    result = compute_metrics(
        LAMP5,
        ["a robust approach", "approach robust", "   "],
        ["a robust bayesian approach", "robust approach", "anything at all"],
    )
    assert result["rouge1"] == pytest.approx(13 / 21)
    assert result["rougeL"] == pytest.approx(19 / 42)


def test_rouge_stemming_is_configurable():
    # "learning models" vs "learned model": unstemmed (LaMP's default) no token matches -> F = 0;
    # stemmed tokens learn/model match both -> F = 1.
    assert compute_metrics(LAMP5, ["learning models"], ["learned model"])["rouge1"] == 0.0
    assert compute_metrics(LAMP5, ["learning models"], ["learned model"], use_stemmer=True)["rouge1"] == pytest.approx(
        1.0
    )


# -- multiple choice ----------------------------------------------------------------------------------------

OPTS = ["Yes", "No", "Don't know"]


def test_multiple_choice_is_exact_match_after_strip():
    # " Yes " -> "Yes" = gold (right); "A" is a letter, not an option (wrong: normalising is the method's job);
    # "no" is not exactly "No" (wrong); "Don't know" (right). accuracy = 2/4
    preds = [" Yes ", "A", "no", "Don't know"]
    golds = ["Yes", "Yes", "No", "Don't know"]
    assert compute_metrics(GLOBAL_OPINION_QA, preds, golds, [OPTS] * 4) == {"accuracy": 0.5}
    assert compute_metrics(GLOBAL_OPINION_QA, preds, golds) == {"accuracy": 0.5}  # options only check the golds


def test_multiple_choice_golds_must_be_options():
    with pytest.raises(ValueError, match=r"gold 0 \('Perhaps'\) is not one of its options"):
        compute_metrics(GLOBAL_OPINION_QA, ["Yes"], ["Perhaps"], [OPTS])
    with pytest.raises(ValueError, match="1 option lists for 2 examples"):
        compute_metrics(GLOBAL_OPINION_QA, ["Yes", "No"], ["Yes", "No"], [OPTS])


# -- entry point ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", [LAMP2, LAMP3, LAMP5, GLOBAL_OPINION_QA])
def test_empty_input_raises(task):
    with pytest.raises(ValueError, match="zero examples"):
        compute_metrics(task, [], [], [])


def test_length_mismatch_raises():
    with pytest.raises(ValueError, match="2 predictions but 1 golds"):
        compute_metrics(LAMP2, ["comedy", "action"], ["comedy"])


def test_preset_names_are_accepted():
    assert compute_metrics("lamp3", ["3"], ["3"]) == {"mae": 0.0, "rmse": 0.0}


def test_primary_metric():
    assert primary_metric(LAMP2) == ("accuracy", True)
    assert primary_metric(LAMP3) == ("mae", False)
    assert primary_metric(LAMP5) == ("rouge1", True)
    assert primary_metric(GLOBAL_OPINION_QA) == ("accuracy", True)
    assert primary_metric("lamp3") == ("mae", False)
