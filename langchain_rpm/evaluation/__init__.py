"""Evaluation: LaMP / GlobalOpinionQA datasets, the shipped demo data, and LaMP-exact metrics.

Example:
    >>> from langchain_rpm.evaluation import compute_metrics, demo_dataset
    >>> users = demo_dataset("lamp2")
    >>> golds = [q.gold for u in users for q in u.queries]
    >>> compute_metrics("lamp2", golds, golds)["accuracy"]
    1.0
"""

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
from langchain_rpm.evaluation.metrics import compute_metrics, primary_metric

__all__ = [
    "LAMP_PROFILE_FIELDS",
    "DatasetError",
    "EvalQuery",
    "EvalUser",
    "compute_metrics",
    "demo_dataset",
    "load_goqa",
    "load_lamp",
    "primary_metric",
    "split_users",
    "strip_lamp_prompt",
]
