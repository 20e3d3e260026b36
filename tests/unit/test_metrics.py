"""Metrics against hand-computed values (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from langchain_rpm.evaluation.metrics import compute_metrics, primary_metric
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


def test_rating_unparseable_counts_as_farther_end():
    # gold 5, pred "4 stars" -> 4           |err| 1
    # gold 1, pred "great"   -> unparseable; farther of 1/5 from 1 is 5 -> |err| 4
    # gold 3, pred "lol"     -> unparseable; tie |1-3| = |5-3| -> LaMP picks 5 -> |err| 2
    # gold 4, pred "4"       -> 4           |err| 0
    # MAE = (1+4+2+0)/4 = 1.75 ; RMSE = sqrt((1+16+4+0)/4) = sqrt(5.25)
    result = compute_metrics(LAMP3, ["4 stars", "great", "lol", "4"], ["5", "1", "3", "4"])
    assert result["mae"] == pytest.approx(1.75)
    assert result["rmse"] == pytest.approx(math.sqrt(5.25))


def test_rating_off_scale_or_fractional_is_unparseable():
    # gold 2, pred "7"   -> not on 1..5 -> farther of 1/5 from 2 is 5 -> |err| 3
    # gold 4, pred "4.5" -> not an integer -> farther of 1/5 from 4 is 1 -> |err| 3
    # gold 4, pred ""    -> empty -> 1 -> |err| 3
    # MAE = 9/3 = 3 ; RMSE = sqrt((9+9+9)/3) = 3
    result = compute_metrics(LAMP3, ["7", "4.5", ""], ["2", "4", "4"])
    assert result["mae"] == pytest.approx(3.0)
    assert result["rmse"] == pytest.approx(3.0)


def test_rating_custom_scale_uses_its_ends():
    # scale 1..10, gold 3: farther end is 10 -> |err| 7 ; gold 9: farther end is 1 -> |err| 8
    # MAE = 7.5 ; RMSE = sqrt((49+64)/2) = sqrt(56.5)
    ten = TaskSpec.rating("ten", (1, 10), instruction="Rate.")
    result = compute_metrics(ten, ["n/a", "?"], ["3", "9"])
    assert result["mae"] == pytest.approx(7.5)
    assert result["rmse"] == pytest.approx(math.sqrt(56.5))


def test_rating_gold_not_on_scale_raises():
    with pytest.raises(ValueError, match="gold 0"):
        compute_metrics(LAMP3, ["3"], ["six"])


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


def test_multiple_choice_letters_text_and_invalid():
    # "A" -> option 1 "Yes" = gold (right); "(B) No" -> "No" = gold (right); "maybe" -> no option (wrong);
    # "no" -> "No" (case ignored) = gold (right); "D" -> no 4th option (wrong). accuracy = 3/5
    preds = ["A", "(B) No", "maybe", "no", "D"]
    golds = ["Yes", "No", "Don't know", "No", "Don't know"]
    result = compute_metrics(GLOBAL_OPINION_QA, preds, golds, [OPTS] * 5)
    assert result == {"accuracy": pytest.approx(0.6)}


def test_multiple_choice_needs_options():
    with pytest.raises(ValueError, match="one option list per example"):
        compute_metrics(GLOBAL_OPINION_QA, ["A"], ["Yes"])
    with pytest.raises(ValueError, match="example 0 has no options"):
        compute_metrics(GLOBAL_OPINION_QA, ["A"], ["Yes"], [None])
    with pytest.raises(ValueError, match="is not one of its options"):
        compute_metrics(GLOBAL_OPINION_QA, ["A"], ["Perhaps"], [OPTS])


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
