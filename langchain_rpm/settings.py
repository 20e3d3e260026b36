"""RPM's settings, and the two presets: ``"paper"`` (the published method) and ``"default"`` (cheaper).

Every number the method depends on lives here, named. ``preset="paper"`` follows the paper to the
letter (DESIGN §2); ``preset="default"`` keeps its semantics and changes only what costs calls, each
deviation a named setting (``docs/presets.md`` has the table with measured calls and tokens).

Example:
    >>> RPMSettings.for_preset("paper").k
    3
    >>> RPMSettings.for_preset("paper").assign_batch_size, RPMSettings.for_preset("default").judge
    (1, 'in_reasoning')
    >>> RPMSettings.for_preset("default", k=5).k
    5
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from langchain_rpm.errors import ConfigurationError

PresetName = Literal["default", "paper"]
JudgeMode = Literal["separate", "in_reasoning"]
DriftMode = Literal["off", "on", "report"]


class RPMSettings(BaseModel):
    """The knobs of the method. Use :meth:`preset` rather than the constructor.

    Example:
        >>> RPMSettings.for_preset("default").model_dump()["preset"]
        'default'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: PresetName = "default"
    k: int = Field(default=3, ge=0, description="Examples retrieved per query (the paper's K = 3).")
    show_answer: bool = Field(default=False, description="Show the known answer to the history extractor.")
    pack_size: int = Field(default=1, ge=1, description="History items per extraction and reasoning call.")
    # Propose-Assign-Select (DESIGN §2 step 2; the GoalEx defaults the paper keeps).
    num_candidates: int = Field(default=16, ge=1, description="L: factors proposed per round.")
    max_factors: int = Field(default=8, ge=1, description="P_max: most factors Select keeps in one round.")
    max_total_factors: int | None = Field(
        default=None, ge=1, description="Most factors kept over all rounds (None: P_max x R_max, the paper)."
    )
    max_rounds: int = Field(default=3, ge=1, description="R_max: most Propose-Assign-Select rounds.")
    sample_fraction: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Propose's sample size as a share of the whole feature pool (drawn from the uncovered).",
    )
    coverage_target: float = Field(
        default=0.95, gt=0, le=1, description="Stop the rounds once this share of the features is covered."
    )
    seed: int = Field(default=0, description="Seed of the Propose samples (same features -> same factors).")
    assign_batch_size: int = Field(
        default=20, ge=1, description="Features per Assign call (the paper: 1, one call per feature)."
    )
    residual_batch_size: int = Field(
        default=20, ge=1, description="Features per residual-pass call (the paper: 1, one call per feature)."
    )
    option_statistics: Literal["options", "judge"] = Field(
        default="options",
        description="Multiple choice: propensity over option positions, or the judge's label-free statistics "
        "(App. E.5; one judge call per item).",
    )
    judge: JudgeMode = Field(
        default="in_reasoning",
        description="Open-ended tasks: 'separate' judge call per item (the paper) or folded into the reasoning call.",
    )
    recluster_threshold: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of unfit features after which an update re-clusters (drift 'on': of the recent window's).",
    )
    # Time and drift (docs/drift.md): beyond the paper, which weighs every item alike and never rebuilds.
    recency_half_life: float | None = Field(
        default=None, gt=0, description="Half-life in items of the recency weight on Eq. 1-4 (None: all weigh 1)."
    )
    drift: DriftMode = Field(
        default="report", description="Drift monitor: 'off', 'report' (measure and record) or 'on' (also act)."
    )
    drift_window: int = Field(default=12, ge=2, description="Newest items the drift monitor compares with the rest.")
    drift_alpha: float = Field(
        default=0.01, gt=0, lt=1, description="Family-wise level of the per-factor answer-change test (Holm)."
    )
    max_retries: int = Field(default=2, ge=0, description="Retries of a reply that fails its output schema.")
    leak_retries: int = Field(
        default=1, ge=0, description="Retries of a reasoning path that concludes its answer (0: flag only, the paper)."
    )

    @classmethod
    def for_preset(cls, name: str = "default", **overrides: Any) -> RPMSettings:
        """The settings of preset ``name`` with ``overrides`` applied; bad values raise one clear line."""
        if name not in PRESETS:
            raise ConfigurationError(f"unknown preset {name!r}; use one of {sorted(PRESETS)}")
        try:
            return cls.model_validate({**PRESETS[name], **overrides})
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            raise ConfigurationError(f"setting {field}={error.get('input')!r}: {error['msg']}") from None


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "preset": "paper",
        "assign_batch_size": 1,
        "residual_batch_size": 1,
        "judge": "separate",
        "leak_retries": 0,
        "option_statistics": "judge",
        "drift": "off",
    },
    "default": {"preset": "default"},
}
"""What each preset sets (everything else keeps the field default, which is the default preset's value).

``"paper"`` differs from ``"default"`` only in the cost deviations: one Assign call and one residual
call per feature, a separate judge call per history item for open-ended tasks, no leak retry (the
paper has no automatic guard: a reasoning path that concludes its answer is only flagged), and no drift
monitor."""
