"""Evaluation: datasets, LaMP-exact metrics, baselines and ablations, a resumable runner with cost accounting.

Example:
    >>> from langchain_rpm.evaluation import compute_metrics, demo_dataset
    >>> users = demo_dataset("lamp2")
    >>> golds = [q.gold for u in users for q in u.queries]
    >>> compute_metrics("lamp2", golds, golds)["accuracy"]
    1.0

Run every method on every demo task offline (``docs/evaluation.md`` has the real LaMP recipe)::

    from langchain_rpm.evaluation import run_evaluation
    from langchain_rpm.testing import demo_chat_model

    results = run_evaluation(["lamp2", "lamp3", "lamp5", "goqa"], llm=demo_chat_model(), results_dir="rpm-eval")
    print(results.to_markdown())
"""

from langchain_rpm.evaluation.baselines import (
    ALL_METHODS,
    METHODS,
    DirectAnswer,
    Method,
    MethodContext,
    MethodFactory,
    resolve_methods,
)
from langchain_rpm.evaluation.cost import PAPER_COST, CostSummary, Prices, Spend, summarize_costs
from langchain_rpm.evaluation.datasets import (
    LAMP_PROFILE_FIELDS,
    DatasetError,
    EvalQuery,
    EvalUser,
    demo_dataset,
    load_goqa,
    load_lamp,
    split_users,
    strip_lamp_prompt,
)
from langchain_rpm.evaluation.method import SharedProfiles
from langchain_rpm.evaluation.metrics import compute_metrics, primary_metric
from langchain_rpm.evaluation.report import PAPER_RESULTS, EvalResults, MethodResult, write_report
from langchain_rpm.evaluation.runner import (
    Ledger,
    LedgerRecord,
    RunMismatchError,
    arun_evaluation,
    load_task_users,
    run_evaluation,
)

__all__ = [
    "ALL_METHODS",
    "LAMP_PROFILE_FIELDS",
    "METHODS",
    "PAPER_COST",
    "PAPER_RESULTS",
    "CostSummary",
    "DatasetError",
    "DirectAnswer",
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
    "arun_evaluation",
    "compute_metrics",
    "demo_dataset",
    "load_goqa",
    "load_lamp",
    "load_task_users",
    "primary_metric",
    "resolve_methods",
    "run_evaluation",
    "split_users",
    "strip_lamp_prompt",
    "summarize_costs",
    "write_report",
]
