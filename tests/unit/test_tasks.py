import pytest

from langchain_rpm import GLOBAL_OPINION_QA, LAMP2, LAMP3, LAMP5, TaskSpec
from langchain_rpm.errors import InvalidAnswerError
from langchain_rpm.tasks import TaskKind, get_task


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Sci Fi", "sci-fi"),
        ("  DARK comedy ", "dark comedy"),
        ("The tag is: dark comedy.", "dark comedy"),
        ("thought provoking", "thought-provoking"),
    ],
)
def test_labels_are_normalized(raw, expected):
    assert LAMP2.normalize(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("4 stars", "4"), ("5", "5"), ("Rating: 3.0", "3"), (2, "2")])
def test_ratings_are_normalized(raw, expected):
    assert LAMP3.normalize(raw) == expected


@pytest.mark.parametrize("raw", ["great", "6", "0", "4.5", ""])
def test_invalid_ratings_raise(raw):
    with pytest.raises(InvalidAnswerError):
        LAMP3.normalize(raw)


def test_multiple_choice_accepts_text_and_letters():
    options = ["Very important", "Not important"]
    assert GLOBAL_OPINION_QA.normalize("(B)", options) == "Not important"
    assert GLOBAL_OPINION_QA.normalize("very  important", options) == "Very important"
    with pytest.raises(InvalidAnswerError):
        GLOBAL_OPINION_QA.normalize("C", options)
    with pytest.raises(InvalidAnswerError, match="options"):
        GLOBAL_OPINION_QA.normalize("A")


def test_open_ended_rejects_only_empty():
    assert LAMP5.normalize('  "A Title"  ') == "A Title"
    with pytest.raises(InvalidAnswerError):
        LAMP5.normalize("   ")


def test_invalid_answer_policies():
    assert LAMP2.check("horror") == ("horror", False)  # default: kept, marked invalid
    fallback = TaskSpec.classification("t", ["a", "b"], instruction="x", on_invalid="fallback", fallback_answer="a")
    assert fallback.check("zzz") == ("a", False)
    strict = TaskSpec.rating("r", (1, 10), instruction="x", on_invalid="raise")
    assert strict.check("10/10") == ("10", True)
    with pytest.raises(InvalidAnswerError):
        strict.check("eleven")


def test_ambiguous_label_mentions_are_invalid():
    spec = TaskSpec.classification("t", ["cat", "dog"], instruction="x")
    assert spec.check("cat or dog") == ("cat or dog", False)


def test_custom_task_validation_errors_name_the_problem():
    with pytest.raises(ValueError, match="labels"):
        TaskSpec(name="t", kind=TaskKind.CLASSIFICATION, instruction="x")
    with pytest.raises(ValueError, match="scale"):
        TaskSpec.rating("r", (5, 1), instruction="x")
    with pytest.raises(ValueError, match="fallback_answer"):
        TaskSpec.open_ended("o", instruction="x", on_invalid="fallback")


def test_presets_resolve_by_name():
    assert get_task("LaMP-2") is LAMP2
    assert get_task("goqa") is GLOBAL_OPINION_QA
    with pytest.raises(ValueError, match="unknown task"):
        get_task("lamp9")
    assert LAMP3.answer_space() == ["1", "2", "3", "4", "5"]
