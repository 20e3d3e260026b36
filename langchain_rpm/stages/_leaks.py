r"""The reasoning leak rule: does a stored reasoning path give the gold answer away?

A reasoning path is written with the user's real answer as a reference that it must never state
(DESIGN §2.4). The rule, per answer kind (text is compared as lowercase words, ``[a-z0-9]+``, so
case, punctuation and hyphens do not matter):

- **labels and options**: the reasoning *concludes* the answer: its words (one phrase, in order;
  ``"sci-fi"`` matches "Sci Fi") are framed as the answer, after an answer noun and a copula ("so the
  tag is X", "their answer would be X"), after a verb of choosing with a modal ("they would choose X",
  "would tag it as X"), or before a copula and an answer noun ("X is the obvious tag"). A label used
  as a content word ("the action scenes", "a classic", "most agree") or cited from the statistics
  ("dystopia 3/4 for Setting") is not a leak: reasoning paths may say what the statistics show.
  A label's common paraphrases (``PARAPHRASES``: "science fiction" for ``sci-fi``) count as the label.
- **ratings**: the rating is stated as a rating: ``N star(s)`` / ``N-star``, ``N/MAX`` or ``N out of
  MAX``, or a rating word followed by ``N`` with at most three filler words between (``rating of 4``,
  ``would rate it a 4``, ``gave this four``). ``N`` is the digit or the English word; a number that is
  part of a decimal (``4.5``) or a count ("4 of the 6 items") is not a rating.
- **text** (open-ended): the reasoning copies the answer or most of it: its longest run of the
  answer's words, in order, is at least ``min(len, max(3, ceil(0.6 x len)))`` words long, where
  ``len`` is the answer's word count (a one-word answer: the word; two words: both; ten words: six).

Example:
    >>> from langchain_rpm.tasks import LAMP2, LAMP3, LAMP5
    >>> find_leak(LAMP2, "Its Sci Fi setting weighs most; so the tag is sci fi.", "sci-fi")
    "it concludes the answer 'sci-fi' ('tag is sci fi')"
    >>> find_leak(LAMP2, "The answer is science fiction, but it's not the conclusion.", "sci-fi")
    "it concludes the answer 'sci-fi' ('answer is science fiction')"
    >>> find_leak(LAMP2, "Setting shows sci-fi 3/4 (75.0%) for this user.", "sci-fi") is None
    True
    >>> find_leak(LAMP3, "Shipping counts in 4 of 6 items (mean 4.50).", "4") is None
    True
    >>> find_leak(LAMP3, "So this user would rate it a 4.", "4")
    "it states the rating 4 ('rate it a 4')"
    >>> title = "Sign Language Translation: A Keypoint Transformer Approach"
    >>> find_leak(LAMP5, "A keypoint transformer approach suits this author.", title) is None  # 4 < 5 words
    True
    >>> find_leak(LAMP5, "They would call it sign language translation, a keypoint transformer.", title)
    "it copies 6 of the answer's 7 words in a row ('sign language translation a keypoint transformer')"
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence

from langchain_rpm._process_caches import empty_on_forget
from langchain_rpm.tasks import TaskKind, TaskSpec

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_RATING_WORDS = r"(?:rat(?:e|es|ed|ing|ings)|scor(?:e|es|ed|ing)|grade[sd]?|gives?|gave|giving|award(?:s|ed)?)"
_FILLER = r"(?:of|is|was|at|as|a|an|it|this|that|them|the|to|be|would|will|likely|probably|around|about)"


def words(text: str) -> list[str]:
    """Lowercase word tokens (letters and digits), the unit every rule compares."""
    return re.findall(r"[a-z0-9]+", text.lower())


def find_leak(task: TaskSpec, reasoning: str, answer: str, options: Sequence[str] | None = None) -> str | None:
    """How ``reasoning`` gives ``answer`` away (a short phrase for the retry feedback), or ``None``."""
    if task.kind is TaskKind.RATING:
        return _rating_leak(reasoning, answer, task.scale[1] if task.scale else 5)
    if task.kind is TaskKind.OPEN_ENDED:
        return _copy_leak(reasoning, answer)
    return _framed_leak(reasoning, answer)


PARAPHRASES: dict[str, tuple[str, ...]] = {  # how models restate a label (LaMP-2's tags), by the label
    "sci-fi": ("science fiction", "scifi"),
    "based on a book": ("book adaptation", "adapted from a book", "adaptation of a book", "based on the book"),
    "twist ending": ("plot twist", "surprise ending", "twist at the end"),
    "dark comedy": ("black comedy", "dark humor", "dark humour"),
    "thought-provoking": ("thought provoking",),
    "true story": ("based on a true story", "based on real events", "real events", "true events"),
    "psychology": ("psychological",),
    "romance": ("romantic",),
    "violence": ("violent",),
    "fantasy": ("fantastical",),
    "dystopia": ("dystopian",),
    "comedy": ("comedic",),
    "social commentary": ("social critique", "social criticism"),
}
_PARAPHRASED = {" ".join(words(label)): tuple(map(words, said)) for label, said in PARAPHRASES.items()}

_NOUN = r"(?:answer|tag|label|option|choice|pick|selection|rating|verdict|prediction|response)"
_MODAL = r"(?:would|will|should|must|d|ll|likely|probably|surely|clearly|then)"
_CHOOSE = (
    r"(?:choose|chooses|pick|picks|select|selects|tag|tags|label|labels|give|gives|answer|answers|go|opt|assign|"
    r"classify|categori[sz]e|call|mark|settle|say|rate)"
)
_OBJECT = r"(?:it|this|that|the|a|an|movie|film|plot|question|item|one|as|with|for|on|tag|label|option|them|by)"
_HEDGE = r"(?:the|a|an|their|its|this|likely|probably|clearly|surely|obviously|then|therefore|most|certainly)"
_QUALITY = r"(?:the|their|its|a|an|this|person|user|country|s|clear|obvious|likely|best|right|natural|fitting|final)"


def _framed_leak(reasoning: str, answer: str) -> str | None:
    """Where ``reasoning`` frames ``answer`` as its conclusion (the patterns of the module docstring).

    Every pattern needs one spelling's words in the reasoning, so a reasoning that lacks a word of each
    spelling cannot match: it is cleared before any pattern is built or run (the same verdicts, fewer
    compiles).
    """
    spellings = _spellings(answer)
    if not spellings or not spellings[0]:
        return None
    tokens = words(reasoning)
    present = set(tokens)
    if not any(present.issuperset(spelling) for spelling in spellings):
        return None
    text = " ".join(tokens)
    for pattern in _conclusion_patterns(spellings):
        match = pattern.search(text)
        if match:
            return f"it concludes the answer {answer!r} ({match.group(0)!r})"
    return None


def _spellings(answer: str) -> tuple[tuple[str, ...], ...]:
    """The answer's words, then those of each known paraphrase."""
    own = tuple(words(answer))
    return (own, *(tuple(said) for said in _PARAPHRASED.get(" ".join(own), ())))


@functools.lru_cache(maxsize=256)
def _conclusion_patterns(spellings: tuple[tuple[str, ...], ...]) -> tuple[re.Pattern[str], ...]:
    """The three conclusion patterns of one answer, compiled once (labels and options repeat)."""
    phrase = "(?:" + "|".join(r"\b" + r"\s+".join(map(re.escape, w)) + r"\b" for w in spellings) + ")"
    return tuple(
        re.compile(pattern)
        for pattern in (
            rf"\b{_NOUN}\s+(?:(?:{_MODAL}|is|be)\s+){{0,2}}(?:is|be|was)\s+(?:{_HEDGE}\s+){{0,2}}{phrase}",
            rf"\b{_MODAL}\s+(?:\w+\s+)?{_CHOOSE}\s+(?:{_OBJECT}\s+){{0,3}}{phrase}",
            rf"{phrase}\s+(?:is|would\s+be|will\s+be|must\s+be)\s+(?:{_QUALITY}\s+){{0,3}}{_NOUN}\b",
        )
    )


empty_on_forget(_conclusion_patterns.cache_clear)  # keyed by text of users' data (langchain_rpm._process_caches)


def _rating_leak(reasoning: str, answer: str, top: int) -> str | None:
    try:
        value = int(float(answer))
    except ValueError:
        return None
    spelled = _NUMBER_WORDS[value] if 0 <= value < len(_NUMBER_WORDS) else str(value)
    number = rf"(?<![\d.,])(?:{value}|{spelled})(?![.,]\d|\d)"
    patterns = (
        rf"{number}\s*-?\s*stars?\b",
        rf"{number}\s*(?:/|out of)\s*{top}\b",
        rf"\b{_RATING_WORDS}(?:\s+{_FILLER}){{0,3}}\s+{number}(?!\s*(?:of|/|%|out of)\b)(?!%)",
    )
    for pattern in patterns:
        match = re.search(pattern, reasoning, flags=re.IGNORECASE)
        if match:
            return f"it states the rating {value} ({match.group(0)!r})"
    return None


def _copy_leak(reasoning: str, answer: str) -> str | None:
    wanted = words(answer)
    if not wanted:
        return None
    need = min(len(wanted), max(3, math.ceil(0.6 * len(wanted))))
    run, end = _longest_common_run(words(reasoning), wanted)
    if run < need:
        return None
    return f"it copies {run} of the answer's {len(wanted)} words in a row ({' '.join(wanted[end - run : end])!r})"


def _longest_common_run(tokens: list[str], wanted: list[str]) -> tuple[int, int]:
    """Length of the longest run of ``wanted`` found contiguous in ``tokens``, and where it ends in ``wanted``."""
    best, best_end = 0, 0
    previous = [0] * (len(wanted) + 1)
    for token in tokens:
        current = [0] * (len(wanted) + 1)
        for j, word in enumerate(wanted, 1):
            if token == word:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, best_end = current[j], j
        previous = current
    return best, best_end
