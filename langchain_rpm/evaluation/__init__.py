"""Evaluation: LaMP / GlobalOpinionQA data, the paper's protocol, LaMP-exact metrics, baselines and ablations.

Modules: :mod:`~.files` (reading, digests), :mod:`~.users` (what a run evaluates, validated up front),
:mod:`~.lamp`, :mod:`~.goqa` and :mod:`~.datasets` (loaders, the demo data), :mod:`~.protocol` (the
paper's splits), :mod:`~.sources` (data folders and protocols), :mod:`~.metrics`, :mod:`~.method`,
:mod:`~.baselines`, :mod:`~.ablations` and :mod:`~.methods` (what is compared), :mod:`~.runner`,
:mod:`~.ledger` and :mod:`~.manifest` (a resumable, checked run), :mod:`~.cost`, :mod:`~.paper`,
:mod:`~.report` and :mod:`~.plots` (the results), :mod:`~.cli` (``rpm eval``).

Example:
    >>> from langchain_rpm.evaluation import compute_metrics, demo_dataset
    >>> users = demo_dataset("lamp2")
    >>> golds = [q.gold for u in users for q in u.queries]
    >>> compute_metrics("lamp2", golds, golds)["accuracy"]
    1.0

Run the paper's method set on every demo task offline (``docs/evaluation.md`` has the paper protocol)::

    from langchain_rpm.evaluation import run_evaluation
    from langchain_rpm.testing import demo_chat_model

    results = run_evaluation(["lamp2", "lamp3", "lamp5", "goqa"], llm=demo_chat_model(), results_dir="rpm-eval")
    print(results.to_markdown())
"""

from langchain_rpm.errors import DatasetError, RunMismatchError
from langchain_rpm.evaluation.cost import CostSummary, Prices, Spend, summarize_costs
from langchain_rpm.evaluation.datasets import demo_dataset, split_users
from langchain_rpm.evaluation.files import DataFile, data_file
from langchain_rpm.evaluation.goqa import load_goqa, read_goqa
from langchain_rpm.evaluation.lamp import LAMP_PROFILE_FIELDS, load_lamp, read_lamp_questions, strip_lamp_prompt
from langchain_rpm.evaluation.ledger import Ledger, LedgerRecord
from langchain_rpm.evaluation.method import Method, MethodContext, MethodFactory, SharedProfiles
from langchain_rpm.evaluation.methods import ALL_METHODS, METHOD_GROUPS, METHODS, PAPER_METHODS, resolve_methods
from langchain_rpm.evaluation.metrics import compute_metrics, in_answer_space, primary_metric
from langchain_rpm.evaluation.paper import PAPER_COST, PAPER_RESULTS
from langchain_rpm.evaluation.protocol import PAPER_SPLITS, Split, paper_goqa_users, paper_lamp_users
from langchain_rpm.evaluation.report import EvalResults, MethodResult
from langchain_rpm.evaluation.results_folder import write_report
from langchain_rpm.evaluation.runner import arun_evaluation, run_evaluation
from langchain_rpm.evaluation.sources import PROTOCOLS, TaskData, load_task, load_task_users
from langchain_rpm.evaluation.users import EvalQuery, EvalUser, validate_users

__all__ = [
    "ALL_METHODS",
    "LAMP_PROFILE_FIELDS",
    "METHODS",
    "METHOD_GROUPS",
    "PAPER_COST",
    "PAPER_METHODS",
    "PAPER_RESULTS",
    "PAPER_SPLITS",
    "PROTOCOLS",
    "CostSummary",
    "DataFile",
    "DatasetError",
    "EvalQuery",
    "EvalResults",
    "EvalUser",
    "Ledger",
    "LedgerRecord",
    "Method",
    "MethodContext",
    "MethodFactory",
    "MethodResult",
    "Prices",
    "RunMismatchError",
    "SharedProfiles",
    "Spend",
    "Split",
    "TaskData",
    "arun_evaluation",
    "compute_metrics",
    "data_file",
    "demo_dataset",
    "in_answer_space",
    "load_goqa",
    "load_lamp",
    "load_task",
    "load_task_users",
    "paper_goqa_users",
    "paper_lamp_users",
    "primary_metric",
    "read_goqa",
    "read_lamp_questions",
    "resolve_methods",
    "run_evaluation",
    "split_users",
    "strip_lamp_prompt",
    "summarize_costs",
    "validate_users",
    "write_report",
]
