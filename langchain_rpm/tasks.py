"""Task specs: what kind of answer a task expects, and how answers are validated.

Four answer kinds are supported (classification over a label list, rating on a numeric scale,
multiple choice with per-query options, open-ended text). Presets cover the paper's benchmarks.

Example:
    >>> from langchain_rpm.tasks import LAMP3
    >>> LAMP3.normalize("4 stars")
    '4'
    >>> LAMP3.check("great movie").valid
    False
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from langchain_rpm.errors import InvalidAnswerError


class TaskKind(StrEnum):
    """The four answer kinds RPM knows how to personalize."""

    CLASSIFICATION = "classification"
    RATING = "rating"
    MULTIPLE_CHOICE = "multiple_choice"
    OPEN_ENDED = "open_ended"


class AnswerCheck(NamedTuple):
    """The outcome of checking one answer: the answer to use, and whether it was valid."""

    answer: str
    valid: bool


DEFAULT_ANSWER_KEYS: dict[TaskKind, str] = {
    TaskKind.CLASSIFICATION: "label",
    TaskKind.RATING: "rating",
    TaskKind.MULTIPLE_CHOICE: "option",
    TaskKind.OPEN_ENDED: "answer",
}
"""The answer key of the generation output when a task names none (presets name theirs: ``tag``, ``title``...)."""

_ANSWER_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

_OPTION_LETTER = re.compile(r"^\(?([A-Za-z])[\).:]?(?:\s+.*)?$")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_NOT_KEY = re.compile(r"[^0-9a-z]+")
_LABEL_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}  # tasks' label keys (configuration, not user data)


def _key(text: str) -> str:
    """Comparison key for labels: case, spacing, hyphens and punctuation ignored."""
    return _NOT_KEY.sub("", text.lower())


class TaskSpec(BaseModel):
    """Describes one personalization task and validates its answers.

    Args:
        name: Short identifier, e.g. ``"lamp2"``.
        kind: The answer kind.
        instruction: What the model is asked to do with an input, in one sentence.
        labels: The label list (classification only).
        scale: Inclusive ``(min, max)`` of the rating scale (rating only).
        on_invalid: What an invalid answer gets: ``"keep"`` returns the raw text marked invalid
            (metrics then score it as LaMP does: wrong / worst case), ``"fallback"`` substitutes
            ``fallback_answer``, ``"raise"`` raises :class:`InvalidAnswerError`.
        fallback_answer: The substitute used when ``on_invalid="fallback"``.
        input_description: What an input is, e.g. ``"movie description"``.
        answer_key: The JSON key of the answer in the generation output (``{"reasoning", answer_key}``);
            default by kind: ``label``, ``rating``, ``option``, ``answer``.
        domain: The task as context for feature extraction, a clause that completes "a task in which ..."
            (default: the instruction, quoted). Describes, never orders, so the extractor lists features
            instead of answering.
        feature_example: The worked ``(feature_name, context)`` example the extraction prompt shows
            (default: one per answer kind, :data:`FEATURE_EXAMPLES`).
        group: Whose answers these are, when one profile speaks for a group (a country in GOQA); prompts
            then speak of "this country" instead of "this person". Empty: the user is one person.
        group_name: The group's name ("Japan"), which every prompt then uses (see :meth:`for_group`).

    Example:
        >>> spec = TaskSpec.classification("sentiment", ["positive", "negative"],
        ...                                instruction="Classify the review's sentiment.")
        >>> spec.normalize("  Positive ")
        'positive'
    """

    model_config = ConfigDict(frozen=True)

    name: str
    kind: TaskKind
    instruction: str
    labels: tuple[str, ...] = ()
    scale: tuple[int, int] | None = None
    on_invalid: Literal["keep", "fallback", "raise"] = "keep"
    fallback_answer: str | None = None
    input_description: str = Field(default="input", description="What an input is, e.g. 'movie description'.")
    answer_key: str = Field(default="", description="JSON key of the answer in the generation output.")
    domain: str = Field(default="", description="The task as context for extraction: 'a task in which ...'.")
    feature_example: tuple[str, str] | None = Field(
        default=None, description="The extraction prompt's worked (feature_name, context) example."
    )
    group: str = Field(default="", description="The group a profile speaks for (e.g. 'country'); '' = a person.")
    group_name: str = Field(default="", description="The group's name (e.g. 'Japan'), named in every prompt.")

    @model_validator(mode="before")
    @classmethod
    def _default_answer_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("answer_key") and data.get("kind") in set(TaskKind):
            data = {**data, "answer_key": DEFAULT_ANSWER_KEYS[TaskKind(data["kind"])]}
        return data

    @model_validator(mode="after")
    def _check_consistent(self) -> TaskSpec:
        if self.kind is TaskKind.CLASSIFICATION and not self.labels:
            raise ValueError(f"task {self.name!r}: a classification task needs a non-empty `labels` list")
        if self.kind is TaskKind.RATING and (self.scale is None or self.scale[0] >= self.scale[1]):
            raise ValueError(f"task {self.name!r}: a rating task needs `scale=(min, max)` with min < max")
        if self.on_invalid == "fallback" and self.fallback_answer is None:
            raise ValueError(f"task {self.name!r}: on_invalid='fallback' needs a `fallback_answer`")
        if not _ANSWER_KEY.match(self.answer_key) or self.answer_key == "reasoning":
            raise ValueError(
                f"task {self.name!r}: answer_key {self.answer_key!r} must be a lowercase identifier other than "
                "'reasoning' (e.g. 'tag')"
            )
        return self

    # -- constructors for custom tasks -------------------------------------------------------------
    @classmethod
    def classification(cls, name: str, labels: Sequence[str], *, instruction: str, **kw: object) -> TaskSpec:
        """A classification task over a fixed label list."""
        return cls(name=name, kind=TaskKind.CLASSIFICATION, labels=tuple(labels), instruction=instruction, **kw)  # type: ignore[arg-type]

    @classmethod
    def rating(cls, name: str, scale: tuple[int, int], *, instruction: str, **kw: object) -> TaskSpec:
        """A rating task on an inclusive integer scale."""
        return cls(name=name, kind=TaskKind.RATING, scale=scale, instruction=instruction, **kw)  # type: ignore[arg-type]

    @classmethod
    def multiple_choice(cls, name: str, *, instruction: str, **kw: object) -> TaskSpec:
        """A multiple-choice task whose options come with each query."""
        return cls(name=name, kind=TaskKind.MULTIPLE_CHOICE, instruction=instruction, **kw)  # type: ignore[arg-type]

    @classmethod
    def open_ended(cls, name: str, *, instruction: str, **kw: object) -> TaskSpec:
        """An open-ended text generation task."""
        return cls(name=name, kind=TaskKind.OPEN_ENDED, instruction=instruction, **kw)  # type: ignore[arg-type]

    # -- properties ----------------------------------------------------------------------------------
    @property
    def domain_text(self) -> str:
        """The task as extraction context (``domain``, or the instruction quoted)."""
        return self.domain or f"the task reads: {self.instruction!r}"

    def for_group(self, name: str) -> TaskSpec:
        """This task for the group called ``name`` (a country of GOQA): every prompt names it.

        Example:
            >>> from langchain_rpm.tasks import GLOBAL_OPINION_QA
            >>> GLOBAL_OPINION_QA.for_group("Japan").subject, GLOBAL_OPINION_QA.subject
            ('Japan', 'this country')
        """
        return self.model_copy(update={"group_name": name.strip()})

    @property
    def subject(self) -> str:
        """Whose answers the prompts model: the group's name, ``"this country"``, or ``"this person"``."""
        return self.group_name or (f"this {self.group}" if self.group else "this person")

    @property
    def respondent(self) -> str:
        """Who answers, for prompts: ``"a person"``, or ``"a country"`` for a group task.

        Example:
            >>> from langchain_rpm.tasks import GLOBAL_OPINION_QA, LAMP3
            >>> GLOBAL_OPINION_QA.respondent, LAMP3.respondent
            ('a country', 'a person')
        """
        return self.group_name or (f"a {self.group}" if self.group else "a person")

    @property
    def worked_example(self) -> tuple[str, str]:
        """The ``(feature_name, context)`` example of the extraction prompt: the task's, or its kind's.

        Example:
            >>> from langchain_rpm.tasks import LAMP2
            >>> LAMP2.worked_example
            ('Atmosphere', 'a bleak, rain-soaked city under constant surveillance')
        """
        return self.feature_example or FEATURE_EXAMPLES[self.kind]

    @property
    def is_discrete(self) -> bool:
        """True when answers come from a finite set (propensity statistics apply)."""
        return self.kind is not TaskKind.OPEN_ENDED

    def answer_space(self, options: Sequence[str] | None = None) -> list[str]:
        """The allowed answers for one query (empty for open-ended tasks)."""
        if self.kind is TaskKind.CLASSIFICATION:
            return list(self.labels)
        if self.kind is TaskKind.RATING:
            assert self.scale is not None
            return [str(v) for v in range(self.scale[0], self.scale[1] + 1)]
        if self.kind is TaskKind.MULTIPLE_CHOICE:
            return list(options or [])
        return []

    def answer_values(self, options: Sequence[str] | None = None) -> list[str] | list[int] | None:
        """The enum of the answer field in the generation schema: every allowed answer, or ``None`` (free text).

        Ratings are integers, labels and options their exact strings (options: the query's own, so
        multiple-choice schemas are built per query). ``None`` for open-ended tasks and for a
        multiple-choice query without options.

        Example:
            >>> from langchain_rpm.tasks import LAMP3
            >>> LAMP3.answer_values()
            [1, 2, 3, 4, 5]
        """
        if self.kind is TaskKind.RATING:
            assert self.scale is not None
            return list(range(self.scale[0], self.scale[1] + 1))
        values = list(dict.fromkeys(self.answer_space(options)))
        return values or None

    def answer_format(self, options: Sequence[str] | None = None) -> str:
        """A one-line description of the expected answer, used in prompts."""
        if self.kind is TaskKind.CLASSIFICATION:
            return "exactly one label from: " + ", ".join(self.labels)
        if self.kind is TaskKind.RATING:
            assert self.scale is not None
            return f"a single integer rating from {self.scale[0]} to {self.scale[1]}"
        if self.kind is TaskKind.MULTIPLE_CHOICE:
            if not options:
                return "exactly one of the options given with the input, copied verbatim"
            return "exactly one option, copied verbatim, from: " + " | ".join(options)
        return "the text itself, nothing else"

    # -- validation ----------------------------------------------------------------------------------
    def normalize(self, answer: object, options: Sequence[str] | None = None) -> str:
        """Return the canonical form of ``answer`` or raise :class:`InvalidAnswerError`.

        Labels and options are matched ignoring case, spacing and punctuation; ratings accept text
        such as ``"4 stars"`` or ``"4.0"``; multiple-choice answers accept the option text or its
        letter (``"B"``, ``"(B)"``).
        """
        text = str(answer).strip().strip("\"'`").strip()
        if self.kind is TaskKind.OPEN_ENDED:
            if not text:
                raise InvalidAnswerError(f"task {self.name!r}: empty answer")
            return text
        if self.kind is TaskKind.RATING:
            return self._normalize_rating(text)
        if self.kind is TaskKind.MULTIPLE_CHOICE:
            if not options:
                raise InvalidAnswerError(f"task {self.name!r}: multiple-choice answers need the query's options")
            return self._normalize_choice(text, list(options))
        labels = tuple(self.labels)  # keyed once per label set, not on every answer
        keys = _LABEL_KEYS.get(labels) or _LABEL_KEYS.setdefault(labels, tuple(map(_key, labels)))
        return self._match_label(text, list(labels), keys)

    def check(self, answer: object, options: Sequence[str] | None = None) -> AnswerCheck:
        """Validate ``answer`` and apply the ``on_invalid`` policy.

        Example:
            >>> from langchain_rpm.tasks import LAMP2
            >>> LAMP2.check("Sci Fi")
            AnswerCheck(answer='sci-fi', valid=True)
        """
        try:
            return AnswerCheck(self.normalize(answer, options), True)
        except InvalidAnswerError:
            if self.on_invalid == "raise":
                raise
            if self.on_invalid == "fallback":
                assert self.fallback_answer is not None
                return AnswerCheck(self.fallback_answer, False)
            return AnswerCheck(str(answer).strip(), False)

    def _normalize_rating(self, text: str) -> str:
        assert self.scale is not None
        match = _NUMBER.search(text)
        if match is None:
            raise InvalidAnswerError(f"task {self.name!r}: no rating found in {text[:80]!r}")
        value = float(match.group())
        if not value.is_integer() or not self.scale[0] <= value <= self.scale[1]:
            raise InvalidAnswerError(
                f"task {self.name!r}: rating {match.group()} is not an integer in {self.scale[0]}..{self.scale[1]}"
            )
        return str(int(value))

    def _normalize_choice(self, text: str, options: list[str]) -> str:
        try:
            return self._match_label(text, options)
        except InvalidAnswerError:
            letter = _OPTION_LETTER.match(text)
            if letter:
                index = ord(letter.group(1).upper()) - ord("A")
                if 0 <= index < len(options):
                    return options[index]
            raise

    def _match_label(self, text: str, labels: list[str], keys: Sequence[str] | None = None) -> str:
        key = _key(text)
        for label, label_key in zip(labels, keys or [_key(label) for label in labels], strict=True):
            if label_key == key:
                return label
        # "The answer is: comedy." -> the longest label that appears as a whole phrase, if unique.
        found = [
            label for label in labels if re.search(rf"(?<![\w-]){re.escape(label.lower())}(?![\w-])", text.lower())
        ]
        if found:
            longest = max(len(label) for label in found)
            best = [label for label in found if len(label) == longest]
            if len(best) == 1:
                return best[0]
        raise InvalidAnswerError(f"task {self.name!r}: {text[:80]!r} is not one of {labels}")


FEATURE_EXAMPLES: dict[TaskKind, tuple[str, str]] = {
    TaskKind.CLASSIFICATION: ("Central theme", "the question of who controls the story's world"),
    TaskKind.RATING: ("Durability", "the handle cracked after a week of use"),
    TaskKind.MULTIPLE_CHOICE: ("Role of religion", "whether faith should guide public decisions"),
    TaskKind.OPEN_ENDED: ("Core method", "a transformer that reads body keypoints"),
}
"""The extraction prompt's worked example per answer kind, when a task names none."""

LAMP2_TAGS = (
    "sci-fi",
    "based on a book",
    "comedy",
    "action",
    "twist ending",
    "dystopia",
    "dark comedy",
    "classic",
    "psychology",
    "fantasy",
    "romance",
    "thought-provoking",
    "social commentary",
    "violence",
    "true story",
)

LAMP2 = TaskSpec.classification(
    "lamp2",
    LAMP2_TAGS,
    instruction="Choose the one tag this user would give the movie described in the input.",
    input_description="movie description",
    answer_key="tag",
    domain="a user gives each movie one tag from a fixed list of genres and themes",
    feature_example=("Atmosphere", "a bleak, rain-soaked city under constant surveillance"),
)
LAMP3 = TaskSpec.rating(
    "lamp3",
    (1, 5),
    instruction="Predict the star rating (1-5) this user gave with the product review in the input.",
    input_description="product review",
    answer_key="rating",
    domain="a user writes a product review and gives it a star rating from 1 to 5",
    feature_example=("Durability", "the handle cracked after a week of use"),
)
LAMP5 = TaskSpec.open_ended(
    "lamp5",
    instruction="Write the title this user would give the scholarly paper whose abstract is the input.",
    input_description="paper abstract",
    answer_key="title",
    domain="an author writes the title of their own scholarly paper, given its abstract",
    feature_example=("Core method", "a transformer that reads body keypoints"),
)
GLOBAL_OPINION_QA = TaskSpec.multiple_choice(
    "goqa",
    instruction="Choose the option most people in this country would choose for the survey question.",
    input_description="survey question",
    answer_key="option",
    domain="a country's population answers opinion survey questions; the answer is the option most people there choose",
    feature_example=("Role of religion", "whether faith should guide public decisions"),
    group="country",
)

PRESETS: dict[str, TaskSpec] = {t.name: t for t in (LAMP2, LAMP3, LAMP5, GLOBAL_OPINION_QA)}


def get_task(task: str | TaskSpec) -> TaskSpec:
    """Resolve a preset name (``lamp2``, ``lamp3``, ``lamp5``, ``goqa``) or pass a spec through."""
    if isinstance(task, TaskSpec):
        return task
    try:
        return PRESETS[task.lower().replace("-", "").replace("_", "")]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; use one of {sorted(PRESETS)} or a TaskSpec") from None
