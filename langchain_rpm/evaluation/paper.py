"""The paper's numbers (arXiv 2505.21082, gpt-4o-mini, K = 3), in one constant, for the report to stand beside.

:data:`PAPER_RESULTS` holds, per method name of this package, the row of the paper it reproduces:
Table 1 (main results, with Table 5's standard deviations over 3 runs), Table 2 (the ablation
ladder), Table 3 (retrieval source x key) and Table 9's cost on GlobalOpinionQA (dollars per user
build and per query). HYDRA and Fermi are listed for reference; they are not implemented here.

Of Table 1's "+CoT" rows only the cells that are the best prior method of their column are recorded
(``rag_cot`` LaMP-5 ROUGE-1, ``pag_cot`` GOQA accuracy, ``fermi_cot`` LaMP-3 MAE); their other cells
are absent, so the report shows no paper number there rather than a guessed one.

Example:
    >>> PAPER_RESULTS["rpm"].scores["lamp3"]["mae"], PAPER_RESULTS["rpm"].cost
    (0.259, (0.0581, 0.0037))
    >>> paper_score("ladder_pairs", "goqa", "accuracy")
    0.755
    >>> paper_score("pag_cot", "goqa", "accuracy"), paper_score("pag_cot", "lamp2", "accuracy")
    (0.82, None)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PAPER_COST", "PAPER_RESULTS", "PaperRow", "paper_score"]

Scores = dict[str, dict[str, float]]


class PaperRow(BaseModel):
    """One method's row in the paper: where it is, what it is called there, its scores and cost."""

    model_config = ConfigDict(frozen=True)

    table: str = Field(description="Where the row is, e.g. 'Table 1'.")
    label: str = Field(description="The row's name in the paper.")
    scores: Scores = Field(description="{task: {metric: mean}}.")
    std: Scores = Field(default_factory=dict, description="{task: {metric: std over 3 runs}} (Table 5).")
    cost: tuple[float, float] | None = Field(default=None, description="Table 9 (GOQA): ($/user build, $/query).")
    implemented: bool = True


def _scores(*values: float) -> Scores:
    """The seven numbers of a row, in the paper's column order, keyed by task and metric."""
    acc2, f1, mae, rmse, r1, rl, acc_goqa = values
    return {
        "lamp2": {"accuracy": acc2, "f1": f1},
        "lamp3": {"mae": mae, "rmse": rmse},
        "lamp5": {"rouge1": r1, "rougeL": rl},
        "goqa": {"accuracy": acc_goqa},
    }


PAPER_RESULTS: dict[str, PaperRow] = {
    "zero_shot": PaperRow(
        table="Table 1",
        label="Zero-shot",
        scores=_scores(0.430, 0.360, 0.361, 0.680, 0.446, 0.364, 0.562),
        std=_scores(0.008, 0.007, 0.008, 0.011, 0.001, 0.001, 0.014),
        cost=(0.0, 0.0002),
    ),
    "icl": PaperRow(
        table="Table 1",
        label="ICL (random 3)",
        scores=_scores(0.495, 0.412, 0.333, 0.638, 0.455, 0.395, 0.695),
        std=_scores(0.018, 0.017, 0.003, 0.003, 0.002, 0.002, 0.005),
        cost=(0.0, 0.0007),
    ),
    "rag": PaperRow(
        table="Table 1",
        label="RAG (Contriever on q')",
        scores=_scores(0.526, 0.438, 0.363, 0.687, 0.462, 0.405, 0.773),
        std=_scores(0.010, 0.012, 0.003, 0.004, 0.001, 0.001, 0.008),
        cost=(0.0, 0.0007),
    ),
    "pag": PaperRow(
        table="Table 1",
        label="PAG (summary of top-10 histories)",
        scores=_scores(0.525, 0.444, 0.331, 0.662, 0.463, 0.404, 0.795),
        std=_scores(0.013, 0.026, 0.006, 0.007, 0.002, 0.003, 0.006),
        cost=(0.0, 0.0013),
    ),
    "hydra": PaperRow(
        table="Table 1",
        label="HYDRA",
        scores=_scores(0.526, 0.437, 0.324, 0.656, 0.463, 0.406, 0.800),
        std=_scores(0.006, 0.013, 0.003, 0.009, 0.000, 0.000, 0.006),
        cost=(0.4679, 0.0028),
        implemented=False,
    ),
    "fermi": PaperRow(
        table="Table 1",
        label="Fermi",
        scores=_scores(0.526, 0.437, 0.328, 0.628, 0.465, 0.402, 0.800),
        std=_scores(0.012, 0.008, 0.034, 0.030, 0.007, 0.006, 0.008),
        cost=(0.3204, 0.0007),
        implemented=False,
    ),
    "rag_cot": PaperRow(table="Table 1", label="RAG + CoT", scores={"lamp5": {"rouge1": 0.469}}),
    "pag_cot": PaperRow(table="Table 1", label="PAG + CoT", scores={"goqa": {"accuracy": 0.820}}),
    "fermi_cot": PaperRow(table="Table 1", label="Fermi + CoT", scores={"lamp3": {"mae": 0.312}}, implemented=False),
    "rpm_no_reasoning": PaperRow(
        table="Table 1",
        label="RPM (w/o Reasoning)",
        scores=_scores(0.510, 0.398, 0.305, 0.599, 0.466, 0.388, 0.820),
        std=_scores(0.013, 0.019, 0.005, 0.007, 0.001, 0.002, 0.011),
    ),
    "ladder_features_factors": PaperRow(
        table="Table 2",
        label="q', G_q', C_u -> a'",
        scores=_scores(0.465, 0.370, 0.287, 0.576, 0.427, 0.347, 0.647),
    ),
    "ladder_pairs": PaperRow(
        table="Table 2",
        label="q', G_q', C_u, {(q_i, a_i)} -> a'",
        scores=_scores(0.485, 0.392, 0.274, 0.565, 0.466, 0.389, 0.755),
    ),
    "ladder_example_features": PaperRow(
        table="Table 2",
        label="q', G_q', C_u, {(q_i, G_qi, a_i)} -> a'",
        scores=_scores(0.484, 0.393, 0.288, 0.572, 0.466, 0.393, 0.806),
    ),
    "ladder_generic_cot": PaperRow(
        table="Table 2",
        label="q', {(q_i, r^CoT_i, a_i)} -> r_q', a'",
        scores=_scores(0.492, 0.416, 0.385, 0.715, 0.468, 0.411, 0.735),
    ),
    "bm25": PaperRow(
        table="Table 3",
        label="H_u, BM25 on q'",
        scores=_scores(0.520, 0.432, 0.375, 0.707, 0.464, 0.407, 0.805),
    ),
    "raw_by_features": PaperRow(
        table="Table 3",
        label="H_u, Contriever on G_q'",
        scores=_scores(0.530, 0.440, 0.373, 0.705, 0.484, 0.409, 0.809),
    ),
    "reasoned_by_query": PaperRow(
        table="Table 3",
        label="S_u, Contriever on q'",
        scores=_scores(0.542, 0.459, 0.272, 0.565, 0.478, 0.400, 0.837),
    ),
    "rpm": PaperRow(
        table="Table 1",
        label="RPM",
        scores=_scores(0.561, 0.463, 0.259, 0.548, 0.492, 0.416, 0.852),
        std=_scores(0.012, 0.014, 0.009, 0.008, 0.003, 0.003, 0.017),
        cost=(0.0581, 0.0037),
    ),
}
"""The paper's rows by this package's method names (Tables 1, 2, 3 and 9; gpt-4o-mini, K = 3, 3 runs)."""

PAPER_COST = {"dollars_per_build": 0.0581, "dollars_per_query": 0.0037}
"""RPM's cost in the paper (Table 9, GOQA, gpt-4o-mini): $0.0581 per user build, $0.0037 per query."""


def paper_score(method: str, task: str, metric: str) -> float | None:
    """The paper's mean for ``method`` on ``task``'s ``metric``, or ``None`` when it has none."""
    row = PAPER_RESULTS.get(method)
    return None if row is None else row.scores.get(task, {}).get(metric)
