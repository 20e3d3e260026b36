"""``rpm demo``: build a few demo users one by one and, after each, answer its held-out query and say why.

Sized to a small local model: by default two users with four history items each, so the first explained answer
comes after one user's build (about 12 model calls, a minute or two on one CPU thread), and is printed before
the second user is built. Everything shown is checked first: a factor feature, a
reasoning path or a retrieved example that is not readable text (a tiny model sometimes emits ``{ {``) is left
out and counted, and an answer that does not fit the task is reported as invalid, never as reasoning. The demo
stores its users in their own folder (``~/.langchain_rpm/demo`` unless ``--store``) and ends with the exact
``rpm`` commands that inspect, ask and forget them there.

Example:
    >>> readable("{ {"), readable("{ { the AI's distress signal }}"), readable("Prefers slow, quiet dramas.")
    (False, False, True)
    >>> demo_commands(Path("/tmp/demo"), "lamp2-u1", "A quiet film.")[1]
    'rpm --store /tmp/demo inspect lamp2-u1'
    >>> states_the_answer("The answer is science fiction, but it's not the conclusion.")
    True
"""

from __future__ import annotations

import argparse
import re
import shlex
import time
from pathlib import Path
from typing import Any

from langchain_rpm.cli._exits import OK
from langchain_rpm.cli._interrupts import run_async
from langchain_rpm.cli._output import Output
from langchain_rpm.cli._session import StoreAccess, announcer, model_plan, running_model
from langchain_rpm.cli.render import factor_table, plain
from langchain_rpm.errors import StructuredOutputError
from langchain_rpm.tasks import TaskSpec, get_task
from langchain_rpm.types import OTHER_FACTOR, Prediction, ReasoningExample, UserProfile

_WORD = re.compile(r"[^\W\d_]{2,}")
_JSON_DEBRIS = re.compile(r"[{}]|\[\s*\]|\]\[|^\s*[\[\]]")
_ANSWER_FRAMED = re.compile(r"\b(the|my|their|its) (answer|tag|rating|title|choice) (is|was|would be|will be)\b", re.I)
DEFAULT_ITEMS = 4
LOCAL_CONCURRENCY = 2

REAL_MODEL_NOTE = (
    "What a real model would add: this run used a tiny offline model so that it needs no key and no network. "
    "It follows the output format, but its features and reasoning are often shallow and its answers often miss. "
    "With a capable model (set OPENAI_API_KEY, or --model provider:name) the same steps name the user's real "
    "preferences as factors, and the answers follow them."
)


def readable(text: str, *, words: int = 2) -> bool:
    """Whether ``text`` reads as prose: ``words`` words of letters or more, and no JSON braces or brackets.

    A tiny model under a JSON grammar sometimes writes ``{ { the AI's signal }}`` as its reasoning.
    """
    return len(_WORD.findall(text or "")) >= words and not _JSON_DEBRIS.search(text)


def states_the_answer(text: str) -> bool:
    """Whether a reasoning path announces an answer ("The answer is ...") instead of reasoning toward one.

    The leak guard flags a path that names the item's own answer; a tiny model also writes "The answer is
    science fiction, but ..." for the tag ``sci-fi``, a paraphrase the guard's rule does not match.
    """
    return bool(_ANSWER_FRAMED.search(text or ""))


def demo_folder(args: argparse.Namespace) -> Path:
    """Where the demo's users live: ``--store``, else ``~/.langchain_rpm/demo`` (apart from the user's own store)."""
    return Path(args.store).expanduser() if args.store is not None else Path.home() / ".langchain_rpm" / "demo"


def demo_commands(folder: Path, user_id: str, query: str) -> list[str]:
    """The commands that list, inspect, ask and forget a demo user in ``folder``, ready to paste."""
    base = f"rpm --store {shlex.quote(str(folder))}"
    return [
        f"{base} users",
        f"{base} inspect {shlex.quote(user_id)}",
        f"{base} ask {shlex.quote(user_id)} {shlex.quote(query)} --explain",
        f"{base} forget {shlex.quote(user_id)}",
    ]


def _shown_example(examples: list[ReasoningExample]) -> tuple[ReasoningExample | None, int]:
    """A readable reasoning path to show (one the leak guard did not flag, if any) and how many were unreadable."""
    good = [ex for ex in examples if readable(ex.reasoning, words=4)]
    good.sort(key=_announces)  # stable: paths that follow the no-conclusion rule first
    return (good[0] if good else None), len(examples) - len(good)


def _announces(example: ReasoningExample) -> bool:
    """The path states an answer: leak-flagged, framed as one ("The answer is ..."), or opening with its answer.

    SmolLM2 wrote "action; action is the only one that makes sense to me" for an item tagged ``action``.
    """
    opening = example.reasoning.strip().lower()
    return example.leak or states_the_answer(opening) or opening.startswith(example.answer.strip().lower())


def factor_note(profile: UserProfile) -> list[str]:
    """Plain words on a table with no factor but ``Other`` (what a tiny model's build usually gives), else none.

    Example:
        >>> from langchain_rpm.types import Factor
        >>> profile = UserProfile(user_id="u", task="lamp2", factors=[Factor(name="Other")], num_items=4, num_features=8)
        >>> factor_note(profile)[0]
        '  The model named no factor that RPM could keep (it grouped none of the features under a name it proposed),'
    """
    if [f.name for f in profile.factors] != [OTHER_FACTOR]:
        return []
    return [
        "  The model named no factor that RPM could keep (it grouped none of the features under a name it proposed),",
        f"  so all {profile.num_features} features sit in one row, 'Other', whose tendency is this user's overall mix of",
        "  answers. With a capable model the table has one row per factor it found, e.g. a row 'Space and robots'",
        "  covering the items tagged sci-fi, with that factor's own mix of answers: that row is how RPM sees a user.",
    ]


def _explanation(prediction: Prediction) -> tuple[list[str], int]:
    """Lines saying why the answer was given, and how many unreadable retrieved examples were left out."""
    lines, hidden = [], 0
    if not readable(prediction.reasoning, words=3):
        hidden += 1
    elif states_the_answer(prediction.reasoning):  # "The answer is science fiction, ..." beside the answer 'action'
        lines.append("  the model's reasoning only announced an answer, so it is not shown")
    else:
        lines.append(f"  the model's reasoning: {prediction.reasoning}")
    if prediction.factors_used:
        lines.append(f"  the user's factors it weighed: {', '.join(prediction.factors_used)}")
    for hit in prediction.examples:
        ex = hit.example
        if not readable(ex.reasoning, words=4):
            hidden += 1
            continue
        lines.append(
            f"  a similar past item ({ex.item_id}, similarity {hit.score:.2f}) the user answered {ex.answer!r}"
        )
    return lines, hidden


class DemoReport:
    """Prints one user's part of the demo and collects the ``--json`` document."""

    def __init__(self, out: Output, task: TaskSpec) -> None:
        self.out = out
        self.task = task
        self.users: list[dict[str, Any]] = []
        self.left_out = 0

    def user(
        self,
        profile: UserProfile,
        examples: list[ReasoningExample],
        query: str,
        truth: str,
        prediction: Prediction | None,
        failure: str = "",
    ) -> None:
        """One user: what RPM built, what it answered (``None``: no valid reply, ``failure`` says why), and why."""
        valid = prediction is not None and prediction.valid
        correct = valid and prediction is not None and prediction.answer.strip().lower() == truth.strip().lower()
        shown, hidden = _shown_example(examples)
        why, hidden_hits = _explanation(prediction) if prediction is not None and valid else ([], 0)
        self.left_out += hidden + hidden_hits
        self.users.append(
            {
                "user_id": profile.user_id,
                "profile": profile.model_dump(mode="json"),
                "example": shown.model_dump(mode="json") if shown else None,
                "query": query,
                "truth": truth,
                "correct": correct,
                "left_out_unreadable": hidden + hidden_hits,
                "prediction": prediction.model_dump(mode="json") if prediction is not None else None,
                "failure": failure or None,
            }
        )
        if self.out.json:
            return
        line, console = self.out.line, self.out.console
        line(f"\nWhat RPM learned about {profile.user_id} from {profile.num_items} past items:")
        for failed in profile.failed_items:
            line(f"  (item {failed.item_id} was left out: the model's {failed.stage!r} step gave no usable reply)")
        console.print(factor_table(profile.factors, self.task, title=f"Factors of {profile.user_id}"))
        line("  (items: how many past items show the factor; coverage: their share; tendency: the answers they got)")
        for text in factor_note(profile):
            line(text)
        if shown is not None and _announces(shown):
            line(f"None of the {len(examples)} reasoning paths the model wrote reasons toward its item's answer: each")
            line("  states an answer instead (against RPM's rule; a tiny model's habit), so none is shown as why.")
        elif shown is not None:
            line(f"One reasoning path RPM wrote for a past item ({shown.item_id}):")
            line(f"  item: {shown.input}")
            line(f"  why the user answered {shown.answer!r}: {shown.reasoning}")
        line(f"\nA new item for {profile.user_id}: {query}")
        if prediction is None:
            line(f"  the model gave no valid reply after its retries ({failure}): counted as invalid")
        elif not prediction.valid:
            line(f"  the model's answer {prediction.raw_answer!r} does not fit the task: counted as invalid")
        else:
            mark = "right" if correct else "wrong"
            line(f"  RPM answered {prediction.answer!r}; the user's own answer was {truth!r} ({mark}).")
            for text in why:  # one line each, whole: a piped run must not cut it at rich's 80 columns
                console.print(plain(text), soft_wrap=True)

    def end(self, folder: Path, summary: dict[str, Any], seconds: float) -> None:
        """The totals, what a real model adds, and the commands to go on with."""
        first = self.users[0] if self.users else None
        commands = demo_commands(folder, first["user_id"], first["query"]) if first else []
        right = sum(1 for u in self.users if u["correct"])
        if self.out.json:
            document = {"task": self.task.name, "build": summary, "users": self.users, "right": right}
            self.out.data({**document, "left_out_unreadable": self.left_out, "seconds": round(seconds, 1)})
            return
        line = self.out.line
        line(f"\n{right} of {len(self.users)} held-out answers matched the user's own, in {seconds:.0f} s.")
        if self.left_out:
            line(f"{self.left_out} unreadable model output(s) (not words) were left out of what is shown above.")
        if summary.get("failed_users"):
            line(f"{summary['failed_users']} user(s) could not be built; `rpm inspect` shows which items failed.")
        line(REAL_MODEL_NOTE)
        if commands:
            line(f"\nThe demo users are stored in {folder}. Go on with:")
            for command in commands:
                line(f"  {command}")


async def _run(args: argparse.Namespace, access: StoreAccess, choice: Any, out: Output) -> None:
    from langchain_rpm.cli._building import Job, summarize
    from langchain_rpm.cli._commands import _rpm_factory, _run_builds
    from langchain_rpm.evaluation.datasets import demo_dataset

    started = time.monotonic()
    task = get_task(args.demo_task)
    users = demo_dataset(args.demo_task)[: args.users]
    report = DemoReport(out, task)
    jobs, results = [], {}
    for number, user in enumerate(users, 1):
        if not out.json:
            out.console.rule(f"RPM demo, user {number} of {len(users)}: {user.user_id} ({args.demo_task})")
        job = Job(user.user_id, task, "build", user.history[: args.items])
        store, built = await _run_builds(args, access, choice, [job], quiet=out.json)
        jobs.append(job)
        results.update(built)
        profile = built.get(user.user_id)
        if not isinstance(profile, UserProfile) or not user.queries:
            continue
        query = user.queries[0]
        rpm = _rpm_factory(args, store, choice)(task, None)
        try:
            prediction: Prediction | None = await rpm.apersonalize(user.user_id, query.input, options=query.options)
            failure = ""
        except StructuredOutputError as exc:  # a tiny model's replies can miss the schema every time
            prediction, failure = None, str(exc).split(":")[0]
        report.user(profile, store.get_examples(user.user_id), query.input, query.gold, prediction, failure)
    report.end(access.folder, summarize("build", jobs, results), time.monotonic() - started)


def demo(args: argparse.Namespace, out: Output) -> int:
    """``rpm demo``: build the demo users in their own folder, answer their held-out queries, explain."""
    args.store = demo_folder(args)
    access = StoreAccess(args)
    access.check(writes=True)
    plan = model_plan(args)
    if plan.kind == "local":  # the local server answers one call at a time: more in flight only wait and time out
        args.concurrency = min(args.concurrency, LOCAL_CONCURRENCY)
    with running_model(plan, announcer(out.json), cache=access.cache(not args.no_cache)) as choice:
        run_async(_run(args, access, choice, out))
    return OK
